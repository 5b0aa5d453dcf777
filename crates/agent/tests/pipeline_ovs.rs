//! The generated pipeline on a real Open vSwitch (userspace `netdev`, private, in its own
//! namespace): the `l2` reconciler wires a host with a VXLAN, a VLAN and a flat network; what
//! the switch then holds — every bridge's flows with our cookie and `br-int`'s flood groups,
//! dumped back — equals the pipeline generated from the test's own description of the host;
//! and a restarted reconciler on the same switch applies nothing, which only holds if every
//! flow and group is written in the form Open vSwitch prints it back.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use neutrino_agent::config::AgentConfig;
use neutrino_agent::flows::{self, Layout, PhysLayout, TunLayout};
use neutrino_agent::reconcile::Reconciler;
use neutrino_model::NetworkType;
use neutrino_ovs::flow::Flow;
use neutrino_ovs::ofctl::{FlowProgrammer, OvsOfctl};
use neutrino_ovs::testing::OvsSandbox;
use neutrino_ovs::vswitch::OvsVswitch;

fn ofport(sb: &OvsSandbox, iface: &str) -> i64 {
    let start = Instant::now();
    loop {
        let got = sb.vsctl(&["get", "interface", iface, "ofport"]).ok().and_then(|s| s.trim().parse().ok());
        if let Some(p) = got.filter(|p: &i64| *p > 0) {
            return p;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{iface} got no ofport");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A VM interface on `br-int` as Nova plugs it.
fn plug(sb: &OvsSandbox, iface: &str, port_id: &str) {
    let ids = format!("external_ids:iface-id={port_id}");
    sb.vsctl(&["add-port", "br-int", iface, "--", "set", "interface", iface, "type=internal", &ids])
        .expect("plug");
}

async fn reconciler(
    sb: &OvsSandbox,
    cfg: &AgentConfig,
    count: &Arc<AtomicUsize>,
) -> Reconciler<OvsVswitch, Counting> {
    let vs = OvsVswitch::connect(sb.db_sock()).await.expect("ovsdb");
    Reconciler::new(cfg.clone(), vs, Counting(OvsOfctl::new(sb.rundir()), count.clone()))
}

#[tokio::test]
async fn the_generated_pipeline_is_what_open_vswitch_holds_and_a_restart_changes_nothing() {
    let Some(sb) = OvsSandbox::start() else { return };
    let cfg = AgentConfig { ovsdb: sb.db_sock(), ovs_rundir: sb.rundir().to_path_buf(), ..config() };
    let count = Arc::new(AtomicUsize::new(0));
    let (vx, vl, fl) = (net_vxlan("net-1", 100), net_vlan("net-2", 101), net_flat("net-3"));
    let ports = vec![port("p1", "net-1"), port("p1b", "net-1"), port("p2", "net-2"), port("p3", "net-3")];
    let desired =
        || state(1, ports.clone(), vec![vx.clone(), vl.clone(), fl.clone()], &[("net-1", &[PEER_B])]);

    let mut r = reconciler(&sb, &cfg, &count).await;
    r.setup().await.expect("setup: bridges and patches");
    for (iface, id) in [("tap1", "p1"), ("tap1b", "p1b"), ("tap2", "p2"), ("tap3", "p3")] {
        plug(&sb, iface, id);
        ofport(&sb, iface);
    }
    r.setup().await.expect("setup again: finds the plugged interfaces");
    r.load(desired());
    let mut up = r.sync().await.expect("sync").up;
    up.sort();
    assert_eq!(up, vec!["p1", "p1b", "p2", "p3"]);

    // The host as this test describes it: local VLANs in network id order, the ofports the
    // switch assigned, one VXLAN tunnel to the peer.
    let nets = vec![
        local_with(&vx, 1, &[("tap1", "p1"), ("tap1b", "p1b")], |i| ofport(&sb, i)),
        local_with(&vl, 2, &[("tap2", "p2")], |i| ofport(&sb, i)),
        local_with(&fl, 3, &[("tap3", "p3")], |i| ofport(&sb, i)),
    ];
    let (int_phys, phy) = AgentConfig::phys_patch_names("br-eth1");
    let tunnel = flows::tunnel_port_name(NetworkType::Vxlan, PEER_B);
    let layout = Layout {
        cookie: cfg.cookie(),
        int_bridge: "br-int".into(),
        tun: Some(TunLayout {
            bridge: "br-tun".into(),
            patch_int: ofport(&sb, "patch-int"),
            int_patch: ofport(&sb, "patch-tun"),
            ports: BTreeMap::from([((NetworkType::Vxlan, PEER_B.to_string()), ofport(&sb, &tunnel))]),
        }),
        phys: BTreeMap::from([(
            "physnet1".to_string(),
            PhysLayout {
                bridge: "br-eth1".into(),
                int_ofport: ofport(&sb, &int_phys),
                phy_ofport: ofport(&sb, &phy),
            },
        )]),
    };
    let want = flows::generate(&layout, &nets, &peer_map(&[("net-1", &[PEER_B])]), &Default::default());
    let of = OvsOfctl::new(sb.rundir());
    for (bridge, flows) in want.clone().into_flows() {
        let mut got = of.dump(&bridge, Some(cfg.cookie())).await.expect("dump");
        got.sort_by_key(Flow::key);
        assert_eq!(got, sorted(flows), "{bridge}'s flows");
    }
    let groups = of.dump_groups("br-int").await.expect("dump-groups");
    assert_eq!(groups, want.groups()["br-int"], "br-int's flood groups");

    // Not vacuous: the whole pipeline is there, and the flood reaches both ports of net-1.
    let int = of.dump("br-int", Some(cfg.cookie())).await.expect("dump");
    for table in [0, 23, 60, 71, 72, 73, 81, 82, 91, 92, 93, 94] {
        assert!(int.iter().any(|f| f.table == table), "br-int has no flow in table {table}");
    }
    let tun = of.dump("br-tun", Some(cfg.cookie())).await.expect("dump");
    for table in [2, 4, 10, 20, 22] {
        assert!(tun.iter().any(|f| f.table == table), "br-tun has no flow in table {table}");
    }
    assert_eq!(groups.len(), 3, "one flood group per network (few ports)");
    let net1_id = flows::local::flood_group_id(1, u32::try_from(ofport(&sb, "tap1")).expect("ofport"));
    let net1 = groups.iter().find(|g| g.id == net1_id).expect("net-1's group");
    assert_eq!(net1.buckets.len(), 2, "both local ports: {net1:?}");

    // A restarted agent on the same switch finds everything as it wants it.
    let before = count.load(Ordering::SeqCst);
    assert!(before >= 3, "the first sync programmed br-int, br-tun and br-eth1");
    drop(r);
    let mut again = reconciler(&sb, &cfg, &count).await;
    again.setup().await.expect("setup after restart");
    again.load(desired());
    again.sync().await.expect("sync after restart");
    assert_eq!(count.load(Ordering::SeqCst), before, "the restarted agent changed flows or groups");

    // And a change is seen: one more port on net-1 is one bundle, one more bucket.
    plug(&sb, "tap1c", "p1c");
    ofport(&sb, "tap1c");
    again.setup().await.expect("setup: the new interface");
    let mut more = ports.clone();
    more.push(port("p1c", "net-1"));
    again.load(state(2, more, vec![vx.clone(), vl.clone(), fl.clone()], &[("net-1", &[PEER_B])]));
    again.sync().await.expect("sync with the new port");
    assert_eq!(count.load(Ordering::SeqCst), before + 1);
    let groups = of.dump_groups("br-int").await.expect("dump-groups");
    let net1 = groups.iter().find(|g| g.id == net1_id).expect("net-1's group");
    let bucket = u32::try_from(ofport(&sb, "tap1c")).expect("an ofport fits a bucket id");
    assert!(net1.buckets.contains_key(&bucket) && net1.buckets.len() == 3, "{net1:?}");
}
