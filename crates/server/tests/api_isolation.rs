//! Isolation matrix: two projects, a reader and an admin, over every resource and verb, and
//! over every way of naming a resource indirectly (the network of a port, a subnet in
//! `fixed_ips`, a list marker, a filter or sort key on a hidden attribute). Nobody sees, lists,
//! changes or references what policy does not allow; what they may not see answers exactly as an
//! id that does not exist, and the same request on something they may see works (the control).

mod common;

use axum::http::Method;
use common::{App, Caller, Resp, assert_error, id, ids};
use serde_json::{Value, json};

const UNKNOWN: &str = "3b2f9b5e-0000-4000-8000-000000000000";

struct World {
    app: App,
    p1: Caller,
    p2: Caller,
    reader: Caller,
    admin: Caller,
    /// p1's private network, subnet and port.
    n1: String,
    s1: String,
    port1: String,
    /// p2's own network and subnet.
    n2: String,
    /// The admin's shared network and its subnet.
    shared: String,
    shared_subnet: String,
}

async fn world() -> World {
    let app = App::new().await;
    let (p1, p2) = (app.as_("p1", "member"), app.as_("p2", "member"));
    let reader = app.as_("p1", "reader");
    let admin = app.as_("admin", "admin");
    let n1 = p1.net("n1").await;
    let s1 = id(&p1.subnet(&n1, "10.1.0.0/24", json!({})).await);
    let port1 = id(&p1.port(&n1, json!({"name": "secret-port"})).await);
    let (s, b) =
        admin.put(&format!("/v2.0/ports/{port1}"), json!({"port": {"binding:host_id": "host-a"}})).await;
    assert_eq!(s, 200, "{b}");
    for (coll, rid) in [("networks", &n1), ("subnets", &s1), ("ports", &port1)] {
        let (s, b) = p1.put(&format!("/v2.0/{coll}/{rid}/tags/t1"), json!(null)).await;
        assert_eq!(s, 201, "{b}");
    }
    let n2 = p2.net("n2").await;
    p2.subnet(&n2, "10.2.0.0/24", json!({})).await;
    let shared = id(&admin.network(json!({"name": "shared", "shared": true})).await);
    let shared_subnet = id(&admin.subnet(&shared, "10.9.0.0/24", json!({})).await);
    World { app, p1, p2, reader, admin, n1, s1, port1, n2, shared, shared_subnet }
}

/// `(status, NeutronError type)` of an answer, with the id replaced so answers about two
/// different ids compare equal.
fn shape(r: &Resp, rid: &str) -> (u16, String) {
    let kind = r.1["NeutronError"]["type"].as_str().unwrap_or("").to_string();
    let msg = r.1["NeutronError"]["message"].as_str().unwrap_or("").replace(rid, "ID").replace(UNKNOWN, "ID");
    (r.0.as_u16(), format!("{kind}: {msg}"))
}

/// Asserts that `caller` gets for `rid` exactly what it gets for an id that does not exist,
/// and that this is a 404.
async fn same_as_unknown(caller: &Caller, method: Method, path: &str, rid: &str, body: Option<Value>) {
    let bytes = body.map(|b| b.to_string().into_bytes());
    let real = caller.send(method.clone(), &path.replace("{}", rid), bytes.clone(), &[]).await;
    let unknown = caller.send(method.clone(), &path.replace("{}", UNKNOWN), bytes, &[]).await;
    assert_eq!(real.0.as_u16(), 404, "{method} {path} for a hidden id: {}", real.1);
    assert_eq!(shape(&real, rid), shape(&unknown, UNKNOWN), "{method} {path}: hidden and unknown ids differ");
}

const RESOURCES: [(&str, &str); 3] = [("networks", "network"), ("subnets", "subnet"), ("ports", "port")];

#[tokio::test]
async fn another_project_cannot_see_list_change_or_tag() {
    let w = world().await;
    let mine = [&w.n1, &w.s1, &w.port1];
    for ((coll, one), rid) in RESOURCES.iter().zip(mine) {
        // Show: exactly the unknown-id answer; the owner's own show works (control).
        same_as_unknown(&w.p2, Method::GET, &format!("/v2.0/{coll}/{{}}"), rid, None).await;
        let (s, b) = w.p1.get(&format!("/v2.0/{coll}/{rid}")).await;
        assert_eq!(s, 200, "{b}");
        // Writes: 404 (upstream's policy-hidden answer), and nothing changes.
        let r = w.p2.put(&format!("/v2.0/{coll}/{rid}"), json!({ *one: {"name": "stolen"} })).await;
        assert_error(&r, 404, "HTTPNotFound");
        assert_error(&w.p2.delete(&format!("/v2.0/{coll}/{rid}")).await, 404, "HTTPNotFound");
        let (_, b) = w.p1.get(&format!("/v2.0/{coll}/{rid}")).await;
        assert_ne!(b[*one]["name"], "stolen");
        // Tags: every verb answers as for an unknown id.
        let tags = format!("/v2.0/{coll}/{{}}/tags");
        same_as_unknown(&w.p2, Method::GET, &tags, rid, None).await;
        same_as_unknown(&w.p2, Method::PUT, &tags, rid, Some(json!({"tags": ["x"]}))).await;
        same_as_unknown(&w.p2, Method::POST, &tags, rid, Some(json!({"tags": ["x"]}))).await;
        same_as_unknown(&w.p2, Method::DELETE, &tags, rid, None).await;
        same_as_unknown(&w.p2, Method::GET, &format!("{tags}/t1"), rid, None).await;
        same_as_unknown(&w.p2, Method::PUT, &format!("{tags}/x"), rid, None).await;
        same_as_unknown(&w.p2, Method::DELETE, &format!("{tags}/t1"), rid, None).await;
        let (_, b) = w.p1.get(&format!("/v2.0/{coll}/{rid}/tags")).await;
        assert_eq!(b, json!({"tags": ["t1"]}), "{coll}: tags unchanged");
        // Lists: not there, whatever the filter; the owner's list has it (control).
        for q in ["", "?id={}", "?tags=t1", "?name=secret-port", "?tenant_id=p1", "?project_id=p1"] {
            let (s, b) = w.p2.get(&format!("/v2.0/{coll}{}", q.replace("{}", rid))).await;
            assert_eq!(s, 200, "{b}");
            assert!(!ids(&b, coll).contains(rid), "{coll}{q}: p2 lists p1's resource");
        }
        let (_, b) = w.p1.get(&format!("/v2.0/{coll}?id={rid}")).await;
        assert_eq!(ids(&b, coll), vec![rid.clone()]);
        // Markers: another project's id is an unknown marker, with or without a sort key.
        for q in ["?limit=1&marker={}", "?limit=1&sort_key=name&marker={}", "?marker={}&page_reverse=True"] {
            same_as_unknown(&w.p2, Method::GET, &format!("/v2.0/{coll}{q}"), rid, None).await;
            let (s, b) = w.p1.get(&format!("/v2.0/{coll}{}", q.replace("{}", rid))).await;
            assert_eq!(s, 200, "{coll}{q}: the owner's marker works: {b}");
        }
    }
    // The admin sees everything (control).
    let (_, b) = w.admin.get("/v2.0/networks").await;
    let all = ids(&b, "networks");
    assert!(all.contains(&w.n1) && all.contains(&w.n2) && all.contains(&w.shared));
}

#[tokio::test]
async fn markers_follow_what_the_caller_may_see() {
    let w = world().await;
    // A shared network is visible to p2, so it is a valid marker for p2.
    let (s, b) = w.p2.get(&format!("/v2.0/networks?limit=1&sort_key=name&marker={}", w.shared)).await;
    assert_eq!(s, 200, "{b}");
    // A marker's row need not match the filters (upstream), but must be visible.
    let (s, b) = w.p2.get(&format!("/v2.0/networks?name=n2&marker={}", w.shared)).await;
    assert_eq!(s, 200, "{b}");
    // Name recovery by comparing a hidden marker's sort value is no longer possible: every such
    // query is a 404 whatever the name.
    for q in ["sort_key=name&sort_dir=asc", "sort_key=name&sort_dir=desc", "sort_key=id&sort_key=name"] {
        let path = format!("/v2.0/networks?{q}&limit=5&marker={{}}");
        same_as_unknown(&w.p2, Method::GET, &path, &w.n1, None).await;
    }
}

#[tokio::test]
async fn references_to_hidden_resources_are_unknown() {
    let w = world().await;
    // The network of a new port or subnet.
    let port_on = |net: &str| json!({"port": {"network_id": net}});
    let r = w.p2.post("/v2.0/ports", port_on(&w.n1)).await;
    let u = w.p2.post("/v2.0/ports", port_on(UNKNOWN)).await;
    assert_eq!(shape(&r, &w.n1), shape(&u, UNKNOWN));
    assert_error(&r, 404, "NetworkNotFound");
    let subnet_on =
        |net: &str| json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.50.0.0/24"}});
    let r = w.p2.post("/v2.0/subnets", subnet_on(&w.n1)).await;
    let u = w.p2.post("/v2.0/subnets", subnet_on(UNKNOWN)).await;
    assert_eq!(shape(&r, &w.n1), shape(&u, UNKNOWN));
    assert_error(&r, 404, "NetworkNotFound");
    // A subnet in fixed_ips: on p2's own network and on the shared one, p1's subnet is unknown.
    for net in [&w.n2, &w.shared] {
        let with_subnet = |s: &str| json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": s}]}});
        let r = w.p2.post("/v2.0/ports", with_subnet(&w.s1)).await;
        let u = w.p2.post("/v2.0/ports", with_subnet(UNKNOWN)).await;
        assert_error(&r, 404, "SubnetNotFound");
        assert_eq!(shape(&r, &w.s1), shape(&u, UNKNOWN), "fixed_ips subnet on {net}");
    }
    // Control: a subnet the caller sees, on another network, is named as invalid for it.
    let r =
        w.p2.post(
            "/v2.0/ports",
            json!({"port": {"network_id": w.n2, "fixed_ips": [{"subnet_id": w.shared_subnet}]}}),
        )
        .await;
    assert_error(&r, 400, "InvalidInput");
    // Updating fixed_ips of one's own port with a hidden subnet: unknown too.
    let mine = id(&w.p2.port(&w.n2, json!({})).await);
    let upd = |s: &str| json!({"port": {"fixed_ips": [{"subnet_id": s}]}});
    let r = w.p2.put(&format!("/v2.0/ports/{mine}"), upd(&w.s1)).await;
    let u = w.p2.put(&format!("/v2.0/ports/{mine}"), upd(UNKNOWN)).await;
    assert_error(&r, 404, "SubnetNotFound");
    assert_eq!(shape(&r, &w.s1), shape(&u, UNKNOWN));
    // A port on the shared network is the port owner's: the network's owner sees it, p1 not.
    let on_shared = id(&w.p2.port(&w.shared, json!({})).await);
    same_as_unknown(&w.p1, Method::GET, "/v2.0/ports/{}", &on_shared, None).await;
    let (s, _) = w.admin.get(&format!("/v2.0/ports/{on_shared}")).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn hidden_attributes_cannot_be_filtered_or_sorted_on() {
    let w = world().await;
    let (_, b) = w.admin.get(&format!("/v2.0/networks/{}", w.n1)).await;
    let seg = b["network"]["provider:segmentation_id"].clone();
    let bogus = w.p2.get("/v2.0/networks?bogus=1").await;
    assert_error(&bogus, 400, "HTTPBadRequest");
    let cases = [
        ("networks", format!("provider:segmentation_id={seg}")),
        ("networks", "provider:network_type=vxlan".to_string()),
        ("networks", "provider:physical_network=x".to_string()),
        ("ports", "binding:host_id=host-a".to_string()),
        ("ports", "binding:vif_type=unbound".to_string()),
    ];
    for (coll, filter) in &cases {
        for caller in [&w.p1, &w.p2, &w.reader] {
            let r = caller.get(&format!("/v2.0/{coll}?{filter}")).await;
            assert_error(&r, 400, "HTTPBadRequest");
            let key = filter.split('=').next().unwrap();
            assert_eq!(
                r.1["NeutronError"]["message"],
                format!("[{key}] is invalid attribute for filtering"),
                "refused as an unknown filter"
            );
            if coll == &"networks" || key == "binding:host_id" {
                let r = caller.get(&format!("/v2.0/{coll}?sort_key={key}&sort_dir=asc")).await;
                assert_eq!(r.0.as_u16(), 400, "sorting on {key}: {}", r.1);
            }
        }
        // The admin may (control), and the filter works.
        let (s, b) = w.admin.get(&format!("/v2.0/{coll}?{filter}")).await;
        assert_eq!(s, 200, "{b}");
    }
    let (_, b) = w.admin.get(&format!("/v2.0/networks?provider:segmentation_id={seg}")).await;
    assert_eq!(ids(&b, "networks"), vec![w.n1.clone()]);
    let (_, b) = w.admin.get("/v2.0/ports?binding:host_id=host-a&sort_key=binding:host_id").await;
    assert_eq!(ids(&b, "ports"), vec![w.port1.clone()]);
    // The service role (Nova) sees and filters on bindings.
    let nova = w.app.as_("service", "service");
    let (s, b) = nova.get("/v2.0/ports?binding:host_id=host-a").await;
    assert_eq!(s, 200, "{b}");
    // Hidden attributes asked for with fields= are simply not returned.
    let (_, b) =
        w.p1.get(&format!("/v2.0/networks/{}?fields=provider:segmentation_id&fields=id", w.n1)).await;
    assert_eq!(b["network"].as_object().unwrap().keys().collect::<Vec<_>>(), ["id"]);
}

#[tokio::test]
async fn a_reader_reads_but_never_writes() {
    let w = world().await;
    let r = &w.reader;
    for ((coll, one), rid) in RESOURCES.iter().zip([&w.n1, &w.s1, &w.port1]) {
        let (s, b) = r.get(&format!("/v2.0/{coll}/{rid}")).await;
        assert_eq!(s, 200, "{b}");
        let (_, b) = r.get(&format!("/v2.0/{coll}")).await;
        assert!(ids(&b, coll).contains(rid));
        let put = r.put(&format!("/v2.0/{coll}/{rid}"), json!({ *one: {"name": "x"} })).await;
        assert_eq!(put.0.as_u16(), 403, "{coll} update: {}", put.1);
        assert_eq!(r.delete(&format!("/v2.0/{coll}/{rid}")).await.0.as_u16(), 403, "{coll} delete");
        let t = r.put(&format!("/v2.0/{coll}/{rid}/tags/x"), json!(null)).await;
        assert_eq!(t.0.as_u16(), 403, "{coll} tag: {}", t.1);
        let (_, b) = w.p1.get(&format!("/v2.0/{coll}/{rid}")).await;
        assert_ne!(b[*one]["name"], "x");
    }
    assert_eq!(r.post("/v2.0/networks", json!({"network": {"name": "x"}})).await.0.as_u16(), 403);
    let r2 = r.post("/v2.0/ports", json!({"port": {"network_id": w.n1}})).await;
    assert_eq!(r2.0.as_u16(), 403, "{}", r2.1);
    // The reader sees no more than its project: p2's network is unknown to it.
    same_as_unknown(r, Method::GET, "/v2.0/networks/{}", &w.n2, None).await;
}

#[tokio::test]
async fn agents_are_the_admins() {
    let w = world().await;
    let report = json!({"host": "host-a", "agent_type": "Open vSwitch agent",
        "binary": "neutron-openvswitch-agent", "start_flag": true, "configurations": {}});
    let (s, b) = w.app.agent().post("/internal/v1/agents/report", report).await;
    assert_eq!(s, 200, "{b}");
    let (_, all) = w.admin.get("/v2.0/agents").await;
    let aid = id(&all["agents"][0]);
    for caller in [&w.p1, &w.p2, &w.reader] {
        let (_, b) = caller.get("/v2.0/agents").await;
        assert_eq!(b, json!({"agents": []}));
        same_as_unknown(caller, Method::GET, "/v2.0/agents/{}", &aid, None).await;
        let body = json!({"agent": {"admin_state_up": false}});
        same_as_unknown(caller, Method::PUT, "/v2.0/agents/{}", &aid, Some(body)).await;
        same_as_unknown(caller, Method::DELETE, "/v2.0/agents/{}", &aid, None).await;
    }
    let (_, b) = w.admin.get(&format!("/v2.0/agents/{aid}")).await;
    assert_eq!(b["agent"]["admin_state_up"], true, "nothing changed");
    // The internal API wants the agent credential, not a project's.
    let r = w.p1.get("/internal/v1/hosts/host-a/state").await;
    assert_eq!(r.0.as_u16(), 401, "{}", r.1);
}
