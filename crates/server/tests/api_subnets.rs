//! Subnets: defaults (gateway, pools), explicit pools, no gateway, updates, IPv6 modes.

mod common;

use axum::http::StatusCode;
use common::{App, assert_error, id};
use serde_json::json;

#[tokio::test]
async fn defaults_gateway_and_pools_from_the_cidr() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = p1.subnet(&n, "10.0.0.0/24", json!({})).await;
    assert_eq!(s["cidr"], "10.0.0.0/24");
    assert_eq!(s["ip_version"], 4);
    assert_eq!(s["gateway_ip"], "10.0.0.1");
    assert_eq!(s["allocation_pools"], json!([{"start": "10.0.0.2", "end": "10.0.0.254"}]));
    assert_eq!(s["enable_dhcp"], true);
    assert_eq!(s["dns_nameservers"], json!([]));
    assert_eq!(s["host_routes"], json!([]));
    assert_eq!(s["ipv6_ra_mode"], json!(null));
    assert_eq!(s["ipv6_address_mode"], json!(null));
    assert_eq!(s["subnetpool_id"], json!(null));
    assert_eq!(s["network_id"], n.as_str());
    assert_eq!(s["project_id"], "p1");
    assert_eq!(s["tenant_id"], "p1");
    assert_eq!(s["revision_number"], 1);
}

#[tokio::test]
async fn explicit_null_gateway_and_pools() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = p1
        .subnet(&n, "10.1.0.0/24", json!({"gateway_ip": null,
            "allocation_pools": [{"start": "10.1.0.100", "end": "10.1.0.110"}, {"start": "10.1.0.10", "end": "10.1.0.20"}]}))
        .await;
    assert_eq!(s["gateway_ip"], json!(null));
    assert_eq!(
        s["allocation_pools"],
        json!([{"start": "10.1.0.10", "end": "10.1.0.20"}, {"start": "10.1.0.100", "end": "10.1.0.110"}])
    );
    // Without a gateway the whole usable range is the default pool.
    let s = p1.subnet(&n, "10.2.0.0/29", json!({"gateway_ip": null})).await;
    assert_eq!(s["allocation_pools"], json!([{"start": "10.2.0.1", "end": "10.2.0.6"}]));
}

#[tokio::test]
async fn non_canonical_gateway_splits_default_pools() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = p1.subnet(&n, "10.0.0.0/28", json!({"gateway_ip": "10.0.0.5"})).await;
    assert_eq!(
        s["allocation_pools"],
        json!([{"start": "10.0.0.1", "end": "10.0.0.4"}, {"start": "10.0.0.6", "end": "10.0.0.14"}])
    );
}

#[tokio::test]
async fn update_name_dns_routes_and_pools() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let (st, b) = p1
        .put(
            &format!("/v2.0/subnets/{s}"),
            json!({"subnet": {"name": "x", "dns_nameservers": ["8.8.8.8"],
            "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}],
            "allocation_pools": [{"start": "10.0.0.50", "end": "10.0.0.60"}], "enable_dhcp": false}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let sub = &b["subnet"];
    assert_eq!(sub["name"], "x");
    assert_eq!(sub["dns_nameservers"], json!(["8.8.8.8"]));
    assert_eq!(sub["host_routes"], json!([{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}]));
    assert_eq!(sub["allocation_pools"], json!([{"start": "10.0.0.50", "end": "10.0.0.60"}]));
    assert_eq!(sub["enable_dhcp"], false);
    assert_eq!(sub["revision_number"], 2);
    // cidr is create-only.
    let r = p1.put(&format!("/v2.0/subnets/{s}"), json!({"subnet": {"cidr": "10.9.0.0/24"}})).await;
    assert_error(&r, 400, "HTTPBadRequest");
    assert_eq!(r.1["NeutronError"]["message"], "Cannot update read-only attribute cidr");
}

#[tokio::test]
async fn overlapping_cidrs_on_one_network_are_refused_but_fine_across_networks() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let first = id(&p1.subnet(&n, "10.0.0.0/16", json!({})).await);
    let r = p1
        .post("/v2.0/subnets", json!({"subnet": {"network_id": n, "ip_version": 4, "cidr": "10.0.5.0/24"}}))
        .await;
    assert_error(&r, 400, "InvalidInput");
    assert_eq!(
        r.1["NeutronError"]["message"],
        format!(
            "Invalid input for operation: Requested subnet with cidr: 10.0.5.0/24 for network: {n} overlaps with another subnet {first}."
        )
    );
    let other = p1.net("other").await;
    p1.subnet(&other, "10.0.5.0/24", json!({})).await;
}

#[tokio::test]
async fn ipv6_slaac_subnet_gives_eui64_addresses() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = p1
        .subnet(
            &n,
            "2001:db8::/64",
            json!({"ip_version": 6, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
        )
        .await;
    assert_eq!(s["gateway_ip"], "2001:db8::1");
    let p = p1.port(&n, json!({"mac_address": "fa:16:3e:11:22:33"})).await;
    assert_eq!(p["fixed_ips"], json!([{"subnet_id": id(&s), "ip_address": "2001:db8::f816:3eff:fe11:2233"}]));
}

#[tokio::test]
async fn cidr_must_match_ip_version() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let r = p1
        .post("/v2.0/subnets", json!({"subnet": {"network_id": n, "ip_version": 6, "cidr": "10.0.0.0/24"}}))
        .await;
    assert_error(&r, 400, "InvalidInput");
    let r = p1.post("/v2.0/subnets", json!({"subnet": {"network_id": n, "ip_version": 4}})).await;
    assert_error(&r, 400, "HTTPBadRequest");
    let r = p1
        .post("/v2.0/subnets", json!({"subnet": {"network_id": uuid::Uuid::new_v4().to_string(), "ip_version": 4, "cidr": "10.0.0.0/24"}}))
        .await;
    assert_error(&r, 404, "NetworkNotFound");
}
