//! The generated pipeline: its snapshot, and packets followed through it by [`super::sim`].

use std::collections::BTreeMap;

use neutrino_model::internal::FirewallState;
use neutrino_model::network_type::NetworkType;
use neutrino_ovs::flow::Flow;

use super::sim::{self, NORMAL, Packet};
use super::tables::{self, priority as prio};
use super::*;

// ofports: br-int patch-tun 1, int-br-eth1 2; br-tun patch-int 1, tunnels 5-7; br-eth1
// phy-br-eth1 1; the VM ports 10 + local VLAN.
const TUN_PATCH: i64 = 1;
const PHYS_PATCH: i64 = 2;

fn layout() -> Layout {
    let mut phys = BTreeMap::new();
    phys.insert(
        "physnet1".to_string(),
        PhysLayout { bridge: "br-eth1".into(), int_ofport: PHYS_PATCH, phy_ofport: 1 },
    );
    let mut ports = BTreeMap::new();
    ports.insert((NetworkType::Vxlan, "172.31.0.2".to_string()), 5);
    ports.insert((NetworkType::Vxlan, "172.31.0.3".to_string()), 6);
    ports.insert((NetworkType::Gre, "172.31.0.2".to_string()), 7);
    Layout {
        cookie: 0x4e54_0000_0000_0001,
        int_bridge: "br-int".into(),
        tun: Some(TunLayout { bridge: "br-tun".into(), patch_int: 1, int_patch: TUN_PATCH, ports }),
        phys,
    }
}

fn port(lv: u16, n: i64) -> LocalPort {
    LocalPort {
        ofport: 10 * n + i64::from(lv),
        mac: format!("fa:16:3e:00:{n:02x}:{lv:02x}"),
        id: format!("p{lv}-{n}"),
        filter: None,
    }
}

fn nets() -> Vec<LocalNet> {
    let n = |id: &str, t: NetworkType, p: Option<&str>, seg: Option<i64>, lv: u16| LocalNet {
        id: id.into(),
        network_type: t,
        physical_network: p.map(String::from),
        segmentation_id: seg,
        local_vlan: lv,
        ports: vec![port(lv, 1)],
    };
    let mut vx = n("net-vx", NetworkType::Vxlan, None, Some(100), 1);
    vx.ports.push(port(1, 2));
    vec![
        vx,
        n("net-gre", NetworkType::Gre, None, Some(7), 2),
        n("net-vlan", NetworkType::Vlan, Some("physnet1"), Some(101), 3),
        n("net-flat", NetworkType::Flat, Some("physnet1"), None, 4),
        n("net-lonely", NetworkType::Vxlan, None, Some(200), 5),
    ]
}

fn peers() -> BTreeMap<String, Vec<String>> {
    let mut p = BTreeMap::new();
    p.insert("net-vx".to_string(), vec!["172.31.0.2".to_string(), "172.31.0.3".to_string()]);
    p.insert("net-gre".to_string(), vec!["172.31.0.2".to_string()]);
    p.insert("net-lonely".to_string(), vec![]);
    p
}

fn flows() -> BTreeMap<String, Vec<Flow>> {
    generate(&layout(), &nets(), &peers(), &FirewallState::default()).into_flows()
}

/// Each bridge's flows and (on `br-int`) groups, for the interpreter.
fn bridges() -> BTreeMap<String, sim::Bridge> {
    let set = generate(&layout(), &nets(), &peers(), &FirewallState::default());
    let mut groups = set.groups();
    set.into_flows()
        .into_iter()
        .map(|(b, flows)| {
            let groups = groups.remove(&b).unwrap_or_default();
            (b, sim::Bridge { flows, groups })
        })
        .collect()
}

fn from(in_port: i64, dl_dst: &str) -> Packet {
    Packet { in_port, dl_dst: dl_dst.into(), ..Default::default() }
}

const BROADCAST: &str = "ff:ff:ff:ff:ff:ff";
// The test ports have no port security: their firewall is the pass-through (71 → 73, 81 →
// output); the firewall's own tests (`firewall/tests.rs`) follow filtered ports.
const FIREWALL_EGRESS: [u8; 2] = [tables::BASE_EGRESS, tables::ACCEPT_OR_INGRESS];
const FIREWALL_INGRESS: [u8; 1] = [tables::BASE_INGRESS];

fn passes(trace: &sim::Trace, stages: &[u8]) -> bool {
    trace.tables.windows(stages.len()).any(|w| w == stages)
}

#[test]
fn flows_of_a_host_with_every_segment_type() {
    insta::assert_snapshot!(generate(&layout(), &nets(), &peers(), &FirewallState::default()).render());
}

#[test]
fn local_unicast_passes_both_firewalls_of_the_network_only() {
    let int = &bridges()["br-int"];
    let (a, b) = (port(1, 1), port(1, 2));
    let t = sim::run(int, from(a.ofport, &b.mac));
    assert_eq!(t.outputs, vec![(b.ofport, None, None)], "delivered untagged to b only");
    assert!(passes(&t, &FIREWALL_EGRESS), "a's egress firewall: {:?}", t.tables);
    assert!(passes(&t, &FIREWALL_INGRESS), "b's ingress firewall: {:?}", t.tables);
    // The same MAC on another network is not reachable from a; its own network's port is.
    let other = port(2, 1);
    let t = sim::run(int, from(a.ofport, &other.mac));
    assert!(!t.ports().contains(&other.ofport), "crossed networks: {t:?}");
    assert!(t.ports().contains(&TUN_PATCH), "unknown unicast goes to the network's uplink: {t:?}");
}

#[test]
fn broadcast_reaches_the_uplink_tagged_and_each_local_port_through_its_ingress_firewall() {
    let int = &bridges()["br-int"];
    let (a, b) = (port(1, 1), port(1, 2));
    let t = sim::run(int, from(a.ofport, BROADCAST));
    assert_eq!(t.outputs, vec![(TUN_PATCH, Some(1), None), (b.ofport, None, None)]);
    assert!(passes(&t, &FIREWALL_EGRESS) && passes(&t, &FIREWALL_INGRESS), "{:?}", t.tables);
    // A VLAN network floods to the physical patch, with its local VLAN.
    let v = port(3, 1);
    assert_eq!(sim::run(int, from(v.ofport, BROADCAST)).outputs, vec![(PHYS_PATCH, Some(3), None)]);
}

#[test]
fn uplink_traffic_reaches_its_port_through_the_ingress_firewall() {
    let int = &bridges()["br-int"];
    let b = port(1, 2);
    let mut p = from(TUN_PATCH, &b.mac);
    p.vlan = Some(1);
    let t = sim::run(int, p.clone());
    assert_eq!(t.outputs, vec![(b.ofport, None, None)]);
    assert!(passes(&t, &FIREWALL_INGRESS) && !passes(&t, &FIREWALL_EGRESS), "{:?}", t.tables);
    // A VLAN segment's traffic is translated to its local VLAN first; an unknown segment is dropped.
    let v = port(3, 1);
    let mut p = from(PHYS_PATCH, &v.mac);
    p.vlan = Some(101);
    assert_eq!(sim::run(int, p.clone()).outputs, vec![(v.ofport, None, None)]);
    p.vlan = Some(102);
    assert_eq!(sim::run(int, p).outputs, vec![]);
    // Untagged traffic is the flat network's.
    let fl = port(4, 1);
    assert_eq!(sim::run(int, from(PHYS_PATCH, &fl.mac)).outputs, vec![(fl.ofport, None, None)]);
}

#[test]
fn a_port_without_flows_sends_nothing() {
    let int = &bridges()["br-int"];
    let t = sim::run(int, from(99, BROADCAST));
    assert_eq!(t.outputs, vec![]);
    // Its positive control: a wired port's broadcast goes out.
    assert!(!sim::run(int, from(port(1, 1).ofport, BROADCAST)).outputs.is_empty());
}

#[test]
fn tunnels_map_ids_to_local_vlans_and_flood_only_to_hosts_of_the_network() {
    let tun = &bridges()["br-tun"];
    let mut p = from(5, BROADCAST);
    p.tun_id = Some(100);
    let t = sim::run(tun, p.clone());
    assert_eq!(t.outputs, vec![(1, Some(1), Some(100))], "to br-int on local VLAN 1");
    assert!(t.tables.contains(&tables::LEARN_FROM_TUN));
    p.tun_id = Some(101);
    assert_eq!(sim::run(tun, p).outputs, vec![], "an unknown VNI is dropped");
    let mut out = from(1, BROADCAST);
    out.vlan = Some(1);
    assert_eq!(sim::run(tun, out.clone()).ports(), vec![5, 6]);
    out.vlan = Some(2);
    assert_eq!(sim::run(tun, out.clone()).outputs, vec![(7, None, Some(7))]);
    out.vlan = Some(5);
    assert_eq!(sim::run(tun, out.clone()).outputs, vec![], "no peers, no flood");
    // Unicast not learnt yet is flooded the same way.
    out.vlan = Some(1);
    out.dl_dst = "fa:16:3e:99:99:99".into();
    let t = sim::run(tun, out);
    assert_eq!(t.ports(), vec![5, 6]);
    assert!(t.tables.contains(&tables::UCAST_TO_TUN));
    // The same peers in another order, or listed twice, give the same flows.
    let mut shuffled = peers();
    shuffled.insert("net-vx".into(), vec!["172.31.0.3".into(), "172.31.0.2".into(), "172.31.0.3".into()]);
    assert_eq!(generate(&layout(), &nets(), &shuffled, &FirewallState::default()).into_flows(), flows());
}

#[test]
fn the_physical_bridge_translates_local_vlans_to_segments() {
    let phys = &bridges()["br-eth1"];
    let mut p = from(1, BROADCAST);
    p.vlan = Some(3);
    assert_eq!(sim::run(phys, p.clone()).outputs, vec![(NORMAL, Some(101), None)]);
    p.vlan = Some(4);
    assert_eq!(sim::run(phys, p.clone()).outputs, vec![(NORMAL, None, None)], "flat leaves untagged");
    p.vlan = Some(1);
    assert_eq!(sim::run(phys, p).outputs, vec![], "a tunnel network's VLAN never leaves here");
}

#[test]
fn every_flow_names_its_owner() {
    let set = generate(&layout(), &nets(), &peers(), &FirewallState::default());
    let int = &set.bridges["br-int"];
    let a = port(1, 1);
    let owners = |o: &Owner| int.iter().filter(|f| f.owner == *o).count();
    assert_eq!(owners(&Owner::Port(a.id.clone())), 4, "tag, egress, ingress, local delivery");
    assert_eq!(owners(&Owner::Firewall(a.id.clone())), 4, "pass-through both ways, commits in 81");
    assert_eq!(owners(&Owner::Network("net-vx".into())), 1, "the flow to its flood groups");
    let flood = set.groups["br-int"].iter().find(|g| g.owner == Owner::Network("net-vx".into()));
    assert_eq!(flood.map(|g| g.group.id), Some(local::flood_group_id(1, 11)), "its flood group");
    let ingress = int.iter().find(|f| f.flow.priority == prio::PORT_INGRESS).expect("a port flow");
    assert_eq!(set.owner("br-int", &ingress.flow.key()), Some(&ingress.owner));
    assert!(set.bridges["br-tun"].iter().any(|f| f.owner == Owner::Tunnel("172.31.0.3".into())));
    assert!(set.bridges["br-eth1"].iter().any(|f| f.owner == Owner::Physnet("physnet1".into())));
}

#[test]
fn a_port_joining_a_big_network_is_a_constant_size_change() {
    let big = |n: i64| {
        let mut nets = nets();
        nets[0].ports = (1..=n).map(|i| port(1, i)).collect();
        generate(&layout(), &nets, &peers(), &FirewallState::default())
    };
    let (before, after) = (big(1000), big(1001));
    let joined = port(1, 1001);
    let delta = neutrino_ovs::flow::diff(&after.flows_of("br-int"), &before.flows_of("br-int"), 0);
    assert!(delta.delete.is_empty());
    assert_eq!(
        delta.add.len(),
        8,
        "the new port's own flows only (4 + its firewall's pass-through): {:?}",
        delta.add
    );
    let groups = neutrino_ovs::group::diff_groups(&after.groups()["br-int"], &before.groups()["br-int"]);
    let bucket = u32::try_from(joined.ofport).unwrap();
    let group = local::flood_group_id(1, bucket);
    assert!(
        matches!(groups.as_slice(), [neutrino_ovs::GroupMod::InsertBuckets { group: g, buckets }]
            if *g == group && buckets.keys().eq([&bucket])),
        "{groups:?}"
    );
    // No group outgrows one OpenFlow message (which `dump-groups` must return whole).
    let sizes: Vec<usize> = after.groups()["br-int"].iter().map(|g| g.buckets.len()).collect();
    assert!(sizes.iter().all(|n| *n <= 1 << local::FLOOD_CHUNK_BITS), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 1001 + 4, "every local port of every network once");
    // And the flood reaches it, through its ingress firewall.
    let int = sim::Bridge { flows: after.flows_of("br-int"), groups: after.groups()["br-int"].clone() };
    let t = sim::run(&int, from(port(1, 1).ofport, BROADCAST));
    assert!(t.ports().contains(&joined.ofport) && t.ports().contains(&TUN_PATCH));
    assert_eq!(t.outputs.len(), 1001, "1,000 other local ports and the tunnel patch");
}

#[test]
fn empty_host_has_only_base_flows_and_is_stable() {
    let a = generate(&layout(), &[], &BTreeMap::new(), &FirewallState::default());
    assert_eq!(a, generate(&layout(), &[], &BTreeMap::new(), &FirewallState::default()));
    assert!(
        a.bridges
            .values()
            .flatten()
            .all(|f| matches!(f.owner, Owner::Pipeline | Owner::Physnet(_) | Owner::Tunnel(_)))
    );
    assert!(a.bridges["br-tun"].iter().all(|f| !f.flow.matches.contains("tun_id")));
}

#[test]
fn port_flows_are_canonical() {
    let p = LocalPort { ofport: 42, mac: "FA:16:3E:0A:0B:0C".into(), id: "p".into(), filter: None };
    let mut all = local::port(7, 9, &p).to_vec();
    all.push(firewall::port(7, 9, &p));
    for fl in all {
        assert_eq!(fl, Flow::new(fl.table, fl.priority, fl.cookie, &fl.matches, &fl.actions));
    }
}

#[test]
fn local_vlans_are_read_back_from_ingress_flows() {
    let vlans = ingress_vlans(&flows()["br-int"]);
    assert_eq!(vlans.len(), 6);
    assert_eq!(vlans[&13], 3);
    assert_eq!(vlans[&21], 1);
}

#[test]
fn tunnel_ports_are_named_and_wanted_per_peer() {
    assert_eq!(tunnel_port_name(NetworkType::Vxlan, "172.31.0.2"), "vxlan-ac1f0002");
    assert_eq!(tunnel_port_name(NetworkType::Gre, "10.0.0.1"), "gre-0a000001");
    let w = wanted_tunnels(&nets(), &peers());
    assert_eq!(w.len(), 3);
}

#[test]
fn every_table_has_a_stage_name() {
    for list in flows().values() {
        for fl in list {
            assert!(tables::int_stage(fl.table).or(tables::tun_stage(fl.table)).is_some(), "{fl}");
        }
    }
}

#[test]
fn owners_tag_their_flows_cookies() {
    let agent = 0x4e54_1234_0000_0000;
    assert_eq!(Owner::Pipeline.cookie(agent), agent);
    let port = Owner::Port("p1".into());
    let rule = Owner::Rule { rule: "r1".into(), port: "p1".into() };
    assert_ne!(port.tag(), rule.tag());
    assert_ne!(port.tag(), Owner::Firewall("p1".into()).tag());
    assert!(port.tag() != 0 && port.tag() <= 0xffff_ffff);
    assert!(neutrino_ovs::flow::owned_by(rule.cookie(agent), agent));
    // Pinned: the shell finds a flow's object by this value on any host, across releases.
    assert_eq!(format!("{:#x}", port.cookie(agent)), format!("{:#x}", agent | port.tag()));
    assert_eq!(port.tag(), Owner::Port("p1".into()).tag());
    assert_eq!(format!("{:08x}", Owner::Network("n1".into()).tag()), "f61b7ad8");
}
