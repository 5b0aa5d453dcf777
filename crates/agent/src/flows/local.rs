//! `br-int`'s own stages, as Neutron's Open vSwitch agent lays them out: table 0 tags a local
//! port's traffic with its network's VLAN, table 60 sends it through the firewall (egress from a
//! port, ingress to a port's MAC), table 94 switches what the firewall accepted — to a MAC learnt
//! from an uplink, or to the network's flood group (the uplink, still tagged, and each local
//! port through its ingress firewall).
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

/// The bucket id of a flood group's copy out of the uplink (ofports, the other buckets' ids,
/// start at 1).
pub const UPLINK_BUCKET: u32 = 0;

/// A port's bucket in its network's flood group: the copy goes through the port's ingress
/// firewall untagged. Written as `dump-groups` prints it (see [`neutrino_ovs::group`]).
fn port_bucket(lv: u16, ofport: i64) -> String {
    format!(
        "set_field:{lv:#x}->reg6,pop_vlan,set_field:{ofport:#x}->reg5,resubmit(,{})",
        tables::BASE_INGRESS
    )
}

/// A network's flood: an OpenFlow group of type `all` whose id is the network's local VLAN,
/// with a bucket out of its uplink (still tagged) and one per local port (its ofport as the
/// bucket id) through that port's ingress firewall — so a port joining or leaving changes one
/// bucket whatever the network's size — and the switching table's flow that sends the
/// network's traffic to it. The sender's own copy is dropped by Open vSwitch, which never
/// outputs a packet to its in_port. `None` when there is nowhere to flood to.
pub fn flood(layout: &Layout, n: &LocalNet, ports: &[LocalPort]) -> Option<(Group, Flow)> {
    let lv = n.local_vlan;
    let mut buckets = BTreeMap::new();
    let phys = n.physical_network.as_ref().and_then(|p| layout.phys.get(p));
    match (n.network_type, &layout.tun, phys) {
        (t, Some(tun), _) if t.is_tunnel() => {
            buckets.insert(UPLINK_BUCKET, format!("output:{}", tun.int_patch));
        }
        (NetworkType::Vlan | NetworkType::Flat, _, Some(p)) => {
            buckets.insert(UPLINK_BUCKET, format!("output:{}", p.int_ofport));
        }
        _ => {}
    }
    for p in ports {
        if let Ok(id) = u32::try_from(p.ofport) {
            buckets.insert(id, port_bucket(lv, p.ofport));
        }
    }
    if buckets.is_empty() {
        return None;
    }
    let group = Group { id: u32::from(lv), buckets };
    let flow =
        f(tables::SWITCHING, prio::NETWORK, layout.cookie, format!("dl_vlan={lv}"), format!("group:{lv}"));
    Some((group, flow))
}
