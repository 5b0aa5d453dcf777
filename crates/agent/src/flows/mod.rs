//! The flows of a host, as a pure function of its desired state and its bridge layout,
//! following Neutron's Open vSwitch agent and its `openvswitch` firewall layout ([`tables`]).
//! One generator per concern — `br-int`'s own stages ([`local`]), the firewall stages
//! ([`firewall`]: anti-spoofing, conntrack, security group rules), physical networks ([`physical`]), tunnels ([`tunnel`])
//! — composed here into one [`FlowSet`]; every flow carries the agent's cookie (its high 32
//! bits: only its owner sweeps it) and an [`Owner`], the object it exists for, whose tag is the
//! cookie's low 32 bits ([`Owner::tag`]), so that people can be told why a flow is there from
//! the switch alone. `br-int`'s groups (a network's flood groups, ids from its local VLAN, see
//! [`local::flood_group_id`]) are the agent's: it owns the bridge. What a restart reads back is in [`recover`].
//!
//! A local port's traffic on `br-int`: table 0 (tag with the local VLAN) → 60 → egress firewall
//! 71 → 72 → 73 → (to a local port: its ingress firewall; else) 91 → 94 switching (a MAC learnt
//! from an uplink, or the network's flood and its groups). Traffic from an uplink: table 0 (translate, learn the
//! source) → 60 → (to a local port's MAC: its ingress firewall 81 → 82 → output; else) 94.

pub mod firewall;
pub mod local;
pub mod physical;
pub mod recover;
pub mod tables;
pub mod tunnel;
pub mod units;

use std::collections::BTreeMap;
use std::fmt;

use neutrino_model::internal::{AddressPairState, FirewallState};
use neutrino_model::network_type::NetworkType;
use neutrino_ovs::flow::{Flow, FlowKey};
use neutrino_ovs::group::Group;

pub use recover::ingress_vlans;
pub use tunnel::{port_name as tunnel_port_name, wanted as wanted_tunnels};

/// Where things are on this host's bridges (ofports assigned by ovs-vswitchd).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Layout {
    pub cookie: u64,
    pub int_bridge: String,
    pub tun: Option<TunLayout>,
    /// Physical network → its bridge and patch ports.
    pub phys: BTreeMap<String, PhysLayout>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TunLayout {
    pub bridge: String,
    /// `patch-int` on `br-tun`.
    pub patch_int: i64,
    /// `patch-tun` on `br-int`.
    pub int_patch: i64,
    /// Tunnel ports by (type, remote IP).
    pub ports: BTreeMap<(NetworkType, String), i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PhysLayout {
    pub bridge: String,
    /// `int-br-<x>` on `br-int`.
    pub int_ofport: i64,
    /// `phy-br-<x>` on the physical bridge.
    pub phy_ofport: i64,
}

/// A network present on this host, with its local VLAN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalNet {
    pub id: String,
    pub network_type: NetworkType,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<i64>,
    pub local_vlan: u16,
    /// The network's wired ports on this host.
    pub ports: Vec<LocalPort>,
}

/// A VM (or service) port on `br-int`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalPort {
    pub ofport: i64,
    pub mac: String,
    /// The API port's id.
    pub id: String,
    /// What its firewall enforces; `None`: port security off, everything passes.
    pub filter: Option<PortFilter>,
}

/// A port with port security, as its firewall sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortFilter {
    /// Its fixed IPs (sent from its own MAC).
    pub ips: Vec<String>,
    /// Its allowed address pairs (an IP or a CIDR, each with its MAC).
    pub pairs: Vec<AddressPairState>,
    /// Its security groups (ids); none: nothing new is admitted either way.
    pub groups: Vec<String>,
}

/// Why a flow exists: the object it is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// The pipeline itself: table defaults, the canary, a bridge's fixed entries.
    Pipeline,
    /// A network present on the host (by id): its flood, its segment's translations.
    Network(String),
    /// A port wired on the host (by id).
    Port(String),
    /// A physical network's bridge mapping (by physical network name).
    Physnet(String),
    /// A tunnel to another host (by that host's tunnel IP).
    Tunnel(String),
    /// A port's anti-spoofing and base firewall checks (tables 71 and 81; by port id).
    AntiSpoofing(String),
    /// A port's conntrack state machine, or the pass-through of a port without port security
    /// (by port id).
    Firewall(String),
    /// A security group rule enforced on a port (its rule flows, and for a remote-group rule
    /// its conjunction's port dimension and accept flows).
    Rule { rule: String, port: String },
    /// The members of a remote group on a network (a conjunction's address dimension).
    RemoteGroup { group: String, network: String },
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Pipeline => f.write_str("pipeline"),
            Owner::Network(id) => write!(f, "network {id}"),
            Owner::Port(id) => write!(f, "port {id}"),
            Owner::Physnet(name) => write!(f, "physnet {name}"),
            Owner::Tunnel(ip) => write!(f, "tunnel {ip}"),
            Owner::AntiSpoofing(id) => write!(f, "anti-spoofing of port {id}"),
            Owner::Firewall(id) => write!(f, "firewall of port {id}"),
            Owner::Rule { rule, port } => write!(f, "rule {rule} on port {port}"),
            Owner::RemoteGroup { group, network } => {
                write!(f, "members of group {group} on network {network}")
            }
        }
    }
}

impl Owner {
    /// The low 32 bits of the cookie of this owner's flows: 0 for the pipeline, else a hash of
    /// the owner's text (64-bit FNV-1a folded to 32 bits, never 0), so that someone who reads a
    /// flow or an `ofproto/trace` step can find the object it is for among the API's ports,
    /// networks and rules (the inspection shell does).
    pub fn tag(&self) -> u64 {
        if *self == Owner::Pipeline {
            return 0;
        }
        let h = self
            .to_string()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
        match (h ^ (h >> 32)) & 0xffff_ffff {
            0 => 1,
            t => t,
        }
    }

    /// The cookie of this owner's flows for the agent whose cookie is `agent`.
    pub fn cookie(&self, agent: u64) -> u64 {
        (agent & neutrino_ovs::flow::AGENT_COOKIE_MASK) | self.tag()
    }
}

/// A flow with the object it exists for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFlow {
    pub flow: Flow,
    pub owner: Owner,
}

impl OwnedFlow {
    /// `flow` for `owner`, its cookie tagged with the owner ([`Owner::cookie`]).
    pub fn new(mut flow: Flow, owner: Owner) -> OwnedFlow {
        flow.cookie = owner.cookie(flow.cookie);
        OwnedFlow { flow, owner }
    }
}

/// A group with the object it exists for (its buckets are for the ports whose ofport is their id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedGroup {
    pub group: Group,
    pub owner: Owner,
}

/// The flows of every bridge of a host, each with its owner, sorted by table, then priority
/// (highest first), then match; and the groups of the bridges whose groups the agent manages
/// (`br-int` only, always present), sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowSet {
    pub bridges: BTreeMap<String, Vec<OwnedFlow>>,
    pub groups: BTreeMap<String, Vec<OwnedGroup>>,
}

impl FlowSet {
    /// The groups without their owners, per bridge whose groups are managed (what is installed).
    pub fn groups(&self) -> BTreeMap<String, Vec<Group>> {
        self.groups.iter().map(|(b, l)| (b.clone(), l.iter().map(|o| o.group.clone()).collect())).collect()
    }

    /// One bridge's flows without their owners.
    pub fn flows_of(&self, bridge: &str) -> Vec<Flow> {
        self.bridges.get(bridge).into_iter().flatten().map(|o| o.flow.clone()).collect()
    }

    /// The flows without their owners, per bridge (what is installed).
    pub fn into_flows(self) -> BTreeMap<String, Vec<Flow>> {
        self.bridges.into_iter().map(|(b, l)| (b, l.into_iter().map(|o| o.flow).collect())).collect()
    }

    /// The owner of the flow with this key on `bridge`.
    pub fn owner(&self, bridge: &str, key: &FlowKey) -> Option<&Owner> {
        let list = self.bridges.get(bridge)?;
        list.iter().find(|o| o.flow.key() == *key).map(|o| &o.owner)
    }

    /// The flows as text, one per line with its owner, for snapshots and for operators.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (bridge, list) in &self.bridges {
            s.push_str(&format!("# {bridge}\n"));
            for o in list {
                s.push_str(&format!("{}  # {}\n", o.flow.to_add_line(), o.owner));
            }
            for o in self.groups.get(bridge).into_iter().flatten() {
                s.push_str(&format!("{}  # {}\n", o.group.spec(), o.owner));
            }
        }
        s
    }
}

fn f(table: u8, priority: u16, cookie: u64, matches: impl Into<String>, actions: impl Into<String>) -> Flow {
    Flow::new(table, priority, cookie, &matches.into(), &actions.into())
}

/// All flows of all bridges of the host: the union of its [`units`]. `peers` gives, per
/// tunnel network, the tunnel endpoints of the other hosts that have ports on it; `fw` the
/// security groups of the ports with port security and the members of the remote groups their
/// rules name.
pub fn generate(
    layout: &Layout,
    nets: &[LocalNet],
    peers: &BTreeMap<String, Vec<String>>,
    fw: &FirewallState,
) -> FlowSet {
    flatten(&layout.int_bridge, &units::units(layout, nets, peers, fw, &units::Units::new()))
}

/// The flows of every unit per bridge, sorted by table, then priority (highest first), then
/// match; and `int_bridge`'s groups sorted by id.
pub fn flatten(int_bridge: &str, units: &units::Units) -> FlowSet {
    let mut out = FlowSet::default();
    let mut groups = vec![];
    for u in units.values() {
        for (bridge, flows) in &u.flows {
            out.bridges.entry(bridge.clone()).or_default().extend(flows.iter().cloned());
        }
        groups.extend(u.groups.iter().cloned());
    }
    groups.sort_by_key(|g| g.group.id);
    out.groups.insert(int_bridge.to_string(), groups);
    for flows in out.bridges.values_mut() {
        flows.sort_by(|a, b| {
            let (a, b) = (&a.flow, &b.flow);
            (a.table, std::cmp::Reverse(a.priority), &a.matches).cmp(&(
                b.table,
                std::cmp::Reverse(b.priority),
                &b.matches,
            ))
        });
    }
    out
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
