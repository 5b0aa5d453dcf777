//! The `l2` driver under the generic run loop: the stateful fake control plane on one side,
//! the in-memory Open vSwitch on the other, paused time. The driver's own host watchers (the
//! OVSDB interface monitor, the canary flow) wake the loop, and its heartbeats carry the typed
//! configurations in upstream's form.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use std::time::Duration;

use common::*;
use neutrino_agent::control::fake::FakeControlPlane;
use neutrino_agent::driver::Driver;
use neutrino_agent::l2::L2Driver;
use neutrino_agent::run::{LoopOptions, serve};
use neutrino_model::internal::L2Delta;
use neutrino_ovs::vswitch::{StrMap, Vswitch};
use tokio::sync::watch;

fn driver(ovs: &Ovs) -> L2Driver<SharedVswitch, SharedFlows> {
    let (vs, of) = (SharedVswitch(ovs.vs.clone()), SharedFlows(ovs.of.clone()));
    L2Driver::new(config(), vs, of.clone(), of)
}

fn start(cp: &FakeControlPlane, ovs: &Ovs) -> watch::Sender<bool> {
    let (stop, mut rx) = watch::channel(false);
    let (cp, d) = (cp.clone(), driver(ovs));
    tokio::spawn(async move {
        let mut drivers: Vec<Box<dyn Driver>> = vec![Box::new(d)];
        let opts = LoopOptions::new(HOST, Duration::from_secs(10));
        serve(cp, &opts, &mut drivers, &mut rx).await.expect("the loop runs");
    });
    stop
}

/// A host whose VM `tap1` (port p1) was plugged before the agent started.
async fn host_with_a_vm() -> Ovs {
    let ovs = Ovs::new();
    ovs.vs.ensure_bridge("br-int", "netdev", &StrMap::new(), None).await.unwrap();
    ovs.plug("tap1", "p1");
    ovs
}

fn reported_up(cp: &FakeControlPlane) -> Vec<String> {
    cp.status_reports().into_iter().flat_map(|r| r.up).collect()
}

#[tokio::test(start_paused = true)]
async fn ports_are_wired_on_listing_and_on_interface_events() {
    let ovs = host_with_a_vm().await;
    let cp = FakeControlPlane::new();
    cp.publish(
        HOST,
        L2Delta {
            ports: vec![port("p1", "net-1"), port("p2", "net-1")],
            networks: vec![net_vxlan("net-1", 100)],
            peers: peer_map(&[("net-1", &[PEER_B])]),
            ..Default::default()
        },
    );
    let _stop = start(&cp, &ovs);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(reported_up(&cp), vec!["p1"], "only the plugged port is up");
    assert_eq!(ovs.tag("tap1"), Some(1));
    assert!(ovs.vs.port("vxlan-ac1f0002").is_some(), "the tunnel to the peer");

    // Nova plugs p2's VM: the OVSDB monitor wakes the loop, which wires it.
    ovs.plug("tap2", "p2");
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(reported_up(&cp), vec!["p1", "p2"]);
    assert_eq!(ovs.tag("tap2"), Some(1));

    // The server removes p1: its flows go, it is not reported down (it is no longer here).
    cp.publish(HOST, L2Delta { removed_ports: vec!["p1".into()], ..Default::default() });
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(ovs.tag("tap1"), Some(neutrino_agent::vlan::DEAD_VLAN));
    assert!(cp.status_reports().iter().all(|r| r.down.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn a_vswitchd_restart_is_repaired_by_the_canary() {
    let ovs = host_with_a_vm().await;
    let cp = FakeControlPlane::new();
    cp.publish(
        HOST,
        L2Delta {
            ports: vec![port("p1", "net-1")],
            networks: vec![net_vlan("net-1", 101)],
            ..Default::default()
        },
    );
    let _stop = start(&cp, &ovs);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let flows = ovs.all_flows();
    assert!(!flows.flows["br-int"].is_empty());

    for b in ["br-eth1", "br-int", "br-tun"] {
        ovs.of.clear(b);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ovs.all_flows(), flows, "the flows came back");
    assert_eq!(reported_up(&cp), vec!["p1"], "the port stayed wired: nothing more to report");
}

#[tokio::test(start_paused = true)]
async fn heartbeats_carry_the_typed_configurations_in_upstreams_form() {
    let ovs = host_with_a_vm().await;
    let cp = FakeControlPlane::new();
    let _stop = start(&cp, &ovs);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let beats = cp.heartbeats();
    assert_eq!(beats.len(), 1);
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../../model/tests/fixtures/l2_configurations.json")).unwrap();
    assert_eq!(beats[0].configurations, fixture);
    assert_eq!(
        (beats[0].agent_type.as_str(), beats[0].binary.as_str()),
        ("Open vSwitch agent", "neutron-openvswitch-agent")
    );

    // A second VM: the next heartbeat counts its device.
    ovs.plug("tap2", "p2");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let last = cp.heartbeats().pop().unwrap();
    assert!(!last.start_flag);
    assert_eq!(last.configurations["devices"], 2);
}
