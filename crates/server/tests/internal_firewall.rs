//! The firewall section of the internal API: a host's ports carry their groups and address
//! pairs, the section holds the groups of the host's ports with their rules normalised for the
//! datapath and the addresses of their remote groups' members anywhere, and a watch sends the
//! section again whenever a rule, a group or a member changes — and not for unrelated changes.

mod common;

use axum::http::StatusCode;
use common::{App, Caller, id};
use serde_json::{Value, json};

fn ovs_report(host: &str, ip: &str) -> Value {
    json!({"host": host, "agent_type": "Open vSwitch agent", "binary": "neutron-openvswitch-agent",
        "start_flag": true,
        "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": ip, "datapath_type": "netdev",
            "integration_bridge": "br-int"}})
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
    d
}

fn ip_of(p: &Value) -> String {
    p["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string()
}

fn rev(v: &Value) -> i64 {
    v["revision"].as_i64().unwrap()
}

/// The normalised rules of group `g` in a firewall section, without their ids.
fn rules(section: &Value, g: &str) -> Vec<Value> {
    let group = section["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == g)
        .unwrap_or_else(|| panic!("group {g} in {section}"));
    group["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("id");
            r
        })
        .collect()
}

#[tokio::test]
async fn the_firewall_section_follows_groups_rules_and_members() {
    let app = App::new().await;
    let agent = app.agent();
    for (h, ip) in [("h1", "172.31.0.1"), ("h2", "172.31.0.2")] {
        agent.post("/internal/v1/agents/report", ovs_report(h, ip)).await;
    }
    let (admin, a) = (app.admin(), app.as_("proj-a", "member"));
    let net = a.net("n").await;
    a.subnet(&net, "10.0.0.0/24", json!({})).await;
    let bind = |host: &'static str, extra: Value| {
        let (admin, net) = (admin.clone(), net.clone());
        async move {
            let mut body = json!({"binding:host_id": host, "project_id": "proj-a"});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            admin.port(&net, body).await
        }
    };
    let p1 = bind("h1", json!({})).await;
    let p2 = bind("h2", json!({})).await;
    let open = bind("h1", json!({"port_security_enabled": false, "security_groups": []})).await;
    let default = p1["security_groups"][0].as_str().unwrap().to_string();

    let st = state(&agent, "h1").await;
    let ports = st["ports"].as_array().unwrap();
    let port = |pid: &Value| ports.iter().find(|p| p["id"] == *pid).unwrap().clone();
    assert_eq!(port(&p1["id"])["security_groups"], json!([default]));
    assert_eq!(port(&open["id"])["security_groups"], json!([]));
    assert_eq!(port(&open["id"])["port_security_enabled"], false);
    let fw = &st["firewall"];
    assert_eq!(fw["groups"].as_array().unwrap().len(), 1, "only the groups of h1's ports: {fw}");
    let mut want = vec![
        json!({"direction": "egress", "ethertype": "IPv4", "protocol": null, "port_range_min": null,
            "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": null}),
        json!({"direction": "egress", "ethertype": "IPv6", "protocol": null, "port_range_min": null,
            "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": null}),
        json!({"direction": "ingress", "ethertype": "IPv4", "protocol": null, "port_range_min": null,
            "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": default}),
        json!({"direction": "ingress", "ethertype": "IPv6", "protocol": null, "port_range_min": null,
            "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": default}),
    ];
    let sort = |v: &mut Vec<Value>| v.sort_by_key(|r| r.to_string());
    sort(&mut want);
    let mut got = rules(fw, &default);
    sort(&mut got);
    assert_eq!(got, want);
    // The members are the group's ports on every host, not the port without port security.
    let mut members = vec![ip_of(&p1), ip_of(&p2)];
    members.sort();
    assert_eq!(fw["members"][&default], json!(members));

    // A rule: tcp/22 from a prefix (host bits dropped), ICMPv6 named `icmp` on IPv6.
    let since = rev(&st);
    for body in [
        json!({"security_group_id": default, "direction": "ingress", "protocol": "tcp",
            "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "192.0.2.7/24"}),
        json!({"security_group_id": default, "direction": "ingress", "ethertype": "IPv6",
            "protocol": "icmp", "port_range_min": 128, "port_range_max": 0}),
        json!({"security_group_id": default, "direction": "ingress", "protocol": "udp",
            "remote_ip_prefix": "0.0.0.0/0"}),
    ] {
        let (s, b) = a.post("/v2.0/security-group-rules", json!({ "security_group_rule": body })).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let d = watch(&agent, "h1", since).await;
    let got = rules(&d["firewall"], &default);
    for want in [
        json!({"direction": "ingress", "ethertype": "IPv4", "protocol": 6, "port_range_min": 22,
            "port_range_max": 22, "remote_ip_prefix": "192.0.2.0/24", "remote_group_id": null}),
        json!({"direction": "ingress", "ethertype": "IPv6", "protocol": 58, "port_range_min": 128,
            "port_range_max": 0, "remote_ip_prefix": null, "remote_group_id": null}),
        json!({"direction": "ingress", "ethertype": "IPv4", "protocol": 17, "port_range_min": null,
            "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": null}),
    ] {
        assert!(got.contains(&want), "{want} in {got:?}");
    }

    // A member's address pair and a member leaving reach the other host.
    let since = rev(&d);
    let (s, _) = a
        .put(
            &format!("/v2.0/ports/{}", id(&p2)),
            json!({"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.128/25"}]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let d = watch(&agent, "h1", since).await;
    let mut members = vec![ip_of(&p1), ip_of(&p2), "10.0.0.128/25".to_string()];
    members.sort();
    assert_eq!(d["firewall"]["members"][&default], json!(members));
    let since = rev(&d);
    assert_eq!(a.delete(&format!("/v2.0/ports/{}", id(&p2))).await.0, StatusCode::NO_CONTENT);
    let d = watch(&agent, "h1", since).await;
    assert_eq!(d["firewall"]["members"][&default], json!([ip_of(&p1)]));

    // An unrelated change (a network renamed) sends no firewall section.
    let since = rev(&d);
    let (s, _) = a.put(&format!("/v2.0/networks/{net}"), json!({"network": {"name": "m"}})).await;
    assert_eq!(s, StatusCode::OK);
    let d = watch(&agent, "h1", since).await;
    assert!(rev(&d) > since, "the rename is a change: {d}");
    assert_eq!(d["firewall"], Value::Null, "{d}");

    // Removing the last port of the group from h1 empties h1's section.
    let since = rev(&d);
    assert_eq!(a.delete(&format!("/v2.0/ports/{}", id(&p1))).await.0, StatusCode::NO_CONTENT);
    let d = watch(&agent, "h1", since).await;
    assert_eq!(d["firewall"], json!({"groups": [], "members": {}}));
}
