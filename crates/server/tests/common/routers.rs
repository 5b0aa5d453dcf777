//! Helpers of the router and L3 tests: an external network, routers, interfaces, agent
//! heartbeats, and a floating IP row written straight into the store (the floating IP API is
//! not part of these tests).

use axum::http::StatusCode;
use neutrino_server::store::Store;
use serde_json::{Value, json};

use super::{App, Caller, Resp, id};

/// The external network `public` (flat on physnet `public`) with 203.0.113.0/24, allocation pool
/// .10-.200: `(network, subnet)`. Addresses the tests pick by hand lie above the pool, so a
/// gateway port (placed at random in the pool) never holds one.
pub async fn ext_net(admin: &Caller) -> (String, String) {
    let net = id(&admin
        .network(json!({"name": "public", "router:external": true, "provider:network_type": "flat",
            "provider:physical_network": "public"}))
        .await);
    let sub = id(&admin
        .subnet(
            &net,
            "203.0.113.0/24",
            json!({"gateway_ip": "203.0.113.1",
            "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.200"}]}),
        )
        .await);
    (net, sub)
}

/// Creates a router (asserting 201) and returns it.
pub async fn router(caller: &Caller, body: Value) -> Value {
    let (s, b) = caller.post("/v2.0/routers", json!({ "router": body })).await;
    assert_eq!(s, StatusCode::CREATED, "create router: {b}");
    b["router"].clone()
}

pub async fn add_iface(caller: &Caller, router: &str, body: Value) -> Resp {
    caller.put(&format!("/v2.0/routers/{router}/add_router_interface"), body).await
}

pub async fn remove_iface(caller: &Caller, router: &str, body: Value) -> Resp {
    caller.put(&format!("/v2.0/routers/{router}/remove_router_interface"), body).await
}

/// Adds the interface (asserting 200) and returns the answer.
pub async fn iface(caller: &Caller, router: &str, body: Value) -> Value {
    let (s, b) = add_iface(caller, router, body).await;
    assert_eq!(s, StatusCode::OK, "add interface: {b}");
    b
}

pub fn l3_report(host: &str) -> Value {
    json!({"host": host, "agent_type": "L3 agent", "binary": "neutron-l3-agent", "topic": "l3_agent",
        "start_flag": true, "configurations": {}})
}

pub fn ovs_report(host: &str, ip: &str) -> Value {
    json!({"host": host, "agent_type": "Open vSwitch agent", "binary": "neutron-openvswitch-agent",
        "start_flag": true, "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": ip,
            "bridge_mappings": {"public": "br-ex"}}})
}

pub async fn report(app: &App, body: Value) {
    let (s, b) = app.agent().post("/internal/v1/agents/report", body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// A port of the external network holding `address` (what a floating IP's port is), and a
/// `floatingips` row for it served by `router` and associated with `fixed_port` at `fixed`.
pub async fn insert_fip(
    store: &Store,
    admin: &Caller,
    ext_net: &str,
    address: &str,
    router: &str,
    fixed_port: &str,
    fixed: &str,
) -> String {
    let fport = admin
        .port(ext_net, json!({"device_owner": "network:floatingip", "fixed_ips": [{"ip_address": address}]}))
        .await;
    let fip = uuid::Uuid::new_v4().to_string();
    let params: Vec<neutrino_server::store::SqlValue> = vec![
        fip.clone().into(),
        ext_net.into(),
        id(&fport).into(),
        address.into(),
        fixed_port.into(),
        fixed.into(),
        router.into(),
    ];
    store
        .write(move |sql| {
            sql.execute(
                "INSERT INTO floatingips (id, project_id, description, floating_network_id, floating_port_id, \
                 floating_ip_address, fixed_port_id, fixed_ip_address, router_id, status, created_at, updated_at, \
                 revision_number) VALUES (?, 'p1', '', ?, ?, ?, ?, ?, ?, 'DOWN', '', '', 1)",
                &params,
            )?;
            Ok(())
        })
        .await
        .expect("floating IP row inserted");
    fip
}

/// A router's ports of `owner` (admin view).
pub async fn ports_of(admin: &Caller, router: &str, owner: &str) -> Vec<Value> {
    let (s, b) = admin.get(&format!("/v2.0/ports?device_id={router}&device_owner={owner}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["ports"].as_array().expect("ports").clone()
}
