//! ML2: tenant segment allocation (exhaustion, release), provider segments (conflicts, ranges,
//! policy), agents and heartbeats, port binding rules, and the internal agent API (desired
//! state, watch deltas, port status).

mod common;

use axum::http::{Method, StatusCode};
use common::{App, assert_error, id};
use neutrino_server::config::Config;
use neutrino_server::store::Store;
use serde_json::{Value, json};

async fn app_with(f: impl FnOnce(&mut Config)) -> App {
    let mut c = Config::default();
    f(&mut c);
    App::with_config(c, Store::memory(), None).await
}

fn ovs_report(host: &str, ip: &str) -> Value {
    json!({"host": host, "agent_type": "Open vSwitch agent", "binary": "neutron-openvswitch-agent",
        "start_flag": true,
        "configurations": {"bridge_mappings": {"physnet1": "br-eth1"}, "tunnel_types": ["vxlan", "gre"],
            "tunneling_ip": ip, "datapath_type": "netdev", "integration_bridge": "br-int"}})
}

#[tokio::test]
async fn tenant_networks_get_vxlan_ids_until_exhausted_and_ids_are_released() {
    let app = app_with(|c| c.ml2.vni_ranges = vec!["10:11".into()]).await;
    let admin = app.admin();
    let p1 = app.as_("p1", "member");
    let a = p1.network(json!({"name": "a"})).await;
    let b = p1.network(json!({"name": "b"})).await;
    let seg = |n: &Value| {
        let (admin, path) = (admin.clone(), format!("/v2.0/networks/{}", id(n)));
        async move { admin.get(&path).await.1["network"].clone() }
    };
    let (sa, sb) = (seg(&a).await, seg(&b).await);
    assert_eq!(sa["provider:network_type"], "vxlan");
    assert_eq!(sa["mtu"], 1450);
    let mut ids = vec![
        sa["provider:segmentation_id"].as_i64().unwrap(),
        sb["provider:segmentation_id"].as_i64().unwrap(),
    ];
    ids.sort();
    assert_eq!(ids, vec![10, 11]);
    let r = p1.post("/v2.0/networks", json!({"network": {"name": "c"}})).await;
    assert_error(&r, 503, "NoNetworkAvailable");
    assert_eq!(p1.delete(&format!("/v2.0/networks/{}", id(&a))).await.0, StatusCode::NO_CONTENT);
    let c = p1.network(json!({"name": "c"})).await;
    assert_eq!(seg(&c).await["provider:segmentation_id"], sa["provider:segmentation_id"]);
}

#[tokio::test]
async fn provider_segments_are_checked_and_exclusive() {
    let app = App::new().await;
    let admin = app.admin();
    let vlan = json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
        "provider:segmentation_id": 100}});
    let (s, b) = admin.post("/v2.0/networks", vlan.clone()).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(b["network"]["provider:segmentation_id"], 100);
    assert_eq!(b["network"]["mtu"], 1500);
    assert_error(&admin.post("/v2.0/networks", vlan).await, 409, "VlanIdInUse");
    for bad in [
        json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 4095}),
        json!({"provider:network_type": "vlan", "provider:physical_network": "nowhere"}),
        json!({"provider:network_type": "vlan"}),
        json!({"provider:network_type": "flat"}),
        json!({"provider:network_type": "flat", "provider:physical_network": "physnet1", "provider:segmentation_id": 3}),
        json!({"provider:network_type": "vxlan", "provider:physical_network": "physnet1"}),
        json!({"provider:network_type": "vxlan", "provider:segmentation_id": 16777216}),
        json!({"provider:network_type": "geneve"}),
    ] {
        let r = admin.post("/v2.0/networks", json!({"network": bad.clone()})).await;
        assert_eq!(r.0, StatusCode::BAD_REQUEST, "{bad}: {}", r.1);
    }
    let flat = json!({"network": {"provider:network_type": "flat", "provider:physical_network": "physnet1"}});
    let (s, f) = admin.post("/v2.0/networks", flat.clone()).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_error(&admin.post("/v2.0/networks", flat.clone()).await, 409, "FlatNetworkInUse");
    let vx = json!({"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 5000}});
    assert_eq!(admin.post("/v2.0/networks", vx.clone()).await.0, StatusCode::CREATED);
    assert_error(&admin.post("/v2.0/networks", vx).await, 409, "TunnelIdInUse");
    // Deleting the flat network frees its physical network.
    admin.delete(&format!("/v2.0/networks/{}", f["network"]["id"].as_str().unwrap())).await;
    assert_eq!(admin.post("/v2.0/networks", flat).await.0, StatusCode::CREATED);
    // Members may not ask for a segment.
    let r = app
        .as_("p1", "member")
        .post("/v2.0/networks", json!({"network": {"provider:network_type": "vxlan"}}))
        .await;
    assert_error(&r, 403, "PolicyNotAuthorized");
}

#[tokio::test]
async fn heartbeats_make_agents_alive_and_admins_manage_them() {
    let app = App::new().await;
    let (s, r) = app.agent().post("/internal/v1/agents/report", ovs_report("h1", "172.31.0.1")).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, list) = app.admin().get("/v2.0/agents").await;
    let a = &list["agents"][0];
    assert_eq!(a["host"], "h1");
    assert_eq!(a["agent_type"], "Open vSwitch agent");
    assert_eq!(a["binary"], "neutron-openvswitch-agent");
    assert_eq!(a["alive"], true);
    assert_eq!(a["configurations"]["tunneling_ip"], "172.31.0.1");
    let ts = a["heartbeat_timestamp"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S").is_ok(), "{ts}");
    // A second heartbeat updates, never duplicates.
    app.agent().post("/internal/v1/agents/report", ovs_report("h1", "172.31.0.9")).await;
    let (_, list) = app.admin().get("/v2.0/agents?host=h1").await;
    assert_eq!(list["agents"].as_array().unwrap().len(), 1);
    assert_eq!(list["agents"][0]["configurations"]["tunneling_ip"], "172.31.0.9");
    let aid = id(&list["agents"][0]);
    // Members see no agents and cannot touch one.
    let member = app.as_("p1", "member");
    assert_eq!(member.get("/v2.0/agents").await.1["agents"], json!([]));
    assert_error(&member.get(&format!("/v2.0/agents/{aid}")).await, 404, "AgentNotFound");
    let (s, b) =
        app.admin().put(&format!("/v2.0/agents/{aid}"), json!({"agent": {"admin_state_up": false}})).await;
    assert_eq!((s, &b["agent"]["admin_state_up"]), (StatusCode::OK, &json!(false)));
    assert_error(
        &app.admin().put(&format!("/v2.0/agents/{aid}"), json!({"agent": {"host": "x"}})).await,
        400,
        "HTTPBadRequest",
    );
    assert_eq!(app.admin().delete(&format!("/v2.0/agents/{aid}")).await.0, StatusCode::NO_CONTENT);
    assert_error(&app.admin().get(&format!("/v2.0/agents/{aid}")).await, 404, "AgentNotFound");
}

#[tokio::test]
async fn the_internal_api_needs_the_agent_credential() {
    let app = App::new().await;
    let r = app.admin().post("/internal/v1/agents/report", ovs_report("h1", "172.31.0.1")).await;
    assert_error(&r, 401, "HTTPUnauthorized");
    let r = app
        .admin()
        .send(Method::GET, "/internal/v1/hosts/h1/state", None, &[("x-agent-token", "wrong")])
        .await;
    assert_error(&r, 401, "HTTPUnauthorized");
}

async fn bind(app: &App, net: &str, host: &str) -> Value {
    let admin = app.admin();
    let p = admin.port(net, json!({"binding:host_id": host})).await;
    admin.get(&format!("/v2.0/ports/{}", id(&p))).await.1["port"].clone()
}

#[tokio::test]
async fn ports_bind_only_where_a_live_agent_reaches_the_segment() {
    let app = App::new().await;
    app.agent().post("/internal/v1/agents/report", ovs_report("h1", "172.31.0.1")).await;
    let admin = app.admin();
    let vx = id(&admin.network(json!({"name": "vx"})).await);
    let p = bind(&app, &vx, "h1").await;
    assert_eq!(p["binding:vif_type"], "ovs");
    assert_eq!(p["binding:vif_details"]["bridge_name"], "br-int");
    assert_eq!(p["binding:vif_details"]["datapath_type"], "netdev");
    assert_eq!(p["binding:vif_details"]["bound_drivers"], json!({"0": "openvswitch"}));
    assert_eq!(p["status"], "DOWN");
    // No agent on h2; physnet2 is not in h1's bridge mappings.
    assert_eq!(bind(&app, &vx, "h2").await["binding:vif_type"], "binding_failed");
    let v2 = admin
        .network(json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 7}))
        .await;
    assert_eq!(bind(&app, &id(&v2), "h1").await["binding:vif_type"], "ovs");
    let mut no_map = ovs_report("h3", "172.31.0.3");
    no_map["configurations"]["bridge_mappings"] = json!({});
    app.agent().post("/internal/v1/agents/report", no_map).await;
    assert_eq!(bind(&app, &id(&v2), "h3").await["binding:vif_type"], "binding_failed");
    // Clearing the host unbinds.
    let pid = id(&p);
    let (_, b) = admin.put(&format!("/v2.0/ports/{pid}"), json!({"port": {"binding:host_id": ""}})).await;
    assert_eq!(b["port"]["binding:vif_type"], "unbound");
}

#[tokio::test]
async fn dead_or_disabled_agents_do_not_bind() {
    let app = app_with(|c| c.ml2.agent_down_time = 0).await;
    app.agent().post("/internal/v1/agents/report", ovs_report("h1", "172.31.0.1")).await;
    let net = id(&app.admin().network(json!({})).await);
    assert_eq!(app.admin().get("/v2.0/agents").await.1["agents"][0]["alive"], false);
    assert_eq!(bind(&app, &net, "h1").await["binding:vif_type"], "binding_failed");

    let app = App::new().await;
    app.agent().post("/internal/v1/agents/report", ovs_report("h1", "172.31.0.1")).await;
    let aid = id(&app.admin().get("/v2.0/agents").await.1["agents"][0]);
    app.admin().put(&format!("/v2.0/agents/{aid}"), json!({"agent": {"admin_state_up": false}})).await;
    let net = id(&app.admin().network(json!({})).await);
    assert_eq!(bind(&app, &net, "h1").await["binding:vif_type"], "binding_failed");
}

#[tokio::test]
async fn host_state_watch_and_port_status() {
    let app = App::new().await;
    let agent = app.agent();
    agent.post("/internal/v1/agents/report", ovs_report("h1", "172.31.0.1")).await;
    agent.post("/internal/v1/agents/report", ovs_report("h2", "172.31.0.2")).await;
    let admin = app.admin();
    let net = id(&admin.network(json!({})).await);
    admin.subnet(&net, "10.0.0.0/24", json!({})).await;
    let p1 = bind(&app, &net, "h1").await;
    let (_, st) = agent.get("/internal/v1/hosts/h1/state").await;
    assert_eq!(st["ports"].as_array().unwrap().len(), 1);
    assert_eq!(st["ports"][0]["id"], p1["id"]);
    assert_eq!(st["ports"][0]["mac_address"], p1["mac_address"]);
    assert_eq!(st["networks"][0]["network_type"], "vxlan");
    assert_eq!(st["networks"][0]["mtu"], 1450);
    assert_eq!(st["peers"][&net], json!([]));
    let rev = st["revision"].as_i64().unwrap();

    // A port on h2 makes h2 a peer of h1 on that network: the watch says so.
    let p2 = bind(&app, &net, "h2").await;
    let (_, d) = agent.get(&format!("/internal/v1/hosts/h1/watch?since={rev}&timeout=1")).await;
    assert_eq!(d["resync"], false);
    assert!(d["revision"].as_i64().unwrap() > rev);
    assert_eq!(d["ports"], json!([]), "h2's port is not h1's to wire");
    assert_eq!(d["peers"][&net], json!(["172.31.0.2"]));
    let rev = d["revision"].as_i64().unwrap();

    // Nothing new: the watch times out with the same revision.
    let (_, d) = agent.get(&format!("/internal/v1/hosts/h1/watch?since={rev}&timeout=1")).await;
    assert_eq!(d["revision"].as_i64().unwrap(), rev);
    // A revision from the future (the server lost its feed) means resync.
    let (_, d) = agent.get(&format!("/internal/v1/hosts/h1/watch?since={}&timeout=1", rev + 100)).await;
    assert_eq!(d["resync"], true);

    // Deleting h1's port shows up as a removal for h1.
    admin.delete(&format!("/v2.0/ports/{}", id(&p1))).await;
    let (_, d) = agent.get(&format!("/internal/v1/hosts/h1/watch?since={rev}&timeout=1")).await;
    assert_eq!(d["removed_ports"], json!([p1["id"]]));

    // Status reports flip only ports bound to the reporter.
    let r = agent.post("/internal/v1/ports/status", json!({"host": "h1", "up": [p2["id"]]})).await;
    assert_eq!(r.1["updated"], 0);
    let r = agent.post("/internal/v1/ports/status", json!({"host": "h2", "up": [p2["id"]]})).await;
    assert_eq!(r.1["updated"], 1);
    assert_eq!(admin.get(&format!("/v2.0/ports/{}", id(&p2))).await.1["port"]["status"], "ACTIVE");
    agent.post("/internal/v1/ports/status", json!({"host": "h2", "down": [p2["id"]]})).await;
    assert_eq!(admin.get(&format!("/v2.0/ports/{}", id(&p2))).await.1["port"]["status"], "DOWN");
}
