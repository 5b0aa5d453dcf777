//! Integration tests against a real, private Open vSwitch 3.x (userspace `netdev` datapath)
//! in a throwaway network namespace: OVSDB helpers, interface monitoring, flow round trips
//! through `ovs-ofctl`, atomic bundles and restart detection.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

use std::collections::BTreeMap;
use std::time::Duration;

use neutrino_ovs::flow::{Flow, FlowDelta, diff};
use neutrino_ovs::group::{Group, diff_groups};
use neutrino_ovs::ofctl::{self, FlowProgrammer, OvsOfctl};
use neutrino_ovs::ovsdb::{Client, OvsdbError};
use neutrino_ovs::testing::OvsSandbox;
use neutrino_ovs::vswitch::{EventKind, InterfaceEvent, OvsVswitch, PortSpec, Vswitch};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

const COOKIE: u64 = 0x6e75_7472_696e_6f00;

fn ids(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn next_event(
    rx: &mut UnboundedReceiver<InterfaceEvent>,
    pred: impl Fn(&InterfaceEvent) -> bool,
) -> InterfaceEvent {
    timeout(Duration::from_secs(10), async {
        loop {
            let ev = rx.recv().await.expect("monitor stream ended");
            if pred(&ev) {
                return ev;
            }
        }
    })
    .await
    .expect("no matching interface event within 10 s")
}

async fn bridge(sb: &OvsSandbox, vs: &OvsVswitch, name: &str) {
    vs.ensure_bridge(name, "netdev", &ids(&[("neutrino-owner", "test")]), Some("secure")).await.unwrap();
    sb.wait_bridge(name);
}

#[tokio::test]
async fn bridge_and_ports_are_idempotent() {
    let Some(sb) = OvsSandbox::start() else { return };
    let vs = OvsVswitch::connect(sb.db_sock()).await.unwrap();
    bridge(&sb, &vs, "br-int").await;
    let uuid = sb.vsctl(&["get", "bridge", "br-int", "_uuid"]).unwrap();
    bridge(&sb, &vs, "br-int").await;
    assert_eq!(sb.vsctl(&["get", "bridge", "br-int", "_uuid"]).unwrap(), uuid);
    assert_eq!(sb.vsctl(&["get", "bridge", "br-int", "datapath_type"]).unwrap().trim(), "netdev");
    assert_eq!(sb.vsctl(&["get", "bridge", "br-int", "fail_mode"]).unwrap().trim(), "secure");
    assert_eq!(
        sb.vsctl(&["get", "bridge", "br-int", "protocols"]).unwrap().trim(),
        "[OpenFlow10, OpenFlow13, OpenFlow14, OpenFlow15]"
    );
    // Another key set by someone else survives our ensure (external_ids are merged).
    sb.vsctl(&["set", "bridge", "br-int", "external_ids:other=1"]).unwrap();
    vs.ensure_bridge("br-int", "netdev", &ids(&[("neutrino-owner", "test")]), None).await.unwrap();
    assert_eq!(sb.vsctl(&["get", "bridge", "br-int", "external_ids:other"]).unwrap().trim(), "\"1\"");
    assert_eq!(sb.vsctl(&["get", "bridge", "br-int", "fail_mode"]).unwrap().trim(), "[]");

    bridge(&sb, &vs, "br-tun").await;
    let patch = |peer: &str, tag| PortSpec {
        iface_type: "patch".into(),
        options: ids(&[("peer", peer)]),
        port_external_ids: ids(&[("neutrino", "1")]),
        iface_external_ids: ids(&[("neutrino", "1")]),
        tag,
    };
    vs.ensure_port("br-int", "patch-tun", &patch("patch-int", Some(5))).await.unwrap();
    vs.ensure_port("br-tun", "patch-int", &patch("patch-tun", None)).await.unwrap();
    let port_uuid = sb.vsctl(&["get", "port", "patch-tun", "_uuid"]).unwrap();
    vs.ensure_port("br-int", "patch-tun", &patch("patch-int", Some(5))).await.unwrap();
    assert_eq!(sb.vsctl(&["get", "port", "patch-tun", "_uuid"]).unwrap(), port_uuid);

    let ports = vs.list_ports("br-int").await.unwrap();
    assert_eq!(ports.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["br-int", "patch-tun"]);
    let p = &ports[1];
    assert_eq!((p.tag, p.iface_type.as_str()), (Some(5), "patch"));
    assert_eq!(p.options.get("peer").map(String::as_str), Some("patch-int"));
    assert_eq!(p.external_ids.get("neutrino").map(String::as_str), Some("1"));
    let ofport = vs.ofport("patch-tun", Duration::from_secs(10)).await.unwrap();
    assert!(ofport.is_some_and(|p| p > 0), "ofport {ofport:?}");
    assert_eq!(vs.ofport("no-such-port", Duration::from_millis(100)).await.unwrap(), None);

    // A differing spec updates in place: tag and options.
    vs.ensure_port("br-int", "patch-tun", &patch("patch-int2", Some(7))).await.unwrap();
    assert_eq!(sb.vsctl(&["get", "port", "patch-tun", "tag"]).unwrap().trim(), "7");
    assert_eq!(sb.vsctl(&["get", "interface", "patch-tun", "options:peer"]).unwrap().trim(), "patch-int2");
    assert_eq!(sb.vsctl(&["get", "port", "patch-tun", "_uuid"]).unwrap(), port_uuid);
    vs.ensure_port("br-int", "patch-tun", &patch("patch-int2", None)).await.unwrap();
    assert_eq!(sb.vsctl(&["get", "port", "patch-tun", "tag"]).unwrap().trim(), "[]");
    assert!(
        vs.ensure_port("br-tun", "patch-tun", &patch("x", None)).await.is_err(),
        "port of another bridge"
    );

    vs.delete_port("br-int", "patch-tun").await.unwrap();
    vs.delete_port("br-int", "patch-tun").await.unwrap();
    assert!(sb.vsctl(&["get", "port", "patch-tun", "_uuid"]).is_err());
    vs.delete_bridge("br-tun").await.unwrap();
    vs.delete_bridge("br-tun").await.unwrap();
    assert_eq!(sb.vsctl(&["list-br"]).unwrap().trim(), "br-int");
}

#[tokio::test]
async fn monitor_sees_vm_interfaces_come_and_go() {
    let Some(sb) = OvsSandbox::start() else { return };
    let vs = OvsVswitch::connect(sb.db_sock()).await.unwrap();
    bridge(&sb, &vs, "br-int").await;
    let mut events = vs.monitor_interfaces().await.unwrap();
    next_event(&mut events, |e| e.name == "br-int" && e.kind == EventKind::Added).await;

    // Plugged the way os-vif does, by someone else (here ovs-vsctl).
    sb.vsctl(&[
        "add-port",
        "br-int",
        "tap1",
        "--",
        "set",
        "interface",
        "tap1",
        "type=internal",
        "external_ids:iface-id=port-1",
        "external_ids:attached-mac=fa:16:3e:00:00:01",
        "external_ids:iface-status=active",
        "external_ids:vm-uuid=vm-1",
    ])
    .unwrap();
    let added = next_event(&mut events, |e| e.name == "tap1").await;
    assert_eq!(added.kind, EventKind::Added);
    assert_eq!(added.iface_id(), Some("port-1"));
    assert_eq!(added.attached_mac(), Some("fa:16:3e:00:00:01"));
    // The insert carries no ofport yet; ovs-vswitchd fills it in with a later update.
    let numbered = match added.ofport {
        Some(p) if p > 0 => added,
        _ => next_event(&mut events, |e| e.name == "tap1" && e.ofport.is_some_and(|p| p > 0)).await,
    };
    assert_eq!(vs.ofport("tap1", Duration::from_secs(5)).await.unwrap(), numbered.ofport);

    sb.vsctl(&["del-port", "br-int", "tap1"]).unwrap();
    let gone = next_event(&mut events, |e| e.name == "tap1" && e.kind == EventKind::Deleted).await;
    assert_eq!(gone.iface_id(), Some("port-1"));

    // Losing the database ends the stream and fails calls, so callers know to reconnect.
    sb.stop_ovsdb_server();
    let end = timeout(Duration::from_secs(10), async { while events.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "monitor stream did not end after ovsdb-server died");
    assert!(matches!(vs.client().echo().await, Err(OvsdbError::Disconnected)));
    assert!(Client::connect(sb.db_sock()).await.is_err());
}

fn desired_flows() -> Vec<Flow> {
    // Written the way a generator naturally would, not in ovs-ofctl's canonical order.
    let f = |t, p, m: &str, a: &str| Flow::new(t, p, COOKIE, m, a);
    vec![
        f(0, 10, "in_port=1,dl_vlan=5", "mod_vlan_vid:7,output:2"),
        f(0, 1, "", "normal"),
        f(0, 2, "eth_type=0x0806,in_port=LOCAL", "output:normal"),
        f(2, 3, "ip,nw_dst=10.0.0.0/24", "resubmit(,3)"),
        f(3, 6, "dl_vlan=4,dl_dst=FA:16:3E:00:00:01,arp", "pop_vlan,output:1"),
        f(4, 5, "tcp,tp_dst=80,dl_src=fa:16:3e:00:00:01/ff:ff:ff:00:00:00", "ct(commit,zone=5),output:1"),
        f(6, 7, "in_port=2,tun_id=0x10", "mod_vlan_vid:3,load:1->reg0,set_field:0x12->tun_id,output:in_port"),
        f(7, 1, "dl_type=0x0800,nw_proto=6", "goto_table:9"),
        f(
            7,
            4,
            "ct_state=+trk+est-rel,udp,tp_src=67,udp_dst=68",
            "ct(commit,zone=NXM_NX_REG6[0..15],exec(load:0x1->NXM_NX_CT_MARK[])),output:1",
        ),
        f(7, 8, "ipv6,ipv6_src=fe80::1/64", "drop"),
        f(7, 9, "tcp6,tp_dst=0x50/0xfff0", "drop"),
        f(7, 13, "in_port=1,dl_vlan=0xffff", "mod_vlan_vid:5,NORMAL"),
        f(7, 15, "icmp,icmp_type=8,icmp_code=0", "drop"),
        f(7, 16, "reg5=3,vlan_tci=0x1000/0x1000", "move:reg0[0..11]->vlan_tci[0..11],controller"),
        f(7, 17, "dl_vlan=5", "strip_vlan,set_tunnel:0x5,output:2,3"),
        f(
            8,
            3,
            "ip",
            "set_field:5->reg0,set_field:fa:16:3e:00:00:bb->eth_dst,mod_dl_src:FA:16:3E:00:00:AA,resubmit:4,local",
        ),
        f(9, 1, "arp,arp_tpa=10.0.0.1,arp_sha=fa:16:3e:00:00:01,metadata=10", "drop"),
        f(9, 2, "ip,nw_src=10.0.0.5/32,nw_dst=10.1.0.0/255.255.0.0", "drop"),
        f(10, 0, "", "drop"),
    ]
}

fn sorted(mut v: Vec<Flow>) -> Vec<Flow> {
    v.sort();
    v
}

#[tokio::test]
async fn flows_round_trip_through_ovs_ofctl() {
    let Some(sb) = OvsSandbox::start() else { return };
    let vs = OvsVswitch::connect(sb.db_sock()).await.unwrap();
    bridge(&sb, &vs, "br0").await;
    for (a, b) in [("p1", "p2"), ("p2", "p1")] {
        let spec =
            PortSpec { iface_type: "patch".into(), options: ids(&[("peer", b)]), ..Default::default() };
        vs.ensure_port("br0", a, &spec).await.unwrap();
    }
    vs.ofport("p2", Duration::from_secs(10)).await.unwrap();
    sb.ofctl(&["add-flow", "br0", "table=0,priority=100,cookie=0x1,arp,actions=drop"]).unwrap();
    let of = OvsOfctl::new(sb.rundir());

    let desired = desired_flows();
    let delta = diff(&desired, &of.dump("br0", Some(COOKIE)).await.unwrap(), COOKIE);
    assert_eq!(delta.add.len(), desired.len());
    of.apply("br0", &delta).await.unwrap();
    let installed = of.dump("br0", Some(COOKIE)).await.unwrap();
    assert_eq!(
        sorted(installed.clone()),
        sorted(desired.clone()),
        "dump-flows: {}",
        sb.ofctl(&["dump-flows", "br0"]).unwrap()
    );
    assert!(diff(&desired, &of.dump("br0", None).await.unwrap(), COOKIE).is_empty());

    // Change one flow's actions, drop one, add one: only the foreign flow is left alone.
    let mut next = desired.clone();
    next[0] = Flow::new(0, 10, COOKIE, "in_port=1,dl_vlan=5", "mod_vlan_vid:8,output:2");
    next.remove(1);
    next.push(Flow::new(11, 1, COOKIE, "udp,nw_dst=255.255.255.255,udp_dst=67", "drop"));
    let delta = diff(&next, &of.dump("br0", None).await.unwrap(), COOKIE);
    assert_eq!((delta.add.len(), delta.delete.len()), (2, 1));
    of.apply("br0", &delta).await.unwrap();
    assert_eq!(sorted(of.dump("br0", Some(COOKIE)).await.unwrap()), sorted(next.clone()));
    let foreign = of.dump("br0", Some(0x1)).await.unwrap();
    assert_eq!(foreign, vec![Flow::new(0, 100, 0x1, "arp", "drop")]);
    assert!(of.apply("br0", &FlowDelta::default()).await.is_ok());
}

#[tokio::test]
async fn a_bundle_with_an_invalid_flow_applies_nothing() {
    let Some(sb) = OvsSandbox::start() else { return };
    let vs = OvsVswitch::connect(sb.db_sock()).await.unwrap();
    bridge(&sb, &vs, "br0").await;
    let of = OvsOfctl::new(sb.rundir());
    let keep = Flow::new(0, 9, COOKIE, "arp", "NORMAL");
    of.apply("br0", &FlowDelta { add: vec![keep.clone()], ..Default::default() }).await.unwrap();
    let before = of.dump("br0", None).await.unwrap();

    // Rejected by the switch (no such group) after the other messages were sent.
    let switch_side = FlowDelta {
        add: vec![Flow::new(1, 2, COOKIE, "", "drop"), Flow::new(1, 1, COOKIE, "", "group:99")],
        delete: vec![keep.clone()],
        ..Default::default()
    };
    let err = of.apply("br0", &switch_side).await.unwrap_err();
    assert!(err.to_string().contains("OFPBAC_BAD_OUT_GROUP"), "{err}");
    assert_eq!(of.dump("br0", None).await.unwrap(), before);

    // Rejected by ovs-ofctl's parser.
    let parse_side = FlowDelta {
        add: vec![Flow::new(1, 2, COOKIE, "", "drop"), Flow::new(1, 1, COOKIE, "bogus=1", "drop")],
        delete: vec![keep],
        ..Default::default()
    };
    assert!(of.apply("br0", &parse_side).await.is_err());
    assert_eq!(of.dump("br0", None).await.unwrap(), before);
}

/// Groups written in the form the model keeps round-trip through the switch, bucket changes
/// apply one bucket at a time in the same bundle as flows, and a dumped group diffs to nothing.
#[tokio::test]
async fn groups_change_bucket_by_bucket_and_dump_back_equal() {
    let Some(sb) = OvsSandbox::start() else { return };
    let vs = OvsVswitch::connect(sb.db_sock()).await.unwrap();
    bridge(&sb, &vs, "br0").await;
    let of = OvsOfctl::new(sb.rundir());
    let bucket = |p: u32| format!("set_field:0x5->reg6,pop_vlan,set_field:{p:#x}->reg5,resubmit(,81)");
    let mut g = Group { id: 5, buckets: [(0, "output:1".to_string()), (2, bucket(2))].into() };
    let flood = Flow::new(94, 10, COOKIE, "dl_vlan=5", "group:5");
    let first =
        FlowDelta { add: vec![flood.clone()], groups: diff_groups(&[g.clone()], &[]), ..Default::default() };
    of.apply("br0", &first).await.unwrap();
    assert_eq!(of.dump_groups("br0").await.unwrap(), vec![g.clone()]);
    assert_eq!(of.dump("br0", Some(COOKIE)).await.unwrap(), vec![flood.clone()]);

    let before = g.clone();
    g.buckets.insert(3, bucket(3));
    g.buckets.remove(&2);
    let mods = diff_groups(&[g.clone()], &of.dump_groups("br0").await.unwrap());
    assert_eq!(mods.len(), 2, "one bucket out, one in: {mods:?}");
    let port_flow = Flow::new(0, 5, COOKIE, "in_port=3", "resubmit(,60)");
    of.apply("br0", &FlowDelta { add: vec![port_flow], groups: mods, ..Default::default() }).await.unwrap();
    assert_eq!(of.dump_groups("br0").await.unwrap(), vec![g.clone()]);
    assert!(diff_groups(&[g.clone()], &of.dump_groups("br0").await.unwrap()).is_empty());
    assert_ne!(of.dump_groups("br0").await.unwrap(), vec![before], "the change is visible");

    // Deleting the group (last in the bundle) takes its flood flow with it.
    of.apply("br0", &FlowDelta { groups: diff_groups(&[], &[g]), ..Default::default() }).await.unwrap();
    assert!(of.dump_groups("br0").await.unwrap().is_empty());
    let left = of.dump("br0", Some(COOKIE)).await.unwrap();
    assert!(!left.contains(&flood) && left.len() == 1, "{left:?}");
}

/// A group's description must fit one OpenFlow message (64 KiB), or `dump-groups` returns it
/// cut short: the agent's flood groups hold at most 256 buckets of a port's flood copy; those
/// dump back whole, and so do 1,100 (headroom: about 40 bytes a bucket).
#[tokio::test]
async fn flood_sized_groups_dump_back_whole() {
    let Some(sb) = OvsSandbox::start() else { return };
    let vs = OvsVswitch::connect(sb.db_sock()).await.unwrap();
    bridge(&sb, &vs, "br0").await;
    let of = OvsOfctl::new(sb.rundir());
    let group = |id: u32, n: u32| Group {
        id,
        buckets: (1..=n).map(|p| (p, format!("set_field:{p:#x}->reg5,resubmit(,81)"))).collect(),
    };
    let (fits, big) = (group(1, 256), group(2, 1100));
    let mut mods = diff_groups(std::slice::from_ref(&fits), &[]);
    // Created empty, then filled bucket by bucket, as the agent grows a group.
    mods.extend(diff_groups(std::slice::from_ref(&big), &[Group { id: 2, buckets: BTreeMap::new() }]));
    mods.insert(1, neutrino_ovs::GroupMod::Add(Group { id: 2, buckets: BTreeMap::new() }));
    of.apply("br0", &FlowDelta { groups: mods, ..Default::default() }).await.unwrap();
    let dumped = of.dump_groups("br0").await.unwrap();
    assert_eq!(dumped.iter().find(|g| g.id == 1), Some(&fits), "256 buckets dump back whole");
    assert_eq!(dumped.iter().find(|g| g.id == 2), Some(&big), "1,100 buckets dump back whole");
}

#[tokio::test]
async fn vswitchd_restart_is_detected_by_the_canary_flow() {
    let Some(sb) = OvsSandbox::start() else { return };
    let vs = OvsVswitch::connect(sb.db_sock()).await.unwrap();
    bridge(&sb, &vs, "br-int").await;
    let of = OvsOfctl::new(sb.rundir());
    ofctl::ensure_canary(&of, "br-int", COOKIE).await.unwrap();
    assert!(!ofctl::restarted(&of, "br-int", COOKIE).await.unwrap());
    let before = sb.vsctl(&["get", "open_vswitch", ".", "cur_cfg"]).unwrap();

    sb.stop_vswitchd();
    assert!(ofctl::restarted(&of, "br-int", COOKIE).await.is_err(), "no switch, no answer");
    sb.start_vswitchd();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sb.ofctl(&["show", "br-int"]).is_err() {
        assert!(std::time::Instant::now() < deadline, "br-int did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ofctl::restarted(&of, "br-int", COOKIE).await.unwrap());
    // What OVSDB shows does not reveal the restart: cur_cfg is unchanged.
    assert_eq!(sb.vsctl(&["get", "open_vswitch", ".", "cur_cfg"]).unwrap(), before);
    ofctl::ensure_canary(&of, "br-int", COOKIE).await.unwrap();
    assert!(!ofctl::restarted(&of, "br-int", COOKIE).await.unwrap());
    // The OVSDB connection survives an ovs-vswitchd restart.
    vs.client().echo().await.unwrap();
}
