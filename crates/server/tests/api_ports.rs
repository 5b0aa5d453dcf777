//! Ports: defaults, MAC generation, fixed IP requests (by subnet, by address, both, none),
//! updates of fixed IPs, and freeing addresses on delete.

mod common;

use axum::http::StatusCode;
use common::{App, assert_error, assert_error_msg, id};
use serde_json::json;

#[tokio::test]
async fn create_fills_defaults_and_allocates_from_the_pool() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let p = p1.port(&n, json!({"name": "p"})).await;
    assert_eq!(p["name"], "p");
    assert_eq!(p["network_id"], n.as_str());
    assert_eq!(p["admin_state_up"], true);
    assert_eq!(p["status"], "DOWN");
    assert_eq!(p["device_id"], "");
    assert_eq!(p["device_owner"], "");
    assert_eq!(p["project_id"], "p1");
    assert_eq!(p["tenant_id"], "p1");
    assert_eq!(p["port_security_enabled"], true);
    assert_eq!(p["binding:vnic_type"], "normal");
    // Binding details other than vnic_type are admin-only to read.
    for k in ["binding:host_id", "binding:profile", "binding:vif_type", "binding:vif_details"] {
        assert!(p.get(k).is_none(), "{k} leaked to a member: {p}");
    }
    let mac = p["mac_address"].as_str().unwrap();
    assert!(mac.starts_with("fa:16:3e:") && mac.len() == 17, "{mac}");
    let fixed = p["fixed_ips"].as_array().unwrap();
    assert_eq!(fixed.len(), 1);
    assert_eq!(fixed[0]["subnet_id"], s.as_str());
    let ip: std::net::Ipv4Addr = fixed[0]["ip_address"].as_str().unwrap().parse().unwrap();
    let last = ip.octets()[3];
    assert!(ip.octets()[..3] == [10, 0, 0] && (2..=254).contains(&last), "{ip}");
    let admin_view = app.admin().get(&format!("/v2.0/ports/{}", id(&p))).await.1;
    assert_eq!(admin_view["port"]["binding:vif_type"], "unbound");
    assert_eq!(admin_view["port"]["binding:host_id"], "");
}

#[tokio::test]
async fn fixed_ips_by_subnet_address_or_both() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s1 = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    // s2's pool leaves 10.0.1.9 out, so the address asked for below is never one drawn at random.
    let pool = json!({"allocation_pools": [{"start": "10.0.1.100", "end": "10.0.1.200"}]});
    let s2 = id(&p1.subnet(&n, "10.0.1.0/24", pool).await);
    let p = p1.port(&n, json!({"fixed_ips": [{"subnet_id": s2}]})).await;
    assert_eq!(p["fixed_ips"][0]["subnet_id"], s2.as_str());
    assert!(p["fixed_ips"][0]["ip_address"].as_str().unwrap().starts_with("10.0.1."));
    let p = p1.port(&n, json!({"fixed_ips": [{"ip_address": "10.0.0.7"}]})).await;
    assert_eq!(p["fixed_ips"], json!([{"subnet_id": s1, "ip_address": "10.0.0.7"}]));
    let p = p1
        .port(&n, json!({"fixed_ips": [{"subnet_id": s2, "ip_address": "10.0.1.9"}, {"subnet_id": s1}]}))
        .await;
    assert_eq!(p["fixed_ips"].as_array().unwrap().len(), 2);
    assert_eq!(p["fixed_ips"][0], json!({"subnet_id": s2, "ip_address": "10.0.1.9"}));
    // Addresses outside the pools (but inside the subnet) may be asked for explicitly.
    let m = p1.net("m").await;
    p1.subnet(&m, "10.5.0.0/24", json!({"allocation_pools": [{"start": "10.5.0.10", "end": "10.5.0.20"}]}))
        .await;
    let p = p1.port(&m, json!({"fixed_ips": [{"ip_address": "10.5.0.100"}]})).await;
    assert_eq!(p["fixed_ips"][0]["ip_address"], "10.5.0.100");
    // An empty list means no addresses at all.
    let p = p1.port(&n, json!({"fixed_ips": []})).await;
    assert_eq!(p["fixed_ips"], json!([]));
}

#[tokio::test]
async fn network_without_subnets_gives_portless_addresses() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let p = p1.port(&n, json!({})).await;
    assert_eq!(p["fixed_ips"], json!([]));
}

#[tokio::test]
async fn taken_address_is_409_ip_address_in_use_and_freed_by_delete() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    p1.subnet(&n, "10.0.0.0/24", json!({})).await;
    let p = id(&p1.port(&n, json!({"fixed_ips": [{"ip_address": "10.0.0.5"}]})).await);
    let r = p1
        .post("/v2.0/ports", json!({"port": {"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.5"}]}}))
        .await;
    assert_error_msg(
        &r,
        409,
        "IpAddressInUse",
        &format!("Unable to complete operation for network {n}. The IP address 10.0.0.5 is in use."),
    );
    // The gateway is not for ordinary ports either.
    let r = p1
        .post("/v2.0/ports", json!({"port": {"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.1"}]}}))
        .await;
    assert_error(&r, 409, "IpAddressInUse");
    let (s, _) = p1.delete(&format!("/v2.0/ports/{p}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let again = p1.port(&n, json!({"fixed_ips": [{"ip_address": "10.0.0.5"}]})).await;
    assert_eq!(again["fixed_ips"][0]["ip_address"], "10.0.0.5");
}

#[tokio::test]
async fn update_fixed_ips_moves_the_address() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let p = id(&p1.port(&n, json!({"fixed_ips": [{"ip_address": "10.0.0.5"}]})).await);
    let (st, b) = p1
        .put(&format!("/v2.0/ports/{p}"), json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.6"}]}}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["port"]["fixed_ips"], json!([{"subnet_id": s, "ip_address": "10.0.0.6"}]));
    assert_eq!(b["port"]["revision_number"], 2);
    // Keeping the same address is fine; the old one is free again.
    let (st, _) = p1
        .put(&format!("/v2.0/ports/{p}"), json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.6"}]}}))
        .await;
    assert_eq!(st, StatusCode::OK);
    p1.port(&n, json!({"fixed_ips": [{"ip_address": "10.0.0.5"}]})).await;
}

#[tokio::test]
async fn mac_is_normalised_and_device_fields_update() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let p = p1.port(&n, json!({"mac_address": "FA:16:3E:AA:BB:CC"})).await;
    assert_eq!(p["mac_address"], "fa:16:3e:aa:bb:cc");
    let (st, b) = p1
        .put(
            &format!("/v2.0/ports/{}", id(&p)),
            json!({"port": {"device_id": "vm-1", "device_owner": "compute:nova", "admin_state_up": false}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["port"]["device_id"], "vm-1");
    assert_eq!(b["port"]["device_owner"], "compute:nova");
    assert_eq!(b["port"]["admin_state_up"], false);
}

#[tokio::test]
async fn same_mac_on_another_network_is_fine() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let (a, b) = (p1.net("a").await, p1.net("b").await);
    p1.port(&a, json!({"mac_address": "fa:16:3e:00:00:01"})).await;
    p1.port(&b, json!({"mac_address": "fa:16:3e:00:00:01"})).await;
}

#[tokio::test]
async fn port_on_a_network_without_v4_space_gets_the_v6_address() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s6 = id(&p1
        .subnet(&n, "2001:db8:1::/64", json!({"ip_version": 6, "ipv6_address_mode": "dhcpv6-stateful", "ipv6_ra_mode": "dhcpv6-stateful"}))
        .await);
    let p = p1.port(&n, json!({})).await;
    assert_eq!(p["fixed_ips"].as_array().unwrap().len(), 1);
    assert_eq!(p["fixed_ips"][0]["subnet_id"], s6.as_str());
}

#[tokio::test]
async fn router_interface_owner_may_take_the_gateway() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let p = p1
        .port(
            &n,
            json!({"device_owner": "network:router_interface", "device_id": "r1",
            "fixed_ips": [{"subnet_id": s, "ip_address": "10.0.0.1"}]}),
        )
        .await;
    assert_eq!(p["fixed_ips"][0]["ip_address"], "10.0.0.1");
}

#[tokio::test]
async fn subnet_delete_releases_dhcp_addresses() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s1 = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let s2 = id(&p1.subnet(&n, "10.0.1.0/24", json!({})).await);
    let dhcp = p1
        .port(
            &n,
            json!({"device_owner": "network:dhcp", "fixed_ips": [{"subnet_id": s1}, {"subnet_id": s2}]}),
        )
        .await;
    let (st, b) = p1.delete(&format!("/v2.0/subnets/{s1}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    let (_, b) = p1.get(&format!("/v2.0/ports/{}", id(&dhcp))).await;
    let left: Vec<&str> =
        b["port"]["fixed_ips"].as_array().unwrap().iter().map(|f| f["subnet_id"].as_str().unwrap()).collect();
    assert_eq!(left, [s2.as_str()]);
    let (_, b) = p1.get(&format!("/v2.0/networks/{n}")).await;
    assert_eq!(b["network"]["subnets"], json!([s2]));
}

#[tokio::test]
async fn full_subnet_refuses_subnet_only_requests_and_admin_may_change_the_mac() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = id(&p1.subnet(&n, "10.0.0.0/30", json!({})).await);
    let first = id(&p1.port(&n, json!({"fixed_ips": [{"subnet_id": s}]})).await);
    let r = p1.post("/v2.0/ports", json!({"port": {"network_id": n, "fixed_ips": [{"subnet_id": s}]}})).await;
    assert_error(&r, 409, "IpAddressGenerationFailure");
    p1.port(&n, json!({"fixed_ips": [], "mac_address": "fa:16:3e:00:00:02"})).await;
    let (st, b) = app
        .admin()
        .put(&format!("/v2.0/ports/{first}"), json!({"port": {"mac_address": "fa:16:3e:00:00:03"}}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["port"]["mac_address"], "fa:16:3e:00:00:03");
    let r = app
        .admin()
        .put(&format!("/v2.0/ports/{first}"), json!({"port": {"mac_address": "fa:16:3e:00:00:02"}}))
        .await;
    assert_error(&r, 409, "MacAddressInUse");
}

#[tokio::test]
async fn pools_may_shrink_past_allocated_addresses() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let p = p1.port(&n, json!({"fixed_ips": [{"ip_address": "10.0.0.200"}]})).await;
    let (st, b) = p1
        .put(
            &format!("/v2.0/subnets/{s}"),
            json!({"subnet": {"allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"}]}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (_, b) = p1.get(&format!("/v2.0/ports/{}", id(&p))).await;
    assert_eq!(b["port"]["fixed_ips"][0]["ip_address"], "10.0.0.200");
}
