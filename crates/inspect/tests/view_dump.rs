//! `dump` on the flows the agent generates for a fixed cloud: the rendered table and JSON of
//! `br-int`, `br-tun` and a filter; ids that stay the same across counters, cookies, and an
//! unrelated rule change.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod views_support;

use std::collections::{BTreeMap, BTreeSet};

use neutrino_inspect::cloud::SecurityGroupRule;
use neutrino_inspect::owners::Owners;
use neutrino_inspect::views::dump::{BridgeRole, Dump};
use views_support::*;

fn dump(bridge: &str, seed: u64, filter: Option<&str>) -> Dump {
    let c = cloud();
    let owners = Owners::new(&c, HOST);
    let (role, names) = match bridge {
        "br-int" => (BridgeRole::Integration, int_names()),
        _ => (BridgeRole::Tunnel, tun_names()),
    };
    Dump::new(bridge, role, &dumped(&c, bridge, seed, AGENT_COOKIE), &names, &owners, filter)
}

fn json(d: &Dump) -> String {
    serde_json::to_string_pretty(d).expect("json")
}

#[test]
fn br_int() {
    let d = dump("br-int", 1, None);
    // Every flow the agent wrote names an API object or the pipeline; only the learnt one has none.
    let kinds: BTreeSet<&str> = d.rows.iter().map(|r| r.owner.kind).collect();
    assert!(!kinds.contains("unknown"), "{kinds:?}");
    assert_eq!(d.rows.iter().filter(|r| r.owner.kind == "learnt").count(), 1);
    insta::assert_snapshot!("br-int", d.render());
}

#[test]
fn br_tun() {
    let d = dump("br-tun", 1, None);
    assert!(d.rows.iter().all(|r| r.owner.kind != "unknown"));
    insta::assert_snapshot!("br-tun", d.render());
    insta::assert_snapshot!("br-tun-json", json(&d));
}

#[test]
fn filtered_by_port_name() {
    let d = dump("br-int", 1, Some("web-1"));
    assert!(!d.rows.is_empty());
    assert!(d.rows.iter().all(|r| r.owner.text.contains("web-1")));
    insta::assert_snapshot!("br-int-web-1", d.render());
    insta::assert_snapshot!("br-int-web-1-json", json(&d));
}

#[test]
fn filtered_by_stage_and_id_prefix() {
    let by_stage = dump("br-int", 1, Some("rules-ingress"));
    assert!(!by_stage.rows.is_empty() && by_stage.rows.iter().all(|r| r.table == 82));
    assert_eq!(by_stage.rows, dump("br-int", 1, Some("82")).rows);
    insta::assert_snapshot!("br-int-rules-ingress", by_stage.render());
    let all = dump("br-int", 1, None);
    let one = &all.rows[7];
    let by_id = dump("br-int", 1, Some(&one.id[..10]));
    assert_eq!(by_id.rows.first().map(|r| &r.id), Some(&one.id));
}

fn ids(d: &Dump) -> BTreeMap<String, (String, String)> {
    d.rows.iter().map(|r| (r.id.clone(), (r.raw_matches.clone(), r.owner.text.clone()))).collect()
}

#[test]
fn ids_stay_across_counters_and_cookies() {
    let c = cloud();
    let owners = Owners::new(&c, HOST);
    let names = int_names();
    let a = Dump::new(
        "br-int",
        BridgeRole::Integration,
        &dumped(&c, "br-int", 1, AGENT_COOKIE),
        &names,
        &owners,
        None,
    );
    let other_agent = 0x4e54_ffff_0000_0000;
    let b = Dump::new(
        "br-int",
        BridgeRole::Integration,
        &dumped(&c, "br-int", 2, other_agent),
        &names,
        &owners,
        None,
    );
    assert_ne!(
        a.rows.iter().map(|r| r.n_packets).collect::<Vec<_>>(),
        b.rows.iter().map(|r| r.n_packets).collect::<Vec<_>>()
    );
    assert_ne!(a.rows[0].cookie, b.rows[0].cookie);
    assert_eq!(ids(&a), ids(&b));
}

#[test]
fn an_unrelated_rule_change_keeps_the_other_ids() {
    let before = cloud();
    let mut after = cloud();
    let db = after.security_groups.iter_mut().find(|g| g.name == "db").expect("db");
    db.security_group_rules.push(SecurityGroupRule {
        id: "2f3a4b5c-0000-4000-8000-000000000204".into(),
        security_group_id: db.id.clone(),
        direction: "ingress".into(),
        ethertype: "IPv4".into(),
        protocol: Some("udp".into()),
        port_range_min: Some(53),
        port_range_max: Some(53),
        remote_ip_prefix: Some("10.0.0.0/8".into()),
        remote_group_id: None,
    });
    let web = after.security_groups.iter_mut().find(|g| g.name == "web").expect("web");
    web.security_group_rules.retain(|r| r.id != "6c7d8e9f-0000-4000-8000-000000000104");
    let names = int_names();
    let view = |c| {
        let owners = Owners::new(c, HOST);
        ids(&Dump::new(
            "br-int",
            BridgeRole::Integration,
            &dumped(c, "br-int", 1, AGENT_COOKIE),
            &names,
            &owners,
            None,
        ))
    };
    let (a, b) = (view(&before), view(&after));
    let gone: Vec<_> = a.iter().filter(|(id, _)| !b.contains_key(*id)).map(|(_, v)| &v.1).collect();
    let new: Vec<_> = b.iter().filter(|(id, _)| !a.contains_key(*id)).map(|(_, v)| &v.1).collect();
    assert!(!gone.is_empty() && gone.iter().all(|o| o.contains("rule 6c7d8e9f")), "{gone:?}");
    assert!(!new.is_empty() && new.iter().all(|o| o.contains("rule 2f3a4b5c")), "{new:?}");
    for (id, v) in &a {
        if let Some(w) = b.get(id) {
            assert_eq!(v, w, "{id} changed");
        }
    }
}

#[test]
fn a_physical_bridge_has_no_stage_names() {
    let c = cloud();
    let owners = Owners::new(&c, HOST);
    let flows = neutrino_inspect::parse::flows::parse_dump(&dump_text(
        &generated(&c, AGENT_COOKIE)["br-eth1"],
        1,
        &[],
    ))
    .expect("br-eth1");
    let names = BTreeMap::from([(1, "phy-br-eth1".to_string())]);
    let d = Dump::new("br-eth1", BridgeRole::Other, &flows, &names, &owners, None);
    assert!(d.rows.iter().all(|r| r.stage.is_none()));
    let owners: BTreeSet<&str> = d.rows.iter().map(|r| r.owner.text.as_str()).collect();
    assert!(owners.contains("network red"), "{owners:?}");
    insta::assert_snapshot!("br-eth1", d.render());
}

mod ids {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// Whatever the counters and the agent's cookie, and whichever other flows are gone,
        /// a flow keeps its id and its owner.
        #[test]
        fn a_flow_keeps_its_id(seed in any::<u64>(), agent in any::<u16>(), drop_every in 2usize..9, skew in 0usize..8) {
            let c = cloud();
            let owners = Owners::new(&c, HOST);
            let names = int_names();
            let all = generated(&c, AGENT_COOKIE)["br-int"].clone();
            let base = Dump::new("br-int", BridgeRole::Integration, &dumped(&c, "br-int", 1, AGENT_COOKIE), &names, &owners, None);
            let cookie = (0x4e54u64 << 48) | (u64::from(agent) << 32);
            let kept: Vec<_> = generated(&c, cookie)["br-int"]
                .iter()
                .enumerate()
                .filter(|(i, _)| (i + skew) % drop_every != 0)
                .map(|(_, f)| f.clone())
                .collect();
            prop_assert!(kept.len() < all.len());
            let text = dump_text(&kept, seed, &[]);
            let flows = neutrino_inspect::parse::flows::parse_dump(&text).expect("parses");
            let other = Dump::new("br-int", BridgeRole::Integration, &flows, &names, &owners, None);
            let before = ids(&base);
            for (id, v) in ids(&other) {
                prop_assert_eq!(before.get(&id), Some(&v));
            }
        }
    }
}

#[test]
fn port_names_are_per_bridge() {
    use neutrino_inspect::parse::ovsdb::parse_list;
    use neutrino_inspect::views::dump::port_names;
    let rows = |t: &str| parse_list(t).expect("a table");
    let bridges = rows(include_str!("fixtures/ovsdb/Bridge.json"));
    let ports = rows(include_str!("fixtures/ovsdb/Port.json"));
    let ifaces = rows(include_str!("fixtures/ovsdb/Interface.json"));
    let names = |b: &str| format!("{:?}", port_names(b, &bridges, &ports, &ifaces));
    insta::assert_snapshot!(
        "port-names",
        format!("br-int {}\nbr-tun {}\nnone {}", names("br-int"), names("br-tun"), names("br-none"))
    );
}

#[test]
fn a_bridge_is_read_from_a_host() {
    use neutrino_inspect::source::FakeHost;
    use neutrino_inspect::views::dump::{ReadError, read_bridge};
    let mut h = FakeHost::new(HOST);
    for t in ["Bridge", "Port", "Interface"] {
        let path = format!("{}/tests/fixtures/ovsdb/{t}.json", env!("CARGO_MANIFEST_DIR"));
        h.ovsdb.insert(t.to_string(), std::fs::read_to_string(path).expect("fixture"));
    }
    h.set_flows("br-tun", " cookie=0x0, table=0, n_packets=4, priority=1,in_port=2 actions=output:1\n");
    let read = read_bridge(&h, "br-tun").expect("br-tun");
    assert_eq!(read.flows.len(), 1);
    assert_eq!(read.names.get(&2).map(String::as_str), Some("vxlan-0a000002"));
    let d =
        Dump::new("br-tun", BridgeRole::Tunnel, &read.flows, &read.names, &Owners::new(&cloud(), HOST), None);
    let row = &d.rows[0];
    assert_eq!((row.matches.as_str(), row.actions.as_str()), ("in_port=vxlan-0a000002", "output:patch-int"));
    assert!(matches!(read_bridge(&h, "br-nope"), Err(ReadError::Source(_))));
    h.set_flows("br-bad", "garbage\n");
    assert!(matches!(read_bridge(&h, "br-bad"), Err(ReadError::Parse(_))));
}
