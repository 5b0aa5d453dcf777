//! Bulk create (`{"networks": [...]}`): 201 with every resource, or an error that leaves
//! nothing behind.

mod common;

use axum::http::StatusCode;
use common::{App, assert_error, assert_error_msg, id};
use serde_json::json;

#[tokio::test]
async fn bulk_networks_are_created_together() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let (s, b) =
        p1.post("/v2.0/networks", json!({"networks": [{"name": "a"}, {"network": {"name": "b"}}]})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let made = b["networks"].as_array().unwrap();
    assert_eq!(made.len(), 2);
    assert_eq!((made[0]["name"].as_str(), made[1]["name"].as_str()), (Some("a"), Some("b")));
    let (_, b) = p1.get("/v2.0/networks").await;
    assert_eq!(b["networks"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_bad_second_network_leaves_nothing() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    for second in [json!({"bogus": 1}), json!({"admin_state_up": "x"}), json!({"shared": true})] {
        let r = p1.post("/v2.0/networks", json!({"networks": [{"name": "a"}, second]})).await;
        assert!(r.0.is_client_error(), "{:?}", r);
    }
    let r = p1.post("/v2.0/networks", json!({"networks": [{"name": "a"}, {"bogus": 1}]})).await;
    assert_error_msg(&r, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'bogus'");
    let r = p1.post("/v2.0/networks", json!({"networks": [{"name": "a"}, {"shared": true}]})).await;
    assert_error(&r, 403, "PolicyNotAuthorized");
    let (_, b) = p1.get("/v2.0/networks").await;
    assert_eq!(b, json!({"networks": []}));
}

#[tokio::test]
async fn a_bad_second_subnet_leaves_nothing() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let r = p1
        .post(
            "/v2.0/subnets",
            json!({"subnets": [
            {"network_id": n, "ip_version": 4, "cidr": "10.0.0.0/24"},
            {"network_id": n, "ip_version": 4, "cidr": "10.0.0.128/25"}]}),
        )
        .await;
    assert_error(&r, 400, "InvalidInput");
    let (_, b) = p1.get("/v2.0/subnets").await;
    assert_eq!(b, json!({"subnets": []}));
    let (_, b) = p1.get(&format!("/v2.0/networks/{n}")).await;
    assert_eq!(b["network"]["subnets"], json!([]));
    assert_eq!(b["network"]["revision_number"], 1);
    let (s, b) = p1
        .post(
            "/v2.0/subnets",
            json!({"subnets": [
            {"network_id": n, "ip_version": 4, "cidr": "10.0.0.0/24"},
            {"network_id": n, "ip_version": 4, "cidr": "10.0.1.0/24"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["subnets"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_bad_second_port_leaves_nothing_and_frees_its_addresses() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    p1.subnet(&n, "10.0.0.0/24", json!({})).await;
    // The same address twice in one request.
    let r = p1
        .post(
            "/v2.0/ports",
            json!({"ports": [
            {"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.5"}]},
            {"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.5"}]}]}),
        )
        .await;
    assert_error(&r, 409, "IpAddressInUse");
    // The same MAC twice in one request.
    let r = p1
        .post(
            "/v2.0/ports",
            json!({"ports": [
            {"network_id": n, "mac_address": "fa:16:3e:00:00:01", "fixed_ips": [{"ip_address": "10.0.0.5"}]},
            {"network_id": n, "mac_address": "fa:16:3e:00:00:01"}]}),
        )
        .await;
    assert_error(&r, 409, "MacAddressInUse");
    // A valid first port and a second one on an unknown network.
    let ghost = uuid::Uuid::new_v4().to_string();
    let r = p1
        .post(
            "/v2.0/ports",
            json!({"ports": [
            {"network_id": n, "mac_address": "fa:16:3e:00:00:01", "fixed_ips": [{"ip_address": "10.0.0.5"}]},
            {"network_id": ghost}]}),
        )
        .await;
    assert_error(&r, 404, "NetworkNotFound");
    let (_, b) = p1.get("/v2.0/ports").await;
    assert_eq!(b, json!({"ports": []}));
    // The address and MAC are free again.
    let p = p1
        .port(&n, json!({"mac_address": "fa:16:3e:00:00:01", "fixed_ips": [{"ip_address": "10.0.0.5"}]}))
        .await;
    assert_eq!(p["fixed_ips"][0]["ip_address"], "10.0.0.5");
    // A good bulk gets distinct addresses.
    let (s, b) = p1
        .post("/v2.0/ports", json!({"ports": [{"network_id": n}, {"network_id": n}, {"network_id": n}]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mut ips: Vec<&str> = b["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["fixed_ips"][0]["ip_address"].as_str().unwrap())
        .collect();
    ips.push("10.0.0.5");
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 4);
    let _ = id(&p);
}

#[tokio::test]
async fn mixed_single_and_bulk_keys_are_refused() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let r = p1.post("/v2.0/networks", json!({"networks": [{"name": "a"}], "network": {"name": "b"}})).await;
    assert_error_msg(&r, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'network'");
    let (_, b) = p1.get("/v2.0/networks").await;
    assert_eq!(b, json!({"networks": []}));
}
