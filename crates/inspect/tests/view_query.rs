//! `query IP|ID|NAME` on the recorded host: a port's API attributes, its place on the switch,
//! its local VLAN, the flows that concern it and its lease.

mod host_fixture;

use neutrino_inspect::source::HostSource;
use neutrino_inspect::views::query::{HostView, Placement, Query, QueryError, query, resolve};

const WEB_NET: &str = "1b7e4c2a-6f0d-4e8a-9c3b-2d5f7a9e0c11";

fn run(cloud: &neutrino_inspect::cloud::Cloud, what: &str) -> Result<Query, QueryError> {
    let h = host_fixture::host();
    let sw = host_fixture::switch(&h);
    let flows = host_fixture::all_flows(&h);
    let port = resolve(cloud, what)?;
    let leases = h.leases.get(&port.network_id).map(String::as_str);
    Ok(query(cloud, port, &HostView { host: "compute-1", switch: &sw, flows: &flows, leases }))
}

#[test]
fn a_local_vm_port_by_name() {
    let cloud = host_fixture::cloud();
    let q = run(&cloud, "web-1").unwrap();
    assert_eq!(q.port.id, "8f1c2a7e-4b3d-4c55-9e0a-1d2b3c4d5e01");
    assert_eq!(q.port.network, "web-net");
    assert_eq!(q.port.fixed_ips[0].subnet, "web-subnet");
    let groups: Vec<&str> = q.port.security_groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["default", "web"]);
    assert_eq!(q.port.allowed_address_pairs[0].ip_address, "10.0.1.100");
    assert_eq!(q.host.as_deref(), Some("compute-1"));
    assert_eq!(
        q.placement,
        Placement::Here { bridge: "br-int".into(), interface: "tap-vm1".into(), ofport: Some(10) }
    );
    assert_eq!(q.vlan, Some(1));
    let lease = q.lease.as_ref().unwrap();
    assert_eq!((lease.ip.to_string().as_str(), lease.expiry), ("10.0.1.5", 1_796_335_200));

    // Its flows: tagging, anti-spoofing, firewall, its rules, and the member flows letting it
    // into db-1 — and none of db-1's own flows (ofport 11) or of the other members' addresses.
    let why = |w: &str| q.flows.iter().filter(|f| f.why == w).count();
    assert!(q.flows.iter().any(|f| f.table == 0 && f.matches == "in_port=10"));
    assert!(why("anti-spoofing") > 0 && why("firewall") > 0 && why("port") > 0);
    assert!(why("rule 3f2a9b1c of web") > 0, "{:#?}", q.flows);
    assert!(why("member of web on db-net") > 0);
    for f in &q.flows {
        assert!(!f.matches.contains("reg5=0xb") && !f.matches.contains("in_port=11"), "{f:?}");
        assert!(!f.matches.contains("nw_src=10.0.1.6"), "{f:?}");
    }
    insta::assert_snapshot!("query_web_1", q.render());
    insta::assert_snapshot!("query_web_1_json", serde_json::to_string_pretty(&q).unwrap());
}

#[test]
fn a_port_bound_to_another_host_by_id() {
    let cloud = host_fixture::cloud();
    let q = run(&cloud, "5e6f7081-92a3-4b4c-9d5e-6f7081920505").unwrap();
    assert_eq!(q.port.name, "web-2");
    assert_eq!(q.placement, Placement::OtherHost { host: "compute-2".into() });
    assert_eq!(q.vlan, None);
    // Only the member flows of its groups name its address here; none is tagged for it.
    assert!(!q.flows.is_empty());
    assert!(q.flows.iter().all(|f| f.why.starts_with("member of ")), "{:#?}", q.flows);
    assert_eq!(q.lease.as_ref().map(|l| l.ip.to_string()), Some("10.0.1.6".into()));
    insta::assert_snapshot!("query_web_2", q.render());
}

#[test]
fn an_unbound_port_shares_an_address_but_no_flow() {
    let cloud = host_fixture::cloud();
    // probe holds 10.0.1.6 on test-net, as web-2 does on web-net: the member flows naming
    // 10.0.1.6 are web-2's groups', not probe's.
    let q = run(&cloud, "probe").unwrap();
    assert_eq!(q.placement, Placement::Unbound);
    assert!(q.flows.is_empty(), "{:#?}", q.flows);
    assert_eq!(q.lease, None);
    assert_eq!(q.port.fixed_ips[0].subnet, "6a2d9b7f");
    insta::assert_snapshot!("query_probe", q.render());
}

#[test]
fn a_port_bound_here_but_not_plugged() {
    let mut cloud = host_fixture::cloud();
    cloud.ports.iter_mut().find(|p| p.name == "probe").unwrap().host = Some("compute-1".into());
    assert_eq!(run(&cloud, "probe").unwrap().placement, Placement::NotPlugged);
}

#[test]
fn the_dhcp_port_by_address_has_no_lease_of_its_own() {
    let cloud = host_fixture::cloud();
    let q = run(&cloud, "10.0.1.2").unwrap();
    assert_eq!(q.port.owner.as_deref(), Some("network:dhcp"));
    assert_eq!(q.port.port_security_enabled, Some(false));
    assert_eq!(q.vlan, Some(1));
    assert_eq!(q.lease, None);
    assert!(q.flows.iter().any(|f| f.why == "firewall"));
    assert!(cloud.network(WEB_NET).is_some());
}

#[test]
fn ambiguous_names_list_their_candidates_and_unknown_ones_are_errors() {
    let cloud = host_fixture::cloud();
    let err = |what: &str| run(&cloud, what).unwrap_err();
    match err("10.0.1.6") {
        QueryError::Ambiguous { candidates, .. } => {
            let names: Vec<&str> = candidates.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["web-2", "probe"]);
        }
        e => panic!("{e}"),
    }
    // An id prefix shared by two ports.
    assert!(
        matches!(err("8f1c2a7e-4b3d"), QueryError::Ambiguous { ref candidates, .. } if candidates.len() == 2)
    );
    insta::assert_snapshot!("query_ambiguous_name", err("app").to_string());
    assert!(matches!(err("10.9.9.9"), QueryError::Unknown(_)));
    assert_eq!(
        err("nope").to_string(),
        "no port is nope (give a port id, an id prefix of 8 or more characters, a name or a fixed IP)"
    );
}

#[test]
fn untagged_flows_concern_it_by_its_ofport_mac_or_address_on_its_own_vlan_and_bridge() {
    let cloud = host_fixture::cloud();
    let h = host_fixture::host();
    // What the switch adds by itself or an operator adds: no owner in the cookie.
    for (bridge, flow) in [
        ("br-int", "table=94,priority=2,dl_vlan=1,dl_dst=fa:16:3e:1a:2b:05,actions=output:1"),
        ("br-int", "table=94,priority=2,dl_vlan=2,dl_dst=fa:16:3e:1a:2b:05,actions=output:2"),
        ("br-int", "table=94,priority=1,dl_vlan=1,actions=output:10,output:12"),
        ("br-int", "table=23,priority=5,ip,nw_dst=10.0.1.5,actions=drop"),
        ("br-int", "table=23,priority=5,ip,nw_dst=10.0.1.50,actions=drop"),
        ("br-tun", "table=0,priority=5,in_port=10,actions=drop"),
    ] {
        h.add_flow(bridge, flow).unwrap();
    }
    let sw = host_fixture::switch(&h);
    let flows = host_fixture::all_flows(&h);
    let view = |name: &str| {
        let port = resolve(&cloud, name).unwrap();
        query(&cloud, port, &HostView { host: "compute-1", switch: &sw, flows: &flows, leases: None })
    };
    let untagged = |q: &Query| -> Vec<(String, String, String)> {
        q.flows
            .iter()
            .filter(|f| matches!(f.why.as_str(), "ofport" | "mac" | "ip"))
            .map(|f| (f.bridge.clone(), f.matches.clone(), f.why.clone()))
            .collect()
    };
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        untagged(&view("web-1")),
        [s("br-int", "ip,nw_dst=10.0.1.5", "ip"), s("br-int", "dl_vlan=1", "ofport")]
    );
    // web-2 is not here, but its network is (web-1's VLAN 1): its MAC learnt there concerns
    // it, the same MAC on db-net's VLAN does not.
    assert_eq!(untagged(&view("web-2")), [s("br-int", "dl_dst=fa:16:3e:1a:2b:05,dl_vlan=1", "mac")]);
    // db-1 (VLAN 2) is not web-net's flood, though its ofport 11 is near.
    assert!(untagged(&view("db-1")).is_empty());
}

#[test]
fn read_from_a_host_gives_the_same_view() {
    let cloud = host_fixture::cloud();
    let h = host_fixture::host();
    let q = neutrino_inspect::views::query::read(&h, &cloud, "web-1").unwrap();
    assert_eq!(q, run(&cloud, "web-1").unwrap());
    assert!(q.lease.is_some());
    assert!(matches!(
        neutrino_inspect::views::query::read(&h, &cloud, "app"),
        Err(QueryError::Ambiguous { .. })
    ));
    // A host whose switch cannot be read says what failed.
    let empty = neutrino_inspect::source::FakeHost::new("compute-1");
    let err = neutrino_inspect::views::query::read(&empty, &cloud, "web-1").unwrap_err();
    assert_eq!(err.to_string(), "no table Bridge");
}
