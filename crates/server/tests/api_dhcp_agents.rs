//! DHCP scheduling and DHCP ports through the API: a network with a DHCP subnet goes to a live
//! DHCP agent (least loaded first, `dhcp_agents_per_network` of them), or waits for one to
//! report; each hosting agent gets a `network:dhcp` port on its host with an address in every
//! DHCP subnet; a dead agent's networks move to a live one keeping the port's address; the
//! `dhcp_agent_scheduler` routes add and remove networks with upstream's errors.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{App, Caller, assert_error, id};
use neutrino_server::config::Config;
use neutrino_server::store::Store;
use serde_json::{Value, json};

async fn app_with(f: impl FnOnce(&mut Config)) -> App {
    let mut c = Config::default();
    f(&mut c);
    App::with_config(c, Store::memory(), None).await
}

fn dhcp_report(host: &str) -> Value {
    json!({"host": host, "agent_type": "DHCP agent", "binary": "neutron-dhcp-agent", "topic": "dhcp_agent",
        "start_flag": true, "configurations": {}})
}

fn ovs_report(host: &str) -> Value {
    json!({"host": host, "agent_type": "Open vSwitch agent", "binary": "neutron-openvswitch-agent",
        "start_flag": true, "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": "172.31.0.1"}})
}

async fn report(app: &App, body: Value) {
    let (s, b) = app.agent().post("/internal/v1/agents/report", body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// The id of the agent row of `agent_type` on `host`.
async fn agent_id(admin: &Caller, host: &str, agent_type: &str) -> String {
    let (_, b) = admin.get(&format!("/v2.0/agents?host={host}")).await;
    let a = b["agents"].as_array().unwrap().iter().find(|a| a["agent_type"] == agent_type).cloned();
    id(&a.unwrap_or_else(|| panic!("no {agent_type} on {host} in {b}")))
}

/// The hosts of the DHCP agents hosting `net`, sorted.
async fn hosts_of(admin: &Caller, net: &str) -> Vec<String> {
    let (s, b) = admin.get(&format!("/v2.0/networks/{net}/dhcp-agents")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut h: Vec<String> =
        b["agents"].as_array().unwrap().iter().map(|a| a["host"].as_str().unwrap().to_string()).collect();
    h.sort();
    h
}

/// The `network:dhcp` ports of `net`.
async fn dhcp_ports(admin: &Caller, net: &str) -> Vec<Value> {
    let (_, b) = admin.get(&format!("/v2.0/ports?network_id={net}&device_owner=network:dhcp")).await;
    b["ports"].as_array().unwrap().clone()
}

/// Upstream's device id of the DHCP port of `host` on `net` (`dhcp` + uuid5(DNS, host) + net).
fn device_id(net: &str, host: &str) -> String {
    let u = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, host.as_bytes());
    format!("dhcp{u}-{net}")
}

#[tokio::test]
async fn a_dhcp_subnet_is_scheduled_to_a_live_agent_with_its_port() {
    let app = App::new().await;
    report(&app, ovs_report("h1")).await;
    report(&app, dhcp_report("h1")).await;
    let admin = app.as_("p1", "member");
    let net = id(&admin.network(json!({"name": "n"})).await);
    let sub = id(&admin.subnet(&net, "10.0.0.0/24", json!({})).await);
    let root = app.admin();
    assert_eq!(hosts_of(&root, &net).await, vec!["h1"]);
    let ports = dhcp_ports(&root, &net).await;
    assert_eq!(ports.len(), 1, "{ports:?}");
    let p = &ports[0];
    assert_eq!(p["device_owner"], "network:dhcp");
    assert_eq!(p["device_id"], device_id(&net, "h1"));
    // Upstream's value for host "h1" (Python: uuid.uuid5(uuid.NAMESPACE_DNS, "h1")).
    assert_eq!(p["device_id"], format!("dhcp8839d356-f787-5a0b-8010-d454645c55f8-{net}"));
    assert_eq!(p["binding:host_id"], "h1");
    assert_eq!(p["binding:vif_type"], "ovs", "bound like any port of a host with an l2 agent");
    assert_eq!(p["project_id"], "p1", "the network's project");
    assert_eq!(p["security_groups"], json!([]));
    assert_eq!(p["fixed_ips"].as_array().unwrap().len(), 1);
    assert_eq!(p["fixed_ips"][0]["subnet_id"], sub.as_str());
    // The first free address after the gateway, not one at random: a port asking for another
    // address by hand never meets it.
    assert_eq!(p["fixed_ips"][0]["ip_address"], "10.0.0.2");
    // The network's owner sees the port (it is on their network).
    assert_eq!(dhcp_ports(&admin, &net).await.len(), 1);

    // A second DHCP subnet adds an address to the same port; disabling DHCP removes it.
    let sub2 = id(&admin.subnet(&net, "10.0.1.0/24", json!({})).await);
    let p = &dhcp_ports(&root, &net).await[0];
    let subnets: Vec<&str> =
        p["fixed_ips"].as_array().unwrap().iter().map(|f| f["subnet_id"].as_str().unwrap()).collect();
    assert_eq!(subnets.len(), 2);
    assert!(subnets.contains(&sub.as_str()) && subnets.contains(&sub2.as_str()), "{p}");
    let (s, b) = admin.put(&format!("/v2.0/subnets/{sub2}"), json!({"subnet": {"enable_dhcp": false}})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let p = &dhcp_ports(&root, &net).await[0];
    assert_eq!(p["fixed_ips"].as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p["fixed_ips"][0]["subnet_id"], sub.as_str());
    // A subnet without DHCP does not schedule anything by itself.
    let other = id(&admin.network(json!({})).await);
    admin.subnet(&other, "10.9.0.0/24", json!({"enable_dhcp": false})).await;
    assert!(hosts_of(&root, &other).await.is_empty());
    assert!(dhcp_ports(&root, &other).await.is_empty());
    // Turning DHCP on schedules it.
    let (_, b) = admin.get(&format!("/v2.0/subnets?network_id={other}")).await;
    let osub = id(&b["subnets"][0]);
    admin.put(&format!("/v2.0/subnets/{osub}"), json!({"subnet": {"enable_dhcp": true}})).await;
    assert_eq!(hosts_of(&root, &other).await, vec!["h1"]);
    assert_eq!(dhcp_ports(&root, &other).await.len(), 1);
}

#[tokio::test]
async fn without_an_agent_nothing_is_scheduled_until_one_reports() {
    let app = App::new().await;
    let admin = app.admin();
    let net = id(&admin.network(json!({})).await);
    admin.subnet(&net, "10.0.0.0/24", json!({})).await;
    assert!(hosts_of(&admin, &net).await.is_empty());
    assert!(dhcp_ports(&admin, &net).await.is_empty());
    // An l2 agent is no DHCP agent.
    report(&app, ovs_report("h1")).await;
    assert!(hosts_of(&admin, &net).await.is_empty());
    report(&app, dhcp_report("h1")).await;
    assert_eq!(hosts_of(&admin, &net).await, vec!["h1"]);
    let ports = dhcp_ports(&admin, &net).await;
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["binding:host_id"], "h1");
    // A later heartbeat of another agent takes nothing (the network has its one agent).
    report(&app, dhcp_report("h2")).await;
    assert_eq!(hosts_of(&admin, &net).await, vec!["h1"]);
}

#[tokio::test]
async fn least_loaded_agents_first_and_agents_per_network() {
    let app = app_with(|c| c.dhcp.dhcp_agents_per_network = 2).await;
    for h in ["h1", "h2", "h3"] {
        report(&app, dhcp_report(h)).await;
    }
    let admin = app.admin();
    let n1 = id(&admin.network(json!({})).await);
    admin.subnet(&n1, "10.0.0.0/24", json!({})).await;
    assert_eq!(hosts_of(&admin, &n1).await, vec!["h1", "h2"], "ties by host");
    let ports = dhcp_ports(&admin, &n1).await;
    let mut hosts: Vec<&str> = ports.iter().map(|p| p["binding:host_id"].as_str().unwrap()).collect();
    hosts.sort();
    assert_eq!(hosts, vec!["h1", "h2"], "one DHCP port per hosting agent");
    let ips: Vec<&Value> = ports.iter().map(|p| &p["fixed_ips"][0]["ip_address"]).collect();
    assert_ne!(ips[0], ips[1]);
    let n2 = id(&admin.network(json!({})).await);
    admin.subnet(&n2, "10.0.1.0/24", json!({})).await;
    assert_eq!(hosts_of(&admin, &n2).await, vec!["h1", "h3"], "h3 had none; h1 and h2 tie, h1 first");
}

#[tokio::test]
async fn a_dhcp_port_binds_once_its_host_s_l2_agent_reports() {
    let app = App::new().await;
    report(&app, dhcp_report("h1")).await;
    let admin = app.admin();
    let net = id(&admin.network(json!({})).await);
    admin.subnet(&net, "10.0.0.0/24", json!({})).await;
    assert_eq!(
        dhcp_ports(&admin, &net).await[0]["binding:vif_type"],
        "binding_failed",
        "no l2 agent on h1 yet"
    );
    report(&app, ovs_report("h1")).await;
    let p = &dhcp_ports(&admin, &net).await[0];
    assert_eq!(p["binding:vif_type"], "ovs", "{p}");
    assert_eq!(p["binding:host_id"], "h1");
}

#[tokio::test]
async fn a_deleted_dhcp_port_of_a_hosted_network_is_made_again() {
    let app = App::new().await;
    report(&app, dhcp_report("h1")).await;
    let admin = app.admin();
    let net = id(&admin.network(json!({})).await);
    admin.subnet(&net, "10.0.0.0/24", json!({})).await;
    let old = id(&dhcp_ports(&admin, &net).await[0]);
    let (s, _) = admin.delete(&format!("/v2.0/ports/{old}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let now = dhcp_ports(&admin, &net).await;
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(id(&now[0]), old);
    assert_eq!(now[0]["device_id"], device_id(&net, "h1"));
}

#[tokio::test]
async fn a_disabled_agent_is_not_scheduled_to() {
    let app = App::new().await;
    report(&app, dhcp_report("h1")).await;
    report(&app, dhcp_report("h2")).await;
    let admin = app.admin();
    let a1 = agent_id(&admin, "h1", "DHCP agent").await;
    admin.put(&format!("/v2.0/agents/{a1}"), json!({"agent": {"admin_state_up": false}})).await;
    let net = id(&admin.network(json!({})).await);
    admin.subnet(&net, "10.0.0.0/24", json!({})).await;
    assert_eq!(hosts_of(&admin, &net).await, vec!["h2"]);
}

#[tokio::test]
async fn subnet_and_network_delete_take_the_dhcp_ports_along() {
    let app = App::new().await;
    report(&app, dhcp_report("h1")).await;
    let owner = app.as_("p1", "member");
    let net = id(&owner.network(json!({})).await);
    let s1 = id(&owner.subnet(&net, "10.0.0.0/24", json!({})).await);
    let s2 = id(&owner.subnet(&net, "10.0.1.0/24", json!({})).await);
    let root = app.admin();
    assert_eq!(dhcp_ports(&root, &net).await[0]["fixed_ips"].as_array().unwrap().len(), 2);
    let (s, b) = owner.delete(&format!("/v2.0/subnets/{s1}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "the DHCP port does not hold the subnet: {b}");
    let p = &dhcp_ports(&root, &net).await[0];
    assert_eq!(p["fixed_ips"].as_array().unwrap().len(), 1);
    assert_eq!(p["fixed_ips"][0]["subnet_id"], s2.as_str());
    let (s, _) = owner.delete(&format!("/v2.0/subnets/{s2}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(dhcp_ports(&root, &net).await.is_empty(), "no DHCP subnet left: no DHCP port");
    assert!(hosts_of(&root, &net).await.is_empty(), "and no agent");

    owner.subnet(&net, "10.0.2.0/24", json!({})).await;
    assert_eq!(dhcp_ports(&root, &net).await.len(), 1);
    let (s, b) = owner.delete(&format!("/v2.0/networks/{net}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (_, b) = root.get("/v2.0/ports?device_owner=network:dhcp").await;
    assert_eq!(b["ports"], json!([]));
    let a = agent_id(&root, "h1", "DHCP agent").await;
    let (_, b) = root.get(&format!("/v2.0/agents/{a}/dhcp-networks")).await;
    assert_eq!(b["networks"], json!([]));
}

#[tokio::test]
async fn manual_add_and_remove_with_upstream_errors() {
    let app = App::new().await;
    report(&app, dhcp_report("h1")).await;
    report(&app, dhcp_report("h2")).await;
    report(&app, ovs_report("h1")).await;
    let admin = app.admin();
    let a1 = agent_id(&admin, "h1", "DHCP agent").await;
    let a2 = agent_id(&admin, "h2", "DHCP agent").await;
    let l2 = agent_id(&admin, "h1", "Open vSwitch agent").await;
    let net = id(&admin.network(json!({})).await);
    admin.subnet(&net, "10.0.0.0/24", json!({})).await;
    assert_eq!(hosts_of(&admin, &net).await, vec!["h1"]);

    // Add h2 too: a second DHCP port.
    let path2 = format!("/v2.0/agents/{a2}/dhcp-networks");
    let (s, b) = admin.post(&path2, json!({"network_id": net})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b, Value::Null);
    assert_eq!(hosts_of(&admin, &net).await, vec!["h1", "h2"]);
    assert_eq!(dhcp_ports(&admin, &net).await.len(), 2);
    let (_, b) = admin.get(&path2).await;
    assert_eq!(b["networks"].as_array().unwrap().len(), 1);
    assert_eq!(b["networks"][0]["id"], net.as_str());
    assert!(b["networks"][0]["subnets"].as_array().unwrap().len() == 1, "rendered as the network API: {b}");

    // Errors.
    assert_error(&admin.post(&path2, json!({"network_id": net})).await, 409, "NetworkHostedByDHCPAgent");
    let unknown = "6bd6a0a6-6a9c-4e58-a5a9-3b9f3b7c9b1e";
    assert_error(&admin.post(&path2, json!({"network_id": unknown})).await, 404, "NetworkNotFound");
    assert_error(
        &admin.post(&format!("/v2.0/agents/{unknown}/dhcp-networks"), json!({"network_id": net})).await,
        404,
        "AgentNotFound",
    );
    assert_error(
        &admin.post(&format!("/v2.0/agents/{l2}/dhcp-networks"), json!({"network_id": net})).await,
        404,
        "InvalidDHCPAgent",
    );
    assert_error(&admin.post(&path2, json!({"network_id": "not-a-uuid"})).await, 400, "HTTPBadRequest");
    assert_error(&admin.post(&path2, json!({})).await, 400, "HTTPBadRequest");
    assert_error(&admin.get(&format!("/v2.0/agents/{unknown}/dhcp-networks")).await, 404, "AgentNotFound");
    let member = app.as_("p1", "member");
    assert_error(&member.get(&path2).await, 403, "PolicyNotAuthorized");
    assert_error(&member.post(&path2, json!({"network_id": net})).await, 403, "PolicyNotAuthorized");
    assert_error(&member.delete(&format!("{path2}/{net}")).await, 403, "PolicyNotAuthorized");
    assert_error(&member.get(&format!("/v2.0/networks/{net}/dhcp-agents")).await, 403, "PolicyNotAuthorized");
    // A disabled DHCP agent takes no network.
    admin.put(&format!("/v2.0/agents/{a1}"), json!({"agent": {"admin_state_up": false}})).await;
    let net2 = id(&admin.network(json!({})).await);
    assert_error(
        &admin.post(&format!("/v2.0/agents/{a1}/dhcp-networks"), json!({"network_id": net2})).await,
        404,
        "InvalidDHCPAgent",
    );

    // Remove h2: its port is kept, reserved and unbound; adding it back reuses it.
    let p2 = dhcp_ports(&admin, &net).await.into_iter().find(|p| p["binding:host_id"] == "h2").unwrap();
    let (s, b) = admin.delete(&format!("{path2}/{net}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(hosts_of(&admin, &net).await, vec!["h1"]);
    let (_, b) = admin.get(&format!("/v2.0/ports/{}", id(&p2))).await;
    assert_eq!(b["port"]["device_id"], "reserved_dhcp_port");
    assert_eq!(b["port"]["binding:host_id"], "");
    assert_error(&admin.delete(&format!("{path2}/{net}")).await, 409, "NetworkNotHostedByDhcpAgent");
    assert_error(
        &admin.delete(&format!("/v2.0/agents/{unknown}/dhcp-networks/{net}")).await,
        404,
        "AgentNotFound",
    );
    let (s, _) = admin.post(&path2, json!({"network_id": net})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, b) = admin.get(&format!("/v2.0/ports/{}", id(&p2))).await;
    assert_eq!(b["port"]["device_id"], device_id(&net, "h2"));
    assert_eq!(b["port"]["binding:host_id"], "h2");
    assert_eq!(b["port"]["fixed_ips"], p2["fixed_ips"], "the same address");
    assert_eq!(dhcp_ports(&admin, &net).await.len(), 2);

    // A network without subnets can be added (upstream's forced scheduling): no port yet.
    let bare = id(&admin.network(json!({})).await);
    let (s, _) = admin.post(&path2, json!({"network_id": bare})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(hosts_of(&admin, &bare).await, vec!["h2"]);
    assert!(dhcp_ports(&admin, &bare).await.is_empty());
    // An unknown network has no agents.
    assert!(hosts_of(&admin, unknown).await.is_empty());
}

#[tokio::test]
async fn a_dead_agent_s_networks_move_to_a_live_one_keeping_the_address() {
    // Alive for 2 s; dead (for failover) after 4 s; the check runs every second.
    let app = app_with(|c| c.ml2.agent_down_time = 2).await;
    report(&app, dhcp_report("h1")).await;
    let admin = app.admin();
    let net = id(&admin.network(json!({})).await);
    admin.subnet(&net, "10.0.0.0/24", json!({})).await;
    report(&app, dhcp_report("h2")).await;
    assert_eq!(hosts_of(&admin, &net).await, vec!["h1"]);
    let before = dhcp_ports(&admin, &net).await;
    assert_eq!(before.len(), 1);
    let mut moved = false;
    for _ in 0..40 {
        report(&app, dhcp_report("h2")).await;
        if hosts_of(&admin, &net).await == vec!["h2"] {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(moved, "the network moved to h2: {:?}", hosts_of(&admin, &net).await);
    let after = dhcp_ports(&admin, &net).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["id"], before[0]["id"], "the reserved port is reused");
    assert_eq!(after[0]["fixed_ips"], before[0]["fixed_ips"], "the server address stays");
    assert_eq!(after[0]["device_id"], device_id(&net, "h2"));
    assert_eq!(after[0]["binding:host_id"], "h2");
}

#[tokio::test]
async fn agent_filters_ignore_case_as_upstream_s_database() {
    let app = App::new().await;
    report(&app, dhcp_report("h1")).await;
    report(&app, ovs_report("h1")).await;
    let (_, b) = app.admin().get("/v2.0/agents?agent_type=DHCP%20Agent").await;
    let types: Vec<&Value> = b["agents"].as_array().unwrap().iter().map(|a| &a["agent_type"]).collect();
    assert_eq!(types, vec!["DHCP agent"], "{b}");
}

#[tokio::test]
async fn the_extension_is_listed() {
    let app = App::new().await;
    let (s, b) = app.admin().get("/v2.0/extensions/dhcp_agent_scheduler").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["extension"]["name"], "DHCP Agent Scheduler");
}
