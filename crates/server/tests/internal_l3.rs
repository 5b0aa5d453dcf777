//! The l3 section of the internal API: a host's state carries the routers its L3 agent runs,
//! each whole (gateway with its subnet and the external segment, interfaces with their
//! subnets and MTU, sorted routes, associated floating IPs); a watch sends a router again
//! whole when it or a network it is on changes, names it removed when it moves away or is
//! deleted, and sends nothing for unrelated changes. A router's ports are in its host's l2
//! section like any port, trusted. The DHCP section names the subnets joined to a router.

mod common;

use axum::http::StatusCode;
use common::routers::{
    ext_net, iface, insert_fip, l3_report, ovs_report, ports_of, remove_iface, report, router,
};
use common::{App, Caller, id};
use neutrino_server::config::Config;
use neutrino_server::store::Store;
use serde_json::{Value, json};

async fn state(agent: &Caller, host: &str) -> Value {
    let (s, st) = agent.get(&format!("/internal/v1/hosts/{host}/state")).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    st
}

async fn watch(agent: &Caller, host: &str, since: i64) -> Value {
    let (s, d) = agent.get(&format!("/internal/v1/hosts/{host}/watch?since={since}&timeout=1")).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["resync"], false, "{d}");
    d
}

fn rev(v: &Value) -> i64 {
    v["revision"].as_i64().unwrap()
}

/// Network node `net1` (L3 + l2 agents), compute `cmp1` (l2 agent); the external network; a
/// tenant network of p1 with 10.0.0.0/24; a router of p1 with its gateway and that interface.
/// `(ext net, ext subnet, tenant net, tenant subnet, router)`.
async fn setup(app: &App) -> (String, String, String, String, String) {
    report(app, ovs_report("net1", "172.31.0.1")).await;
    report(app, l3_report("net1")).await;
    report(app, ovs_report("cmp1", "172.31.0.2")).await;
    let (ext, ext_sub) = ext_net(&app.admin()).await;
    let p1 = app.as_("p1", "member");
    let net = p1.net("n1").await;
    let sub = id(&p1.subnet(&net, "10.0.0.0/24", json!({"dns_nameservers": ["10.0.0.53"]})).await);
    let r = id(&router(&p1, json!({"external_gateway_info": {"network_id": ext}})).await);
    iface(&p1, &r, json!({"subnet_id": sub})).await;
    (ext, ext_sub, net, sub, r)
}

#[tokio::test]
async fn host_state_carries_its_routers_whole() {
    let store = Store::memory();
    let app = App::with_config(Config::default(), store.clone(), None).await;
    let (ext, ext_sub, net, sub, r) = setup(&app).await;
    let admin = app.admin();
    let p1 = app.as_("p1", "member");
    p1.put(
        &format!("/v2.0/routers/{r}"),
        json!({"router": {"routes": [
        {"destination": "10.9.0.0/24", "nexthop": "10.0.0.9"},
        {"destination": "10.8.0.0/24", "nexthop": "10.0.0.9"}]}}),
    )
    .await;
    let vm = p1.port(&net, json!({"fixed_ips": [{"ip_address": "10.0.0.5"}]})).await;
    // Above the external subnet's pool: the gateway port (placed at random in it) never holds it.
    let fip_ip = "203.0.113.250";
    let fip = insert_fip(&store, &admin, &ext, fip_ip, &r, &id(&vm), "10.0.0.5").await;
    let st = state(&app.agent(), "net1").await;
    let routers = st["l3"]["routers"].as_array().unwrap_or_else(|| panic!("an l3 section: {st}"));
    assert_eq!(routers.len(), 1, "{st}");
    let rs = &routers[0];
    assert_eq!(rs["id"], r.as_str());
    assert_eq!(rs["project_id"], "p1");
    assert_eq!(rs["admin_state_up"], true);
    let qr = &ports_of(&admin, &r, "network:router_interface").await[0];
    let qg = &ports_of(&admin, &r, "network:router_gateway").await[0];
    assert_eq!(
        rs["interfaces"],
        json!([{"id": qr["id"], "network_id": net, "mac_address": qr["mac_address"], "mtu": 1450,
            "subnets": [{"subnet_id": sub, "ip_address": "10.0.0.1", "cidr": "10.0.0.0/24",
                "gateway_ip": "10.0.0.1", "ip_version": 4, "ipv6_ra_mode": null, "ipv6_address_mode": null,
                "dns_nameservers": ["10.0.0.53"]}]}])
    );
    let gw = &rs["gateway"];
    assert_eq!(gw["enable_snat"], true);
    assert_eq!(
        (gw["network_type"].clone(), gw["physical_network"].clone()),
        (json!("flat"), json!("public"))
    );
    assert_eq!(gw["segmentation_id"], Value::Null);
    assert_eq!(gw["port"]["id"], qg["id"]);
    assert_eq!(gw["port"]["mtu"], 1500, "a flat network");
    let gsub = &gw["port"]["subnets"][0];
    assert_eq!(gsub["subnet_id"], ext_sub.as_str());
    assert_eq!(gsub["gateway_ip"], "203.0.113.1", "the router's default route");
    assert_eq!(gsub["ip_address"], qg["fixed_ips"][0]["ip_address"]);
    assert_eq!(
        rs["routes"],
        json!([{"destination": "10.8.0.0/24", "nexthop": "10.0.0.9"}, {"destination": "10.9.0.0/24", "nexthop": "10.0.0.9"}])
    );
    assert_eq!(
        rs["floating_ips"],
        json!([{"id": fip, "floating_ip_address": fip_ip, "fixed_ip_address": "10.0.0.5", "port_id": id(&vm)}])
    );
    // Both router ports are in net1's l2 section, trusted.
    for p in [qr, qg] {
        let l2 = st["ports"].as_array().unwrap().iter().find(|x| x["id"] == p["id"]).cloned();
        let l2 = l2.unwrap_or_else(|| panic!("{} in net1's l2 section: {st}", p["id"]));
        assert_eq!(l2["port_security_enabled"], false);
        assert_eq!(l2["security_groups"], json!([]));
    }
    // The compute host runs no router.
    assert_eq!(state(&app.agent(), "cmp1").await["l3"]["routers"], json!([]));
}

#[tokio::test]
async fn a_watch_sends_changed_routers_whole_and_removed_ones() {
    let app = App::new().await;
    let (_, _, net, sub, r) = setup(&app).await;
    let (agent, admin, p1) = (app.agent(), app.admin(), app.as_("p1", "member"));

    // A router change wakes its host with the whole router; the compute host gets no l3.
    let r0 = rev(&state(&agent, "net1").await);
    p1.put(
        &format!("/v2.0/routers/{r}"),
        json!({"router": {"routes": [{"destination": "10.9.0.0/24", "nexthop": "10.0.0.9"}]}}),
    )
    .await;
    let d = watch(&agent, "net1", r0).await;
    let rs = d["l3"]["routers"].as_array().unwrap_or_else(|| panic!("an l3 section: {d}"));
    assert_eq!(rs.len(), 1, "{d}");
    assert_eq!(rs[0]["routes"][0]["nexthop"], "10.0.0.9");
    assert_eq!(rs[0]["interfaces"].as_array().unwrap().len(), 1, "whole");
    assert_eq!(d["l3"]["removed_routers"], json!([]));
    assert_eq!(watch(&agent, "cmp1", r0).await["l3"], Value::Null);

    // A subnet change of one of its networks sends it again.
    let r1 = rev(&state(&agent, "net1").await);
    p1.put(&format!("/v2.0/subnets/{sub}"), json!({"subnet": {"dns_nameservers": ["10.0.0.54"]}})).await;
    let d = watch(&agent, "net1", r1).await;
    assert_eq!(
        d["l3"]["routers"][0]["interfaces"][0]["subnets"][0]["dns_nameservers"],
        json!(["10.0.0.54"]),
        "{d}"
    );

    // A change elsewhere sends no l3 section.
    let r2 = rev(&state(&agent, "net1").await);
    let other = p1.net("other").await;
    p1.port(&other, json!({})).await;
    let d = watch(&agent, "net1", r2).await;
    assert!(rev(&d) > r2, "the watch woke: {d}");
    assert_eq!(d["l3"], Value::Null, "{d}");

    // A new interface: sent whole with both.
    let r3 = rev(&state(&agent, "net1").await);
    let sub2 = id(&p1.subnet(&other, "10.1.0.0/24", json!({})).await);
    iface(&p1, &r, json!({"subnet_id": sub2})).await;
    let d = watch(&agent, "net1", r3).await;
    assert_eq!(d["l3"]["routers"][0]["interfaces"].as_array().unwrap().len(), 2, "{d}");

    // Moved to another agent: removed here, whole there.
    report(&app, l3_report("net2")).await;
    let (_, b) = admin.get("/v2.0/agents?agent_type=L3%20agent&host=net1").await;
    let a1 = id(&b["agents"][0]);
    let (_, b) = admin.get("/v2.0/agents?agent_type=L3%20agent&host=net2").await;
    let a2 = id(&b["agents"][0]);
    let (r4, r4b) = (rev(&state(&agent, "net1").await), rev(&state(&agent, "net2").await));
    assert_eq!(admin.delete(&format!("/v2.0/agents/{a1}/l3-routers/{r}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(
        admin.post(&format!("/v2.0/agents/{a2}/l3-routers"), json!({"router_id": r})).await.0,
        StatusCode::CREATED
    );
    let d = watch(&agent, "net1", r4).await;
    assert_eq!(d["l3"]["removed_routers"], json!([r]), "{d}");
    assert_eq!(d["l3"]["routers"], json!([]));
    let d2 = watch(&agent, "net2", r4b).await;
    assert_eq!(d2["l3"]["routers"][0]["id"], r.as_str(), "{d2}");
    assert_eq!(state(&agent, "net1").await["l3"]["routers"], json!([]));

    // Deleted (after its interfaces): removed.
    let r5 = rev(&state(&agent, "net2").await);
    remove_iface(&p1, &r, json!({"subnet_id": sub2})).await;
    p1.put(&format!("/v2.0/routers/{r}"), json!({"router": {"routes": []}})).await;
    remove_iface(&p1, &r, json!({"subnet_id": sub})).await;
    assert_eq!(p1.delete(&format!("/v2.0/routers/{r}")).await.0, StatusCode::NO_CONTENT);
    let d = watch(&agent, "net2", r5).await;
    assert_eq!(d["l3"]["removed_routers"], json!([r]), "{d}");
    assert!(!d["removed_ports"].as_array().unwrap().is_empty(), "its ports left net2: {d}");
    let _ = net;
}

#[tokio::test]
async fn dhcp_names_the_routed_subnets_and_a_watch_follows_them() {
    let app = App::new().await;
    let dhcp = json!({"host": "net1", "agent_type": "DHCP agent", "binary": "neutron-dhcp-agent",
        "start_flag": true, "configurations": {}});
    report(&app, dhcp).await;
    let (_, _, net, sub, r) = setup(&app).await;
    let (agent, p1) = (app.agent(), app.as_("p1", "member"));
    let other = id(&p1.subnet(&net, "10.5.0.0/24", json!({})).await);
    let st = state(&agent, "net1").await;
    let n = st["dhcp"]["networks"].as_array().unwrap().iter().find(|n| n["id"] == net.as_str()).cloned();
    let n = n.unwrap_or_else(|| panic!("the network in net1's dhcp section: {st}"));
    assert_eq!(n["routed_subnets"], json!([sub]), "only the subnet joined to the router");
    let r0 = rev(&st);
    iface(&p1, &r, json!({"subnet_id": other})).await;
    let d = watch(&agent, "net1", r0).await;
    let mut want = vec![sub.clone(), other.clone()];
    want.sort();
    assert_eq!(d["dhcp"]["networks"][0]["routed_subnets"], json!(want), "{d}");
    let r1 = rev(&state(&agent, "net1").await);
    remove_iface(&p1, &r, json!({"subnet_id": sub})).await;
    let d = watch(&agent, "net1", r1).await;
    assert_eq!(d["dhcp"]["networks"][0]["routed_subnets"], json!([other]), "{d}");
}
