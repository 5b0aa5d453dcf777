//! The dhcp section of the internal API: a host's state carries the networks its DHCP agent
//! hosts, each whole (subnets, every port, its own DHCP port), and a watch sends a network
//! again whole when it, its subnets or any of its ports change on any host, sends the networks
//! newly scheduled here, names those no longer scheduled here, and sends nothing for
//! unrelated changes. The DHCP port is in its host's l2 section like any port, trusted.

mod common;

use axum::http::StatusCode;
use common::{App, Caller, id};
use neutrino_server::config::Config;
use neutrino_server::store::Store;
use serde_json::{Value, json};

fn dhcp_report(host: &str) -> Value {
    json!({"host": host, "agent_type": "DHCP agent", "binary": "neutron-dhcp-agent", "start_flag": true,
        "configurations": {}})
}

fn ovs_report(host: &str, ip: &str) -> Value {
    json!({"host": host, "agent_type": "Open vSwitch agent", "binary": "neutron-openvswitch-agent",
        "start_flag": true, "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": ip}})
}

async fn state(agent: &Caller, host: &str) -> Value {
    let (s, st) = agent.get(&format!("/internal/v1/hosts/{host}/state")).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    st
}

async fn watch(agent: &Caller, host: &str, since: i64) -> Value {
    let (s, d) = agent.get(&format!("/internal/v1/hosts/{host}/watch?since={since}&timeout=1")).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["resync"], false, "{d}");
    assert!(d["revision"].as_i64().unwrap() > since, "the watch woke: {d}");
    d
}

fn rev(v: &Value) -> i64 {
    v["revision"].as_i64().unwrap()
}

fn port_ids(net: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        net["ports"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

/// A DHCP host h1 (with its l2 agent) and a compute host h2, a network of p1 with a subnet.
async fn setup(app: &App) -> (String, String) {
    let agent = app.agent();
    for r in [ovs_report("h1", "172.31.0.1"), dhcp_report("h1"), ovs_report("h2", "172.31.0.2")] {
        let (s, b) = agent.post("/internal/v1/agents/report", r).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let owner = app.as_("p1", "member");
    let net = id(&owner.network(json!({"name": "n1"})).await);
    let sub = owner
        .subnet(
            &net,
            "10.0.0.0/24",
            json!({"dns_nameservers": ["10.0.0.53"],
                "host_routes": [{"destination": "192.168.0.0/24", "nexthop": "10.0.0.254"}]}),
        )
        .await;
    (net, id(&sub))
}

#[tokio::test]
async fn host_state_carries_the_hosted_networks_whole() {
    let app = App::new().await;
    let (net, sub) = setup(&app).await;
    let owner = app.as_("p1", "member");
    let vm = owner.port(&net, json!({"name": "vm1"})).await;
    app.admin().put(&format!("/v2.0/ports/{}", id(&vm)), json!({"port": {"binding:host_id": "h2"}})).await;
    let agent = app.agent();
    let st = state(&agent, "h1").await;
    let nets = st["dhcp"]["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 1, "{st}");
    let n = &nets[0];
    assert_eq!(n["id"], net.as_str());
    assert_eq!(n["project_id"], "p1");
    assert_eq!(n["admin_state_up"], true);
    assert_eq!(n["mtu"], 1450, "a VXLAN tenant network");
    assert_eq!(n["dns_domain"], "openstacklocal");
    assert_eq!(n["routed_subnets"], json!([]));
    assert_eq!(
        n["subnets"],
        json!([{"id": sub, "ip_version": 4, "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1", "enable_dhcp": true,
            "dns_nameservers": ["10.0.0.53"],
            "host_routes": [{"destination": "192.168.0.0/24", "nexthop": "10.0.0.254"}],
            "ipv6_ra_mode": null, "ipv6_address_mode": null}])
    );
    let (_, b) = app.admin().get(&format!("/v2.0/ports?network_id={net}&device_owner=network:dhcp")).await;
    let dhcp = b["ports"][0].clone();
    assert_eq!(n["dhcp_port"], dhcp["id"]);
    let mut want = vec![id(&dhcp), id(&vm)];
    want.sort();
    assert_eq!(port_ids(n), want, "every port of the network, wherever bound");
    let vm_state = n["ports"].as_array().unwrap().iter().find(|p| p["id"] == vm["id"]).unwrap();
    assert_eq!(vm_state["name"], "vm1");
    assert_eq!(vm_state["mac_address"], vm["mac_address"]);
    assert_eq!(vm_state["fixed_ips"], vm["fixed_ips"]);
    assert_eq!(vm_state["project_id"], "p1");
    assert_eq!(vm_state["device_owner"], "");
    assert_eq!(vm_state["dns_name"], "");
    assert_eq!(vm_state["extra_dhcp_opts"], json!([]));
    let d_state = n["ports"].as_array().unwrap().iter().find(|p| p["id"] == dhcp["id"]).unwrap();
    assert_eq!(d_state["device_owner"], "network:dhcp");
    assert_eq!(d_state["device_id"], dhcp["device_id"]);

    // The DHCP port is in h1's l2 section, trusted: no groups, no port security.
    let l2 = st["ports"].as_array().unwrap().iter().find(|p| p["id"] == dhcp["id"]).cloned();
    let l2 = l2.unwrap_or_else(|| panic!("the DHCP port in h1's l2 section: {st}"));
    assert_eq!(l2["port_security_enabled"], false);
    assert_eq!(l2["security_groups"], json!([]));
    assert_eq!(dhcp["port_security_enabled"], true, "the API still shows the network's default");
    // h2 hosts no DHCP network.
    assert_eq!(state(&agent, "h2").await["dhcp"]["networks"], json!([]));
}

#[tokio::test]
async fn the_dns_domain_is_configured() {
    let mut c = Config::default();
    c.dhcp.dns_domain = "example.org".into();
    let app = App::with_config(c, Store::memory(), None).await;
    setup(&app).await;
    assert_eq!(state(&app.agent(), "h1").await["dhcp"]["networks"][0]["dns_domain"], "example.org");
}

#[tokio::test]
async fn a_watch_sends_changed_networks_whole_and_removed_ones() {
    let app = App::new().await;
    let (net, sub) = setup(&app).await;
    let agent = app.agent();
    let owner = app.as_("p1", "member");
    let admin = app.admin();

    // A port bound to h2 wakes h1 with the whole network.
    let r0 = rev(&state(&agent, "h1").await);
    let vm = owner.port(&net, json!({})).await;
    admin.put(&format!("/v2.0/ports/{}", id(&vm)), json!({"port": {"binding:host_id": "h2"}})).await;
    let d = watch(&agent, "h1", r0).await;
    let nets = d["dhcp"]["networks"].as_array().unwrap_or_else(|| panic!("a dhcp section: {d}"));
    assert_eq!(nets.len(), 1);
    assert_eq!(nets[0]["id"], net.as_str());
    assert!(port_ids(&nets[0]).contains(&id(&vm)), "{d}");
    assert_eq!(nets[0]["subnets"].as_array().unwrap().len(), 1, "whole");
    assert_eq!(d["dhcp"]["removed_networks"], json!([]));
    assert!(d["ports"].as_array().unwrap().iter().all(|p| p["id"] != vm["id"]), "not in h1's l2 section");

    // A subnet change sends it again.
    let r1 = rev(&state(&agent, "h1").await);
    let (s, _) = owner
        .put(&format!("/v2.0/subnets/{sub}"), json!({"subnet": {"dns_nameservers": ["10.0.0.54"]}}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let d = watch(&agent, "h1", r1).await;
    assert_eq!(d["dhcp"]["networks"][0]["subnets"][0]["dns_nameservers"], json!(["10.0.0.54"]), "{d}");

    // A change elsewhere sends no dhcp section.
    let r2 = rev(&state(&agent, "h1").await);
    let other = id(&admin.network(json!({})).await);
    admin.port(&other, json!({"binding:host_id": "h2"})).await;
    let d = watch(&agent, "h1", r2).await;
    assert_eq!(d["dhcp"], Value::Null, "{d}");

    // Unscheduled: named in removed_networks; scheduled again: sent whole.
    let (_, b) = admin.get("/v2.0/agents?host=h1&agent_type=DHCP%20agent").await;
    let a1 = id(&b["agents"][0]);
    let r3 = rev(&state(&agent, "h1").await);
    let (s, _) = admin.delete(&format!("/v2.0/agents/{a1}/dhcp-networks/{net}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let d = watch(&agent, "h1", r3).await;
    assert_eq!(d["dhcp"]["removed_networks"], json!([net]), "{d}");
    assert_eq!(d["dhcp"]["networks"], json!([]));
    assert_eq!(state(&agent, "h1").await["dhcp"]["networks"], json!([]));
    let r4 = rev(&state(&agent, "h1").await);
    let (s, _) = admin.post(&format!("/v2.0/agents/{a1}/dhcp-networks"), json!({"network_id": net})).await;
    assert_eq!(s, StatusCode::CREATED);
    let d = watch(&agent, "h1", r4).await;
    assert_eq!(d["dhcp"]["networks"][0]["id"], net.as_str(), "{d}");
    assert_eq!(d["dhcp"]["removed_networks"], json!([]));
    let dhcp_port = d["dhcp"]["networks"][0]["dhcp_port"].clone();
    assert!(dhcp_port.is_string(), "{d}");
    assert!(d["ports"].as_array().unwrap().iter().any(|p| p["id"] == dhcp_port), "bound to h1 again: {d}");

    // Its DHCP agent disabled: it serves nothing (upstream's active agents only); enabled again:
    // everything again.
    let r = rev(&state(&agent, "h1").await);
    admin.put(&format!("/v2.0/agents/{a1}"), json!({"agent": {"admin_state_up": false}})).await;
    let d = watch(&agent, "h1", r).await;
    assert_eq!(d["dhcp"]["removed_networks"], json!([net]), "{d}");
    assert_eq!(state(&agent, "h1").await["dhcp"]["networks"], json!([]));
    let r = rev(&state(&agent, "h1").await);
    admin.put(&format!("/v2.0/agents/{a1}"), json!({"agent": {"admin_state_up": true}})).await;
    let d = watch(&agent, "h1", r).await;
    assert_eq!(d["dhcp"]["networks"][0]["id"], net.as_str(), "{d}");
    assert_eq!(d["dhcp"]["removed_networks"], json!([]));

    // The network deleted (after its VM port): removed.
    admin.delete(&format!("/v2.0/ports/{}", id(&vm))).await;
    let r5 = rev(&state(&agent, "h1").await);
    let (s, b) = owner.delete(&format!("/v2.0/networks/{net}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let d = watch(&agent, "h1", r5).await;
    assert_eq!(d["dhcp"]["removed_networks"], json!([net]), "{d}");
    assert!(d["removed_ports"].as_array().unwrap().contains(&dhcp_port), "its DHCP port left h1: {d}");
}
