//! `addflow` and `delflow` planned on a fixed dump and applied to a [`FakeHost`] (stateful: its
//! flows change): the plans as text and JSON, their warnings about the agent's flows, bad
//! input refused, and an unknown id changing nothing.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod views_support;

use neutrino_inspect::owners::Owners;
use neutrino_inspect::parse::flows::{DumpedFlow, parse_dump};
use neutrino_inspect::source::{FakeHost, HostSource};
use neutrino_inspect::views::flowmod::{FlowModError, plan_add, plan_del};
use views_support::*;

fn host() -> FakeHost {
    let c = cloud();
    let h = FakeHost::new(HOST);
    let flows = generated(&c, AGENT_COOKIE);
    h.set_flows("br-int", &dump_text(&flows["br-int"], 1, &[INT_LEARNT]));
    h
}

fn current(h: &FakeHost) -> Vec<DumpedFlow> {
    parse_dump(&h.dump_flows("br-int").expect("br-int")).expect("parses")
}

#[test]
fn addflow_adds_one_flow_by_interface_names() {
    let (c, h) = (cloud(), host());
    let owners = Owners::new(&c, HOST);
    let before = current(&h);
    let plan = plan_add(
        "br-int",
        "table=60,priority=200,in_port=tap1234abcd-00,icmp",
        "drop",
        &before,
        &int_names(),
        &owners,
    )
    .expect("a plan");
    assert_eq!(plan.add.flow, "table=60,priority=200,cookie=0x0,icmp,in_port=3,actions=drop");
    assert!(plan.replaces.is_none() && plan.warnings.is_empty(), "{plan:?}");
    insta::assert_snapshot!("add", plan.render());
    insta::assert_snapshot!("add-json", serde_json::to_string_pretty(&plan).expect("json"));
    plan.apply(&h).expect("applied");
    let after = current(&h);
    assert_eq!(after.len(), before.len() + 1);
    let added = after.iter().find(|d| d.id.to_string() == plan.add.id).expect("the new flow is there");
    assert_eq!((added.flow.table, added.flow.priority, added.flow.cookie), (60, 200, 0));
    // Every other flow is untouched.
    assert!(before.iter().all(|d| after.iter().any(|a| a.flow == d.flow)));
}

#[test]
fn addflow_warns_when_it_replaces_or_imitates_the_agents_flows() {
    let (c, h) = (cloud(), host());
    let owners = Owners::new(&c, HOST);
    let before = current(&h);
    // web-1's tagging flow in table 0, replaced by a drop.
    let plan = plan_add("br-int", "table=0,priority=10,in_port=3", "drop", &before, &int_names(), &owners)
        .expect("a plan");
    let replaced = plan.replaces.as_ref().expect("replaces the agent's flow");
    assert_eq!(replaced.owner.text, "port web-1");
    assert_eq!(plan.warnings.len(), 2, "{:?}", plan.warnings);
    insta::assert_snapshot!("add-replacing", plan.render());
    // A flow given the agent's cookie: the agent will delete it.
    let plan =
        plan_add("br-int", "table=5,cookie=0x4e54a1b200000000,ip", "drop", &before, &int_names(), &owners)
            .expect("a plan");
    assert!(plan.warnings.iter().any(|w| w.contains("delete it")), "{:?}", plan.warnings);
}

#[test]
fn addflow_refuses_what_is_not_a_flow() {
    let (c, h) = (cloud(), host());
    let owners = Owners::new(&c, HOST);
    let before = current(&h);
    for (m, a) in [
        ("table=x,ip", "drop"),
        ("ip", ""),
        ("ip, tcp", "drop"),
        ("ip", "ct(commit"),
        ("priority=70000", "drop"),
    ] {
        let r = plan_add("br-int", m, a, &before, &int_names(), &owners);
        assert!(matches!(r, Err(FlowModError::BadFlow(_))), "{m} {a}: {r:?}");
    }
}

#[test]
fn delflow_deletes_the_flows_of_its_ids() {
    let (c, h) = (cloud(), host());
    let owners = Owners::new(&c, HOST);
    let before = current(&h);
    let learnt = before.iter().find(|d| d.flow.cookie == 0).expect("the learnt flow").id.to_string();
    let canary = before.iter().find(|d| d.flow.table == 23).expect("the canary").id.to_string();
    // A prefix is enough when it names one flow; the same flow twice is deleted once.
    let ids = [learnt.as_str(), &canary[..8], canary.as_str()];
    let plan = plan_del("br-int", &ids, &before, &owners).expect("a plan");
    assert_eq!(plan.delete.len(), 2);
    assert_eq!(plan.warnings.len(), 1, "the canary is the agent's: {:?}", plan.warnings);
    insta::assert_snapshot!("del", plan.render());
    insta::assert_snapshot!("del-json", serde_json::to_string_pretty(&plan).expect("json"));
    plan.apply(&h).expect("applied");
    let after = current(&h);
    assert_eq!(after.len(), before.len() - 2);
    assert!(after.iter().all(|d| d.id.to_string() != learnt && d.id.to_string() != canary));
}

#[test]
fn delflow_with_an_unknown_id_changes_nothing() {
    let (c, h) = (cloud(), host());
    let owners = Owners::new(&c, HOST);
    let before = current(&h);
    let known = before[0].id.to_string();
    let err = plan_del("br-int", &[known.as_str(), "ffffffffffffffff"], &before, &owners).unwrap_err();
    assert_eq!(err, FlowModError::UnknownId { bridge: "br-int".into(), id: "ffffffffffffffff".into() });
    assert_eq!(current(&h), before);
    assert_eq!(plan_del("br-int", &[], &before, &owners).unwrap_err(), FlowModError::NoIds);
    // A prefix shared by several flows is refused with them.
    let shared = before
        .iter()
        .flat_map(|a| before.iter().map(move |b| (a, b)))
        .filter(|(a, b)| a.id != b.id)
        .find(|(a, b)| a.id.to_string()[..2] == b.id.to_string()[..2])
        .map(|(a, _)| a.id.to_string()[..2].to_string())
        .expect("two ids share their first two digits");
    assert!(matches!(plan_del("br-int", &[&shared], &before, &owners), Err(FlowModError::Ambiguous { .. })));
}
