//! The firewall through the reconciler on the in-memory Open vSwitch: a firewall delta (a
//! member joining a remote group of 100) is one bundle of two flows; every installed firewall
//! flow can be traced back to what it is for; a removed rule deletes the marked connections of
//! the host's zones, and only those, after its bundle.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use std::sync::Arc;

use common::*;
use neutrino_agent::flows::Owner;
use neutrino_model::internal::{
    Delta, FirewallState, FixedIpState, PortState, RuleState, SecurityGroupState,
};
use neutrino_ovs::conntrack::{CtEntry, FakeConntrack};
use neutrino_ovs::flow::Flow;

const SG: &str = "sg-default";

fn filtered(id: &str, ip: &str) -> PortState {
    PortState {
        port_security_enabled: true,
        security_groups: vec![SG.into()],
        fixed_ips: vec![FixedIpState { subnet_id: "s".into(), ip_address: ip.into() }],
        ..port(id, "net-1")
    }
}

fn firewall(members: usize, with_ssh: bool) -> FirewallState {
    let mut rules = vec![rule("r-egress", "egress", None), rule("r-members", "ingress", Some(SG))];
    if with_ssh {
        rules.push(RuleState {
            protocol: Some(6),
            port_range_min: Some(22),
            port_range_max: Some(22),
            remote_ip_prefix: Some("192.168.0.0/24".into()),
            ..rule("r-ssh", "ingress", None)
        });
    }
    let mut m: Vec<String> = (1..=members).map(|i| format!("10.0.{}.{}", i / 250, i % 250 + 1)).collect();
    m.sort();
    FirewallState {
        groups: vec![SecurityGroupState { id: SG.into(), stateful: true, rules }],
        members: [(SG.to_string(), m)].into(),
    }
}

fn entry(zone: u16, mark: u32, sport: u16) -> CtEntry {
    CtEntry {
        zone,
        mark,
        state: Some("TIME_WAIT".into()),
        protocol: "tcp".into(),
        orig: [
            ("src", "192.168.0.5".to_string()),
            ("dst", "10.0.0.2".into()),
            ("sport", sport.to_string()),
            ("dport", "22".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    }
}

#[tokio::test]
async fn firewall_changes_are_small_bundles_and_removed_rules_clean_conntrack() {
    let ovs = Ovs::new();
    let ct = Arc::new(FakeConntrack::new());
    let mut agent = Agent::start(&ovs).await;
    agent.r.set_conntrack(ct.clone());
    let ports = vec![filtered("p1", "10.0.0.1"), filtered("p2", "10.0.0.2")];
    let mut st = state(1, ports, vec![net_vxlan("net-1", 100)], &[]);
    st.firewall = firewall(100, true);
    agent.r.load(st);
    ovs.plug("tap1", "p1");
    ovs.plug("tap2", "p2");
    agent.synced().await;
    let (before, applies) = (ovs.flows("br-int"), ovs.of.apply_count());
    assert!(
        before.iter().any(|f| f.matches.contains("conj_id=")),
        "the remote group's conjunctions are installed"
    );

    // One member more: one bundle, its two flows (one per conntrack state), nothing else.
    assert!(agent.r.apply(Delta { revision: 2, firewall: Some(firewall(101, true)), ..Default::default() }));
    agent.synced().await;
    assert_eq!(ovs.of.apply_count(), applies + 1);
    let after = ovs.flows("br-int");
    let added: Vec<&Flow> = after.iter().filter(|f| !before.contains(f)).collect();
    assert_eq!((added.len(), after.len()), (2, before.len() + 2), "{added:?}");
    for f in &added {
        let owner = agent.r.flow_owner(&f.key());
        assert_eq!(owner, Some(&Owner::RemoteGroup { group: SG.into(), network: "net-1".into() }), "{f}");
    }
    // Every installed firewall flow names what it is for.
    for f in after.iter().filter(|f| (71..=82).contains(&f.table) && f.priority > 0) {
        assert!(agent.r.flow_owner(&f.key()).is_some(), "{f}");
    }
    assert_eq!(ct.flushes(), 0, "nothing removed, nothing to clean");

    // The SSH rule goes: its flows only, then the marked connections of the host's zone (the
    // network's local VLAN, 1) are deleted, the others stay.
    for e in [entry(1, 1, 1000), entry(1, 0, 1001), entry(2, 1, 1002)] {
        ct.insert(e);
    }
    let before = after;
    assert!(agent.r.apply(Delta { revision: 3, firewall: Some(firewall(101, false)), ..Default::default() }));
    agent.synced().await;
    let after = ovs.flows("br-int");
    let removed: Vec<&Flow> = before.iter().filter(|f| !after.contains(f)).collect();
    assert_eq!(removed.len(), 4, "the rule's two flows on each of the two ports: {removed:?}");
    assert!(removed.iter().all(|f| f.matches.contains("tp_dst=22")));
    assert_eq!(ct.entries(), vec![entry(1, 0, 1001), entry(2, 1, 1002)]);
}

/// After each change, the switch holds exactly what a sync from scratch programs: forgetting
/// the installed state and syncing again (a dump and a full comparison) changes nothing. The
/// changes cover every kind of unit: ports added, moved between networks, given other groups
/// or addresses, port security turned off, removed; rules and members; a network removed.
#[tokio::test]
async fn syncs_that_program_only_changed_units_leave_what_a_full_sync_would() {
    let ovs = Ovs::new();
    let mut agent = Agent::start(&ovs).await;
    let nets = vec![net_vxlan("net-1", 100), net_vlan("net-2", 200)];
    let mut ports: Vec<PortState> =
        (1..=6).map(|i| filtered(&format!("p{i}"), &format!("10.0.0.{i}"))).collect();
    let mut st = state(1, ports.clone(), nets.clone(), &[("net-1", &["172.31.0.9"])]);
    st.firewall = firewall(6, true);
    agent.r.load(st);
    for i in 1..=6 {
        ovs.plug(&format!("tap{i}"), &format!("p{i}"));
    }
    agent.synced().await;
    let forget_installed = |step: &str, agent: &mut Agent| {
        let step = step.to_string();
        let applies = ovs.of.apply_count();
        let flows = ovs.flows("br-int");
        agent.r.invalidate_flows();
        (step, applies, flows)
    };
    let mut rev = 1;
    let mut steps: Vec<Box<Step>> = vec![
        Box::new(|_| Delta { firewall: Some(firewall(7, true)), ..Default::default() }),
        Box::new(|_| Delta { firewall: Some(firewall(7, false)), ..Default::default() }),
        Box::new(|ps| {
            ps[1].network_id = "net-2".into();
            Delta { l2: l2_ports(vec![ps[1].clone()]), ..Default::default() }
        }),
        Box::new(|ps| {
            ps[2].fixed_ips[0].ip_address = "10.0.0.33".into();
            ps[3].port_security_enabled = false;
            ps[3].security_groups.clear();
            Delta { l2: l2_ports(vec![ps[2].clone(), ps[3].clone()]), ..Default::default() }
        }),
        Box::new(|ps| {
            ps[4].security_groups.clear();
            Delta { l2: l2_ports(vec![ps[4].clone()]), ..Default::default() }
        }),
        Box::new(|ps| {
            let gone = ps.remove(0);
            let mut d = Delta::default();
            d.l2.removed_ports = vec![gone.id];
            d
        }),
    ];
    for (i, step) in steps.iter_mut().enumerate() {
        rev += 1;
        let mut d = step(&mut ports);
        d.revision = rev;
        assert!(agent.r.apply(d));
        agent.synced().await;
        let (step, applies, flows) = forget_installed(&format!("step {i}"), &mut agent);
        agent.synced().await;
        assert_eq!(ovs.of.apply_count(), applies, "{step}: a full sync found something to change");
        assert_eq!(ovs.flows("br-int"), flows, "{step}");
    }
    // The network whose ports all left goes with its flows; the other stays whole.
    rev += 1;
    let mut d = Delta { revision: rev, ..Default::default() };
    d.l2.removed_ports = ports.iter().filter(|p| p.network_id == "net-1").map(|p| p.id.clone()).collect();
    assert!(agent.r.apply(d));
    agent.synced().await;
    let (_, applies, flows) = forget_installed("net-1 gone", &mut agent);
    agent.synced().await;
    assert_eq!(ovs.of.apply_count(), applies, "a full sync after net-1 left found something to change");
    assert_eq!(ovs.flows("br-int"), flows);
    let (p3, p2) = (mac_of("p3"), mac_of("p2"));
    assert!(!flows.iter().any(|f| f.matches.contains(&p3)), "net-1's port p3 left no flow");
    assert!(flows.iter().filter(|f| f.matches.contains(&p2)).count() > 10, "net-2's p2 is still filtered");
}

/// A change to the test's ports, as the delta that says it.
type Step = dyn FnMut(&mut Vec<PortState>) -> Delta;

fn l2_ports(ports: Vec<PortState>) -> neutrino_model::internal::L2Delta {
    neutrino_model::internal::L2Delta { ports, ..Default::default() }
}
