//! Quotas (`quotas`, `quota_details`): every endpoint and its errors, upstream's policy (own
//! project readable, the rest admin only), defaults from `[quotas]`, `-1` unlimited, usage in
//! the details, `OverQuota` on each counted resource (bulk all or nothing), and exactness
//! under concurrent creates.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Caller, assert_error, assert_error_msg, id};
use neutrino_server::config::Config;
use neutrino_server::store::Store;
use serde_json::{Value, json};

const DEFAULTS: [(&str, i64); 7] = [
    ("network", 100),
    ("subnet", 100),
    ("port", 500),
    ("router", 10),
    ("floatingip", 50),
    ("security_group", 10),
    ("security_group_rule", 100),
];

fn defaults() -> Value {
    Value::Object(DEFAULTS.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

async fn set(admin: &Caller, project: &str, quota: Value) -> Value {
    let (s, b) = admin.put(&format!("/v2.0/quotas/{project}"), json!({ "quota": quota })).await;
    assert_eq!(s, StatusCode::OK, "set quota: {b}");
    b["quota"].clone()
}

fn over(r: &common::Resp, resource: &str) {
    assert_error_msg(r, 409, "OverQuota", &format!("Quota exceeded for resources: ['{resource}']."));
}

async fn count(c: &Caller, coll: &str, key: &str) -> usize {
    let (s, b) = c.get(&format!("/v2.0/{coll}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b[key].as_array().unwrap().len()
}

#[tokio::test]
async fn a_project_without_limits_of_its_own_has_the_defaults() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let (s, b) = p1.get("/v2.0/quotas/p1").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b, json!({"quota": defaults()}));
    let (s, b) = p1.get("/v2.0/quotas/p1/default").await;
    assert_eq!((s, b), (StatusCode::OK, json!({"quota": defaults()})));
    // A reader reads its own project's too; `.json` is accepted.
    let (s, b) = app.as_("p1", "reader").get("/v2.0/quotas/p1.json").await;
    assert_eq!((s, b), (StatusCode::OK, json!({"quota": defaults()})));
    // Nobody has limits of their own yet.
    assert_eq!(app.admin().get("/v2.0/quotas").await, (StatusCode::OK, json!({"quotas": []})));
}

#[tokio::test]
async fn put_sets_only_the_given_keys_list_shows_the_project_and_delete_resets() {
    let app = App::new().await;
    let admin = app.admin();
    let q = set(&admin, "p1", json!({"network": 5, "port": "7"})).await;
    let mut want = defaults();
    want["network"] = json!(5);
    want["port"] = json!(7);
    assert_eq!(q, want);
    let q = set(&admin, "p1", json!({"subnet": -1})).await;
    want["subnet"] = json!(-1);
    assert_eq!(q, want);
    assert_eq!(app.as_("p1", "member").get("/v2.0/quotas/p1").await.1["quota"], want);
    // The defaults do not move.
    assert_eq!(admin.get("/v2.0/quotas/p1/default").await.1["quota"], defaults());
    // A value equal to the default is still a limit of the project's own (upstream keeps a row).
    set(&admin, "p2", json!({"network": 100})).await;
    let (s, b) = admin.get("/v2.0/quotas").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut p1 = want.clone();
    p1["project_id"] = json!("p1");
    p1["tenant_id"] = json!("p1");
    let mut p2 = defaults();
    p2["project_id"] = json!("p2");
    p2["tenant_id"] = json!("p2");
    assert_eq!(b, json!({"quotas": [p1, p2]}));
    // `{"quota": {}}` changes nothing.
    assert_eq!(set(&admin, "p1", json!({})).await, want);

    let (s, b) = admin.delete("/v2.0/quotas/p1").await;
    assert_eq!((s, b), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(admin.get("/v2.0/quotas/p1").await.1["quota"], defaults());
    assert_eq!(admin.get("/v2.0/quotas").await.1["quotas"].as_array().unwrap().len(), 1);
    // Nothing left to delete: upstream's driver answers TenantQuotaNotFound.
    assert_error_msg(
        &admin.delete("/v2.0/quotas/p1").await,
        404,
        "TenantQuotaNotFound",
        "Quota for tenant p1 could not be found.",
    );
}

#[tokio::test]
async fn policy_own_project_readable_the_rest_admin_only() {
    let app = App::new().await;
    let admin = app.admin();
    set(&admin, "p2", json!({"network": 3})).await;
    let p1 = app.as_("p1", "member");
    for path in ["/v2.0/quotas/p2", "/v2.0/quotas/p2/default", "/v2.0/quotas/p2/details"] {
        assert_error_msg(
            &p1.get(path).await,
            403,
            "PolicyNotAuthorized",
            "rule:get_quota is disallowed by policy",
        );
    }
    assert_error_msg(
        &p1.get("/v2.0/quotas").await,
        403,
        "PolicyNotAuthorized",
        "rule:get_quota is disallowed by policy",
    );
    // Not even one's own project may be changed by a member.
    for project in ["p1", "p2"] {
        let r = p1.put(&format!("/v2.0/quotas/{project}"), json!({"quota": {"network": 50}})).await;
        assert_error_msg(&r, 403, "PolicyNotAuthorized", "rule:update_quota is disallowed by policy");
        let r = p1.delete(&format!("/v2.0/quotas/{project}")).await;
        assert_error_msg(&r, 403, "PolicyNotAuthorized", "rule:delete_quota is disallowed by policy");
    }
    // Policy before the body.
    assert_error(
        &p1.put("/v2.0/quotas/p1", json!({"quota": {"bogus": "x"}})).await,
        403,
        "PolicyNotAuthorized",
    );
    // Nothing changed; an admin of any project may read and write any.
    assert_eq!(admin.get("/v2.0/quotas/p2").await.1["quota"]["network"], 3);
    let other_admin = app.as_("p9", "admin");
    assert_eq!(other_admin.get("/v2.0/quotas/p2/details").await.1["quota"]["network"]["limit"], 3);
    assert_eq!(other_admin.put("/v2.0/quotas/p2", json!({"quota": {"port": 1}})).await.0, StatusCode::OK);
    // A caller without a known role reads nothing.
    assert_error(&app.as_("p1", "nobody").get("/v2.0/quotas/p1").await, 403, "PolicyNotAuthorized");
}

#[tokio::test]
async fn invalid_bodies_are_400_with_upstream_s_words() {
    let app = App::new().await;
    let admin = app.admin();
    let put = |b: Value| {
        let admin = admin.clone();
        async move { admin.put("/v2.0/quotas/p1", b).await }
    };
    assert_error_msg(
        &put(json!({"quota": {"network": "abc"}})).await,
        400,
        "InvalidInput",
        "Invalid input for operation: 'abc' is not an integer.",
    );
    assert_error_msg(
        &put(json!({"quota": {"port": null}})).await,
        400,
        "InvalidInput",
        "Invalid input for operation: 'None' is not an integer.",
    );
    assert_error_msg(
        &put(json!({"quota": {"network": -2}})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for network. Reason: '-2' is too small - must be at least '-1'.",
    );
    assert_error_msg(
        &put(json!({"quota": {"subnet": 2147483648_i64}})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for subnet. Reason: '2147483648' is too large - must be no larger than '2147483647'.",
    );
    assert_error_msg(
        &put(json!({"quota": {"rbac_policy": 1, "network": 1}})).await,
        400,
        "HTTPBadRequest",
        "Unrecognized attribute(s) 'rbac_policy'",
    );
    assert_error(&put(json!({"quotas": {"network": 1}})).await, 400, "HTTPBadRequest");
    assert_error(&put(json!({"quota": 5})).await, 400, "HTTPBadRequest");
    assert_error(
        &admin.send(Method::PUT, "/v2.0/quotas/p1", Some(b"{".to_vec()), &[]).await,
        400,
        "MalformedRequestBody",
    );
    // All or nothing: a bad value leaves the good ones unset.
    assert_error(&put(json!({"quota": {"network": 1, "port": "x"}})).await, 400, "InvalidInput");
    assert_eq!(admin.get("/v2.0/quotas/p1").await.1["quota"], defaults());
    // `force` and `check_limit` are accepted (upstream's flags), not limits.
    assert_eq!(put(json!({"quota": {"network": 1, "force": true}})).await.0, StatusCode::OK);
    // POST is not how quotas are set: 405, as upstream's pecan controller answered (its
    // legacy controller's 501 would be a server error).
    let r = admin.post("/v2.0/quotas", json!({"quota": {"network": 1}})).await;
    assert_error(&r, 405, "HTTPMethodNotAllowed");
    assert_error(
        &admin.post("/v2.0/quotas/p1", json!({"quota": {"network": 1}})).await,
        405,
        "HTTPMethodNotAllowed",
    );
}

#[tokio::test]
async fn check_limit_refuses_a_limit_below_the_usage() {
    let app = App::new().await;
    let (admin, p1) = (app.admin(), app.as_("p1", "member"));
    p1.net("a").await;
    p1.net("b").await;
    let r = admin.put("/v2.0/quotas/p1", json!({"quota": {"network": 1, "check_limit": true}})).await;
    assert_error_msg(
        &r,
        400,
        "HTTPBadRequest",
        "Quota limit 1 for network must be greater than or equal to already used 2",
    );
    assert_eq!(set(&admin, "p1", json!({"network": 2, "check_limit": true})).await["network"], 2);
    assert_eq!(set(&admin, "p1", json!({"network": -1, "check_limit": true})).await["network"], -1);
    // Without it a limit below the usage is set, and refuses the next create.
    assert_eq!(set(&admin, "p1", json!({"network": 1})).await["network"], 1);
    over(&p1.post("/v2.0/networks", json!({"network": {}})).await, "network");
}

#[tokio::test]
async fn project_and_tenant_answer_the_caller_s_project() {
    let app = App::new().await;
    let p1 = app.as_("p1", "reader");
    assert_eq!(
        p1.get("/v2.0/quotas/project").await,
        (StatusCode::OK, json!({"project": {"project_id": "p1"}}))
    );
    assert_eq!(p1.get("/v2.0/quotas/tenant").await, (StatusCode::OK, json!({"tenant": {"tenant_id": "p1"}})));
}

#[tokio::test]
async fn details_count_what_each_project_uses() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let net = p1.net("n").await;
    p1.subnet(&net, "10.0.0.0/24", json!({})).await;
    p1.port(&net, json!({})).await;
    p1.port(&net, json!({})).await;
    let (s, b) = p1.post("/v2.0/security-groups", json!({"security_group": {"name": "web"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // p2's resources are not p1's.
    app.as_("p2", "member").net("other").await;
    app.admin().put("/v2.0/quotas/p1", json!({"quota": {"port": 20}})).await;
    let (s, b) = p1.get("/v2.0/quotas/p1/details").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let u = |l: i64, n: i64| json!({"limit": l, "used": n, "reserved": 0});
    // The default group (made with the first group) and its four rules count; the new group
    // has two egress rules.
    assert_eq!(
        b,
        json!({"quota": {
            "network": u(100, 1), "subnet": u(100, 1), "port": u(20, 2), "router": u(10, 0),
            "floatingip": u(50, 0),
            "security_group": u(10, 2), "security_group_rule": u(100, 6),
        }})
    );
}

#[tokio::test]
async fn defaults_come_from_the_configuration() {
    let config = Config::parse("[quotas]\nnetwork = 1\nport = -1").unwrap();
    let app = App::with_config(config, Store::memory(), None).await;
    let p1 = app.as_("p1", "member");
    let q = p1.get("/v2.0/quotas/p1/default").await.1["quota"].clone();
    assert_eq!(
        (q["network"].clone(), q["port"].clone(), q["subnet"].clone()),
        (json!(1), json!(-1), json!(100))
    );
    let net = p1.net("only").await;
    over(&p1.post("/v2.0/networks", json!({"network": {}})).await, "network");
    // Unlimited ports.
    let ports: Vec<Value> = (0..3).map(|_| json!({"network_id": net})).collect();
    assert_eq!(p1.post("/v2.0/ports", json!({"ports": ports})).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn a_bad_quotas_section_stops_the_server() {
    for text in ["[quotas]\nrouterz = 1", "[quotas]\nport = -5"] {
        let mut config = Config::parse(text).unwrap();
        config.auth.mode = neutrino_server::auth::AuthMode::Noauth;
        // Not the default data_dir's agent.token (the machine's /var/lib/neutrino).
        config.agents.token = Some("quotas-agent".into());
        let r = neutrino_server::run::app_with_store(config, Store::memory()).await;
        assert!(r.is_err(), "{text}");
    }
}

#[tokio::test]
async fn each_resource_refuses_creates_past_its_limit() {
    let app = App::new().await;
    let (admin, p1) = (app.admin(), app.as_("p1", "member"));
    let net = p1.net("n").await;
    let subnet = id(&p1.subnet(&net, "10.0.0.0/24", json!({})).await);
    p1.port(&net, json!({})).await;
    let (_, b) = p1.get("/v2.0/security-groups").await;
    let default = id(&b["security_groups"][0]);
    // Exactly what is used now: one more of anything is over.
    set(
        &admin,
        "p1",
        json!({"network": 1, "subnet": 1, "port": 1, "security_group": 1, "security_group_rule": 4}),
    )
    .await;
    over(&p1.post("/v2.0/networks", json!({"network": {"name": "x"}})).await, "network");
    over(
        &p1.post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.1.0.0/24"}}),
        )
        .await,
        "subnet",
    );
    over(&p1.post("/v2.0/ports", json!({"port": {"network_id": net}})).await, "port");
    over(&p1.post("/v2.0/security-groups", json!({"security_group": {"name": "x"}})).await, "security_group");
    let rule = json!({"security_group_rule": {"security_group_id": default, "direction": "ingress", "protocol": "tcp"}});
    over(&p1.post("/v2.0/security-group-rules", rule.clone()).await, "security_group_rule");
    // A new group's two egress rules count against security_group_rule.
    set(&admin, "p1", json!({"security_group": 2, "security_group_rule": 5})).await;
    over(
        &p1.post("/v2.0/security-groups", json!({"security_group": {"name": "x"}})).await,
        "security_group_rule",
    );
    assert_eq!(count(&p1, "security-groups", "security_groups").await, 1);
    // Nothing was made; -1 lifts every limit.
    let all =
        json!({"network": -1, "subnet": -1, "port": -1, "security_group": -1, "security_group_rule": -1});
    set(&admin, "p1", all).await;
    assert_eq!(p1.post("/v2.0/networks", json!({"network": {}})).await.0, StatusCode::CREATED);
    let s = json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.1.0.0/24"}});
    assert_eq!(p1.post("/v2.0/subnets", s).await.0, StatusCode::CREATED);
    assert_eq!(p1.post("/v2.0/ports", json!({"port": {"network_id": net}})).await.0, StatusCode::CREATED);
    assert_eq!(p1.post("/v2.0/security-groups", json!({"security_group": {}})).await.0, StatusCode::CREATED);
    assert_eq!(p1.post("/v2.0/security-group-rules", rule).await.0, StatusCode::CREATED);
    // Another project is not limited by p1's quota, and a limit of 0 refuses the first.
    app.as_("p2", "member").net("free").await;
    set(&admin, "p3", json!({"network": 0})).await;
    over(&app.as_("p3", "member").post("/v2.0/networks", json!({"network": {}})).await, "network");
    let _ = subnet;
}

#[tokio::test]
async fn the_default_group_is_made_whatever_the_quota() {
    let app = App::new().await;
    let admin = app.admin();
    set(&admin, "p1", json!({"security_group": 0, "security_group_rule": 0})).await;
    let p1 = app.as_("p1", "member");
    assert_eq!(count(&p1, "security-groups", "security_groups").await, 1);
    assert_eq!(count(&p1, "security-group-rules", "security_group_rules").await, 4);
    over(&p1.post("/v2.0/security-groups", json!({"security_group": {"name": "x"}})).await, "security_group");
}

#[tokio::test]
async fn a_bulk_create_over_quota_creates_nothing() {
    let app = App::new().await;
    let (admin, p1) = (app.admin(), app.as_("p1", "member"));
    let net = p1.net("n").await;
    set(
        &admin,
        "p1",
        json!({"network": 3, "port": 3, "subnet": 2, "security_group": 3, "security_group_rule": 9}),
    )
    .await;
    let nets: Vec<Value> = (0..3).map(|i| json!({"name": format!("b{i}")})).collect();
    over(&p1.post("/v2.0/networks", json!({"networks": nets})).await, "network");
    assert_eq!(count(&p1, "networks", "networks").await, 1);
    let ports: Vec<Value> = (0..4).map(|_| json!({"network_id": net})).collect();
    over(&p1.post("/v2.0/ports", json!({"ports": ports})).await, "port");
    assert_eq!(count(&p1, "ports", "ports").await, 0);
    let subnets: Vec<Value> = (0..3)
        .map(|i| json!({"network_id": net, "ip_version": 4, "cidr": format!("10.{i}.0.0/24")}))
        .collect();
    over(&p1.post("/v2.0/subnets", json!({"subnets": subnets})).await, "subnet");
    assert_eq!(count(&p1, "subnets", "subnets").await, 0);
    // Three groups with the default: 4; rules 4 + 3 * 2 = 10 > 9 would be next, but groups
    // come first.
    let groups: Vec<Value> = (0..3).map(|i| json!({"name": format!("g{i}")})).collect();
    over(&p1.post("/v2.0/security-groups", json!({"security_groups": groups})).await, "security_group");
    assert_eq!(count(&p1, "security-groups", "security_groups").await, 1);
    let (_, b) = p1.get("/v2.0/security-groups").await;
    let g = id(&b["security_groups"][0]);
    let rules: Vec<Value> = (0..6)
        .map(|i| json!({"security_group_id": g, "direction": "ingress", "protocol": "tcp", "port_range_min": 10 + i, "port_range_max": 10 + i}))
        .collect();
    over(
        &p1.post("/v2.0/security-group-rules", json!({"security_group_rules": rules})).await,
        "security_group_rule",
    );
    assert_eq!(count(&p1, "security-group-rules", "security_group_rules").await, 4);
    // Exactly up to the limit is fine.
    let ports: Vec<Value> = (0..3).map(|_| json!({"network_id": net})).collect();
    assert_eq!(p1.post("/v2.0/ports", json!({"ports": ports})).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn an_admin_s_bulk_counts_each_item_against_its_own_project() {
    let app = App::new().await;
    let admin = app.admin();
    set(&admin, "p1", json!({"network": 1})).await;
    let two = json!({"networks": [{"project_id": "p1"}, {"project_id": "p2"}]});
    assert_eq!(admin.post("/v2.0/networks", two.clone()).await.0, StatusCode::CREATED);
    over(&admin.post("/v2.0/networks", two).await, "network");
    assert_eq!(admin.get("/v2.0/quotas/p2/details").await.1["quota"]["network"]["used"], 1);
}

/// Many creates at once against a small limit: exactly the limit succeed, every other one is
/// `OverQuota`, and the count afterwards is the limit.
async fn concurrent_creates(app: App) {
    const LIMIT: usize = 10;
    const TRIES: usize = 40;
    let (admin, p1) = (app.admin(), app.as_("p1", "member"));
    let net = p1.net("n").await;
    p1.subnet(&net, "10.0.0.0/24", json!({})).await;
    set(&admin, "p1", json!({"port": LIMIT, "network": LIMIT})).await;
    let mut tasks = vec![];
    for i in 0..TRIES {
        let (p1, net) = (p1.clone(), net.clone());
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                ("port", p1.post("/v2.0/ports", json!({"port": {"network_id": net}})).await)
            } else {
                ("network", p1.post("/v2.0/networks", json!({"network": {"name": format!("c{i}")}})).await)
            }
        }));
    }
    let (mut made_ports, mut made_nets) = (0, 0);
    for t in tasks {
        let (what, r) = t.await.expect("task");
        if r.0 == StatusCode::CREATED {
            if what == "port" { made_ports += 1 } else { made_nets += 1 }
        } else {
            over(&r, what);
        }
    }
    // The network made first counts against the same limit.
    assert_eq!((made_ports, made_nets), (LIMIT, LIMIT - 1));
    assert_eq!(count(&p1, "ports", "ports").await, LIMIT);
    assert_eq!(count(&p1, "networks", "networks").await, LIMIT);
    let d = p1.get("/v2.0/quotas/p1/details").await.1;
    assert_eq!(d["quota"]["port"], json!({"limit": LIMIT, "used": LIMIT, "reserved": 0}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_pass_the_limit_in_memory() {
    concurrent_creates(App::new().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_pass_the_limit_on_a_file() {
    concurrent_creates(App::sqlite().await).await;
}

#[tokio::test]
async fn the_extensions_are_advertised() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    for alias in ["quotas", "quota_details"] {
        let (s, b) = p1.get(&format!("/v2.0/extensions/{alias}")).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["extension"]["alias"], alias);
    }
}
