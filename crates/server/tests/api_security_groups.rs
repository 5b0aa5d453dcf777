//! Security groups and rules: CRUD, the default group and its rules, the egress rules of a new
//! group, the rule validations with upstream's error types, duplicates, and project isolation.

mod common;

use axum::http::StatusCode;
use common::{App, Caller, assert_error, assert_error_msg, id, ids};
use serde_json::{Value, json};

async fn group(c: &Caller, name: &str) -> Value {
    let (s, b) = c.post("/v2.0/security-groups", json!({"security_group": {"name": name}})).await;
    assert_eq!(s, StatusCode::CREATED, "create group: {b}");
    b["security_group"].clone()
}

async fn add_rule(c: &Caller, body: Value) -> common::Resp {
    c.post("/v2.0/security-group-rules", json!({ "security_group_rule": body })).await
}

/// `(direction, ethertype, remote_group_id, remote_ip_prefix)` of a group's rules, sorted.
fn shape(g: &Value) -> Vec<(String, String, Value, Value)> {
    let mut v: Vec<_> = g["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["direction"].as_str().unwrap().to_string(),
                r["ethertype"].as_str().unwrap().to_string(),
                r["remote_group_id"].clone(),
                r["remote_ip_prefix"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    v
}

#[tokio::test]
async fn the_default_group_is_made_on_first_list_with_its_four_rules() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let (s, b) = p1.get("/v2.0/security-groups").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let groups = b["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{b}");
    let d = &groups[0];
    assert_eq!(d["name"], "default");
    assert_eq!(d["description"], "Default security group");
    assert_eq!(d["project_id"], "p1");
    assert_eq!(d["tenant_id"], "p1");
    assert_eq!(d["stateful"], true);
    assert_eq!(d["tags"], json!([]));
    assert_eq!(d["revision_number"], 1);
    let me = d["id"].clone();
    assert_eq!(
        shape(d),
        vec![
            ("egress".into(), "IPv4".into(), Value::Null, Value::Null),
            ("egress".into(), "IPv6".into(), Value::Null, Value::Null),
            ("ingress".into(), "IPv4".into(), me.clone(), Value::Null),
            ("ingress".into(), "IPv6".into(), me.clone(), Value::Null),
        ]
    );
    // Listing again makes no second default; the rules are listed too.
    let (_, b) = p1.get("/v2.0/security-groups").await;
    assert_eq!(b["security_groups"].as_array().unwrap().len(), 1);
    let (_, b) = p1.get("/v2.0/security-group-rules").await;
    assert_eq!(b["security_group_rules"].as_array().unwrap().len(), 4);
    // Another project has its own.
    let (_, b) = app.as_("p2", "member").get("/v2.0/security-groups").await;
    assert_eq!(b["security_groups"].as_array().unwrap().len(), 1);
    assert_ne!(b["security_groups"][0]["id"], me);
}

#[tokio::test]
async fn the_default_group_cannot_be_deleted_or_renamed_by_its_project() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let (_, b) = p1.get("/v2.0/security-groups?name=default").await;
    let d = id(&b["security_groups"][0]);
    let r = p1.delete(&format!("/v2.0/security-groups/{d}")).await;
    assert_error(&r, 409, "SecurityGroupCannotRemoveDefault");
    let r = p1.put(&format!("/v2.0/security-groups/{d}"), json!({"security_group": {"name": "x"}})).await;
    assert_error(&r, 409, "SecurityGroupCannotUpdateDefault");
    let (s, b) = p1
        .put(&format!("/v2.0/security-groups/{d}"), json!({"security_group": {"description": "mine"}}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let r = p1.post("/v2.0/security-groups", json!({"security_group": {"name": "default"}})).await;
    assert_error(&r, 409, "SecurityGroupDefaultAlreadyExists");
    // An admin may delete it; the next use makes a new one.
    assert_eq!(app.admin().delete(&format!("/v2.0/security-groups/{d}")).await.0, StatusCode::NO_CONTENT);
    let (_, b) = p1.get("/v2.0/security-groups").await;
    assert_eq!(b["security_groups"].as_array().unwrap().len(), 1);
    assert_ne!(b["security_groups"][0]["id"], json!(d));
}

#[tokio::test]
async fn groups_crud_with_two_egress_rules() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let g = group(&p1, "web").await;
    assert_eq!(g["name"], "web");
    assert_eq!(g["stateful"], true);
    assert_eq!(
        shape(&g),
        vec![
            ("egress".into(), "IPv4".into(), Value::Null, Value::Null),
            ("egress".into(), "IPv6".into(), Value::Null, Value::Null),
        ]
    );
    let gid = id(&g);
    // Creating a group made the project's default too.
    let (_, b) = p1.get("/v2.0/security-groups?fields=name&fields=id").await;
    let mut names: Vec<&str> =
        b["security_groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["default", "web"]);
    assert!(b["security_groups"][0].get("security_group_rules").is_none());
    let (s, b) = p1.get(&format!("/v2.0/security-groups/{gid}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["security_group"], g);
    let (s, b) = p1
        .put(
            &format!("/v2.0/security-groups/{gid}"),
            json!({"security_group": {"name": "web2", "description": "d", "stateful": false}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["security_group"]["name"], "web2");
    assert_eq!(b["security_group"]["stateful"], false);
    assert_eq!(b["security_group"]["revision_number"], 2);
    let (_, b) = p1.get("/v2.0/security-groups?stateful=false").await;
    assert_eq!(ids(&b, "security_groups"), vec![gid.clone()]);
    // Bulk.
    let (s, b) =
        p1.post("/v2.0/security-groups", json!({"security_groups": [{"name": "a"}, {"name": "b"}]})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["security_groups"].as_array().unwrap().len(), 2);
    // Tags.
    let r = p1.put(&format!("/v2.0/security-groups/{gid}/tags/red"), json!(null)).await;
    assert_eq!(r.0, StatusCode::CREATED, "{}", r.1);
    let (_, b) = p1.get("/v2.0/security-groups?tags=red").await;
    assert_eq!(ids(&b, "security_groups"), vec![gid.clone()]);
    // Delete takes the rules along.
    let rule_ids: Vec<String> = g["security_group_rules"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(p1.delete(&format!("/v2.0/security-groups/{gid}")).await.0, StatusCode::NO_CONTENT);
    assert_error(&p1.get(&format!("/v2.0/security-groups/{gid}")).await, 404, "SecurityGroupNotFound");
    for r in rule_ids {
        assert_error(
            &p1.get(&format!("/v2.0/security-group-rules/{r}")).await,
            404,
            "SecurityGroupRuleNotFound",
        );
    }
}

#[tokio::test]
async fn rules_crud_normalised_and_not_updatable() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let g = group(&p1, "web").await;
    let gid = id(&g);
    let (s, b) = add_rule(
        &p1,
        json!({"security_group_id": gid, "direction": "ingress", "protocol": "TCP",
            "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.1.2.3/8", "description": "ssh"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let r = &b["security_group_rule"];
    assert_eq!(r["protocol"], "tcp");
    assert_eq!(r["ethertype"], "IPv4");
    assert_eq!(r["remote_ip_prefix"], "10.1.2.3/8");
    assert_eq!(r["normalized_cidr"], "10.0.0.0/8");
    assert_eq!(r["project_id"], "p1");
    assert_eq!(r["description"], "ssh");
    assert_eq!(r["revision_number"], 1);
    let rid = id(r);
    let (_, b) = p1.get(&format!("/v2.0/security-groups/{gid}")).await;
    assert_eq!(b["security_group"]["security_group_rules"].as_array().unwrap().len(), 3);
    assert_eq!(b["security_group"]["revision_number"], 2);
    let (s, b) = p1.get(&format!("/v2.0/security-group-rules/{rid}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["security_group_rule"]["id"], json!(rid));
    let (_, b) = p1.get(&format!("/v2.0/security-group-rules?security_group_id={gid}&protocol=tcp")).await;
    assert_eq!(ids(&b, "security_group_rules"), vec![rid.clone()]);
    // Protocol numbers and IPv6 ICMP spellings.
    let (s, b) =
        add_rule(&p1, json!({"security_group_id": gid, "direction": "ingress", "protocol": 17})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["security_group_rule"]["protocol"], "17");
    let (s, b) = add_rule(
        &p1,
        json!({"security_group_id": gid, "direction": "ingress", "ethertype": "IPv6", "protocol": "icmp",
            "port_range_min": 128, "port_range_max": 0}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["security_group_rule"]["protocol"], "ipv6-icmp");
    let (s, b) = add_rule(&p1, json!({"security_group_id": gid, "direction": "egress", "protocol": "any", "remote_ip_prefix": "192.168.0.1"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["security_group_rule"]["protocol"], Value::Null);
    assert_eq!(b["security_group_rule"]["remote_ip_prefix"], "192.168.0.1/32");
    // Rules have no tags.
    assert_error(&p1.get("/v2.0/security-group-rules?tags=a").await, 400, "HTTPBadRequest");
    assert_error(&p1.get(&format!("/v2.0/security-group-rules/{rid}/tags")).await, 404, "HTTPNotFound");
    // No updates.
    let r = p1
        .put(
            &format!("/v2.0/security-group-rules/{rid}"),
            json!({"security_group_rule": {"description": "x"}}),
        )
        .await;
    assert_error(&r, 405, "HTTPMethodNotAllowed");
    assert_eq!(p1.delete(&format!("/v2.0/security-group-rules/{rid}")).await.0, StatusCode::NO_CONTENT);
    assert_error(
        &p1.get(&format!("/v2.0/security-group-rules/{rid}")).await,
        404,
        "SecurityGroupRuleNotFound",
    );
    assert_error(
        &p1.delete(&format!("/v2.0/security-group-rules/{rid}")).await,
        404,
        "SecurityGroupRuleNotFound",
    );
}

#[tokio::test]
async fn invalid_rules_get_upstreams_errors() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let gid = id(&group(&p1, "web").await);
    let other = id(&group(&p1, "other").await);
    let with = |extra: Value| {
        let mut b = json!({"security_group_id": gid, "direction": "ingress"});
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let cases = [
        (
            json!({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80}),
            400,
            "SecurityGroupInvalidPortRange",
        ),
        (
            json!({"protocol": "gre", "port_range_min": 1, "port_range_max": 2}),
            400,
            "SecurityGroupInvalidProtocolForPort",
        ),
        (json!({"port_range_min": 1, "port_range_max": 2}), 400, "SecurityGroupProtocolRequiredWithPorts"),
        (json!({"protocol": "icmp", "port_range_min": 300}), 400, "SecurityGroupInvalidIcmpValue"),
        (
            json!({"protocol": "icmp", "port_range_min": 8, "port_range_max": 256}),
            400,
            "SecurityGroupInvalidIcmpValue",
        ),
        (json!({"protocol": "icmp", "port_range_max": 0}), 400, "SecurityGroupMissingIcmpType"),
        (json!({"protocol": "tcp", "port_range_min": 70000}), 400, "SecurityGroupInvalidPortValue"),
        (
            json!({"ethertype": "IPv4", "remote_ip_prefix": "fd00::/64"}),
            400,
            "SecurityGroupRuleParameterConflict",
        ),
        (
            json!({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}),
            400,
            "SecurityGroupRuleParameterConflict",
        ),
        (
            json!({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": other}),
            400,
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        ),
        (json!({"remote_group_id": "1f0e3bc9-0000-4000-8000-000000000000"}), 404, "SecurityGroupNotFound"),
        (json!({"remote_group_id": "bad_group_id"}), 404, "SecurityGroupNotFound"),
        (json!({"protocol": "bogus"}), 400, "SecurityGroupRuleInvalidProtocol"),
        (json!({"protocol": 256}), 400, "SecurityGroupRuleInvalidProtocol"),
        (json!({"ethertype": "IPv5"}), 400, "SecurityGroupRuleInvalidEtherType"),
        (json!({"protocol": "ipv6-icmp"}), 400, "SecurityGroupEthertypeConflictWithProtocol"),
        (json!({"remote_ip_prefix": "10.0.0.300/8"}), 400, "InvalidCIDR"),
        (json!({"direction": "sideways"}), 400, "HTTPBadRequest"),
    ];
    for (extra, status, kind) in cases {
        let r = add_rule(&p1, with(extra.clone())).await;
        assert_eq!(r.0.as_u16(), status, "{extra}: {}", r.1);
        assert_error(&r, status, kind);
    }
    let r = add_rule(
        &p1,
        json!({"security_group_id": "1f0e3bc9-0000-4000-8000-000000000000", "direction": "ingress"}),
    )
    .await;
    assert_error(&r, 404, "SecurityGroupNotFound");
    let r = add_rule(&p1, json!({"direction": "ingress"})).await;
    assert_error(&r, 400, "HTTPBadRequest");
    // Nothing was added.
    let (_, b) = p1.get(&format!("/v2.0/security-groups/{gid}")).await;
    assert_eq!(b["security_group"]["security_group_rules"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_duplicate_rule_names_the_existing_one() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let g = group(&p1, "web").await;
    let gid = id(&g);
    let body = json!({"security_group_id": gid, "direction": "ingress", "protocol": "tcp",
        "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "10.0.0.0/24"});
    let (s, b) = add_rule(&p1, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let rid = id(&b["security_group_rule"]);
    let msg = format!("Security group rule already exists. Rule id is {rid}.");
    assert_error_msg(&add_rule(&p1, body.clone()).await, 409, "SecurityGroupRuleExists", &msg);
    // The same rule spelled otherwise: protocol number, host bits in the prefix.
    let mut other = body.clone();
    other["protocol"] = json!("6");
    other["remote_ip_prefix"] = json!("10.0.0.7/24");
    assert_error_msg(&add_rule(&p1, other).await, 409, "SecurityGroupRuleExists", &msg);
    // The egress rule the group was made with: any address is no address.
    let egress =
        g["security_group_rules"].as_array().unwrap().iter().find(|r| r["ethertype"] == "IPv4").unwrap();
    let r = add_rule(
        &p1,
        json!({"security_group_id": gid, "direction": "egress", "remote_ip_prefix": "0.0.0.0/0"}),
    )
    .await;
    assert_error_msg(
        &r,
        409,
        "SecurityGroupRuleExists",
        &format!("Security group rule already exists. Rule id is {}.", id(egress)),
    );
    // Twice in one bulk request.
    let one = json!({"security_group_id": gid, "direction": "ingress", "protocol": "udp"});
    let r = p1.post("/v2.0/security-group-rules", json!({"security_group_rules": [one.clone(), one]})).await;
    assert_error(&r, 409, "DuplicateSecurityGroupRuleInPost");
}

#[tokio::test]
async fn another_projects_group_is_not_found() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let p2 = app.as_("p2", "member");
    let mine = id(&group(&p1, "mine").await);
    let theirs = group(&p2, "theirs").await;
    let tid = id(&theirs);
    let msg = format!("Security group {tid} does not exist");
    assert_error_msg(
        &p1.get(&format!("/v2.0/security-groups/{tid}")).await,
        404,
        "SecurityGroupNotFound",
        &msg,
    );
    let r = add_rule(&p1, json!({"security_group_id": mine, "direction": "ingress", "remote_group_id": tid}))
        .await;
    assert_error_msg(&r, 404, "SecurityGroupNotFound", &msg);
    let r = add_rule(&p1, json!({"security_group_id": tid, "direction": "ingress"})).await;
    assert_error(&r, 404, "SecurityGroupNotFound");
    let r = p1.put(&format!("/v2.0/security-groups/{tid}"), json!({"security_group": {"name": "x"}})).await;
    assert_error(&r, 404, "SecurityGroupNotFound");
    assert_error(&p1.delete(&format!("/v2.0/security-groups/{tid}")).await, 404, "SecurityGroupNotFound");
    let their_rule = id(&theirs["security_group_rules"][0]);
    assert_error(
        &p1.get(&format!("/v2.0/security-group-rules/{their_rule}")).await,
        404,
        "SecurityGroupRuleNotFound",
    );
    let (_, b) = p1.get("/v2.0/security-groups").await;
    assert!(!ids(&b, "security_groups").contains(&tid));
    let (_, b) = p1.get("/v2.0/security-group-rules").await;
    assert!(!ids(&b, "security_group_rules").contains(&their_rule));
    // Their own project may use it; an admin may see it.
    let r = add_rule(&p2, json!({"security_group_id": tid, "direction": "ingress", "remote_group_id": tid}))
        .await;
    assert_eq!(r.0, StatusCode::CREATED, "{}", r.1);
    assert_eq!(app.admin().get(&format!("/v2.0/security-groups/{tid}")).await.0, StatusCode::OK);
    // Readers may read but not write.
    let reader = app.as_("p1", "reader");
    assert_eq!(reader.get(&format!("/v2.0/security-groups/{mine}")).await.0, StatusCode::OK);
    let r = reader.post("/v2.0/security-groups", json!({"security_group": {"name": "r"}})).await;
    assert_error(&r, 403, "PolicyNotAuthorized");
}

/// The extension is advertised with the port attributes it defines.
#[tokio::test]
async fn the_extension_is_advertised() {
    let app = App::new().await;
    for alias in [
        "security-group",
        "port-security",
        "allowed-address-pairs",
        "security-groups-normalized-cidr",
        "port-security-groups-filtering",
    ] {
        let (s, b) = app.admin().get(&format!("/v2.0/extensions/{alias}")).await;
        assert_eq!(s, StatusCode::OK, "{alias}: {b}");
        assert_eq!(b["extension"]["alias"], alias);
    }
    let r = app.admin().get("/v2.0/extensions/stateful-security-group").await;
    assert_error(&r, 404, "ExtensionNotFound");
}
