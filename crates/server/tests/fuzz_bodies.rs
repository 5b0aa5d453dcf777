//! Property tests ("fuzzing" on stable Rust) of request bodies: creates and updates of
//! networks, subnets, ports and floating IPs, their tags, `/v2.0/agents/{id}`, the agent API's reports, and
//! the identity service's `POST /identity/v3/auth/tokens`. Bodies are shaped like the resource
//! (its attribute names with values of random type and size, random nesting, unicode, huge
//! numbers, long strings, repeated keys), or damaged, or not JSON at all. Every answer: no 5xx
//! and no panic, errors as `NeutronError` (Keystone's `error` for identity), and the server
//! still answers afterwards. `PROPTEST_CASES=N` for longer runs; failing inputs go to
//! `tests/corpus/bodies/` (replayed by `tests/corpus.rs`).

mod fuzz;

use fuzz::inputs::{self, Json, json_leaf, json_value, resource_body, resource_object};
use fuzz::{Req, identity, networking, run};
use neutrino_model::attrs::{FLOATINGIP, NETWORK, Op, PORT, SUBNET};
use proptest::prelude::*;

fn with(req: Req, headers: Vec<(String, String)>, body: Vec<u8>) -> Req {
    let mut req = req.body(body);
    req.headers.extend(headers);
    req
}

/// `If-Match: revision_number=N` now and then, with any N.
fn if_match() -> impl Strategy<Value = Vec<(String, String)>> {
    prop_oneof![
        4 => Just(vec![]),
        1 => inputs::int_text().prop_map(|n| vec![("If-Match".to_string(), format!("revision_number={n}"))]),
    ]
}

fn create_and_update(
    coll: &'static str,
    singular: &'static str,
    id: &'static str,
    obj: impl Fn(Op) -> BoxedStrategy<Json>,
) -> impl Strategy<Value = Req> {
    let create = (resource_body(singular, coll, obj(Op::Create)), inputs::caller())
        .prop_map(move |(body, caller)| with(Req::new("POST", format!("/v2.0/{coll}")), caller, body));
    let update = (resource_body(singular, coll, obj(Op::Update)), inputs::caller(), if_match()).prop_map(
        move |(body, caller, if_match)| {
            with(Req::new("PUT", format!("/v2.0/{coll}/{id}")), [caller, if_match].concat(), body)
        },
    );
    prop_oneof![create, update]
}

#[test]
fn network_bodies() {
    let obj = |op| resource_object(&NETWORK, op, vec![("name", Json::s("fuzz"))]).boxed();
    run("bodies", 48, networking, create_and_update("networks", "network", "{network_id}", obj));
}

#[test]
fn subnet_bodies() {
    let obj = |op| {
        (0u8..=255, 0u8..=255)
            .prop_flat_map(move |(a, b)| {
                let base = match op {
                    Op::Create => vec![
                        ("network_id", Json::s("{network_id}")),
                        ("ip_version", Json::Raw("4".into())),
                        ("cidr", Json::Str(format!("10.{a}.{b}.0/24"))),
                    ],
                    Op::Update => vec![],
                };
                resource_object(&SUBNET, op, base)
            })
            .boxed()
    };
    run("bodies", 48, networking, create_and_update("subnets", "subnet", "{subnet_id}", obj));
}

#[test]
fn port_bodies() {
    let obj = |op| {
        let base = if op == Op::Create { vec![("network_id", Json::s("{network_id}"))] } else { vec![] };
        resource_object(&PORT, op, base).boxed()
    };
    run("bodies", 48, networking, create_and_update("ports", "port", "{port_id}", obj));
}

#[test]
fn floatingip_bodies() {
    let obj = |op| {
        let base = match op {
            Op::Create => vec![("floating_network_id", Json::s("{ext_network_id}"))],
            Op::Update => vec![("port_id", Json::s("{port_id}"))],
        };
        resource_object(&FLOATINGIP, op, base).boxed()
    };
    run("bodies", 48, networking, create_and_update("floatingips", "floatingip", "{floatingip_id}", obj));
}

#[test]
fn tag_bodies() {
    let member = prop::sample::select(vec![
        ("networks", "{network_id}"),
        ("subnets", "{subnet_id}"),
        ("ports", "{port_id}"),
        ("floatingips", "{floatingip_id}"),
        ("routers", "{network_id}"),
    ]);
    let tags = prop_oneof![
        4 => prop::collection::vec(json_leaf(), 0..8).prop_map(Json::Arr),
        1 => json_value(vec!["tags"]),
    ];
    let body = (tags, any::<bool>()).prop_map(|(t, wrapped)| {
        if wrapped { Json::Obj(vec![("tags".into(), t)]).render() } else { t.render() }
    });
    let tag = inputs::segment("red");
    let s = (member, body, tag, 0u8..4, inputs::caller()).prop_map(|((coll, id), body, tag, how, caller)| {
        match how {
            0 => with(Req::new("PUT", format!("/v2.0/{coll}/{id}/tags")), caller, body.into_bytes()),
            1 => with(Req::new("POST", format!("/v2.0/{coll}/{id}/tags")), caller, body.into_bytes()),
            2 => Req { headers: caller, ..Req::new("PUT", format!("/v2.0/{coll}/{id}/tags/{tag}")) },
            _ => Req { headers: caller, ..Req::new("DELETE", format!("/v2.0/{coll}/{id}/tags/{tag}")) },
        }
    });
    run("bodies", 48, networking, s);
}

/// A field of an object: the expected value, rarely any value or left out (bodies with many
/// fields must still often be whole to reach the code behind the parser).
fn field(
    name: &'static str,
    expected: impl Strategy<Value = Json> + 'static,
) -> BoxedStrategy<Option<(String, Json)>> {
    prop_oneof![
        30 => expected.prop_map(move |v| Some((name.to_string(), v))),
        1 => json_value(vec![name]).prop_map(move |v| Some((name.to_string(), v))),
        1 => Just(None),
    ]
    .boxed()
}

/// An optional field: mostly left out.
fn opt_field(
    name: &'static str,
    expected: impl Strategy<Value = Json> + 'static,
) -> BoxedStrategy<Option<(String, Json)>> {
    prop_oneof![3 => Just(None), 1 => field(name, expected)].boxed()
}

fn object(fields: Vec<BoxedStrategy<Option<(String, Json)>>>) -> impl Strategy<Value = Json> {
    fields.prop_map(|f| Json::Obj(f.into_iter().flatten().collect()))
}

/// One of `words` mostly, else any text.
fn one_of(words: &[&'static str]) -> BoxedStrategy<Json> {
    if words.is_empty() {
        return inputs::text().prop_map(Json::Str).boxed();
    }
    let words = words.to_vec();
    prop_oneof![5 => prop::sample::select(words).prop_map(Json::s), 1 => inputs::text().prop_map(Json::Str)]
        .boxed()
}

#[test]
fn agent_bodies() {
    let update = (
        object(vec![field(
            "agent",
            object(vec![
                field("admin_state_up", json_leaf()),
                field("description", inputs::text().prop_map(Json::Str)),
            ]),
        )]),
        inputs::segment("{agent_id}"),
    )
        .prop_map(|(b, id)| ("PUT", format!("/v2.0/agents/{id}"), b));
    let report = object(vec![
        field("host", one_of(&["host-1", "host-2", ""])),
        field("agent_type", one_of(&["Open vSwitch agent", "DHCP agent"])),
        field("binary", one_of(&["neutrino-agent"])),
        opt_field("topic", one_of(&["N/A"])),
        opt_field("availability_zone", one_of(&["nova"])),
        field("configurations", json_value(vec!["bridge_mappings", "tunnel_types", "physnet1"])),
        field("start_flag", json_leaf()),
    ])
    .prop_map(|b| ("POST", "/internal/v1/agents/report".to_string(), b));
    let ids = || prop::collection::vec(one_of(&["{port_id}"]), 0..4).prop_map(Json::Arr);
    let status =
        object(vec![field("host", one_of(&["host-1", ""])), field("up", ids()), field("down", ids())])
            .prop_map(|b| ("POST", "/internal/v1/ports/status".to_string(), b));
    let s = (prop_oneof![update, report, status], inputs::caller(), inputs::agent_caller()).prop_map(
        |((method, path, body), caller, agent)| {
            let headers = if path.starts_with("/internal/") { agent } else { caller };
            with(Req::new(method, &path), headers, body.render().into_bytes())
        },
    );
    run("bodies", 48, networking, s);
}

#[test]
fn identity_bodies() {
    let domain = || {
        object(vec![field("name", one_of(&["Default", "default"])), opt_field("id", one_of(&["default"]))])
    };
    let user = object(vec![
        field("name", one_of(&["member_1", "admin_1"])),
        opt_field("id", one_of(&[])),
        field("password", one_of(&["secret"])),
        field("domain", domain()),
    ]);
    let ident = object(vec![
        field("methods", prop::collection::vec(one_of(&["password", "token"]), 0..3).prop_map(Json::Arr)),
        field("password", object(vec![field("user", user)])),
        opt_field("token", object(vec![field("id", inputs::text().prop_map(Json::Str))])),
    ]);
    let project = object(vec![
        field("name", one_of(&["proj_1", "admin"])),
        opt_field("id", one_of(&[])),
        field("domain", domain()),
    ]);
    let scope = prop_oneof![
        Just(Json::s("unscoped")),
        object(vec![field("project", project)]),
        object(vec![field("domain", domain())]),
        object(vec![field("system", object(vec![field("all", json_leaf())]))]),
    ];
    let body = object(vec![field("auth", object(vec![field("identity", ident), field("scope", scope)]))]);
    let s = prop_oneof![
        8 => body.prop_map(|b| b.render().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
    .prop_map(|b| Req::new("POST", "/identity/v3/auth/tokens").body(b));
    run("bodies", 24, identity, s);
}
