//! Types of the internal API between the server and its agents (docs/design.md "Server ↔ agent protocol"):
//! the desired state of a host and the deltas a watch returns, with one section per agent
//! driver, heartbeats (one per role) and port status reports.
//!
//! The `l2` section is flattened into the top-level object, so its wire form is the one agents
//! and servers spoke before sections existed (`{"revision", "ports", "networks", "peers"}`);
//! later sections are named fields that default to empty, so an older peer ignores them.
//! The `l3` section's types live in the `l3` submodule and are re-exported here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::Role;
use crate::network_type::NetworkType;

mod l3;
pub use l3::{
    FloatingIpState, L3Delta, L3State, RouterGatewayState, RouterPortState, RouterState, RouterSubnetState,
};

/// A port the host must wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortState {
    pub id: String,
    pub network_id: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIpState>,
    pub admin_state_up: bool,
    pub device_owner: String,
    pub device_id: String,
    pub port_security_enabled: bool,
    /// The port's security groups (none without port security).
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Addresses (an IP or a CIDR) the port may also send from, each with its MAC.
    #[serde(default)]
    pub allowed_address_pairs: Vec<AddressPairState>,
}

/// An allowed address pair of a port: `ip_address` is an IP or a CIDR; `mac_address` is the
/// port's own MAC when the API request gave none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
pub struct AddressPairState {
    pub ip_address: String,
    pub mac_address: String,
}

/// A security group rule as the firewall enforces it, normalised by the server: the protocol
/// as its IP protocol number (`None`: any; `icmp` on IPv6 is 58), the port range (for ICMP and
/// ICMPv6: type in `port_range_min`, code in `port_range_max`), and at most one remote.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
pub struct RuleState {
    pub id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    pub protocol: Option<u8>,
    pub port_range_min: Option<u16>,
    pub port_range_max: Option<u16>,
    /// A CIDR (normalised: no host bits).
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

/// A security group used by a port of the host, with its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct SecurityGroupState {
    pub id: String,
    /// A stateless group's rules admit packets without conntrack.
    pub stateful: bool,
    pub rules: Vec<RuleState>,
}

/// The firewall's section of a host's state: the groups of the host's ports with port
/// security, and the members of every group a rule among them names as its remote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallState {
    /// Sorted by id; rules sorted by id.
    pub groups: Vec<SecurityGroupState>,
    /// Remote group id → the addresses of its member ports anywhere (fixed IPs and allowed
    /// address pairs' IPs or CIDRs), sorted and without duplicates.
    pub members: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIpState {
    pub subnet_id: String,
    pub ip_address: String,
}

/// A network the host has ports on, with its segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkState {
    pub id: String,
    pub network_type: NetworkType,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<i64>,
    pub mtu: i64,
    pub admin_state_up: bool,
}

/// The `l2` driver's section of a host's desired state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct L2State {
    pub ports: Vec<PortState>,
    pub networks: Vec<NetworkState>,
    /// Tunnel networks → tunnel endpoints of the other hosts with ports on them.
    pub peers: BTreeMap<String, Vec<String>>,
}

/// Everything one host must realise: a revision and one section per driver.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    pub revision: i64,
    #[serde(flatten)]
    pub l2: L2State,
    #[serde(default)]
    pub firewall: FirewallState,
    #[serde(default)]
    pub dhcp: DhcpState,
    #[serde(default)]
    pub l3: L3State,
}

/// The `l2` driver's section of a watch answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct L2Delta {
    /// Ports added or changed.
    pub ports: Vec<PortState>,
    pub removed_ports: Vec<String>,
    /// Networks of the host that changed (or that a new port brought).
    pub networks: Vec<NetworkState>,
    /// Recomputed peer lists of the networks whose peers may have changed.
    pub peers: BTreeMap<String, Vec<String>>,
}

impl L2Delta {
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
            && self.removed_ports.is_empty()
            && self.networks.is_empty()
            && self.peers.is_empty()
    }
}

/// The answer to a watch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub revision: i64,
    /// The revision is too old (or the feed too busy): list the whole state again.
    pub resync: bool,
    #[serde(flatten)]
    pub l2: L2Delta,
    /// The whole firewall section again when anything in it changed.
    #[serde(default)]
    pub firewall: Option<FirewallState>,
    /// The DHCP networks of this host that changed (each whole) or that it no longer serves.
    #[serde(default)]
    pub dhcp: Option<DhcpDelta>,
    /// The routers of this host that changed (each whole) or that it no longer runs.
    #[serde(default)]
    pub l3: Option<L3Delta>,
}

/// The `dhcp` driver's section: the networks this host's DHCP agent serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpState {
    pub networks: Vec<DhcpNetworkState>,
}

/// A network served by this host's DHCP agent: everything its dnsmasq and metadata proxy need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpNetworkState {
    pub id: String,
    pub project_id: String,
    pub mtu: i64,
    pub admin_state_up: bool,
    /// The id of this host's `network:dhcp` port (also among `ports`), once the server made it.
    pub dhcp_port: Option<String>,
    /// Every subnet of the network, DHCP-enabled or not (the driver serves only the enabled).
    pub subnets: Vec<DhcpSubnetState>,
    /// Every port of the network with an address or a MAC to serve, the DHCP port included.
    pub ports: Vec<DhcpPortState>,
    /// Subnets joined to a router (their metadata comes through the router, not `qdhcp-`).
    #[serde(default)]
    pub routed_subnets: Vec<String>,
    /// The DNS domain of the host names (`openstacklocal` by default).
    pub dns_domain: String,
}

/// A subnet as dnsmasq serves it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpSubnetState {
    pub id: String,
    pub ip_version: u8,
    /// The prefix (`10.0.0.0/24`).
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub enable_dhcp: bool,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRouteState>,
    /// `slaac`, `dhcpv6-stateful`, `dhcpv6-stateless` or none.
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
}

/// A static route a subnet announces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRouteState {
    pub destination: String,
    pub nexthop: String,
}

/// A port of a DHCP network: a host entry of dnsmasq and a possible metadata caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpPortState {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIpState>,
    pub admin_state_up: bool,
    pub device_owner: String,
    pub device_id: String,
    /// The host name dnsmasq gives it (`host-10-0-0-5` per address when not set).
    #[serde(default)]
    pub dns_name: String,
    #[serde(default)]
    pub extra_dhcp_opts: Vec<ExtraDhcpOptState>,
}

/// A per-port DHCP option (`extra_dhcp_opt` extension).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraDhcpOptState {
    pub opt_name: String,
    pub opt_value: String,
    /// 4 or 6.
    pub ip_version: u8,
}

/// The `dhcp` driver's section of a watch answer: networks given whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpDelta {
    /// Networks this host now serves, or whose subnets or ports changed, each complete.
    pub networks: Vec<DhcpNetworkState>,
    /// Networks this host no longer serves.
    pub removed_networks: Vec<String>,
}

/// A port status report from the agent of `host`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct StatusReport {
    pub host: String,
    #[serde(default)]
    pub up: Vec<String>,
    #[serde(default)]
    pub down: Vec<String>,
    /// Floating IP id → `ACTIVE` (its NAT is in place), `DOWN` or `ERROR`, from the L3 agent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub floatingips: BTreeMap<String, String>,
}

/// A heartbeat (`report_state`) of one agent row: one per role of the host's agent.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Report {
    pub host: String,
    pub agent_type: String,
    pub binary: String,
    #[serde(default = "na")]
    pub topic: String,
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// The role's typed configurations as JSON (e.g. [`crate::agent::L2Configurations`]).
    #[serde(default)]
    pub configurations: Value,
    /// True on the first report after the agent (re)started.
    #[serde(default)]
    pub start_flag: bool,
}

impl Report {
    /// The heartbeat of `role` on `host`, with that role's agent type and binary.
    pub fn new(host: &str, role: Role, configurations: Value, start_flag: bool) -> Self {
        Self {
            host: host.to_string(),
            agent_type: role.agent_type().into(),
            binary: role.binary().into(),
            topic: na(),
            availability_zone: None,
            configurations,
            start_flag,
        }
    }
}

fn na() -> String {
    "N/A".into()
}
