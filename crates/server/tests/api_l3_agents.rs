//! L3 scheduling through the API: a router goes to a live L3 agent when it gets its first
//! interface or gateway (least loaded first, ties by host), or waits for one to report; its
//! ports are bound to that agent's host; the `l3_agent_scheduler` routes move routers with
//! upstream's errors; a dead agent's routers move to a live one.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::routers::{ext_net, iface, l3_report, ovs_report, ports_of, report, router};
use common::{App, Caller, assert_error, id};
use neutrino_server::config::Config;
use neutrino_server::store::Store;
use serde_json::{Value, json};

async fn app_with(f: impl FnOnce(&mut Config)) -> App {
    let mut c = Config::default();
    f(&mut c);
    App::with_config(c, Store::memory(), None).await
}

/// The id of the agent row of `agent_type` on `host`.
async fn agent_id(admin: &Caller, host: &str, agent_type: &str) -> String {
    let (_, b) = admin.get(&format!("/v2.0/agents?host={host}")).await;
    let a = b["agents"].as_array().unwrap().iter().find(|a| a["agent_type"] == agent_type).cloned();
    id(&a.unwrap_or_else(|| panic!("no {agent_type} on {host} in {b}")))
}

/// The hosts of the L3 agents running `router`.
async fn hosts_of(admin: &Caller, router: &str) -> Vec<String> {
    let (s, b) = admin.get(&format!("/v2.0/routers/{router}/l3-agents")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["agents"].as_array().unwrap().iter().map(|a| a["host"].as_str().unwrap().to_string()).collect()
}

/// A router of p1 with one interface on a fresh subnet `cidr`.
async fn routed(app: &App, cidr: &str) -> String {
    let p1 = app.as_("p1", "member");
    let net = p1.net("n").await;
    let sub = id(&p1.subnet(&net, cidr, json!({})).await);
    let r = id(&router(&p1, json!({})).await);
    iface(&p1, &r, json!({"subnet_id": sub})).await;
    r
}

fn hosts(ports: &[Value]) -> Vec<&str> {
    ports.iter().map(|p| p["binding:host_id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_router_waits_for_an_agent_then_its_ports_follow_it() {
    let app = App::new().await;
    let admin = app.admin();
    report(&app, ovs_report("net1", "172.31.0.1")).await;
    let (ext, _) = ext_net(&admin).await;
    let p1 = app.as_("p1", "member");
    let bare = id(&router(&p1, json!({})).await);
    let r = routed(&app, "10.0.0.0/24").await;
    p1.put(&format!("/v2.0/routers/{r}"), json!({"router": {"external_gateway_info": {"network_id": ext}}}))
        .await;
    assert!(hosts_of(&admin, &r).await.is_empty(), "no L3 agent yet");
    let ifaces = ports_of(&admin, &r, "network:router_interface").await;
    assert_eq!(hosts(&ifaces), vec![""], "unbound while unscheduled");
    report(&app, l3_report("net1")).await;
    assert_eq!(hosts_of(&admin, &r).await, vec!["net1"]);
    let ifaces = ports_of(&admin, &r, "network:router_interface").await;
    let gw = ports_of(&admin, &r, "network:router_gateway").await;
    assert_eq!(hosts(&ifaces), vec!["net1"]);
    assert_eq!(hosts(&gw), vec!["net1"]);
    assert_eq!(ifaces[0]["binding:vif_type"], "ovs", "{ifaces:?}");
    assert_eq!(gw[0]["binding:vif_type"], "ovs", "the host's bridge_mappings reach physnet public: {gw:?}");
    // A router without ports is not scheduled.
    assert!(hosts_of(&admin, &bare).await.is_empty());
    let agent = agent_id(&admin, "net1", "L3 agent").await;
    let (s, b) = admin.get(&format!("/v2.0/agents/{agent}/l3-routers")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let listed: Vec<String> = b["routers"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(listed, vec![r.clone()]);
    assert_eq!(b["routers"][0]["external_gateway_info"]["network_id"], ext.as_str());
}

#[tokio::test]
async fn routers_go_to_the_least_loaded_agent() {
    let app = App::new().await;
    let admin = app.admin();
    report(&app, l3_report("h2")).await;
    report(&app, l3_report("h1")).await;
    let r1 = routed(&app, "10.1.0.0/24").await;
    let r2 = routed(&app, "10.2.0.0/24").await;
    let r3 = routed(&app, "10.3.0.0/24").await;
    assert_eq!(hosts_of(&admin, &r1).await, vec!["h1"], "a tie goes by host");
    assert_eq!(hosts_of(&admin, &r2).await, vec!["h2"]);
    assert_eq!(hosts_of(&admin, &r3).await, vec!["h1"]);
    // A disabled agent takes no more.
    let h2 = agent_id(&admin, "h2", "L3 agent").await;
    admin.put(&format!("/v2.0/agents/{h2}"), json!({"agent": {"admin_state_up": false}})).await;
    let r4 = routed(&app, "10.4.0.0/24").await;
    assert_eq!(hosts_of(&admin, &r4).await, vec!["h1"]);
}

#[tokio::test]
async fn the_scheduler_routes_move_routers_with_upstream_s_errors() {
    let app = App::new().await;
    let admin = app.admin();
    for host in ["h1", "h2"] {
        report(&app, l3_report(host)).await;
        report(&app, ovs_report(host, "172.31.0.9")).await;
    }
    let dhcp = json!({"host": "h1", "agent_type": "DHCP agent", "binary": "neutron-dhcp-agent",
        "start_flag": true, "configurations": {}});
    report(&app, dhcp).await;
    let r = routed(&app, "10.0.0.0/24").await;
    let (h1, h2) = (agent_id(&admin, "h1", "L3 agent").await, agent_id(&admin, "h2", "L3 agent").await);
    assert_eq!(hosts_of(&admin, &r).await, vec!["h1"]);
    let body = json!({"router_id": r});
    let path = |a: &str| format!("/v2.0/agents/{a}/l3-routers");
    assert_error(&admin.post(&path(&h2), body.clone()).await, 409, "RouterHostedByL3Agent");
    let (s, b) = admin.post(&path(&h1), body.clone()).await;
    assert_eq!((s, b), (StatusCode::CREATED, Value::Null), "already there is fine");
    let dhcp_id = agent_id(&admin, "h1", "DHCP agent").await;
    assert_error(&admin.post(&path(&dhcp_id), body.clone()).await, 404, "InvalidL3Agent");
    assert_error(
        &admin.post(&path(&h2), json!({"router_id": "8d1d2b45-1a8c-4a0a-9a6e-0b4c7a3f9a11"})).await,
        404,
        "RouterNotFound",
    );
    assert_error(&admin.post(&path(&h2), json!({})).await, 400, "HTTPBadRequest");
    assert_error(&admin.delete(&format!("{}/{r}", path(&h2))).await, 409, "RouterNotHostedByL3Agent");
    // Members may not.
    let p1 = app.as_("p1", "member");
    assert_error(&p1.get(&path(&h1)).await, 403, "PolicyNotAuthorized");
    assert_error(&p1.get(&format!("/v2.0/routers/{r}/l3-agents")).await, 403, "PolicyNotAuthorized");
    assert_error(&p1.delete(&format!("{}/{r}", path(&h1))).await, 403, "PolicyNotAuthorized");
    // Off h1, then onto h2: the ports follow.
    assert_eq!(admin.delete(&format!("{}/{r}", path(&h1))).await.0, StatusCode::NO_CONTENT);
    assert!(hosts_of(&admin, &r).await.is_empty());
    assert_eq!(hosts(&ports_of(&admin, &r, "network:router_interface").await), vec![""]);
    assert_eq!(admin.post(&path(&h2), body).await.0, StatusCode::CREATED);
    assert_eq!(hosts_of(&admin, &r).await, vec!["h2"]);
    assert_eq!(hosts(&ports_of(&admin, &r, "network:router_interface").await), vec!["h2"]);
    let (_, b) = admin.get(&path(&h1)).await;
    assert_eq!(b["routers"], json!([]));
    // Deleting the agent moves its routers to the live one.
    assert_eq!(admin.delete(&format!("/v2.0/agents/{h2}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(hosts_of(&admin, &r).await, vec!["h1"]);
}

#[tokio::test]
async fn a_dead_agent_s_routers_move_to_a_live_one() {
    // Alive for 2 s; dead (for failover) after 4 s; the check runs every second.
    let app = app_with(|c| c.ml2.agent_down_time = 2).await;
    let admin = app.admin();
    report(&app, l3_report("h1")).await;
    let r = routed(&app, "10.0.0.0/24").await;
    report(&app, l3_report("h2")).await;
    assert_eq!(hosts_of(&admin, &r).await, vec!["h1"]);
    let mut moved = false;
    for _ in 0..40 {
        report(&app, l3_report("h2")).await;
        if hosts_of(&admin, &r).await == vec!["h2"] {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(moved, "the router moved to h2: {:?}", hosts_of(&admin, &r).await);
    assert_eq!(hosts(&ports_of(&admin, &r, "network:router_interface").await), vec!["h2"]);
}

#[tokio::test]
async fn l3_agents_are_listed_as_agents() {
    let app = App::new().await;
    report(&app, l3_report("h1")).await;
    let (_, b) = app.admin().get("/v2.0/agents?agent_type=L3%20agent").await;
    let a = &b["agents"][0];
    assert_eq!(a["agent_type"], "L3 agent", "{b}");
    assert_eq!(a["binary"], "neutron-l3-agent");
    assert_eq!(a["alive"], true);
}

#[tokio::test]
async fn router_ports_bind_again_when_the_host_s_l2_agent_reports() {
    let app = App::new().await;
    let admin = app.admin();
    report(&app, l3_report("net1")).await;
    let r = routed(&app, "10.0.0.0/24").await;
    let before = ports_of(&admin, &r, "network:router_interface").await;
    assert_eq!(hosts(&before), vec!["net1"]);
    assert_eq!(before[0]["binding:vif_type"], "binding_failed", "no l2 agent on net1 yet");
    report(&app, ovs_report("net1", "172.31.0.1")).await;
    let after = ports_of(&admin, &r, "network:router_interface").await;
    assert_eq!(after[0]["binding:vif_type"], "ovs", "{after:?}");
}
