//! Error responses: exact status, `NeutronError` type and (where upstream's wording is fixed)
//! message for bad bodies, bad values, IPAM conflicts, resources in use, revision
//! preconditions and unknown URLs.

mod common;

use axum::http::Method;
use common::{App, Caller, assert_error, assert_error_msg, id};
use serde_json::{Value, json};

async fn setup() -> (App, Caller, String, String) {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    (app, p1, n, s)
}

fn bad(r: &(axum::http::StatusCode, Value), message: &str) {
    assert_error_msg(r, 400, "HTTPBadRequest", message);
}

#[tokio::test]
async fn malformed_and_unwrapped_bodies() {
    let (_app, p1, n, _) = setup().await;
    for body in [&b"{"[..], b"{\"network\": ", b"not json"] {
        let r = p1.post_raw("/v2.0/networks", body).await;
        assert_error(&r, 400, "MalformedRequestBody");
        assert!(
            r.1["NeutronError"]["message"].as_str().unwrap().starts_with("Malformed request body"),
            "{}",
            r.1
        );
    }
    bad(&p1.post_raw("/v2.0/networks", b"").await, "Resource body required");
    bad(&p1.post("/v2.0/networks", json!({})).await, "Resource body required");
    bad(&p1.put(&format!("/v2.0/networks/{n}"), json!({})).await, "Resource body required");
    bad(&p1.post("/v2.0/networks", json!({"name": "x"})).await, "Unable to find 'network' in request body");
    bad(
        &p1.put(&format!("/v2.0/networks/{n}"), json!({"net": {}})).await,
        "Unable to find 'network' in request body",
    );
    assert_error(&p1.post("/v2.0/networks", json!([1])).await, 400, "HTTPBadRequest");
    assert_error(&p1.post("/v2.0/networks", json!({"network": 5})).await, 400, "HTTPBadRequest");
    bad(&p1.post("/v2.0/networks", json!({"networks": []})).await, "Resources required");
}

#[tokio::test]
async fn unknown_read_only_and_missing_attributes() {
    let (_app, p1, n, s) = setup().await;
    bad(
        &p1.post("/v2.0/networks", json!({"network": {"bogus": 1}})).await,
        "Unrecognized attribute(s) 'bogus'",
    );
    bad(
        &p1.post("/v2.0/networks", json!({"network": {"status": "DOWN"}})).await,
        "Attribute 'status' not allowed in POST",
    );
    bad(
        &p1.post("/v2.0/networks", json!({"network": {"id": "x"}})).await,
        "Attribute 'id' not allowed in POST",
    );
    bad(
        &p1.put(&format!("/v2.0/networks/{n}"), json!({"network": {"mtu": 1400}})).await,
        "Cannot update read-only attribute mtu",
    );
    bad(
        &p1.put(&format!("/v2.0/subnets/{s}"), json!({"subnet": {"ip_version": 6}})).await,
        "Cannot update read-only attribute ip_version",
    );
    let p = id(&p1.port(&n, json!({})).await);
    bad(
        &p1.put(&format!("/v2.0/ports/{p}"), json!({"port": {"network_id": n}})).await,
        "Cannot update read-only attribute network_id",
    );
    bad(
        &p1.post("/v2.0/ports", json!({"port": {"name": "p"}})).await,
        "Failed to parse request. Required attribute 'network_id' not specified",
    );
    bad(
        &p1.post("/v2.0/subnets", json!({"subnet": {"network_id": n, "cidr": "10.1.0.0/24"}})).await,
        "Failed to parse request. Required attribute 'ip_version' not specified",
    );
}

#[tokio::test]
async fn wrong_types() {
    let (_app, p1, n, _) = setup().await;
    bad(
        &p1.post("/v2.0/networks", json!({"network": {"admin_state_up": "abc"}})).await,
        "Invalid input for admin_state_up. Reason: 'abc' cannot be converted to boolean.",
    );
    bad(
        &p1.post("/v2.0/networks", json!({"network": {"name": 5}})).await,
        "Invalid input for name. Reason: '5' is not a valid string.",
    );
    bad(
        &p1.post("/v2.0/networks", json!({"network": {"name": "a".repeat(256)}})).await,
        &format!("Invalid input for name. Reason: '{}' exceeds maximum length of 255.", "a".repeat(256)),
    );
    bad(
        &p1.post("/v2.0/ports", json!({"port": {"network_id": "not-a-uuid"}})).await,
        "Invalid input for network_id. Reason: 'not-a-uuid' is not a valid UUID.",
    );
    bad(
        &p1.post("/v2.0/ports", json!({"port": {"network_id": n, "fixed_ips": "10.0.0.5"}})).await,
        "Invalid input for fixed_ips. Reason: '10.0.0.5' is not a list.",
    );
    bad(
        &p1.post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": n, "ip_version": 5, "cidr": "10.1.0.0/24"}}),
        )
        .await,
        "Invalid input for ip_version. Reason: '5' is not in [4, 6].",
    );
    bad(
        &p1.post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": n, "ip_version": 4, "cidr": "10.1.0.0/24", "enable_dhcp": "x"}}),
        )
        .await,
        "Invalid input for enable_dhcp. Reason: 'x' cannot be converted to boolean.",
    );
}

#[tokio::test]
async fn invalid_cidr_ip_and_mac() {
    let (_app, p1, n, s) = setup().await;
    let sub = |extra: Value| {
        let mut b = json!({"network_id": n, "ip_version": 4, "cidr": "10.1.0.0/24"});
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({ "subnet": b })
    };
    bad(
        &p1.post("/v2.0/subnets", sub(json!({"cidr": "10.1.0.5/24"}))).await,
        "Invalid input for cidr. Reason: '10.1.0.5/24' isn't a recognized IP subnet cidr, '10.1.0.0/24' is recommended.",
    );
    bad(
        &p1.post("/v2.0/subnets", sub(json!({"cidr": "garbage"}))).await,
        "Invalid input for cidr. Reason: 'garbage' is not a valid IP subnet.",
    );
    bad(
        &p1.post("/v2.0/subnets", sub(json!({"cidr": "10.1.0.0/33"}))).await,
        "Invalid input for cidr. Reason: '10.1.0.0/33' is not a valid IP subnet.",
    );
    bad(
        &p1.post("/v2.0/subnets", sub(json!({"gateway_ip": "10.1.0.300"}))).await,
        "Invalid input for gateway_ip. Reason: '10.1.0.300' is not a valid IP address.",
    );
    assert_error_msg(
        &p1.post("/v2.0/subnets", sub(json!({"gateway_ip": "10.1.0.255"}))).await,
        400,
        "InvalidInput",
        "Invalid input for operation: Gateway is not valid on subnet 10.1.0.0/24.",
    );
    bad(
        &p1.post("/v2.0/subnets", sub(json!({"dns_nameservers": ["8.8.8.8", "8.8.8.8"]}))).await,
        "Invalid input for dns_nameservers. Reason: Duplicate nameserver '8.8.8.8'.",
    );
    assert_error(
        &p1.post("/v2.0/subnets", sub(json!({"dns_nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5", "1.1.1.6"]}))).await,
        400,
        "DNSNameServersExhausted",
    );
    bad(
        &p1.post(
            "/v2.0/ports",
            json!({"port": {"network_id": n, "fixed_ips": [{"ip_address": "300.1.1.1"}]}}),
        )
        .await,
        "Invalid input for fixed_ips. Reason: '300.1.1.1' is not a valid IP address.",
    );
    bad(
        &p1.post("/v2.0/ports", json!({"port": {"network_id": n, "mac_address": "zz"}})).await,
        "Invalid input for mac_address. Reason: 'zz' is not a valid MAC address.",
    );
    bad(
        &p1.post("/v2.0/ports", json!({"port": {"network_id": n, "mac_address": "ff:ff:ff:ff:ff:ff"}})).await,
        "Invalid input for mac_address. Reason: 'ff:ff:ff:ff:ff:ff' is not a valid MAC address.",
    );
    // An address of the right subnet's network but the wrong subnet.
    let other = id(&p1.subnet(&n, "10.0.1.0/24", json!({})).await);
    assert_error_msg(
        &p1.post(
            "/v2.0/ports",
            json!({"port": {"network_id": n, "fixed_ips": [{"subnet_id": s, "ip_address": "10.0.1.5"}]}}),
        )
        .await,
        400,
        "InvalidIpForSubnet",
        "IP address 10.0.1.5 is not a valid IP for the specified subnet.",
    );
    assert_error_msg(
        &p1.post(
            "/v2.0/ports",
            json!({"port": {"network_id": n, "fixed_ips": [{"ip_address": "192.168.0.5"}]}}),
        )
        .await,
        400,
        "InvalidIpForNetwork",
        "IP address 192.168.0.5 is not a valid IP for any of the subnets on the specified network.",
    );
    // The network and broadcast addresses are not valid either.
    assert_error(
        &p1.post("/v2.0/ports", json!({"port": {"network_id": n, "fixed_ips": [{"subnet_id": other, "ip_address": "10.0.1.255"}]}})).await,
        400,
        "InvalidIpForSubnet",
    );
    // A subnet of another network.
    let m = p1.net("m").await;
    let foreign = id(&p1.subnet(&m, "10.7.0.0/24", json!({})).await);
    assert_error_msg(
        &p1.post("/v2.0/ports", json!({"port": {"network_id": n, "fixed_ips": [{"subnet_id": foreign}]}}))
            .await,
        400,
        "InvalidInput",
        &format!(
            "Invalid input for operation: Failed to create port on network {n}, because fixed_ips included invalid subnet {foreign}."
        ),
    );
    let ghost = uuid::Uuid::new_v4().to_string();
    assert_error_msg(
        &p1.post("/v2.0/ports", json!({"port": {"network_id": n, "fixed_ips": [{"subnet_id": ghost}]}}))
            .await,
        404,
        "SubnetNotFound",
        &format!("Subnet {ghost} could not be found."),
    );
}

#[tokio::test]
async fn allocation_pool_rules() {
    let (_app, p1, n, s) = setup().await;
    let sub = |pools: Value, gw: Value| json!({"subnet": {"network_id": n, "ip_version": 4, "cidr": "10.1.0.0/24", "allocation_pools": pools, "gateway_ip": gw}});
    assert_error_msg(
        &p1.post("/v2.0/subnets", sub(json!([{"start": "10.1.0.10", "end": "10.1.1.5"}]), json!("10.1.0.1")))
            .await,
        400,
        "OutOfBoundsAllocationPool",
        "The allocation pool {'start': '10.1.0.10', 'end': '10.1.1.5'} spans beyond the subnet cidr 10.1.0.0/24.",
    );
    assert_error_msg(
        &p1.post("/v2.0/subnets", sub(json!([{"start": "10.1.0.10", "end": "10.1.0.20"}, {"start": "10.1.0.15", "end": "10.1.0.30"}]), json!("10.1.0.1"))).await,
        400,
        "OverlappingAllocationPools",
        "Found overlapping allocation pools: {'start': '10.1.0.15', 'end': '10.1.0.30'} and {'start': '10.1.0.10', 'end': '10.1.0.20'}",
    );
    assert_error(
        &p1.post(
            "/v2.0/subnets",
            sub(json!([{"start": "10.1.0.20", "end": "10.1.0.10"}]), json!("10.1.0.1")),
        )
        .await,
        400,
        "InvalidAllocationPool",
    );
    assert_error_msg(
        &p1.post("/v2.0/subnets", sub(json!([{"start": "10.1.0.2", "end": "10.1.0.20"}]), json!("10.1.0.5")))
            .await,
        409,
        "GatewayConflictWithAllocationPools",
        "Gateway ip 10.1.0.5 conflicts with allocation pool 10.1.0.2-10.1.0.20",
    );
    // On update: moving the gateway into the existing pool.
    assert_error_msg(
        &p1.put(&format!("/v2.0/subnets/{s}"), json!({"subnet": {"gateway_ip": "10.0.0.9"}})).await,
        409,
        "GatewayConflictWithAllocationPools",
        "Gateway ip 10.0.0.9 conflicts with allocation pool 10.0.0.2-10.0.0.254",
    );
    // Nothing was created by the refusals.
    let (_, b) = p1.get(&format!("/v2.0/subnets?network_id={n}")).await;
    assert_eq!(b["subnets"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn duplicate_mac_and_full_subnet() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    p1.subnet(&n, "10.0.0.0/29", json!({"allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.3"}]}))
        .await;
    p1.port(&n, json!({"mac_address": "fa:16:3e:00:00:01"})).await;
    assert_error_msg(
        &p1.post("/v2.0/ports", json!({"port": {"network_id": n, "mac_address": "FA:16:3E:00:00:01"}})).await,
        409,
        "MacAddressInUse",
        &format!(
            "Unable to complete operation for network {n}. The mac address fa:16:3e:00:00:01 is in use."
        ),
    );
    p1.port(&n, json!({})).await;
    let full = p1.post("/v2.0/ports", json!({"port": {"network_id": n}})).await;
    assert_error_msg(
        &full,
        409,
        "IpAddressGenerationFailure",
        &format!("No more IP addresses available on network {n}."),
    );
    // Explicitly outside the pool still works.
    p1.port(&n, json!({"fixed_ips": [{"ip_address": "10.0.0.6"}]})).await;
    let (_, b) = p1.get(&format!("/v2.0/ports?network_id={n}")).await;
    assert_eq!(b["ports"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn resources_in_use() {
    let (_app, p1, n, s) = setup().await;
    let p = id(&p1.port(&n, json!({})).await);
    assert_error_msg(
        &p1.delete(&format!("/v2.0/networks/{n}")).await,
        409,
        "NetworkInUse",
        &format!(
            "Unable to complete operation on network {n}. There are one or more ports still in use on the network."
        ),
    );
    assert_error_msg(
        &p1.delete(&format!("/v2.0/subnets/{s}")).await,
        409,
        "SubnetInUse",
        &format!(
            "Unable to complete operation on subnet {s}: One or more ports have an IP allocation from this subnet."
        ),
    );
    // A port without addresses still blocks the network but not the subnet.
    p1.put(&format!("/v2.0/ports/{p}"), json!({"port": {"fixed_ips": []}})).await;
    let (st, b) = p1.delete(&format!("/v2.0/subnets/{s}")).await;
    assert_eq!(st.as_u16(), 204, "{b}");
    assert_error(&p1.delete(&format!("/v2.0/networks/{n}")).await, 409, "NetworkInUse");
    p1.delete(&format!("/v2.0/ports/{p}")).await;
    assert_eq!(p1.delete(&format!("/v2.0/networks/{n}")).await.0.as_u16(), 204);
}

#[tokio::test]
async fn if_match_revision_preconditions() {
    let (_app, p1, n, s) = setup().await;
    let (_, b) = p1.get(&format!("/v2.0/networks/{n}")).await;
    let rev = b["network"]["revision_number"].as_i64().unwrap();
    assert_error_msg(
        &p1.put_if(&format!("/v2.0/networks/{n}"), json!({"network": {"name": "x"}}), rev + 5).await,
        412,
        "RevisionNumberConstraintFailed",
        &format!("Constrained to {}, but current revision is {rev}", rev + 5),
    );
    let (st, b) = p1.put_if(&format!("/v2.0/networks/{n}"), json!({"network": {"name": "x"}}), rev).await;
    assert_eq!(st.as_u16(), 200, "{b}");
    assert_eq!(b["network"]["revision_number"], rev + 1);
    assert_error(
        &p1.delete_if(&format!("/v2.0/subnets/{s}"), 99).await,
        412,
        "RevisionNumberConstraintFailed",
    );
    let p = p1.port(&n, json!({})).await;
    assert_error(
        &p1.delete_if(&format!("/v2.0/ports/{}", id(&p)), 2).await,
        412,
        "RevisionNumberConstraintFailed",
    );
    assert_eq!(p1.delete_if(&format!("/v2.0/ports/{}", id(&p)), 1).await.0.as_u16(), 204);
    let bad_header = p1
        .send(
            Method::PUT,
            &format!("/v2.0/networks/{n}"),
            Some(b"{\"network\":{}}".to_vec()),
            &[("if-match", "revision_number=x")],
        )
        .await;
    assert_error(&bad_header, 400, "HTTPBadRequest");
}

#[tokio::test]
async fn unknown_urls_and_methods() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    for path in ["/v2.0/bogus", "/v2.0/subnetpools", "/v2.0/bogus/123", "/nope", "/v2.0/networks/x/y/z/w"] {
        assert_error_msg(&p1.get(path).await, 404, "HTTPNotFound", "The resource could not be found.");
    }
    assert_error_msg(
        &p1.post("/v2.0/bogus", json!({"bogus": {}})).await,
        404,
        "HTTPNotFound",
        "The resource could not be found.",
    );
    assert_error(&p1.send(Method::PATCH, "/v2.0/networks", None, &[]).await, 405, "HTTPMethodNotAllowed");
    assert_error(&p1.get("/v2.0/extensions/nope").await, 404, "ExtensionNotFound");
}
