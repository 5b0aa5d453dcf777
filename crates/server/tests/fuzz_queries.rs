//! Property tests ("fuzzing" on stable Rust) of the query strings of every list and show:
//! `/v2.0/{networks,subnets,ports,floatingips}` with the paging, sorting, field and tag keys and every
//! filter attribute (admin-only ones too), `/v2.0/agents`, and the agent API's `watch` and
//! `state`, with hostile values and repeats up to a few thousand. Every answer: no 5xx and no
//! panic, errors as `NeutronError` with a string `type` and `message`, lists with their
//! collection key. `PROPTEST_CASES=N` for longer runs; failing inputs go to
//! `tests/corpus/queries/` (replayed by `tests/corpus.rs`).

mod fuzz;

use fuzz::inputs::{self, encode_query};
use fuzz::{Req, networking, run};
use neutrino_model::attrs::{Attr, FLOATINGIP, NETWORK, PORT, SUBNET};
use proptest::prelude::*;

fn list(coll: &'static str, attrs: &'static [Attr]) -> impl Strategy<Value = Req> {
    (inputs::query_pairs(attrs, coll), inputs::raw_query(), inputs::caller()).prop_map(
        move |(pairs, raw, headers)| {
            let q = encode_query(&pairs, &raw);
            Req { headers, ..Req::new("GET", format!("/v2.0/{coll}?{q}")) }
        },
    )
}

fn show(coll: &'static str, attrs: &'static [Attr], id: &'static str) -> impl Strategy<Value = Req> {
    (inputs::query_pairs(attrs, coll), inputs::caller(), inputs::segment(id)).prop_map(
        move |(pairs, headers, id)| Req {
            headers,
            ..Req::new("GET", format!("/v2.0/{coll}/{id}?{}", encode_query(&pairs, "")))
        },
    )
}

#[test]
fn network_list_queries() {
    run("queries", 48, networking, list("networks", &NETWORK));
}

#[test]
fn subnet_list_queries() {
    run("queries", 48, networking, list("subnets", &SUBNET));
}

#[test]
fn port_list_queries() {
    run("queries", 48, networking, list("ports", &PORT));
}

#[test]
fn floatingip_list_queries() {
    run("queries", 48, networking, list("floatingips", &FLOATINGIP));
}

#[test]
fn show_queries() {
    let s = prop_oneof![
        show("networks", &NETWORK, "{network_id}"),
        show("subnets", &SUBNET, "{subnet_id}"),
        show("ports", &PORT, "{port_id}"),
        show("floatingips", &FLOATINGIP, "{floatingip_id}"),
    ];
    run("queries", 32, networking, s);
}

fn agent_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop::sample::select(vec![
        "fields",
        "id",
        "agent_type",
        "host",
        "binary",
        "topic",
        "alive",
        "admin_state_up",
        "availability_zone",
        "description",
        "limit",
        "sort_key",
        "marker",
    ]);
    let pair = (key, inputs::text(), inputs::repeat()).prop_map(|(k, v, n)| vec![(k.to_string(), v); n]);
    prop::collection::vec(pair, 0..4).prop_map(|g| g.concat())
}

#[test]
fn agent_list_queries() {
    let s = (agent_pairs(), inputs::raw_query(), inputs::caller()).prop_map(|(pairs, raw, headers)| Req {
        headers,
        ..Req::new("GET", format!("/v2.0/agents?{}", encode_query(&pairs, &raw)))
    });
    let show = (inputs::segment("{agent_id}"), inputs::caller())
        .prop_map(|(id, headers)| Req { headers, ..Req::new("GET", format!("/v2.0/agents/{id}")) });
    run("queries", 32, networking, prop_oneof![3 => s, 1 => show]);
}

fn host() -> impl Strategy<Value = String> {
    inputs::segment("{host}")
}

#[test]
fn agent_api_queries() {
    // `timeout=0` always: a watch with nothing new waits that long.
    let since = prop_oneof![inputs::int_text(), inputs::text()];
    let watch =
        (host(), since, inputs::raw_query(), inputs::agent_caller()).prop_map(|(h, since, raw, headers)| {
            let q = encode_query(&[("since".into(), since), ("timeout".into(), "0".into())], &raw);
            Req { headers, ..Req::new("GET", format!("/internal/v1/hosts/{h}/watch?{q}")) }
        });
    let state = (host(), inputs::agent_caller())
        .prop_map(|(h, headers)| Req { headers, ..Req::new("GET", format!("/internal/v1/hosts/{h}/state")) });
    run("queries", 32, networking, prop_oneof![watch, state]);
}
