//! `parse::ovsdb` on real `ovs-vsctl --format=json --data=json list|find` output of Open
//! vSwitch 3.1 (recorded from a private userspace switch with internal, patch and VXLAN
//! interfaces into `fixtures/ovsdb/`), and its property: no input makes it panic.

mod parse_support;

use std::collections::BTreeMap;
use std::fmt::Write;

use neutrino_inspect::parse::ovsdb::{Datum, Row, parse_list};
use proptest::prelude::*;

macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("fixtures/ovsdb/", $name, ".json")))),*]
    };
}

const FIXTURES: &[(&str, &str)] = fixtures![
    "Bridge",
    "Controller",
    "Interface",
    "Interface-columns",
    "Interface-find-patch",
    "Open_vSwitch",
    "Port",
];

const TEXTS: &[&str] = &fixture_texts!(FIXTURES);

fn table(name: &str) -> Vec<Row> {
    let text = FIXTURES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).unwrap();
    parse_list(text).unwrap()
}

fn by_name(rows: &[Row]) -> BTreeMap<&str, &Row> {
    rows.iter().map(|r| (r.str("name").unwrap(), r)).collect()
}

/// A table as the `list` view reads it: rows sorted by name, their non-empty columns.
fn render(rows: &[Row]) -> String {
    let mut rows: Vec<&Row> = rows.iter().collect();
    rows.sort_by_key(|r| r.str("name").or(r.str("target")).or(r.uuid()).unwrap_or_default().to_string());
    let mut s = String::new();
    for r in rows {
        let _ = writeln!(s, "row");
        for (col, d) in &r.columns {
            let empty = match d {
                Datum::Set(a) => a.is_empty(),
                Datum::Map(m) => m.is_empty(),
                Datum::Atom(_) => false,
            };
            if !empty && col != "statistics" {
                let _ = writeln!(s, "  {col}: {}", serde_json::to_string(d).unwrap());
            }
        }
    }
    s
}

#[test]
fn snapshots_of_real_tables() {
    for (name, text) in FIXTURES {
        let rows = parse_list(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_snapshot!(*name, render(&rows));
    }
}

#[test]
fn the_getters_read_what_the_agent_relies_on() {
    let ifaces = table("Interface");
    let by = by_name(&ifaces);
    assert_eq!(ifaces.len(), 14);
    let p1 = by["p1"];
    assert_eq!(p1.map("external_ids").get("iface-id").map(String::as_str), Some("port-aaaa"));
    assert_eq!(p1.int("ofport"), Some(1));
    assert_eq!(p1.str("type"), Some("internal"));
    assert!(p1.uuid().is_some_and(|u| u.len() == 36));
    let vxlan = by["vxlan-0a000002"];
    assert_eq!(vxlan.map("options").get("remote_ip").map(String::as_str), Some("10.0.0.2"));
    assert_eq!(by["patch-tun"].map("options").get("peer").map(String::as_str), Some("patch-int"));
    assert_eq!(by["patch-tun"].int("ofport_request"), Some(10));
    assert_eq!(by["p1"].int("mtu_request"), None);
    assert!(by["p1"].map("statistics").contains_key("rx_packets"));

    // References join: Open_vSwitch → Bridge → Port → Interface.
    let ovs = table("Open_vSwitch");
    let bridges = table("Bridge");
    let ports = table("Port");
    let br_int = by_name(&bridges)["br-int"];
    assert_eq!(ovs[0].set_of_uuids("bridges").len(), bridges.len());
    assert!(ovs[0].set_of_uuids("bridges").contains(&br_int.uuid().unwrap()));
    assert_eq!(br_int.str("fail_mode"), Some("secure"));
    assert_eq!(br_int.strs("protocols"), ["OpenFlow10", "OpenFlow13"]);
    let port_names: Vec<&str> = ports
        .iter()
        .filter(|p| br_int.set_of_uuids("ports").contains(&p.uuid().unwrap()))
        .map(|p| p.str("name").unwrap())
        .collect();
    assert_eq!(port_names.len(), 4);
    for name in ["p1", "p2", "patch-tun", "br-int"] {
        assert!(port_names.contains(&name), "{port_names:?}");
    }
    let p1_port = by_name(&ports)["p1"];
    assert_eq!(p1_port.set_of_uuids("interfaces"), [p1.uuid().unwrap()]);
    assert_eq!(p1_port.int("tag"), None);
    assert!(br_int.ref_uuid("controller").is_some());
    assert_eq!(table("Controller").len(), 2);
}

#[test]
fn columns_and_find_keep_their_headings() {
    let rows = table("Interface-find-patch");
    let cols: Vec<Vec<&str>> = rows.iter().map(|r| r.columns.keys().map(String::as_str).collect()).collect();
    assert_eq!(cols, [["name", "ofport"], ["name", "ofport"]]);
    assert_eq!(rows.iter().map(|r| r.int("ofport").unwrap()).collect::<Vec<_>>(), [1, 10]);
}

proptest! {
    #[test]
    fn any_text_never_panics(text in parse_support::any_text()) {
        let _ = parse_list(&text);
        let _ = parse_list(&format!(r#"{{"data":[[{text}]],"headings":["a"]}}"#));
    }

    #[test]
    fn mutated_tables_never_panic(text in parse_support::mutated(TEXTS)) {
        if let Ok(rows) = parse_list(&text) {
            for r in &rows {
                for col in r.columns.keys() {
                    let _ = (r.str(col), r.int(col), r.map(col), r.set_of_uuids(col), r.ints(col), r.strs(col));
                }
                let _ = serde_json::to_string(r);
            }
        }
    }

    #[test]
    fn any_json_value_never_panics(v in json_value()) {
        let _ = parse_list(&serde_json::json!({"data": [[v.clone()]], "headings": ["a"]}).to_string());
        let _ = Datum::from_json(&v);
    }
}

/// Arbitrary JSON, with OVSDB's tagged arrays likely.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec!["set", "map", "uuid", "named-uuid", "x"]).prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            (
                prop::sample::select(vec!["set", "map", "uuid", "named-uuid"]),
                prop::collection::vec(inner, 0..3)
            )
                .prop_map(|(tag, items)| serde_json::json!([tag, items])),
        ]
    })
}
