//! The `l3` section of a host's desired state (docs/design.md "Server ↔ agent protocol"): the
//! routers scheduled to the host's L3 agent, each whole — what upstream's `sync_routers` gives
//! its L3 agent (gateway, interfaces with their subnets, extra routes, floating IPs).

use serde::{Deserialize, Serialize};

use super::HostRouteState;
use crate::network_type::NetworkType;

/// The `l3` driver's section: the routers this host's L3 agent runs, sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct L3State {
    pub routers: Vec<RouterState>,
}

/// A router as its namespace realises it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterState {
    pub id: String,
    pub project_id: String,
    pub admin_state_up: bool,
    /// The external gateway (`qg-` on the external bridge), when set.
    pub gateway: Option<RouterGatewayState>,
    /// The `network:router_interface` ports (`qr-` on `br-int`), sorted by port id.
    pub interfaces: Vec<RouterPortState>,
    /// Extra routes (`routes`), sorted by destination then nexthop.
    pub routes: Vec<HostRouteState>,
    /// Floating IPs associated with a port behind this router, sorted by id.
    pub floating_ips: Vec<FloatingIpState>,
}

/// A router port: one address per subnet it sits on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterPortState {
    /// The API port id (`qr-`/`qg-` + its first 11 characters names the device).
    pub id: String,
    pub network_id: String,
    pub mac_address: String,
    pub mtu: i64,
    /// One entry per fixed IP of the port, sorted by subnet id.
    pub subnets: Vec<RouterSubnetState>,
}

/// One address of a router port and the subnet it is on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterSubnetState {
    pub subnet_id: String,
    /// The port's own address on the subnet (`10.0.0.1`).
    pub ip_address: String,
    /// The subnet's prefix (`10.0.0.0/24`).
    pub cidr: String,
    /// The subnet's gateway: on the external network, the router's default route.
    pub gateway_ip: Option<String>,
    /// 4 or 6.
    pub ip_version: u8,
    /// `slaac`, `dhcpv6-stateful`, `dhcpv6-stateless` or none: router advertisements.
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    /// The subnet's DNS servers (announced with router advertisements).
    #[serde(default)]
    pub dns_nameservers: Vec<String>,
}

/// The router's external gateway: its port on the external network and that network's segment
/// (the `l2` driver wires the gateway port through it like any port; the segment says which
/// physical network and VLAN the outside is on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterGatewayState {
    pub port: RouterPortState,
    /// SNAT of the router's subnets to the gateway address.
    pub enable_snat: bool,
    pub network_type: NetworkType,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<i64>,
}

/// A floating IP: DNAT of `floating_ip_address` to `fixed_ip_address` and SNAT back.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FloatingIpState {
    pub id: String,
    pub floating_ip_address: String,
    pub fixed_ip_address: String,
    /// The associated (internal) port.
    pub port_id: String,
}

/// The `l3` driver's section of a watch answer: routers given whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct L3Delta {
    /// Routers this host now runs, or that changed, each complete.
    pub routers: Vec<RouterState>,
    /// Routers this host no longer runs (deleted or moved to another agent).
    pub removed_routers: Vec<String>,
}
