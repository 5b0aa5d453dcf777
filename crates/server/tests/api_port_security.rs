//! Ports' `security_groups`, `port_security_enabled` and `allowed_address_pairs`: the default
//! group unless told otherwise, none for the service's own ports or without port security,
//! groups only of the port's project, the conflicts between the three attributes, the in-use
//! check of a group, the list filter, and who may turn port security off.

mod common;

use axum::http::StatusCode;
use common::{App, Caller, assert_error, id, ids};
use serde_json::{Value, json};

async fn group(c: &Caller, name: &str) -> String {
    let (s, b) = c.post("/v2.0/security-groups", json!({"security_group": {"name": name}})).await;
    assert_eq!(s, StatusCode::CREATED, "create group: {b}");
    id(&b["security_group"])
}

/// The id of the caller's `default` group (listing makes it).
async fn default_group(c: &Caller) -> String {
    let (s, b) = c.get("/v2.0/security-groups?name=default").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let found = ids(&b, "security_groups");
    assert_eq!(found.len(), 1, "one default group: {b}");
    found[0].clone()
}

async fn create_port(c: &Caller, body: Value) -> common::Resp {
    c.post("/v2.0/ports", json!({ "port": body })).await
}

async fn update_port(c: &Caller, port: &str, body: Value) -> common::Resp {
    c.put(&format!("/v2.0/ports/{port}"), json!({ "port": body })).await
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().into())
        .collect()
}

#[tokio::test]
async fn a_port_gets_its_projects_default_group_unless_told_otherwise() {
    let app = App::new().await;
    let a = app.as_("proj-a", "member");
    let net = a.net("n").await;
    let p = a.port(&net, json!({})).await;
    let default = default_group(&a).await;
    assert_eq!(strings(&p["security_groups"]), vec![default.clone()]);
    assert_eq!(p["port_security_enabled"], true);
    assert_eq!(p["allowed_address_pairs"], json!([]));
    // Shown and listed alike.
    let (_, shown) = a.get(&format!("/v2.0/ports/{}", id(&p))).await;
    assert_eq!(strings(&shown["port"]["security_groups"]), vec![default.clone()]);
    let (_, listed) = a.get("/v2.0/ports").await;
    assert_eq!(strings(&listed["ports"][0]["security_groups"]), vec![default.clone()]);
    // Told otherwise: a group of mine, or none.
    let web = group(&a, "web").await;
    let p = a.port(&net, json!({"security_groups": [web]})).await;
    assert_eq!(strings(&p["security_groups"]), vec![web.clone()]);
    let p = a.port(&net, json!({"security_groups": []})).await;
    assert_eq!(p["security_groups"], json!([]));
    let p = a.port(&net, json!({"security_groups": null})).await;
    assert_eq!(p["security_groups"], json!([]));
    // The service's own ports get none, even when asked.
    let admin = app.admin();
    let p = admin.port(&net, json!({"device_owner": "network:dhcp"})).await;
    assert_eq!(p["security_groups"], json!([]));
    let p =
        admin.port(&net, json!({"device_owner": "network:router_interface", "security_groups": [web]})).await;
    assert_eq!(p["security_groups"], json!([]));
    // An admin's port for a project gets that project's default group.
    let p = admin.port(&net, json!({"project_id": "proj-a"})).await;
    assert_eq!(strings(&p["security_groups"]), vec![default]);
}

#[tokio::test]
async fn without_port_security_a_port_has_no_groups_and_no_address_pairs() {
    let app = App::new().await;
    let a = app.as_("proj-a", "member");
    let open = id(&a.network(json!({"name": "open", "port_security_enabled": false})).await);
    let p = a.port(&open, json!({})).await;
    assert_eq!((p["port_security_enabled"].clone(), p["security_groups"].clone()), (json!(false), json!([])));
    // The network's value is only a default.
    let p = a.port(&open, json!({"port_security_enabled": true})).await;
    assert_eq!(strings(&p["security_groups"]).len(), 1);
    let web = group(&a, "web").await;
    let r = create_port(&a, json!({"network_id": open, "security_groups": [web]})).await;
    assert_error(&r, 400, "PortSecurityAndIPRequiredForSecurityGroups");
    let r =
        create_port(&a, json!({"network_id": open, "allowed_address_pairs": [{"ip_address": "10.0.0.9"}]}))
            .await;
    assert_error(&r, 409, "AddressPairAndPortSecurityRequired");
    // Nothing was made by the refused requests.
    let (_, listed) = a.get(&format!("/v2.0/ports?network_id={open}")).await;
    assert_eq!(ids(&listed, "ports").len(), 2);

    let net = a.net("n").await;
    let p = a
        .port(&net, json!({"security_groups": [web], "allowed_address_pairs": [{"ip_address": "10.0.0.9"}]}))
        .await;
    let port = id(&p);
    let r = update_port(&a, &port, json!({"port_security_enabled": false})).await;
    assert_error(&r, 409, "PortSecurityPortHasSecurityGroup");
    let r = update_port(&a, &port, json!({"port_security_enabled": false, "security_groups": []})).await;
    assert_error(&r, 409, "AddressPairAndPortSecurityRequired");
    // The refused updates changed nothing.
    let (_, shown) = a.get(&format!("/v2.0/ports/{port}")).await;
    assert_eq!(shown["port"]["revision_number"], p["revision_number"]);
    assert_eq!(strings(&shown["port"]["security_groups"]), vec![web.clone()]);
    let (s, b) = update_port(
        &a,
        &port,
        json!({"port_security_enabled": false, "security_groups": [], "allowed_address_pairs": []}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["port"]["port_security_enabled"], false);
    assert_eq!(b["port"]["revision_number"], p["revision_number"].as_i64().unwrap() + 1);
    let r = update_port(&a, &port, json!({"security_groups": [web]})).await;
    assert_error(&r, 400, "PortSecurityAndIPRequiredForSecurityGroups");
    let r = update_port(&a, &port, json!({"allowed_address_pairs": [{"ip_address": "10.0.0.9"}]})).await;
    assert_error(&r, 409, "AddressPairAndPortSecurityRequired");
    // Turning it back on in one request with the groups.
    let (s, b) =
        update_port(&a, &port, json!({"port_security_enabled": true, "security_groups": [web]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(strings(&b["port"]["security_groups"]), vec![web]);
}

#[tokio::test]
async fn groups_of_other_projects_are_not_found() {
    let app = App::new().await;
    let (a, b) = (app.as_("proj-a", "member"), app.as_("proj-b", "member"));
    let net = a.net("n").await;
    let theirs = group(&b, "theirs").await;
    let r = create_port(&a, json!({"network_id": net, "security_groups": [theirs]})).await;
    assert_error(&r, 404, "SecurityGroupNotFound");
    assert!(r.1["NeutronError"]["message"].as_str().unwrap().contains(&theirs));
    let unknown = "6b1d8e6e-0f55-4e3a-9d1b-2b0c7c0c1d2e";
    let r = create_port(&a, json!({"network_id": net, "security_groups": [unknown]})).await;
    assert_error(&r, 404, "SecurityGroupNotFound");
    let port = id(&a.port(&net, json!({})).await);
    let r = update_port(&a, &port, json!({"security_groups": [theirs]})).await;
    assert_error(&r, 404, "SecurityGroupNotFound");
    // Malformed lists are 400s.
    let r = update_port(&a, &port, json!({"security_groups": ["web"]})).await;
    assert_error(&r, 400, "HTTPBadRequest");
    let mine = group(&a, "mine").await;
    let r = update_port(&a, &port, json!({"security_groups": [mine, mine]})).await;
    assert_error(&r, 400, "HTTPBadRequest");
    // The admin may attach any project's group.
    let (s, body) = update_port(&app.admin(), &port, json!({"security_groups": [theirs, mine]})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let mut want = vec![theirs, mine];
    want.sort();
    assert_eq!(strings(&body["port"]["security_groups"]), want);
}

#[tokio::test]
async fn a_group_in_use_cannot_be_deleted() {
    let app = App::new().await;
    let a = app.as_("proj-a", "member");
    let net = a.net("n").await;
    let web = group(&a, "web").await;
    let port = id(&a.port(&net, json!({"security_groups": [web]})).await);
    let r = a.delete(&format!("/v2.0/security-groups/{web}")).await;
    assert_error(&r, 409, "SecurityGroupInUse");
    let (s, _) = a.get(&format!("/v2.0/security-groups/{web}")).await;
    assert_eq!(s, StatusCode::OK, "a refused delete leaves the group");
    let (s, _) = update_port(&a, &port, json!({"security_groups": []})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(a.delete(&format!("/v2.0/security-groups/{web}")).await.0, StatusCode::NO_CONTENT);
    // A deleted port frees its groups too.
    let other = group(&a, "other").await;
    let port = id(&a.port(&net, json!({"security_groups": [other]})).await);
    assert_eq!(a.delete(&format!("/v2.0/ports/{port}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(a.delete(&format!("/v2.0/security-groups/{other}")).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn ports_are_listed_by_security_group() {
    let app = App::new().await;
    let a = app.as_("proj-a", "member");
    let net = a.net("n").await;
    let (web, db) = (group(&a, "web").await, group(&a, "db").await);
    let w = id(&a.port(&net, json!({"security_groups": [web]})).await);
    let d = id(&a.port(&net, json!({"security_groups": [db]})).await);
    let both = id(&a.port(&net, json!({"security_groups": [web, db]})).await);
    a.port(&net, json!({})).await;
    let listed = |q: String| {
        let a = a.clone();
        async move {
            let (s, b) = a.get(&format!("/v2.0/ports?{q}")).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            let mut v = ids(&b, "ports");
            v.sort();
            v
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(listed(format!("security_groups={web}")).await, sorted(vec![w.clone(), both.clone()]));
    assert_eq!(listed(format!("security_groups={db}")).await, sorted(vec![d.clone(), both.clone()]));
    assert_eq!(listed(format!("security_groups={web}&security_groups={db}")).await, sorted(vec![w, d, both]));
}

#[tokio::test]
async fn allowed_address_pairs_take_the_ports_mac_unless_given() {
    let app = App::new().await;
    let a = app.as_("proj-a", "member");
    let net = a.net("n").await;
    let p = a
        .port(
            &net,
            json!({"allowed_address_pairs": [
                {"ip_address": "10.0.0.0/24"},
                {"ip_address": "10.0.1.7", "mac_address": "FA:16:3E:00:00:99"}
            ]}),
        )
        .await;
    let mac = p["mac_address"].as_str().unwrap();
    assert_eq!(
        p["allowed_address_pairs"],
        json!([
            {"ip_address": "10.0.0.0/24", "mac_address": mac},
            {"ip_address": "10.0.1.7", "mac_address": "fa:16:3e:00:00:99"}
        ])
    );
    let port = id(&p);
    let (s, b) = update_port(&a, &port, json!({"allowed_address_pairs": [{"ip_address": "fd00::5"}]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["port"]["allowed_address_pairs"], json!([{"ip_address": "fd00::5", "mac_address": mac}]));
    let (s, b) = update_port(&a, &port, json!({"allowed_address_pairs": null})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["port"]["allowed_address_pairs"], json!([]));
    for (pairs, kind) in [
        (json!([{"mac_address": "fa:16:3e:00:00:01"}]), "AllowedAddressPairsMissingIP"),
        (json!([{"ip_address": "10.0.0.5/24"}]), "HTTPBadRequest"),
        (json!([{"ip_address": "nope"}]), "HTTPBadRequest"),
        (json!([{"ip_address": "10.0.0.5", "mac_address": "ff:ff:ff:ff:ff:ff"}]), "HTTPBadRequest"),
        (json!([{"ip_address": "10.0.0.5", "extra": 1}]), "HTTPBadRequest"),
        (json!([{"ip_address": "10.0.0.5"}, {"ip_address": "10.0.0.5"}]), "DuplicateAddressPairInRequest"),
        (json!({"ip_address": "10.0.0.5"}), "HTTPBadRequest"),
    ] {
        let r = update_port(&a, &port, json!({ "allowed_address_pairs": pairs })).await;
        assert_error(&r, 400, kind);
    }
    let many: Vec<Value> = (0..11).map(|i| json!({"ip_address": format!("10.0.2.{i}")})).collect();
    let r = update_port(&a, &port, json!({ "allowed_address_pairs": many })).await;
    assert_error(&r, 400, "AllowedAddressPairExhausted");
}

#[tokio::test]
async fn only_the_networks_owner_turns_port_security_off_or_adds_address_pairs() {
    let app = App::new().await;
    let admin = app.admin();
    let shared = id(&admin.network(json!({"name": "shared", "shared": true})).await);
    let b = app.as_("proj-b", "member");
    let r = create_port(&b, json!({"network_id": shared, "port_security_enabled": false})).await;
    assert_error(&r, 403, "PolicyNotAuthorized");
    let r =
        create_port(&b, json!({"network_id": shared, "allowed_address_pairs": [{"ip_address": "10.0.0.9"}]}))
            .await;
    assert_error(&r, 403, "PolicyNotAuthorized");
    let p = b.port(&shared, json!({})).await;
    assert_eq!(strings(&p["security_groups"]), vec![default_group(&b).await]);
    let r = update_port(&b, &id(&p), json!({"port_security_enabled": false, "security_groups": []})).await;
    assert_error(&r, 403, "PolicyNotAuthorized");
    // On its own network a project may.
    let own = b.net("own").await;
    let p = b.port(&own, json!({"port_security_enabled": false, "security_groups": []})).await;
    assert_eq!(p["port_security_enabled"], false);
}
