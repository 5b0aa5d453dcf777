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
