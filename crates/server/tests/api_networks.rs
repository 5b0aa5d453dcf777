//! Networks: create defaults, show, update, delete (with its subnets), discovery documents.

mod common;

use axum::http::StatusCode;
use common::{App, assert_error, assert_error_msg, id};
use serde_json::json;

#[tokio::test]
async fn create_fills_upstream_defaults() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member,reader");
    let n = p1.network(json!({"name": "n1"})).await;
    assert_eq!(n["name"], "n1");
    assert_eq!(n["admin_state_up"], true);
    assert_eq!(n["status"], "ACTIVE");
    assert_eq!(n["shared"], false);
    assert_eq!(n["router:external"], false);
    // A VXLAN tenant network (the default tenant type) on a 1500-byte physical network.
    assert_eq!(n["mtu"], 1450);
    assert_eq!(n["port_security_enabled"], true);
    assert_eq!(n["subnets"], json!([]));
    assert_eq!(n["description"], "");
    assert_eq!(n["project_id"], "p1");
    assert_eq!(n["tenant_id"], "p1");
    assert_eq!(n["revision_number"], 1);
    assert_eq!(n["tags"], json!([]));
    assert!(uuid::Uuid::parse_str(n["id"].as_str().unwrap()).is_ok());
    for ts in ["created_at", "updated_at"] {
        let t = n[ts].as_str().unwrap();
        assert!(chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%SZ").is_ok(), "{ts} = {t}");
    }
    // Provider attributes are admin-only to read.
    assert!(n.get("provider:network_type").is_none());
    let (s, b) = p1.get(&format!("/v2.0/networks/{}", id(&n))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["network"], n);
}

#[tokio::test]
async fn empty_body_creates_a_network() {
    let app = App::new().await;
    let (s, b) = app.as_("p1", "member").post("/v2.0/networks", json!({"network": {}})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["network"]["name"], "");
}

#[tokio::test]
async fn update_changes_attributes_and_bumps_revision() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n1").await;
    let (s, b) = p1
        .put(
            &format!("/v2.0/networks/{n}"),
            json!({"network": {"name": "n2", "admin_state_up": false, "description": "d"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["network"]["name"], "n2");
    assert_eq!(b["network"]["admin_state_up"], false);
    assert_eq!(b["network"]["description"], "d");
    assert_eq!(b["network"]["revision_number"], 2);
    // A no-op update keeps the revision.
    let (_, b) = p1.put(&format!("/v2.0/networks/{n}"), json!({"network": {"name": "n2"}})).await;
    assert_eq!(b["network"]["revision_number"], 2);
}

#[tokio::test]
async fn subnets_are_listed_on_their_network_and_deleted_with_it() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n1").await;
    let s1 = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let s2 = id(&p1.subnet(&n, "10.0.1.0/24", json!({})).await);
    let (_, b) = p1.get(&format!("/v2.0/networks/{n}")).await;
    let mut subnets: Vec<String> =
        b["network"]["subnets"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    subnets.sort();
    let mut want = vec![s1.clone(), s2];
    want.sort();
    assert_eq!(subnets, want);
    let (s, b) = p1.delete(&format!("/v2.0/networks/{n}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(b.is_null());
    let r = p1.get(&format!("/v2.0/networks/{n}")).await;
    assert_error_msg(&r, 404, "NetworkNotFound", &format!("Network {n} could not be found."));
    let r = p1.get(&format!("/v2.0/subnets/{s1}")).await;
    assert_error_msg(&r, 404, "SubnetNotFound", &format!("Subnet {s1} could not be found."));
}

#[tokio::test]
async fn name_like_ids_are_404_not_400() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let r = p1.get("/v2.0/networks/my-net").await;
    assert_error_msg(&r, 404, "NetworkNotFound", "Network my-net could not be found.");
    let r = p1.get("/v2.0/ports/abc").await;
    assert_error_msg(&r, 404, "PortNotFound", "Port abc could not be found.");
    let r = p1.delete("/v2.0/subnets/abc").await;
    assert_error(&r, 404, "SubnetNotFound");
}

#[tokio::test]
async fn delete_with_only_dhcp_ports_succeeds() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n1").await;
    p1.subnet(&n, "10.0.0.0/24", json!({})).await;
    let dhcp = app.admin().port(&n, json!({"device_owner": "network:dhcp"})).await;
    let (s, b) = p1.delete(&format!("/v2.0/networks/{n}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_error(&app.admin().get(&format!("/v2.0/ports/{}", id(&dhcp))).await, 404, "PortNotFound");
}

#[tokio::test]
async fn admin_sets_provider_attributes_and_external() {
    let app = App::new().await;
    let admin = app.admin();
    let n = admin
        .network(json!({"name": "pub", "router:external": true, "shared": true,
            "provider:network_type": "vlan", "provider:physical_network": "physnet1",
            "provider:segmentation_id": 101}))
        .await;
    assert_eq!(n["router:external"], true);
    assert_eq!(n["shared"], true);
    assert_eq!(n["provider:network_type"], "vlan");
    assert_eq!(n["provider:physical_network"], "physnet1");
    assert_eq!(n["provider:segmentation_id"], 101);
}

#[tokio::test]
async fn version_discovery_documents() {
    let app = App::new().await;
    let (s, b) = app.admin().get("/").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["versions"][0]["id"], "v2.0");
    assert_eq!(b["versions"][0]["status"], "CURRENT");
    assert!(b["versions"][0]["links"].is_array());
    let (s, b) = app.as_("p1", "member").get("/v2.0/").await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> =
        b["resources"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    for want in ["network", "subnet", "port"] {
        assert!(names.contains(&want), "{names:?}");
    }
}
