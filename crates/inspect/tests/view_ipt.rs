//! `ipt` on the flows the agent generates for a fixed cloud: web-1's and db-1's sections as
//! text and JSON, a rule's packets summed over its flows, and the ports it cannot choose.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod views_support;

use neutrino_inspect::owners::Owners;
use neutrino_inspect::views::ipt::{Ipt, IptError};
use views_support::*;

fn ipt(ip: &str) -> Result<Ipt, IptError> {
    let c = cloud();
    let owners = Owners::new(&c, HOST);
    Ipt::new(ip, &c, &owners, &dumped(&c, "br-int", 1, AGENT_COOKIE), &int_names())
}

#[test]
fn web_1() {
    let v = ipt("10.0.1.5").expect("web-1");
    assert_eq!((v.port.name.as_str(), v.port.ofport), ("web-1", Some(3)));
    let names: Vec<&str> = v.sections.iter().map(|s| s.name).collect();
    assert_eq!(names, ["IN", "OUT", "SRC FILTER"]);
    insta::assert_snapshot!("web-1", v.render());
    insta::assert_snapshot!("web-1-json", serde_json::to_string_pretty(&v).expect("json"));
}

#[test]
fn db_1_names_the_members_of_its_remote_group() {
    let v = ipt("10.0.2.5").expect("db-1");
    let from_web = v.sections[0]
        .rows
        .iter()
        .find(|r| r.rule.as_deref() == Some("9c1e2d3f-0000-4000-8000-000000000201"))
        .expect("the rule from group web");
    assert_eq!(from_web.remote, "group web [10.0.1.5 10.0.1.6]");
    assert_eq!(from_web.members, ["10.0.1.5", "10.0.1.6"]);
    assert_eq!(from_web.group.as_deref(), Some("db"));
    insta::assert_snapshot!("db-1", v.render());
}

#[test]
fn a_rule_counts_the_packets_of_all_its_flows() {
    let c = cloud();
    let flows = dumped(&c, "br-int", 1, AGENT_COOKIE);
    let v = ipt("10.0.2.5").expect("db-1");
    // tcp/8000-8080 is three port masks × two conntrack states: six flows, one row.
    let range = v.sections[0]
        .rows
        .iter()
        .find(|r| r.rule.as_deref() == Some("0d1e2f3a-0000-4000-8000-000000000202"))
        .expect("the range rule");
    assert_eq!(range.flows.len(), 6);
    let sum: u64 =
        flows.iter().filter(|d| range.flows.contains(&d.id.to_string())).map(|d| d.n_packets).sum();
    assert!(sum > 0);
    assert_eq!(range.packets, sum);
    // A remote-group rule counts its accepting flows, not its conjunction clauses.
    let from_web = v.sections[0]
        .rows
        .iter()
        .find(|r| r.rule.as_deref() == Some("9c1e2d3f-0000-4000-8000-000000000201"))
        .expect("the rule from group web");
    let accepting: u64 = flows
        .iter()
        .filter(|d| from_web.flows.contains(&d.id.to_string()) && d.flow.matches.contains("conj_id="))
        .map(|d| d.n_packets)
        .sum();
    assert_eq!(from_web.packets, accepting);
}

#[test]
fn unknown_and_unfiltered_ports() {
    assert_eq!(ipt("10.9.9.9").unwrap_err(), IptError::NoPort("10.9.9.9".into()));
    // The DHCP port has no port security: its firewall passes everything.
    let v = ipt("10.0.1.2").expect("dhcp port");
    assert!(v.sections.iter().flat_map(|s| &s.rows).all(|r| r.rule.is_none()));
    insta::assert_snapshot!("dhcp", v.render());
    // web-2 is bound to compute-2: nothing of it on compute-1's br-int.
    let v = ipt("10.0.1.6").expect("web-2");
    assert!(v.sections.iter().all(|s| s.rows.is_empty()));
    assert_eq!(v.port.ofport, None);
}
