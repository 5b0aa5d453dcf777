//! A router's NAT as one nftables table (docs/design.md "Routers (agent)"), upstream's L3
//! agent iptables chains (`router_info.py`: `PREROUTING`/`OUTPUT` DNAT per floating IP,
//! `float-snat`, `snat`, the metadata mark and redirect) translated to one `ip neutrino-l3`
//! table in the router's namespace, generated whole by [`ruleset`] and applied in one
//! transaction. Floating IPs live in two maps, `fip_dnat` (floating → fixed) and `fip_snat`
//! (fixed → floating), so associating, moving or disassociating one is a change of map
//! elements only ([`element_batch`]). Family `ip`: NAT is IPv4 only (upstream does not NAT
//! IPv6 either), so the table leaves IPv6 forwarding untouched and needs no per-statement
//! family qualifiers. Every rule has a `counter`.

use std::net::Ipv4Addr;

use neutrino_model::internal::RouterState;
use serde_json::{Value, json};

use crate::l3::qg_name;
use crate::metadata::proxy::METADATA_IP;

pub const FAMILY: &str = "ip";
pub const TABLE: &str = "neutrino-l3";
/// Packets that came in by `qg-` (upstream's `0x2` external mark).
const MARK_EXTERNAL: u64 = 0x2;
/// Metadata requests arriving on `qr-*` (upstream's `0x1`).
const MARK_METADATA: u64 = 0x1;

/// The (floating, fixed) pairs of the router's floating IPs: IPv4 ones, on a router with a
/// gateway (without one a floating IP cannot be reached), sorted.
pub fn fip_pairs(router: &RouterState) -> Vec<(Ipv4Addr, Ipv4Addr)> {
    if router.gateway.is_none() {
        return vec![];
    }
    let mut out: Vec<(Ipv4Addr, Ipv4Addr)> = router
        .floating_ips
        .iter()
        .filter_map(|f| Some((f.floating_ip_address.parse().ok()?, f.fixed_ip_address.parse().ok()?)))
        .collect();
    out.sort();
    out.dedup_by_key(|p| p.0);
    out
}

/// The gateway's IPv4 address, the source of SNAT.
pub fn gateway_address(router: &RouterState) -> Option<Ipv4Addr> {
    let gw = router.gateway.as_ref()?;
    gw.port.subnets.iter().find_map(|s| s.ip_address.parse().ok())
}

fn table() -> Value {
    json!({"family": FAMILY, "name": TABLE})
}

fn chain(name: &str, kind: &str, hook: &str, prio: i64) -> Value {
    json!({"add": {"chain": {
        "family": FAMILY, "table": TABLE, "name": name,
        "type": kind, "hook": hook, "prio": prio, "policy": "accept"
    }}})
}

fn rule(chain: &str, mut expr: Vec<Value>, verdict: Value) -> Value {
    expr.push(json!({"counter": null}));
    expr.push(verdict);
    json!({"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": chain, "expr": expr}}})
}

fn matches(op: &str, left: Value, right: Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}

fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}

fn ip(field: &str) -> Value {
    json!({"payload": {"protocol": "ip", "field": field}})
}

fn tcp_dport() -> Value {
    json!({"payload": {"protocol": "tcp", "field": "dport"}})
}

fn ct_status() -> Value {
    json!({"ct": {"key": "status"}})
}

fn set_mark(mark: u64) -> Value {
    json!({"mangle": {"key": meta("mark"), "value": mark}})
}

fn map_lookup(field: &str, map: &str) -> Value {
    json!({"map": {"key": ip(field), "data": format!("@{map}")}})
}

/// The elements of both maps for `pairs`.
fn elements(pairs: &[(Ipv4Addr, Ipv4Addr)]) -> (Vec<Value>, Vec<Value>) {
    let dnat = pairs.iter().map(|(f, x)| json!([f.to_string(), x.to_string()])).collect();
    let snat = pairs.iter().map(|(f, x)| json!([x.to_string(), f.to_string()])).collect();
    (dnat, snat)
}

fn map(name: &str, elem: Vec<Value>) -> Value {
    let mut body =
        json!({"family": FAMILY, "table": TABLE, "name": name, "type": "ipv4_addr", "map": "ipv4_addr"});
    if !elem.is_empty() {
        body["elem"] = Value::Array(elem);
    }
    json!({"add": {"map": body}})
}

/// The whole table of `router` as one batch: the table is added (so that deleting it cannot
/// fail), deleted and made again, so that nothing of an older version stays.
pub fn ruleset(router: &RouterState, metadata_port: u16) -> Value {
    let (dnat, snat) = elements(&fip_pairs(router));
    let mut out = vec![
        json!({"add": {"table": table()}}),
        json!({"delete": {"table": table()}}),
        json!({"add": {"table": table()}}),
        map("fip_dnat", dnat),
        map("fip_snat", snat),
        chain("pre_mangle", "filter", "prerouting", -150),
        chain("pre_nat", "nat", "prerouting", -100),
        chain("out_nat", "nat", "output", -100),
        chain("post_nat", "nat", "postrouting", 100),
        chain("input", "filter", "input", 0),
    ];
    let metadata_request = || {
        vec![
            matches("==", meta("iifname"), json!("qr-*")),
            matches("==", ip("daddr"), json!(METADATA_IP)),
            matches("==", meta("l4proto"), json!("tcp")),
            matches("==", tcp_dport(), json!(80)),
        ]
    };
    let qg = router.gateway.as_ref().map(|g| qg_name(&g.port.id));
    if let Some(qg) = &qg {
        out.push(rule(
            "pre_mangle",
            vec![matches("==", meta("iifname"), json!(qg))],
            set_mark(MARK_EXTERNAL),
        ));
    }
    out.push(rule("pre_mangle", metadata_request(), set_mark(MARK_METADATA)));
    out.push(rule("pre_nat", metadata_request(), json!({"redirect": {"port": metadata_port}})));
    if let Some(qg) = &qg {
        let dnat = json!({"dnat": {"addr": map_lookup("daddr", "fip_dnat")}});
        out.push(rule("pre_nat", vec![], dnat.clone()));
        out.push(rule("out_nat", vec![], dnat));
        // Not leaving by the gateway and not DNATed: routed between the router's subnets.
        let not_dnat = matches("==", json!({"&": [ct_status(), "dnat"]}), json!(0));
        out.push(rule(
            "post_nat",
            vec![matches("!=", meta("oifname"), json!(qg)), not_dnat],
            json!({"accept": null}),
        ));
        out.push(rule("post_nat", vec![], json!({"snat": {"addr": map_lookup("saddr", "fip_snat")}})));
        if let (Some(true), Some(gw)) =
            (router.gateway.as_ref().map(|g| g.enable_snat), gateway_address(router))
        {
            let to = |expr| {
                rule("post_nat", expr, json!({"snat": {"addr": gw.to_string(), "flags": "fully-random"}}))
            };
            out.push(to(vec![matches("==", meta("oifname"), json!(qg))]));
            // Hairpin: a VM reaching a floating IP of its own router from behind it.
            out.push(to(vec![
                matches("!=", meta("mark"), json!(MARK_EXTERNAL)),
                matches("in", ct_status(), json!("dnat")),
            ]));
        }
    }
    out.push(rule(
        "input",
        vec![
            matches("==", meta("l4proto"), json!("tcp")),
            matches("==", tcp_dport(), json!(metadata_port)),
            matches("!=", meta("mark"), json!(MARK_METADATA)),
        ],
        json!({"drop": null}),
    ));
    json!({"nftables": out})
}

/// The batch that turns the maps of `old` into those of `new`, or `None` when they are the
/// same: deletions first (a moved floating IP keeps its key), then additions.
pub fn element_batch(old: &[(Ipv4Addr, Ipv4Addr)], new: &[(Ipv4Addr, Ipv4Addr)]) -> Option<Value> {
    let gone: Vec<_> = old.iter().filter(|p| !new.contains(p)).copied().collect();
    let came: Vec<_> = new.iter().filter(|p| !old.contains(p)).copied().collect();
    if gone.is_empty() && came.is_empty() {
        return None;
    }
    let element = |verb: &str, name: &str, elem: Vec<Value>| json!({verb: {"element": {"family": FAMILY, "table": TABLE, "name": name, "elem": elem}}});
    let mut out = vec![];
    for (verb, pairs) in [("delete", gone), ("add", came)] {
        if pairs.is_empty() {
            continue;
        }
        let (dnat, snat) = elements(&pairs);
        out.push(element(verb, "fip_dnat", dnat));
        out.push(element(verb, "fip_snat", snat));
    }
    Some(json!({"nftables": out}))
}

/// What a recorded batch must equal for only the maps to differ: the batch without its map
/// elements.
pub fn structure(batch: &Value) -> Value {
    let mut b = batch.clone();
    if let Some(cmds) = b.get_mut("nftables").and_then(Value::as_array_mut) {
        for c in cmds {
            if let Some(m) = c.pointer_mut("/add/map").and_then(Value::as_object_mut) {
                m.remove("elem");
            }
        }
    }
    b
}

/// The floating → fixed pairs a recorded batch put in `fip_dnat`.
pub fn recorded_pairs(batch: &Value) -> Vec<(Ipv4Addr, Ipv4Addr)> {
    let Some(cmds) = batch.get("nftables").and_then(Value::as_array) else { return vec![] };
    cmds.iter()
        .filter_map(|c| c.pointer("/add/map"))
        .filter(|m| m.get("name").and_then(Value::as_str) == Some("fip_dnat"))
        .filter_map(|m| m.get("elem").and_then(Value::as_array))
        .flatten()
        .filter_map(|e| {
            let pair = e.as_array()?;
            Some((pair.first()?.as_str()?.parse().ok()?, pair.get(1)?.as_str()?.parse().ok()?))
        })
        .collect()
}
