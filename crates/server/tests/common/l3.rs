//! Router fixtures for the floating IP tests: routers written straight into the store (the
//! rows the routers API makes: the `routers` row, its gateway and interface ports with their
//! `router_ports` rows) and their scheduling to a host's L3 agent. One place to swap for API
//! calls once routers have their API.

use axum::http::StatusCode;
use neutrino_server::store::SqlValue;
use serde_json::json;

use super::{App, id};

/// A router made by [`fake_router`].
#[derive(Debug, Clone)]
pub struct FakeRouter {
    pub id: String,
    /// Its `network:router_gateway` port on the external network.
    pub gw_port: String,
    /// Its `network:router_interface` ports, one per subnet asked for, in order.
    pub interfaces: Vec<String>,
}

/// A router of `project` with its gateway on `ext_net` and an interface on each of `subnets`
/// holding that subnet's gateway address, as the routers API would make it.
pub async fn fake_router(app: &App, project: &str, ext_net: &str, subnets: &[&str]) -> FakeRouter {
    let on: Vec<(&str, Option<&str>)> = subnets.iter().map(|s| (*s, None)).collect();
    fake_router_on(app, &uuid::Uuid::new_v4().to_string(), project, ext_net, &on).await
}

/// [`fake_router`] with id `router_id` and its interfaces at the given addresses (`None`: the
/// subnet's gateway address).
pub async fn fake_router_on(
    app: &App,
    router_id: &str,
    project: &str,
    ext_net: &str,
    subnets: &[(&str, Option<&str>)],
) -> FakeRouter {
    let admin = app.admin();
    let router_id = router_id.to_string();
    let gw = admin
        .port(
            ext_net,
            json!({"device_owner": "network:router_gateway", "device_id": router_id, "project_id": project}),
        )
        .await;
    let mut interfaces = vec![];
    for (s, ip) in subnets {
        let (st, sub) = admin.get(&format!("/v2.0/subnets/{s}")).await;
        assert_eq!(st, StatusCode::OK, "{sub}");
        let sub = &sub["subnet"];
        let ip = ip.map_or_else(|| sub["gateway_ip"].clone(), |ip| json!(ip));
        let port = admin
            .port(
                sub["network_id"].as_str().expect("network id"),
                json!({"device_owner": "network:router_interface", "device_id": router_id,
                    "project_id": project,
                    "fixed_ips": [{"subnet_id": s, "ip_address": ip}]}),
            )
            .await;
        interfaces.push(id(&port));
    }
    let r = FakeRouter { id: router_id, gw_port: id(&gw), interfaces };
    let (rows, project) = (r.clone(), project.to_string());
    app.store()
        .write(move |sql| {
            let now = "2026-01-01T00:00:00Z";
            let v: Vec<SqlValue> = vec![
                rows.id.as_str().into(),
                project.as_str().into(),
                rows.gw_port.as_str().into(),
                now.into(),
            ];
            sql.execute(
                "INSERT INTO routers (id, project_id, name, description, admin_state_up, status, gw_port_id, \
                 enable_snat, availability_zone_hints, created_at, updated_at, revision_number) \
                 VALUES (?, ?, 'r', '', 1, 'ACTIVE', ?, 1, '[]', ?, ?, 1)",
                &[v[0].clone(), v[1].clone(), v[2].clone(), v[3].clone(), v[3].clone()],
            )?;
            let mut ports = vec![(rows.gw_port.clone(), "network:router_gateway")];
            ports.extend(rows.interfaces.iter().map(|p| (p.clone(), "network:router_interface")));
            for (port, kind) in ports {
                sql.execute(
                    "INSERT INTO router_ports (port_id, router_id, port_type) VALUES (?, ?, ?)",
                    &[port.into(), rows.id.as_str().into(), kind.into()],
                )?;
            }
            Ok(())
        })
        .await
        .expect("router rows insert");
    r
}

/// Registers the L3 agent of `host` and schedules `router_id` to it.
pub async fn schedule_router(app: &App, router_id: &str, host: &str) {
    let report = json!({"host": host, "agent_type": "L3 agent", "binary": "neutron-l3-agent",
        "start_flag": true, "configurations": {}});
    let (s, b) = app.agent().post("/internal/v1/agents/report", report).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (router, host) = (router_id.to_string(), host.to_string());
    app.store()
        .write(move |sql| {
            let agent = sql.query(
                "SELECT id FROM agents WHERE host = ? AND agent_type = 'L3 agent'",
                &[host.as_str().into()],
            )?;
            let agent = agent.first().map(|r| r[0].text()).expect("the L3 agent registered");
            // The agent's first report may already have scheduled the router (to this agent or
            // an earlier one): the binding this fixture asks for replaces it.
            sql.execute("DELETE FROM router_l3_agents WHERE router_id = ?", &[router.as_str().into()])?;
            sql.execute(
                "INSERT INTO router_l3_agents (router_id, agent_id) VALUES (?, ?)",
                &[router.into(), agent.into()],
            )?;
            Ok(())
        })
        .await
        .expect("router binding inserts");
}
