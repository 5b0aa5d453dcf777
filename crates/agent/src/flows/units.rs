//! The host's flows in units that change independently — the pipeline, each network present,
//! each wired port — each generated from its own inputs and tagged with a fingerprint of them,
//! so that a sync regenerates and compares only the units whose inputs changed: with a
//! thousand ports in one security group a host has some 55,000 `br-int` flows, and a port
//! change touches about fifty of them. [`super::generate`] is the union of the units, so the
//! snapshot and packet tests check exactly what the agent installs.
//!
//! A flow key belongs to one unit only: pipeline flows match no port or network, a port's
//! match its `in_port`, `reg5` or MAC on its network, a network's its local VLAN or segment.
//! So units can be compared separately and their deltas joined into one bundle per bridge.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use neutrino_model::internal::FirewallState;
use neutrino_ovs::flow::Flow;

use super::firewall::{self, Index};
use super::{Layout, LocalNet, LocalPort, OwnedFlow, OwnedGroup, Owner, local, physical, tunnel};

/// What a unit of flows is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnitKey {
    /// Table defaults, the canary, bridges' fixed entries, physical bridges, tunnel ports.
    Pipeline,
    /// A network present on the host: its flood, segment translations, remote-group members.
    Network(String),
    /// A wired port: its switching entries and firewall.
    Port(String),
}

/// The flows of one unit, per bridge, and its `br-int` groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    /// A hash of everything the unit's flows are generated from.
    pub fingerprint: u64,
    pub flows: BTreeMap<String, Vec<OwnedFlow>>,
    pub groups: Vec<OwnedGroup>,
}

impl Unit {
    fn add(&mut self, bridge: &str, owner: &Owner, flows: impl IntoIterator<Item = Flow>) {
        let list = self.flows.entry(bridge.to_string()).or_default();
        list.extend(flows.into_iter().map(|flow| OwnedFlow::new(flow, owner.clone())));
    }

    /// One bridge's flows without their owners.
    pub fn flows_of(&self, bridge: &str) -> Vec<Flow> {
        self.flows.get(bridge).into_iter().flatten().map(|o| o.flow.clone()).collect()
    }
}

/// A host's units; a unit whose inputs did not change is the previous one (the same `Arc`).
pub type Units = BTreeMap<UnitKey, Arc<Unit>>;

fn fingerprint(parts: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// The previous unit if its fingerprint is `fp`, else a new one from `make`.
fn reuse(previous: &Units, key: &UnitKey, fp: u64, make: impl FnOnce() -> Unit) -> Arc<Unit> {
    match previous.get(key) {
        Some(u) if u.fingerprint == fp => u.clone(),
        _ => Arc::new(Unit { fingerprint: fp, ..make() }),
    }
}

/// Every unit of the host; units of `previous` whose inputs are unchanged are reused as they
/// are. `peers` gives, per tunnel network, the tunnel endpoints of the other hosts with ports
/// on it; `fw` the security groups of the ports with port security and the members of the
/// remote groups their rules name.
pub fn units(
    layout: &Layout,
    nets: &[LocalNet],
    peers: &BTreeMap<String, Vec<String>>,
    fw: &FirewallState,
    previous: &Units,
) -> Units {
    let c = layout.cookie;
    let int = layout.int_bridge.as_str();
    let ix = Index::new(fw, nets);
    let mut out = Units::new();
    let fp = fingerprint(layout);
    out.insert(UnitKey::Pipeline, reuse(previous, &UnitKey::Pipeline, fp, || pipeline(layout)));
    for n in nets {
        let ports = firewall::ports_of(n);
        for p in &ports {
            let key = UnitKey::Port(p.id.clone());
            let fp = port_fingerprint(c, n, p, &ix);
            out.insert(key.clone(), reuse(previous, &key, fp, || port(c, int, n.local_vlan, p, &ix)));
        }
        let key = UnitKey::Network(n.id.clone());
        let net_peers = peers.get(&n.id).map(Vec::as_slice).unwrap_or_default();
        let fp = fingerprint((layout, n, net_peers, &ix.members, &ix.conj));
        out.insert(key.clone(), reuse(previous, &key, fp, || network(layout, n, &ports, net_peers, &ix)));
    }
    out
}

/// A port's flows depend on the port, its network's local VLAN, the rules of its groups and
/// the conjunction ids those rules were given.
fn port_fingerprint(cookie: u64, n: &LocalNet, p: &LocalPort, ix: &Index<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    (cookie, n.local_vlan, p).hash(&mut h);
    for (sg, rule) in firewall::port_rules(&ix.groups, p) {
        (sg, rule).hash(&mut h);
        if let Some(k) = firewall::conj::ConjKey::of(sg, rule) {
            ix.conj.id(&k).hash(&mut h);
        }
    }
    h.finish()
}

fn pipeline(layout: &Layout) -> Unit {
    let c = layout.cookie;
    let int = layout.int_bridge.as_str();
    let mut u = Unit::default();
    u.add(int, &Owner::Pipeline, local::base(layout));
    u.add(int, &Owner::Pipeline, firewall::base(c));
    for (physnet, p) in &layout.phys {
        let owner = Owner::Physnet(physnet.clone());
        u.add(int, &owner, [physical::int_base(c, p)]);
        u.add(&p.bridge, &owner, physical::phys_base(c, p));
    }
    if let Some(t) = &layout.tun {
        u.add(&t.bridge, &Owner::Pipeline, tunnel::base(c, t));
        for ((kind, ip), ofport) in &t.ports {
            u.add(&t.bridge, &Owner::Tunnel(ip.clone()), [tunnel::port(c, *kind, *ofport)]);
        }
    }
    u
}

fn port(c: u64, int: &str, lv: u16, p: &LocalPort, ix: &Index<'_>) -> Unit {
    let mut u = Unit::default();
    let owner = Owner::Port(p.id.clone());
    u.add(int, &owner, local::port(c, lv, p));
    u.add(int, &owner, [firewall::port(c, lv, p)]);
    let list = u.flows.entry(int.to_string()).or_default();
    list.extend(firewall::port_flows(c, p, ix).into_iter().map(|(owner, flow)| OwnedFlow::new(flow, owner)));
    u
}

fn network(layout: &Layout, n: &LocalNet, ports: &[LocalPort], peers: &[String], ix: &Index<'_>) -> Unit {
    let c = layout.cookie;
    let int = layout.int_bridge.as_str();
    let owner = Owner::Network(n.id.clone());
    let mut u = Unit::default();
    if let Some((flood_groups, flow)) = local::flood(layout, n, ports) {
        u.add(int, &owner, [flow]);
        u.groups.extend(flood_groups.into_iter().map(|group| OwnedGroup { group, owner: owner.clone() }));
    }
    let list = u.flows.entry(int.to_string()).or_default();
    list.extend(
        firewall::network_flows(c, n, ports, ix).into_iter().map(|(owner, flow)| OwnedFlow::new(flow, owner)),
    );
    for (physnet, p) in &layout.phys {
        if n.physical_network.as_deref() == Some(physnet.as_str())
            && let Some((into_int, out_phys)) = physical::segment(c, p, n)
        {
            u.add(int, &owner, [into_int]);
            u.add(&p.bridge, &owner, [out_phys]);
        }
    }
    if let Some(t) = &layout.tun {
        u.add(&t.bridge, &owner, tunnel::segment(c, t, n, peers));
    }
    u
}
