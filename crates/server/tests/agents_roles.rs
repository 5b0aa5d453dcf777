//! Agent roles and typed configurations through the server: each role of a host's agent is its
//! own row in `GET /v2.0/agents`, named as upstream's agent; the `l2` role's configurations
//! (built as the agent builds them, [`L2Configurations`]) come back unchanged and are what port
//! binding and tunnel peers read. Also the typed internal client against a served instance.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{App, id};
use neutrino_client::{Auth, Client, InternalClient, Method};
use neutrino_model::NetworkType;
use neutrino_model::agent::{L2Configurations, Role};
use neutrino_model::internal::{Report, StatusReport};
use serde_json::{Value, json};

fn l2_conf(ip: &str) -> L2Configurations {
    L2Configurations {
        bridge_mappings: BTreeMap::from([("physnet1".to_string(), "br-eth1".to_string())]),
        tunnel_types: vec![NetworkType::Gre],
        tunneling_ip: ip.into(),
        integration_bridge: "br-custom".into(),
        datapath_type: "netdev".into(),
        devices: 3,
        l2_population: false,
        arp_responder_enabled: false,
    }
}

fn report(host: &str, role: Role, conf: Value) -> Value {
    serde_json::to_value(Report::new(host, role, conf, true)).unwrap()
}

async fn bind(app: &App, net: &str, host: &str) -> Value {
    let p = app.admin().port(net, json!({"binding:host_id": host})).await;
    app.admin().get(&format!("/v2.0/ports/{}", id(&p))).await.1["port"].clone()
}

#[tokio::test]
async fn each_role_is_its_own_agent_row() {
    let app = App::new().await;
    for _ in 0..2 {
        for role in Role::ALL {
            let (s, b) = app.agent().post("/internal/v1/agents/report", report("h1", role, json!({}))).await;
            assert_eq!(s.as_u16(), 200, "{b}");
        }
    }
    let (_, list) = app.admin().get("/v2.0/agents?host=h1").await;
    let mut rows: Vec<(String, String)> = list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["agent_type"].as_str().unwrap().into(), a["binary"].as_str().unwrap().into()))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("DHCP agent".to_string(), "neutron-dhcp-agent".to_string()),
            ("L3 agent".to_string(), "neutron-l3-agent".to_string()),
            ("Open vSwitch agent".to_string(), "neutron-openvswitch-agent".to_string()),
        ],
        "one row per role, updated by later heartbeats"
    );
    // A port binds where an l2 row is; a host with only a DHCP agent binds nothing.
    app.agent().post("/internal/v1/agents/report", report("h2", Role::Dhcp, json!({}))).await;
    let net = id(&app.admin().network(json!({"provider:network_type": "local"})).await);
    assert_eq!(bind(&app, &net, "h1").await["binding:vif_type"], "ovs");
    assert_eq!(bind(&app, &net, "h2").await["binding:vif_type"], "binding_failed");
}

#[tokio::test]
async fn typed_configurations_round_trip_and_drive_binding_and_peers() {
    let app = App::new().await;
    let conf = l2_conf("172.31.0.7");
    app.agent().post("/internal/v1/agents/report", report("h1", Role::L2, conf.to_value())).await;
    let (_, list) = app.admin().get("/v2.0/agents?host=h1").await;
    let shown = &list["agents"][0]["configurations"];
    assert_eq!(shown, &conf.to_value(), "shown as reported");
    assert_eq!(L2Configurations::from_value(shown), Some(conf.clone()));

    // Binding reads the typed configurations: bridge and datapath in the VIF details, GRE
    // reached through `tunnel_types`, VXLAN not.
    let admin = app.admin();
    let gre = id(&admin.network(json!({"provider:network_type": "gre"})).await);
    let p = bind(&app, &gre, "h1").await;
    assert_eq!(p["binding:vif_type"], "ovs");
    assert_eq!(p["binding:vif_details"]["bridge_name"], "br-custom");
    assert_eq!(p["binding:vif_details"]["datapath_type"], "netdev");
    let vx = id(&admin.network(json!({"provider:network_type": "vxlan"})).await);
    assert_eq!(bind(&app, &vx, "h1").await["binding:vif_type"], "binding_failed");
    let vlan = admin
        .network(json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1"}))
        .await;
    assert_eq!(bind(&app, &id(&vlan), "h1").await["binding:vif_type"], "ovs");

    // Peers read `tunneling_ip` of the typed configurations of the other hosts' agents.
    app.agent()
        .post("/internal/v1/agents/report", report("h2", Role::L2, l2_conf("172.31.0.8").to_value()))
        .await;
    bind(&app, &gre, "h2").await;
    let (_, st) = app.agent().get("/internal/v1/hosts/h1/state").await;
    assert_eq!(st["peers"][&gre], json!(["172.31.0.8"]));
    let gre_net = st["networks"].as_array().unwrap().iter().find(|n| n["id"] == json!(gre)).cloned();
    assert_eq!(gre_net.unwrap()["network_type"], "gre");
}

#[test]
fn the_typed_clients_speak_to_a_served_instance() {
    let mut config = neutrino_server::config::Config::default();
    config.auth.mode = neutrino_server::auth::AuthMode::Noauth;
    config.agents.token = Some("secret".into());
    let url = neutrino_server::run::spawn_local(config, neutrino_server::store::Store::memory()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let agent = InternalClient::new(&url, "secret").unwrap();
        let api = Client::new(&url, Auth::None).unwrap();
        let answer =
            agent.report(&Report::new("h1", Role::L2, l2_conf("172.31.0.7").to_value(), true)).await.unwrap();
        assert!(answer.alive && answer.admin_state_up);

        let (s, n) = api
            .call(Method::POST, "/v2.0/networks", Some(&json!({"network": {"provider:network_type": "gre"}})))
            .await
            .unwrap();
        assert_eq!(s, 201, "{n}");
        let before = agent.host_state("h1").await.unwrap();
        assert!(before.l2.ports.is_empty());
        let body = json!({"port": {"network_id": n["network"]["id"], "binding:host_id": "h1"}});
        let (s, p) = api.call(Method::POST, "/v2.0/ports", Some(&body)).await.unwrap();
        assert_eq!(s, 201, "{p}");
        let pid = p["port"]["id"].as_str().unwrap().to_string();

        let d = agent.watch("h1", before.revision, Duration::from_secs(1)).await.unwrap();
        assert!(!d.resync && d.revision > before.revision);
        assert_eq!(d.l2.ports.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), vec![pid.as_str()]);
        let st = agent.host_state("h1").await.unwrap();
        assert_eq!(st.l2.networks[0].network_type, NetworkType::Gre);

        let up = StatusReport { host: "h1".into(), up: vec![pid.clone()], ..Default::default() };
        assert_eq!(agent.port_status(&up).await.unwrap(), 1);
        let (s, shown) = api.call(Method::GET, &format!("/v2.0/ports/{pid}"), None).await.unwrap();
        assert_eq!((s, shown["port"]["status"].as_str()), (200, Some("ACTIVE")));
        let (s, e) = api.call(Method::GET, "/v2.0/ports/nope", None).await.unwrap();
        assert_eq!((s, e["NeutronError"]["type"].as_str()), (404, Some("PortNotFound")));

        // Without the credential the internal API refuses, in the API's error shape.
        let stranger = InternalClient::new(&url, "wrong").unwrap();
        let e = stranger.host_state("h1").await.unwrap_err();
        assert_eq!(e.status(), Some(401), "{e}");
    });
}
