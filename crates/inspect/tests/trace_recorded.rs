//! The trace and `ns` views on a recorded cloud: the 3-tier demo (web, app and db networks on
//! two compute hosts, router r1 with SNAT and floating IPs on the network node), every host's
//! answers kept by `neutrino shell --record` (tests/fixtures/recorded/demo) and played back by
//! fake hosts. Each trace's verdict is the one real traffic gave in that cloud (the demo's
//! checks): web-1 → web-2 tcp/80 answered across hosts, app-1 out through SNAT, the outside to
//! web-1's floating IP on tcp/80 answered and on tcp/22 blocked, web-1 → db-1 tcp/5432 blocked.

use std::path::PathBuf;

use neutrino_inspect::cloud::Cloud;
use neutrino_inspect::record::Recording;
use neutrino_inspect::source::{FakeHost, HostSource};
use neutrino_inspect::trace::{Fabric, Outcome, TraceHost, TraceRequest, TraceResult, trace};
use neutrino_inspect::views::ns;
use neutrino_inspect::views::switch::Switch;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recorded/demo")
}

fn cloud() -> Cloud {
    Cloud::from_json(&std::fs::read_to_string(dir().join("cloud.json")).unwrap()).unwrap()
}

fn host(name: &str) -> FakeHost {
    let text = std::fs::read_to_string(dir().join(format!("{name}.json"))).unwrap();
    serde_json::from_str::<Recording>(&text).unwrap().into_fake()
}

fn run(words: &[&str]) -> TraceResult {
    let cloud = cloud();
    let fakes: Vec<FakeHost> = ["h1", "h2", "network"].into_iter().map(host).collect();
    let hosts = fakes
        .iter()
        .map(|h| TraceHost { src: h as &dyn HostSource, switch: Switch::read(h).unwrap() })
        .collect();
    let fabric = Fabric { cloud: &cloud, hosts, int_bridge: "br-int".into() };
    trace(&fabric, &TraceRequest::parse(words).unwrap()).unwrap()
}

fn texts(t: &TraceResult) -> Vec<&str> {
    t.observations.iter().map(|o| o.text.as_str()).collect()
}

#[test]
fn across_hosts_the_allowing_rule_and_the_tunnel_are_named() {
    let t = run(&["web-1", "web-2", "tcp", "80"]);
    assert_eq!(t.verdict.outcome, Outcome::Delivered, "{}", t.render());
    let rule =
        t.observations.iter().find(|o| o.host == "h2" && o.rule.is_some()).expect("an ingress rule on h2");
    let (group, r) =
        cloud().rule(rule.rule.as_deref().unwrap()).map(|(g, r)| (g.name.clone(), r.clone())).unwrap();
    assert_eq!((group.as_str(), r.direction.as_str(), r.port_range_min), ("web", "ingress", Some(80)));
    assert!(texts(&t).iter().any(|o| o.starts_with("VXLAN ") && o.contains("to h2")), "{}", t.render());
    assert_eq!(t.established.as_ref().map(|v| v.outcome), Some(Outcome::Delivered));
    insta::assert_snapshot!(t.render());
}

#[test]
fn out_through_the_router_the_source_becomes_the_gateway() {
    let t = run(&["app-1", "198.51.100.10", "tcp", "9000"]);
    assert_eq!(t.verdict.outcome, Outcome::LeftCloud, "{}", t.render());
    let gw = cloud().ports.iter().find(|p| p.device_owner == "network:router_gateway").unwrap().fixed_ips[0]
        .ip_address
        .clone();
    let snat = t.observations.iter().find(|o| o.component == "nat").expect("a NAT step");
    assert_eq!(snat.translated_src.as_deref(), Some(gw.as_str()));
    assert!(snat.text.contains(&format!("SNAT to {gw}")), "{}", snat.text);
    insta::assert_snapshot!(t.render());
}

#[test]
fn from_outside_the_floating_ip_is_translated_to_the_vm() {
    let t = run(&["198.51.100.10", "203.0.113.145", "tcp", "80"]);
    assert_eq!(t.verdict.outcome, Outcome::Delivered, "{}", t.render());
    let dnat = t.observations.iter().find(|o| o.component == "nat").expect("a NAT step");
    assert_eq!(dnat.translated_dst.as_deref(), Some("10.10.1.165"));
    assert!(t.verdict.reason.contains("web-1"), "{}", t.verdict.reason);
    insta::assert_snapshot!(t.render());
    // JSON: the observations as data (host, component, action, rule, translated addresses).
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["verdict"]["outcome"], "delivered");
    assert_eq!(json["observations"][0]["translated_dst"], "10.10.1.165");
}

#[test]
fn a_security_group_drop_names_the_group_and_the_nearest_rule() {
    let t = run(&["web-1", "db-1", "tcp", "5432"]);
    assert_eq!(t.verdict.outcome, Outcome::Dropped, "{}", t.render());
    assert!(
        t.verdict.reason.starts_with("no rule of group db allows ingress tcp/5432 from 10.10.1.165"),
        "{}",
        t.verdict.reason
    );
    assert!(t.verdict.reason.contains("allows tcp/5432 from group app"), "{}", t.verdict.reason);
    assert!(t.established.is_none());
    insta::assert_snapshot!(t.render());
    // The same floating IP on a port no rule opens: dropped, the nearest rule the open one.
    let t = run(&["198.51.100.10", "203.0.113.145", "tcp", "22"]);
    assert_eq!(t.verdict.outcome, Outcome::Dropped, "{}", t.render());
    assert!(t.verdict.reason.contains("no rule of group web allows ingress tcp/22"), "{}", t.verdict.reason);
    assert!(
        t.verdict.reason.contains("nearest: rule") && t.verdict.reason.contains("tcp/80"),
        "{}",
        t.verdict.reason
    );
}

#[test]
fn namespaces_of_the_network_node() {
    let cloud = cloud();
    let net = host("network");
    insta::assert_snapshot!("ns_list", ns::list(&net, &cloud).unwrap().render());
    let r1 = ns::show(&net, &cloud, "r1").unwrap();
    assert_eq!(r1.floating_ips.len(), 2);
    assert!(r1.nat.iter().any(|r| r.rule.starts_with("snat to @fip_snat") && r.packets > 0));
    insta::assert_snapshot!("ns_show_r1", r1.render());
    let web = ns::show(&net, &cloud, "web").unwrap();
    let leases = &web.dnsmasq.as_ref().unwrap().leases;
    assert!(leases.iter().any(|l| l.ip.to_string() == "10.10.1.165"));
    insta::assert_snapshot!("ns_show_web", web.render());
    insta::assert_snapshot!("ns_show_web_json", serde_json::to_string_pretty(&web).unwrap());
    assert!(ns::show(&net, &cloud, "nothing-here").is_err());
}
