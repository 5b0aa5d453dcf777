//! Tier-2 tests of the agent's reconcile loop (docs/design.md "Tests"): the reconciler against
//! the in-memory Open vSwitch fakes, with desired state built by hand. They cover what users
//! rely on: bridges and patch ports, VM port VLANs (ingress flows) and up/down reports, tunnel ports per peer,
//! flows equal to `flows::generate`, restarts of the agent and of ovs-vswitchd without loss,
//! and the cost of a change being proportional to the change.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use std::collections::BTreeMap;

use common::*;
use neutrino_agent::reconcile::OWNER_KEY;
use neutrino_agent::vlan::DEAD_VLAN;
use neutrino_ovs::flow::Flow;
use neutrino_ovs::group::Group;
use neutrino_ovs::ofctl::canary_flow;
use neutrino_ovs::vswitch::{PortSpec, StrMap, Vswitch};

fn owner() -> StrMap {
    StrMap::from([(OWNER_KEY.to_string(), HOST.to_string())])
}

#[tokio::test]
async fn setup_creates_bridges_and_patch_ports_and_is_idempotent() {
    let ovs = Ovs::new();
    let mut agent = Agent::start(&ovs).await;

    assert_eq!(ovs.vs.bridges(), vec!["br-eth1", "br-int", "br-tun"]);
    for br in ["br-int", "br-tun"] {
        let b = ovs.vs.bridge(br).unwrap();
        assert_eq!(b.datapath_type, "netdev");
        assert_eq!(b.fail_mode.as_deref(), Some("secure"), "{br}");
        assert_eq!(b.external_ids.get(OWNER_KEY).map(String::as_str), Some(HOST), "{br}");
    }
    // The physical bridge is the operator's: created if missing, but not marked as ours.
    let phys = ovs.vs.bridge("br-eth1").unwrap();
    assert!(!phys.external_ids.contains_key(OWNER_KEY));

    for (bridge, name, peer) in [
        ("br-int", "patch-tun", "patch-int"),
        ("br-tun", "patch-int", "patch-tun"),
        ("br-int", "int-br-eth1", "phy-br-eth1"),
        ("br-eth1", "phy-br-eth1", "int-br-eth1"),
    ] {
        let (on, p) = ovs.vs.port(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(on, bridge, "{name}");
        assert_eq!(p.iface_type, "patch", "{name}");
        assert_eq!(p.options.get("peer").map(String::as_str), Some(peer), "{name}");
        assert!(p.ofport.is_some_and(|o| o > 0), "{name}");
        assert_eq!(ovs.vs.port_external_ids(name).unwrap(), owner(), "{name}");
    }

    // Setting up again — in the same agent or in a restarted one — changes nothing.
    let writes = ovs.vs.writes();
    agent.r.setup().await.unwrap();
    assert_eq!(ovs.vs.writes(), writes, "second setup wrote to OVSDB");
    let _restarted = Agent::start(&ovs).await;
    assert_eq!(ovs.vs.writes(), writes, "setup of a restarted agent wrote to OVSDB");

    // With nothing to wire, a sync installs only the base flows (canary included).
    let ch = agent.synced().await;
    assert_eq!(ch, Default::default());
    assert!(ovs.flows("br-int").contains(&canary_flow(agent.cookie())));
    assert_eq!(ovs.all_flows(), agent.expected_flows(&ovs, &[], &BTreeMap::new()).await);
    assert_eq!(ovs.vs.writes(), writes, "an empty sync wrote to OVSDB");
}

#[tokio::test]
async fn setup_without_tunnels_makes_no_tunnel_bridge() {
    let ovs = Ovs::new();
    let cfg = neutrino_agent::config::AgentConfig {
        tunnel_types: vec![],
        local_ip: None,
        bridge_mappings: BTreeMap::new(),
        ..config()
    };
    let mut agent = Agent::start_with(&ovs, cfg).await;
    assert_eq!(ovs.vs.bridges(), vec!["br-int"]);
    assert!(ovs.vs.port("patch-tun").is_none());
    let n = net_vxlan("net-1", 100);
    agent.r.load(state(1, vec![port("p1", "net-1")], vec![n], &[("net-1", &[PEER_B])]));
    ovs.plug("tap1", "p1");
    agent.synced().await;
    assert!(ovs.of.flows("br-tun").is_empty());
    assert!(ovs.vs.port("vxlan-ac1f0002").is_none());
}

#[tokio::test]
async fn plugged_port_gets_the_network_vlan_and_is_reported_up_once() {
    let ovs = Ovs::new();
    let mut agent = Agent::start(&ovs).await;
    agent.r.load(state(1, vec![port("p1", "net-1")], vec![net_vxlan("net-1", 100)], &[]));
    // Nothing plugged yet: nothing to report.
    assert_eq!(agent.synced().await, Default::default());

    ovs.plug("tap1", "p1");
    let ch = agent.synced().await;
    assert_eq!(ch.up, vec!["p1"]);
    assert!(ch.down.is_empty());
    assert_eq!(ovs.tag("tap1"), Some(1));

    let writes = ovs.vs.writes();
    let applies = ovs.of.apply_count();
    assert_eq!(agent.synced().await, Default::default(), "reported twice");
    assert_eq!((ovs.vs.writes(), ovs.of.apply_count()), (writes, applies), "an idle sync changed things");
}

#[tokio::test]
async fn unplugged_port_is_reported_down_and_up_again_when_replugged() {
    let ovs = Ovs::new();
    let mut agent = Agent::start(&ovs).await;
    agent.r.load(state(1, vec![port("p1", "net-1")], vec![net_vxlan("net-1", 100)], &[]));
    ovs.plug("tap1", "p1");
    assert_eq!(agent.synced().await.up, vec!["p1"]);

    ovs.vs.unplug_interface("tap1");
    let ch = agent.synced().await;
    assert_eq!((ch.up.len(), ch.down.clone()), (0, vec!["p1".to_string()]));
    assert_eq!(agent.synced().await, Default::default());

    ovs.plug("tap1", "p1");
    assert_eq!(agent.synced().await.up, vec!["p1"]);
    assert_eq!(ovs.tag("tap1"), Some(1), "a replugged interface is tagged again");
}

#[tokio::test]
async fn port_not_in_desired_state_gets_the_dead_vlan() {
    let ovs = Ovs::new();
    let mut agent = Agent::start(&ovs).await;
    agent.r.load(state(1, vec![port("p1", "net-1")], vec![net_vxlan("net-1", 100)], &[]));
    ovs.plug("tap-stranger", "p-unknown");
    ovs.plug("tap1", "p1");
    let ch = agent.synced().await;
    assert_eq!(ch.up, vec!["p1"], "only the known port is up");
    assert_eq!(ovs.tag("tap-stranger"), Some(DEAD_VLAN));
    assert_eq!(ovs.tag("tap1"), Some(1));

    // The port leaves the host's desired state (deleted or bound elsewhere): dead VLAN, and no
    // "down" report for a port that is no longer ours; its network's flows go too.
    let with_net = ovs.all_flows();
    let mut d = delta(2);
    d.l2.removed_ports = vec!["p1".into()];
    assert!(agent.r.apply(d));
    let ch = agent.synced().await;
    assert_eq!(ch, Default::default());
    assert_eq!(ovs.tag("tap1"), Some(DEAD_VLAN));
    assert_ne!(ovs.all_flows(), with_net);
    assert_eq!(ovs.all_flows(), agent.expected_flows(&ovs, &[], &BTreeMap::new()).await);
}

#[tokio::test]
async fn admin_down_port_gets_the_dead_vlan_and_is_reported_down() {
    let ovs = Ovs::new();
    let mut agent = Agent::start(&ovs).await;
    let n = net_vxlan("net-1", 100);
    let mut down = port("p2", "net-1");
    down.admin_state_up = false;
    agent.r.load(state(1, vec![port("p1", "net-1"), down], vec![n], &[]));
    ovs.plug("tap1", "p1");
    ovs.plug("tap2", "p2");
    let ch = agent.synced().await;
    assert_eq!(ch.up, vec!["p1"], "an admin-down port is never reported up");
    assert_eq!(ovs.tag("tap2"), Some(DEAD_VLAN));

    // p1 goes admin-down: dead VLAN, reported down once.
    let mut p1 = port("p1", "net-1");
    p1.admin_state_up = false;
    assert!(agent.r.apply(changes(2, vec![p1.clone()], vec![])));
    let ch = agent.synced().await;
    assert_eq!((ch.up.len(), ch.down.clone()), (0, vec!["p1".to_string()]));
    assert_eq!(ovs.tag("tap1"), Some(DEAD_VLAN));
    assert_eq!(agent.synced().await, Default::default(), "reported down twice");

    // And back up: the network's VLAN again, reported up.
    p1.admin_state_up = true;
    assert!(agent.r.apply(changes(3, vec![p1], vec![])));
    let ch = agent.synced().await;
    assert_eq!(ch.up, vec!["p1"]);
    assert_eq!(ovs.tag("tap1"), Some(1));
}

#[tokio::test]
async fn networks_get_different_local_vlans() {
    let ovs = Ovs::new();
    let mut agent = Agent::start(&ovs).await;
    let nets = vec![net_vxlan("net-1", 100), net_vlan("net-2", 101), net_flat("net-3")];
    let ports = vec![port("p1", "net-1"), port("p2", "net-2"), port("p3", "net-3"), port("p4", "net-1")];
    agent.r.load(state(1, ports, nets, &[]));
    for (tap, p) in [("tap1", "p1"), ("tap2", "p2"), ("tap3", "p3"), ("tap4", "p4")] {
        ovs.plug(tap, p);
    }
    let mut ch = agent.synced().await;
    ch.up.sort();
    assert_eq!(ch.up, vec!["p1", "p2", "p3", "p4"]);
    let tags: Vec<Option<u16>> = ["tap1", "tap2", "tap3"].iter().map(|t| ovs.tag(t)).collect();
    assert!(tags.iter().all(|t| t.is_some_and(|v| (1..DEAD_VLAN).contains(&v))), "{tags:?}");
    assert_ne!(tags[0], tags[1]);
    assert_ne!(tags[1], tags[2]);
    assert_ne!(tags[0], tags[2]);
    assert_eq!(ovs.tag("tap4"), tags[0], "same network, same VLAN");
}

#[tokio::test]
async fn tunnel_ports_follow_peers_and_only_ours_are_removed() {
    let ovs = Ovs::new();
    let mut agent = Agent::start(&ovs).await;
    // Someone else's tunnel port to the same peer (no owner key of ours).
    let foreign = PortSpec {
        iface_type: "vxlan".into(),
        options: StrMap::from([("remote_ip".to_string(), PEER_B.to_string())]),
        ..Default::default()
    };
    ovs.vs.ensure_port("br-tun", "foreign-vx", &foreign).await.unwrap();

    // Our own endpoint in the peer list is not a tunnel.
    let peers: &[(&str, &[&str])] = &[("net-1", &[PEER_B, PEER_C, LOCAL_IP])];
    agent.r.load(state(1, vec![port("p1", "net-1")], vec![net_vxlan("net-1", 100)], peers));
    ovs.plug("tap1", "p1");
    agent.synced().await;

    let mut names: Vec<String> = ovs.tunnel_ports().await.into_iter().map(|p| p.name).collect();
    names.sort();
    assert_eq!(names, vec!["vxlan-ac1f0002", "vxlan-ac1f0003"]);
    let (bridge, p) = ovs.vs.port("vxlan-ac1f0002").unwrap();
    assert_eq!(bridge, "br-tun");
    assert_eq!(p.iface_type, "vxlan");
    let want = StrMap::from([
        ("key".to_string(), "flow".to_string()),
        ("local_ip".to_string(), LOCAL_IP.to_string()),
        ("remote_ip".to_string(), PEER_B.to_string()),
    ]);
    assert_eq!(p.options, want);
    assert_eq!(p.external_ids, owner());
    assert_eq!(ovs.vs.port_external_ids("vxlan-ac1f0002").unwrap(), owner());
    assert_eq!(
        ovs.all_flows(),
        agent
            .expected_flows(
                &ovs,
                &[local(&ovs, &net_vxlan("net-1", 100), 1, &[("tap1", "p1")])],
                &peer_map(peers)
            )
            .await
    );

    // PEER_C leaves the network.
    let mut d = delta(2);
    d.l2.peers = peer_map(&[("net-1", &[PEER_B])]);
    assert!(agent.r.apply(d));
    agent.synced().await;
    assert!(ovs.vs.port("vxlan-ac1f0003").is_none());
    assert!(ovs.vs.port("vxlan-ac1f0002").is_some());

    // Every peer leaves: our tunnel ports go, the foreign one stays.
    let mut d = delta(3);
    d.l2.peers = peer_map(&[("net-1", &[])]);
    assert!(agent.r.apply(d));
    agent.synced().await;
    assert!(ovs.tunnel_ports().await.is_empty());
    assert!(ovs.vs.port("foreign-vx").is_some(), "a port that is not ours was removed");
    let tun_ports = ovs.port_names("br-tun").await;
    assert_eq!(tun_ports, vec!["br-tun", "foreign-vx", "patch-int"]);
    assert_eq!(
        ovs.all_flows(),
        agent
            .expected_flows(
                &ovs,
                &[local(&ovs, &net_vxlan("net-1", 100), 1, &[("tap1", "p1")])],
                &BTreeMap::new()
            )
            .await
    );

    // A restarted agent also sweeps only its own stale tunnel ports.
    let mut d = delta(4);
    d.l2.peers = peer_map(&[("net-1", &[PEER_B])]);
    assert!(agent.r.apply(d));
    agent.synced().await;
    assert!(ovs.vs.port("vxlan-ac1f0002").is_some());
    drop(agent);
    let mut agent = Agent::start(&ovs).await;
    agent.r.load(state(5, vec![port("p1", "net-1")], vec![net_vxlan("net-1", 100)], &[("net-1", &[])]));
    agent.synced().await;
    assert!(ovs.vs.port("vxlan-ac1f0002").is_none(), "stale tunnel port survived a restart");
    assert!(ovs.vs.port("foreign-vx").is_some());
}

/// The state used by the flow and restart tests: every segment type, peers on the tunnel
/// network, one plugged port per network.
async fn busy_host(ovs: &Ovs) -> Agent {
    let mut agent = Agent::start(ovs).await;
    let nets = vec![net_vxlan("net-1", 100), net_vlan("net-2", 101), net_flat("net-3")];
    let ports = vec![port("p1", "net-1"), port("p2", "net-2"), port("p3", "net-3")];
    agent.r.load(state(1, ports, nets, &[("net-1", &[PEER_B, PEER_C])]));
    for (tap, p) in [("tap1", "p1"), ("tap2", "p2"), ("tap3", "p3")] {
        ovs.plug(tap, p);
    }
    agent.synced().await;
    agent
}

/// The busy host as the test expects it: local VLANs are the lowest free ones, given in the
/// order of the network ids.
fn busy_nets(ovs: &Ovs) -> Vec<neutrino_agent::flows::LocalNet> {
    vec![
        local(ovs, &net_vxlan("net-1", 100), 1, &[("tap1", "p1")]),
        local(ovs, &net_vlan("net-2", 101), 2, &[("tap2", "p2")]),
        local(ovs, &net_flat("net-3"), 3, &[("tap3", "p3")]),
    ]
}

#[tokio::test]
async fn flows_are_exactly_the_generated_ones_per_bridge() {
    let ovs = Ovs::new();
    let agent = busy_host(&ovs).await;
    let peers = peer_map(&[("net-1", &[PEER_B, PEER_C])]);
    let want = agent.expected_flows(&ovs, &busy_nets(&ovs), &peers).await;
    assert_eq!(want.flows.keys().collect::<Vec<_>>(), vec!["br-eth1", "br-int", "br-tun"]);
    assert_eq!(ovs.all_flows(), want);
    // Every flow carries our cookie (tagged with its object); per-network flows exist for each
    // segment type.
    assert!(want.flows.values().flatten().all(|f| neutrino_ovs::flow::owned_by(f.cookie, agent.cookie())));
    assert!(want.flows.values().flatten().any(|f| f.cookie != agent.cookie()));
    assert!(ovs.flows("br-int").iter().any(|f| f.matches.contains("dl_vlan=101")));
    assert!(ovs.flows("br-eth1").iter().any(|f| f.actions.contains("strip_vlan")));
    assert!(ovs.flows("br-tun").iter().any(|f| f.matches.contains("tun_id=0x64")));
}

#[tokio::test]
async fn restart_removes_our_stale_flows_and_keeps_foreign_ones() {
    let ovs = Ovs::new();
    let agent = busy_host(&ovs).await;
    let cookie = agent.cookie();
    drop(agent);
    // While the agent is down: a leftover flow of ours, and an operator's flow.
    let stale = Flow::new(0, 50, cookie, "in_port=99", "drop");
    let theirs = Flow::new(0, 50, 0x1234, "in_port=98", "drop");
    ovs.of.install("br-int", stale.clone());
    ovs.of.install("br-int", theirs.clone());
    ovs.of.install("br-tun", Flow::new(4, 1, cookie, "tun_id=0x999", "drop"));

    let mut agent = Agent::start(&ovs).await;
    let nets = vec![net_vxlan("net-1", 100), net_vlan("net-2", 101), net_flat("net-3")];
    let ports = vec![port("p1", "net-1"), port("p2", "net-2"), port("p3", "net-3")];
    agent.r.load(state(1, ports, nets, &[("net-1", &[PEER_B, PEER_C])]));
    agent.synced().await;

    let int = ovs.flows("br-int");
    assert!(!int.contains(&stale), "our stale flow survived");
    assert!(int.contains(&theirs), "a flow with another cookie was removed");
    let peers = peer_map(&[("net-1", &[PEER_B, PEER_C])]);
    let mut want = agent.expected_flows(&ovs, &busy_nets(&ovs), &peers).await;
    want.flows.get_mut("br-int").unwrap().push(theirs);
    want.flows = want.flows.into_iter().map(|(b, f)| (b, sorted(f))).collect();
    assert_eq!(ovs.all_flows(), want);
}

#[tokio::test]
async fn restarted_agent_changes_nothing_when_nothing_changed() {
    let ovs = Ovs::new();
    let net_a = net_vxlan("net-a", 100);
    let net_b = net_vlan("net-b", 101);
    let mut agent = Agent::start(&ovs).await;
    agent.r.load(state(
        1,
        vec![port("pa", "net-a"), port("pb", "net-b")],
        vec![net_a.clone(), net_b.clone()],
        &[("net-b", &[])],
    ));
    ovs.plug("tap-a", "pa");
    ovs.plug("tap-b", "pb");
    agent.synced().await;
    assert_eq!((ovs.tag("tap-a"), ovs.tag("tap-b")), (Some(1), Some(2)));
    // net-a leaves: VLAN 1 is free, net-b keeps 2 — a fresh allocation would pick 1.
    let mut d = delta(2);
    d.l2.removed_ports = vec!["pa".into()];
    assert!(agent.r.apply(d));
    ovs.vs.unplug_interface("tap-a");
    agent.synced().await;
    let cookie = agent.cookie();
    drop(agent);

    let (writes, applies, flows) = (ovs.vs.writes(), ovs.of.apply_count(), ovs.all_flows());
    let mut agent = Agent::start(&ovs).await;
    agent.r.load(state(3, vec![port("pb", "net-b")], vec![net_a, net_b.clone()], &[]));
    let ch = agent.synced().await;
    assert_eq!(agent.cookie(), cookie, "the cookie must survive a restart");
    assert_eq!(ovs.tag("tap-b"), Some(2), "local VLAN not recovered");
    assert_eq!(ovs.vs.writes(), writes, "a restarted agent retagged or rewired ports");
    assert_eq!(ovs.of.apply_count(), applies, "a restarted agent applied flow deltas");
    assert_eq!(ovs.all_flows(), flows);
    assert_eq!(
        ovs.all_flows(),
        agent.expected_flows(&ovs, &[local(&ovs, &net_b, 2, &[("tap-b", "pb")])], &BTreeMap::new()).await
    );
    // The new agent tells the server its ports are up (the server treats that idempotently).
    assert_eq!(ch.up, vec!["pb"]);
}

#[tokio::test]
async fn restarted_busy_agent_applies_no_flow_deltas() {
    let ovs = Ovs::new();
    let agent = busy_host(&ovs).await;
    let tags = ["tap1", "tap2", "tap3"].map(|t| ovs.tag(t));
    drop(agent);
    let (writes, applies, flows) = (ovs.vs.writes(), ovs.of.apply_count(), ovs.all_flows());

    // The server lists the same state, with the networks in another order.
    let mut agent = Agent::start(&ovs).await;
    let nets = vec![net_flat("net-3"), net_vlan("net-2", 101), net_vxlan("net-1", 100)];
    let ports = vec![port("p3", "net-3"), port("p2", "net-2"), port("p1", "net-1")];
    agent.r.load(state(7, ports, nets, &[("net-1", &[PEER_C, PEER_B])]));
    agent.synced().await;
    assert_eq!(["tap1", "tap2", "tap3"].map(|t| ovs.tag(t)), tags);
    assert_eq!(ovs.vs.writes(), writes, "retagged or recreated ports");
    assert_eq!(ovs.of.apply_count(), applies, "applied flow deltas");
    assert_eq!(ovs.all_flows(), flows);
}

#[tokio::test]
async fn vswitchd_restart_is_detected_and_flows_come_back() {
    let ovs = Ovs::new();
    let mut agent = busy_host(&ovs).await;
    let flows = ovs.all_flows();
    assert!(!agent.r.vswitchd_restarted().await.unwrap());

    for b in ["br-eth1", "br-int", "br-tun"] {
        ovs.of.clear(b);
    }
    assert!(agent.r.vswitchd_restarted().await.unwrap());
    // As the run loop does: setup (OVSDB survived: no writes), forget the flows, sync.
    let writes = ovs.vs.writes();
    agent.r.setup().await.unwrap();
    agent.r.invalidate_flows();
    let ch = agent.synced().await;
    assert_eq!(ch, Default::default(), "ports are still wired: nothing to report");
    assert_eq!(ovs.vs.writes(), writes);
    assert_eq!(ovs.all_flows(), flows);
    assert!(!agent.r.vswitchd_restarted().await.unwrap());
}

#[tokio::test]
async fn one_more_port_on_a_known_network_changes_no_flows() {
    let ovs = Ovs::new();
    let mut agent = busy_host(&ovs).await;
    let (writes, applies, flows) = (ovs.vs.writes(), ovs.of.apply_count(), ovs.all_flows());

    assert!(agent.r.apply(changes(2, vec![port("p1b", "net-1")], vec![])));
    ovs.plug("tap1b", "p1b");
    let ch = agent.synced().await;
    assert_eq!(ch.up, vec!["p1b"]);
    assert_eq!(ovs.tag("tap1b"), ovs.tag("tap1"));
    // One bundle on br-int: the port's four flows (tagging, from and to the port, local
    // delivery after egress), the four of its firewall's pass-through (no port security: 71 →
    // 73, 81 → the port, and the commit of a connection a filtered neighbour opens to it in
    // 81 for IPv4 and IPv6) and one more bucket in its network's flood group, which is
    // otherwise unchanged; no other bridge, no OVSDB write of ours (only "Nova"'s plug).
    assert_eq!(ovs.of.apply_count(), applies + 1, "one bundle for one port");
    let after = ovs.all_flows();
    assert_eq!(after.flows["br-tun"], flows.flows["br-tun"]);
    assert_eq!(after.flows["br-eth1"], flows.flows["br-eth1"]);
    let added: Vec<&Flow> =
        after.flows["br-int"].iter().filter(|f| !flows.flows["br-int"].contains(f)).collect();
    assert_eq!(added.len(), 8, "{added:?}");
    assert_eq!(after.flows["br-int"].len(), flows.flows["br-int"].len() + 8);
    let ofport = u32::try_from(ovs.ofport("tap1b")).unwrap();
    let grown: Vec<(&Group, &Group)> =
        after.groups.iter().zip(&flows.groups).filter(|(a, b)| a != b).collect();
    assert_eq!(grown.len(), 1, "one flood group changed");
    let (new, old) = grown[0];
    let mut without = new.clone();
    assert!(without.buckets.remove(&ofport).is_some(), "the new port has a bucket: {new:?}");
    assert_eq!(&without, old, "and nothing else changed in the group");
    assert_eq!(ovs.vs.writes(), writes + 1);
    let flows = after;
    let applies = ovs.of.apply_count();

    // By contrast, a new tunnel network without peers touches br-tun only, with one flow.
    let n4 = net_vxlan("net-4", 104);
    let d = changes(3, vec![port("p4", "net-4")], vec![n4]);
    assert!(agent.r.apply(d));
    ovs.plug("tap4", "p4");
    agent.synced().await;
    // br-int (the port's flows and the network's flood flow and group) and br-tun (its tunnel id): one
    // bundle each.
    assert_eq!(ovs.of.apply_count(), applies + 2);
    let after = ovs.all_flows();
    assert_eq!(after.flows["br-eth1"], flows.flows["br-eth1"]);
    let added: Vec<&Flow> =
        after.flows["br-tun"].iter().filter(|f| !flows.flows["br-tun"].contains(f)).collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(after.flows["br-tun"].len(), flows.flows["br-tun"].len() + 1);
    // Its four, its firewall's four, the flood flow.
    assert_eq!(after.flows["br-int"].len(), flows.flows["br-int"].len() + 9);
    assert_eq!(after.groups.len(), flows.groups.len() + 1, "the new network's flood group");
}

#[tokio::test]
async fn failed_apply_is_an_error_and_the_next_sync_converges() {
    let ovs = Ovs::new();
    let mut agent = busy_host(&ovs).await;
    let applies = ovs.of.apply_count();

    let d = changes(2, vec![port("p5", "net-5")], vec![net_vlan("net-5", 105)]);
    assert!(agent.r.apply(d));
    ovs.plug("tap5", "p5");
    ovs.of.fail_next_apply();
    let before = ovs.all_flows();
    assert!(agent.sync().await.is_err(), "a rejected bundle must fail the sync");
    assert_eq!(ovs.all_flows(), before, "a rejected bundle changed flows");

    // Meanwhile a flow of ours appears that the agent never installed: only a fresh dump
    // finds it, so removing it proves the next sync re-read the tables.
    let stray = Flow::new(0, 77, agent.cookie(), "in_port=77", "drop");
    ovs.of.install("br-int", stray.clone());
    let ch = agent.synced().await;
    assert_eq!(ch.up, vec!["p5"], "the port is reported up once the sync succeeds");
    assert!(!ovs.flows("br-int").contains(&stray));
    let mut nets = busy_nets(&ovs);
    nets.push(local(&ovs, &net_vlan("net-5", 105), 4, &[("tap5", "p5")]));
    let peers = peer_map(&[("net-1", &[PEER_B, PEER_C])]);
    assert_eq!(ovs.all_flows(), agent.expected_flows(&ovs, &nets, &peers).await);
    assert!(ovs.of.apply_count() > applies);

    // Converged: the sync after that is idle.
    let applies = ovs.of.apply_count();
    assert_eq!(agent.synced().await, Default::default());
    assert_eq!(ovs.of.apply_count(), applies);
}
