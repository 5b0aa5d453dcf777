//! `br-int`'s own stages, as Neutron's Open vSwitch agent lays them out: table 0 tags a local
//! port's traffic with its network's VLAN, table 60 sends it through the firewall (egress from a
//! port, ingress to a port's MAC), table 94 switches what the firewall accepted — to a MAC learnt
//! from an uplink, or to the network's flood (the uplink, still tagged, then the network's flood
//! groups: each local port through its ingress firewall).
//!
//! The local VLAN of a port is set by OpenFlow (`in_port=P → mod_vlan_vid`), not by the port's
//! OVSDB `tag`: a tag change makes ovs-vswitchd reconfigure the whole bridge, which costs tens of
//! ms with a thousand ports, while a flow change costs the same at any size.

use std::collections::BTreeMap;

use neutrino_model::network_type::NetworkType;
use neutrino_ovs::flow::Flow;
use neutrino_ovs::group::Group;
use neutrino_ovs::ofctl::canary_flow;

use super::tables::{self, REG_NET, REG_PORT, priority as prio};
use super::{Layout, LocalNet, LocalPort, f};

/// Seconds a MAC learnt from an uplink stays without traffic.
pub const LEARN_IDLE_TIMEOUT: u16 = 300;

/// What `br-int` does with traffic from an uplink once it is on its local VLAN: learn where its
/// source MAC lives — a flow `dl_vlan,dl_dst=src → output:in_port` in the switching table
/// (cookie 0: not ours to sweep, it times out) — then dispatch it. Without this, unicast to a
/// remote VM would be flooded to every local port of its network.
pub fn learn_then_dispatch() -> String {
    format!(
        "learn(table={},idle_timeout={LEARN_IDLE_TIMEOUT},priority={},\
         NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),resubmit(,{})",
        tables::SWITCHING,
        prio::LEARNT,
        tables::TRANSIENT
    )
}

/// The pipeline's own `br-int` flows: table defaults (a port without flows has its traffic
/// dropped), the tunnel patch's entry and the canary.
pub fn base(layout: &Layout) -> Vec<Flow> {
    let c = layout.cookie;
    let mut out = vec![
        f(tables::LOCAL_SWITCHING, prio::DEFAULT, c, "", "drop"),
        f(tables::TRANSIENT, prio::DEFAULT, c, "", format!("resubmit(,{})", tables::SWITCHING)),
        f(tables::SWITCHING, prio::DEFAULT, c, "", "drop"),
        canary_flow(c),
    ];
    if let Some(t) = &layout.tun {
        // `br-tun` already put the traffic on its local VLAN.
        out.push(f(
            tables::LOCAL_SWITCHING,
            prio::NETWORK,
            c,
            format!("in_port={}", t.int_patch),
            learn_then_dispatch(),
        ));
    }
    out
}

/// A port's flows, written directly in `ovs-ofctl`'s canonical form: normalising thousands of
/// strings on every sync would make each sync cost more as ports accumulate
/// (`port_flows_are_canonical` checks the form against the normaliser).
pub fn port(cookie: u64, lv: u16, p: &LocalPort) -> [Flow; 3] {
    let set_regs = format!("load:{:#x}->{REG_PORT},load:{lv:#x}->{REG_NET}", p.ofport);
    [
        Flow {
            table: tables::LOCAL_SWITCHING,
            priority: prio::PORT_INGRESS,
            cookie,
            matches: format!("in_port={}", p.ofport),
            actions: format!("mod_vlan_vid:{lv},resubmit(,{})", tables::TRANSIENT),
        },
        Flow {
            table: tables::TRANSIENT,
            priority: prio::FROM_PORT,
            cookie,
            matches: format!("in_port={}", p.ofport),
            actions: format!("{set_regs},resubmit(,{})", tables::BASE_EGRESS),
        },
        Flow {
            table: tables::TRANSIENT,
            priority: prio::TO_PORT,
            cookie,
            matches: format!("dl_dst={},dl_vlan={lv}", p.mac.to_ascii_lowercase()),
            actions: format!("{set_regs},strip_vlan,resubmit(,{})", tables::BASE_INGRESS),
        },
    ]
}

/// Ports per flood group, as a power of two: a network's local ports are spread over groups by
/// ofport (`ofport >> FLOOD_CHUNK_BITS`), so that no group outgrows what one OpenFlow message can
/// describe (64 KiB: about a thousand buckets), which `dump-groups` must return whole.
pub const FLOOD_CHUNK_BITS: u32 = 8;

/// The id of the flood group of local VLAN `lv` holding the port `ofport`: the local VLAN in
/// the high bits, the ofport's chunk in the low ones — stable across restarts and hosts' sizes.
pub fn flood_group_id(lv: u16, ofport: u32) -> u32 {
    (u32::from(lv) << FLOOD_CHUNK_BITS) | (ofport >> FLOOD_CHUNK_BITS)
}

/// A port's bucket in its network's flood group: the copy (already untagged, `reg6` set) goes
/// through the port's ingress firewall. Written as `dump-groups` prints it (see
/// [`neutrino_ovs::group`]).
fn port_bucket(ofport: u32) -> String {
    format!("set_field:{ofport:#x}->reg5,resubmit(,{})", tables::BASE_INGRESS)
}

/// A network's flood: the switching table's flow for its local VLAN outputs it to its uplink
/// (still tagged), then untags it and hands it to the network's flood groups (type `all`), one
/// bucket per local port with the port's ofport as its bucket id, each copy through that port's
/// ingress firewall. A port joining or leaving changes one bucket whatever the network's size;
/// the flow changes only when a group of [`FLOOD_CHUNK_BITS`] ports comes or goes. The sender's
/// own copy is dropped by Open vSwitch, which never outputs a packet to its in_port. `None`
/// when there is nowhere to flood to.
pub fn flood(layout: &Layout, n: &LocalNet, ports: &[LocalPort]) -> Option<(Vec<Group>, Flow)> {
    let lv = n.local_vlan;
    let mut actions: Vec<String> = vec![];
    let phys = n.physical_network.as_ref().and_then(|p| layout.phys.get(p));
    match (n.network_type, &layout.tun, phys) {
        (t, Some(tun), _) if t.is_tunnel() => actions.push(format!("output:{}", tun.int_patch)),
        (NetworkType::Vlan | NetworkType::Flat, _, Some(p)) => {
            actions.push(format!("output:{}", p.int_ofport))
        }
        _ => {}
    }
    let mut groups: BTreeMap<u32, Group> = BTreeMap::new();
    for p in ports {
        let Ok(ofport) = u32::try_from(p.ofport) else { continue };
        let id = flood_group_id(lv, ofport);
        let g = groups.entry(id).or_insert_with(|| Group { id, buckets: BTreeMap::new() });
        g.buckets.insert(ofport, port_bucket(ofport));
    }
    if !groups.is_empty() {
        actions.push(format!("load:{lv:#x}->{REG_NET}"));
        actions.push("strip_vlan".into());
        actions.extend(groups.keys().map(|id| format!("group:{id}")));
    }
    if actions.is_empty() {
        return None;
    }
    let flow = f(tables::SWITCHING, prio::NETWORK, layout.cookie, format!("dl_vlan={lv}"), actions.join(","));
    Some((groups.into_values().collect(), flow))
}
