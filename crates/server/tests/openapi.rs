//! The OpenAPI document (`GET /openapi.json`, `docs/openapi.json`): the committed copy is what
//! the code generates, it has the fields OpenAPI 3.0 requires with every `$ref` resolving, and
//! every path and method it describes is routed by the application (noauth harness for the
//! networking API, a builtin-identity application for `/identity/v3`).
//! Regenerate the copy with `UPDATE_OPENAPI=1 cargo test -p neutrino-server --test openapi`.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{App, Resp, id};
use neutrino_server::auth::{AuthMode, UserConfig};
use neutrino_server::config::Config;
use neutrino_server::http::openapi;
use neutrino_server::store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn committed_document_is_what_the_code_generates() {
    let path = committed_path();
    let generated = openapi::document_text();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let parsed: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
    assert!(
        parsed == openapi::document() && committed == generated,
        "docs/openapi.json differs from the generated document: run \
         `UPDATE_OPENAPI=1 cargo test -p neutrino-server --test openapi` and commit it"
    );
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "head", "patch", "options", "trace"];

/// `(method, path, operation)` of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = vec![];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (m, o) in item.as_object().expect("path item") {
            assert!(METHODS.contains(&m.as_str()), "{path}: {m} is not an HTTP method");
            out.push((m.clone(), path.clone(), o.clone()));
        }
    }
    out
}

#[test]
fn document_has_the_required_fields_and_its_refs_resolve() {
    let doc: Value = serde_json::from_str(&openapi::document_text()).expect("the document is JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.0.")), "openapi 3.0.x");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_eq!(doc["components"]["securitySchemes"]["token"]["name"], "X-Auth-Token");
    let ops = operations(&doc);
    assert!(ops.len() > 40, "only {} operations", ops.len());
    let mut ids = BTreeSet::new();
    for (m, path, o) in &ops {
        assert!(!path.starts_with("/internal"), "the agents' private API is not public: {path}");
        assert!(ids.insert(o["operationId"].as_str().expect("operationId").to_string()), "{m} {path}: id");
        let responses = o["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|k| k.starts_with('2')), "{m} {path}: no success response");
        for (code, r) in responses {
            assert!(r["description"].is_string() || r["$ref"].is_string(), "{m} {path} {code}");
        }
        let declared: BTreeSet<&str> = o["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let templated: BTreeSet<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
        assert_eq!(declared, templated, "{m} {path}: path parameters");
        if let Some(b) = o.get("requestBody") {
            assert!(b["content"]["application/json"]["example"].is_object(), "{m} {path}: body example");
        }
    }
    let mut all = vec![];
    refs(&doc, &mut all);
    assert!(all.len() > 100);
    for r in all {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "unresolved $ref {r}");
    }
    // The generic error shapes are documented.
    let ne = &doc["components"]["schemas"]["NeutronError"]["properties"]["NeutronError"];
    assert_eq!(ne["required"], json!(["type", "message", "detail"]));
    let ke = &doc["components"]["schemas"]["KeystoneError"]["properties"]["error"];
    assert_eq!(ke["required"], json!(["code", "title", "message"]));
}

#[test]
fn attributes_follow_the_attribute_maps() {
    let doc = openapi::document();
    let s = &doc["components"]["schemas"];
    // Required on create, create-only, read-only, and admin-only, as in model::attrs.
    assert_eq!(s["PortCreateItem"]["required"], json!(["network_id"]));
    assert!(s["SubnetCreateItem"]["properties"]["cidr"].is_object());
    assert!(s["SubnetUpdate"]["properties"].get("cidr").is_none());
    assert!(s["NetworkCreateItem"]["properties"].get("status").is_none());
    assert!(s["Network"]["properties"]["status"].is_object());
    let admin = s["NetworkCreateItem"]["properties"]["provider:network_type"]["description"].as_str();
    assert!(admin.is_some_and(|d| d.contains("Only admins")));
    assert!(s["NetworkCreateItem"]["properties"]["name"]["description"].is_null());
    // Filters and sort keys of the list.
    let params = doc["paths"]["/v2.0/ports"]["get"]["parameters"].as_array().unwrap();
    let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
    for n in ["network_id", "fixed_ips", "binding:host_id", "tags-any", "changed_since", "page_reverse"] {
        assert!(names.contains(&n), "no {n} in {names:?}");
    }
    assert!(!names.contains(&"binding:profile"), "not a filter");
    let sort = params.iter().find(|p| p["name"] == "sort_key").unwrap();
    let keys = sort["schema"]["items"]["enum"].as_array().unwrap();
    assert!(keys.contains(&json!("mac_address")) && !keys.contains(&json!("fixed_ips")));
}

/// Whether a response is the router's own "no such route" answer rather than a handler's.
fn unrouted(r: &Resp) -> bool {
    let hidden = "The resource could not be found.";
    r.0 == StatusCode::METHOD_NOT_ALLOWED
        || (r.0 == StatusCode::NOT_FOUND
            && (r.1.is_null()
                || r.1["NeutronError"]["type"] == "HTTPNotFound"
                || r.1["error"]["message"] == hidden))
}

/// Fills the path parameters with real ids.
fn fill(path: &str, subs: &[(&str, String)]) -> String {
    subs.iter().fold(path.to_string(), |p, (k, v)| p.replace(&format!("{{{k}}}"), v))
}

fn example_body(o: &Value) -> Option<Vec<u8>> {
    o.get("requestBody").map(|b| b["content"]["application/json"]["example"].to_string().into_bytes())
}

/// Deletes run last, the most nested first, ports before subnets before networks and rules
/// before groups, so that the other operations find their resources and the deletes succeed.
fn ordered(mut ops: Vec<(String, String, Value)>) -> Vec<(String, String, Value)> {
    ops.sort_by_key(|(m, p, _)| {
        let delete = m == "delete";
        let depth = if delete { p.matches('/').count() } else { 0 };
        let rank = [
            "/v2.0/ports",
            "/v2.0/subnets",
            "/v2.0/networks",
            "/v2.0/security-group-rules",
            "/v2.0/security-groups",
        ]
        .iter()
        .position(|c| p.starts_with(c));
        (delete, std::cmp::Reverse(depth), rank.unwrap_or(5))
    });
    ops
}

fn check(failures: &mut Vec<String>, m: &str, path: &str, o: &Value, r: &Resp) {
    if unrouted(r) {
        failures.push(format!("{} {path}: not routed ({}, {})", m.to_uppercase(), r.0, r.1));
    } else if o["responses"].get(r.0.as_str()).is_none() {
        failures.push(format!("{} {path}: {} is not documented ({})", m.to_uppercase(), r.0, r.1));
    }
}

#[tokio::test]
async fn every_networking_operation_is_routed() {
    let app = App::new().await;
    let admin = app.admin();
    // The check tells an unrouted request from a routed one.
    assert!(unrouted(&admin.get("/v2.0/subnetpools").await));
    assert!(unrouted(&admin.send(Method::PATCH, "/v2.0/networks", None, &[]).await));
    assert!(!unrouted(&admin.get("/v2.0/networks").await));

    let net = admin.net("n1").await;
    let subnet = id(&admin.subnet(&net, "10.0.0.0/24", json!({})).await);
    let port = id(&admin.port(&net, json!({})).await);
    let (s, b) = admin.post("/v2.0/security-groups", json!({"security_group": {"name": "g"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let group = id(&b["security_group"]);
    let rule = json!({"security_group_rule": {"security_group_id": group, "direction": "ingress"}});
    let (s, b) = admin.post("/v2.0/security-group-rules", rule).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let rule = id(&b["security_group_rule"]);
    let (s, b) = admin.post("/v2.0/routers", json!({"router": {"name": "r"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let router = id(&b["router"]);
    for (coll, i) in [
        ("networks", &net),
        ("subnets", &subnet),
        ("ports", &port),
        ("security-groups", &group),
        ("routers", &router),
    ] {
        assert_eq!(
            admin.put(&format!("/v2.0/{coll}/{i}/tags/red"), json!(null)).await.0,
            StatusCode::CREATED
        );
    }
    let report =
        json!({"host": "h1", "agent_type": "Open vSwitch agent", "binary": "neutron-openvswitch-agent"});
    let (s, b) = app.agent().post("/internal/v1/agents/report", report).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let agent = id(&admin.get("/v2.0/agents").await.1["agents"][0]);
    let subs = [
        ("network_id", net),
        ("subnet_id", subnet),
        ("port_id", port),
        ("security_group_id", group),
        ("security_group_rule_id", rule),
        ("agent_id", agent),
        ("router_id", router),
        ("project_id", "p1".to_string()),
        ("tag", "red".to_string()),
        ("alias", "tag".to_string()),
    ];

    let doc = openapi::document();
    let mut failures = vec![];
    let mut count = 0;
    for (m, path, o) in ordered(operations(&doc)) {
        if path.starts_with("/identity/") {
            continue;
        }
        let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
        let r = admin.send(method, &fill(&path, &subs), example_body(&o), &[]).await;
        check(&mut failures, &m, &path, &o, &r);
        count += 1;
    }
    assert!(count > 40, "{count} operations");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An application in builtin identity mode with one admin user, on a temporary directory.
async fn builtin_app() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.auth.mode = AuthMode::Builtin;
    config.server.data_dir = dir.path().to_path_buf();
    config.auth.users = vec![UserConfig {
        name: "admin_1".into(),
        password: Some("secret".into()),
        project: "admin".into(),
        roles: vec!["admin".into()],
        ..Default::default()
    }];
    let app = neutrino_server::run::app_with_store(config, Store::memory()).await.unwrap();
    (app, dir)
}

async fn call(
    app: &Router,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_identity_operation_is_routed_and_the_document_needs_no_token() {
    let (app, _dir) = builtin_app().await;
    // The document is served without a token (and as the code builds it); the API is not.
    let r = call(&app, Method::GET, "/openapi.json", None, &[]).await;
    assert_eq!((r.0, &r.1), (StatusCode::OK, &openapi::document()));
    assert_eq!(call(&app, Method::GET, "/v2.0/networks", None, &[]).await.0, StatusCode::UNAUTHORIZED);

    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin_1", "password": "secret", "domain": {"name": "Default"}}}}}});
    let req = Request::post("/identity/v3/auth/tokens").body(Body::from(body.to_string())).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let token = resp.headers()["x-subject-token"].to_str().unwrap().to_string();
    let headers = [("x-auth-token", token.as_str()), ("x-subject-token", token.as_str())];
    // Undocumented methods and paths under /identity/v3 are told apart.
    assert!(unrouted(&call(&app, Method::GET, "/identity/v3/projects", None, &headers).await));

    let doc = openapi::document();
    let mut failures = vec![];
    for (m, path, o) in ordered(operations(&doc)) {
        if !path.starts_with("/identity/") {
            continue;
        }
        let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
        let r = call(&app, method, &path, example_body(&o), &headers).await;
        check(&mut failures, &m, &path, &o, &r);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
