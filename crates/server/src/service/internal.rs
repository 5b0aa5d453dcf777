//! The internal API agents use (DESIGN.md "Server ↔ agent"): the desired state of one host,
//! watching the change feed from a revision (answered with deltas for that host, or "resync"
//! after a gap), and port up/down reports that flip a port's status between DOWN and ACTIVE.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use neutrino_model::common::now_timestamp;
use neutrino_model::{ApiError, ApiResult};
use serde_json::Value;

pub use neutrino_model::internal::{Delta, FixedIpState, HostState, NetworkState, PortState, StatusReport};

use super::{Services, unix_now};
use crate::ml2::binding::VIF_OVS;
use crate::store::{Sql, SqlValue, changes, placeholders};

const PORT_COLS: &str = "p.id, p.network_id, p.mac_address, p.admin_state_up, p.device_owner, p.device_id, p.port_security_enabled";

fn ports_where(sql: &mut dyn Sql, cond: &str, params: &[SqlValue]) -> ApiResult<Vec<PortState>> {
    let rows = sql.query(&format!("SELECT {PORT_COLS} FROM ports p WHERE {cond} ORDER BY p.id"), params)?;
    let mut out: Vec<PortState> = rows
        .iter()
        .map(|r| PortState {
            id: r[0].text(),
            network_id: r[1].text(),
            mac_address: r[2].text(),
            fixed_ips: vec![],
            admin_state_up: r[3].bool(),
            device_owner: r[4].text(),
            device_id: r[5].text(),
            port_security_enabled: r[6].bool(),
        })
        .collect();
    let ids: Vec<String> = out.iter().map(|p| p.id.clone()).collect();
    let mut ips: BTreeMap<String, Vec<FixedIpState>> = BTreeMap::new();
    for chunk in crate::store::list::chunks(&ids) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let q = format!(
            "SELECT port_id, subnet_id, ip_address FROM ip_allocations WHERE port_id IN ({}) ORDER BY port_id, position",
            placeholders(chunk.len())
        );
        for r in sql.query(&q, &params)? {
            ips.entry(r[0].text())
                .or_default()
                .push(FixedIpState { subnet_id: r[1].text(), ip_address: r[2].text() });
        }
    }
    for p in &mut out {
        p.fixed_ips = ips.remove(&p.id).unwrap_or_default();
    }
    Ok(out)
}

fn networks(sql: &mut dyn Sql, ids: &BTreeSet<String>) -> ApiResult<Vec<NetworkState>> {
    let ids: Vec<String> = ids.iter().cloned().collect();
    let mut out = vec![];
    for chunk in crate::store::list::chunks(&ids) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let q = format!(
            "SELECT id, network_type, physical_network, segmentation_id, mtu, admin_state_up FROM networks WHERE id IN ({}) ORDER BY id",
            placeholders(chunk.len())
        );
        for r in sql.query(&q, &params)? {
            out.push(NetworkState {
                id: r[0].text(),
                network_type: r[1].opt_text().unwrap_or_else(|| "local".into()),
                physical_network: r[2].opt_text(),
                segmentation_id: r[3].opt_int(),
                mtu: r[4].int(),
                admin_state_up: r[5].bool(),
            });
        }
    }
    Ok(out)
}

/// Tunnel endpoints of the live agents of other hosts with bound ports on `network_id`.
fn peers_of(sql: &mut dyn Sql, host: &str, network_id: &str, now: i64, down: i64) -> ApiResult<Vec<String>> {
    let rows = sql.query(
        "SELECT DISTINCT a.configurations FROM ports p JOIN agents a ON a.host = p.binding_host_id \
         WHERE p.network_id = ? AND p.binding_host_id <> ? AND p.binding_vif_type = ? AND a.agent_type = ? \
         AND a.heartbeat_at > ?",
        &[
            network_id.into(),
            host.into(),
            VIF_OVS.into(),
            neutrino_model::agent::OVS_AGENT_TYPE.into(),
            (now - down).into(),
        ],
    )?;
    let mut ips: Vec<String> = rows
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(&r[0].text()).ok())
        .filter_map(|c| c["tunneling_ip"].as_str().map(String::from))
        .filter(|ip| !ip.is_empty())
        .collect();
    ips.sort();
    ips.dedup();
    Ok(ips)
}

fn bound_here(host: &str) -> (String, Vec<SqlValue>) {
    ("p.binding_host_id = ? AND p.binding_vif_type = ?".into(), vec![host.into(), VIF_OVS.into()])
}

fn tunnel(n: &NetworkState) -> bool {
    matches!(n.network_type.as_str(), "vxlan" | "gre")
}

/// The whole desired state of `host`.
pub async fn host_state(svc: &Services, host: &str) -> ApiResult<HostState> {
    let (host, down) = (host.to_string(), svc.agent_down_time());
    svc.store
        .read(move |sql| {
            let revision = changes::current(sql)?;
            let (cond, params) = bound_here(&host);
            let ports = ports_where(sql, &cond, &params)?;
            let ids: BTreeSet<String> = ports.iter().map(|p| p.network_id.clone()).collect();
            let networks = networks(sql, &ids)?;
            let now = unix_now();
            let mut peers = BTreeMap::new();
            for n in networks.iter().filter(|n| tunnel(n)) {
                peers.insert(n.id.clone(), peers_of(sql, &host, &n.id, now, down)?);
            }
            Ok(HostState { revision, ports, networks, peers })
        })
        .await
}

/// Changes for `host` after revision `since`, waiting up to `timeout` for one to happen.
pub async fn watch(svc: &Services, host: &str, since: i64, timeout: Duration) -> ApiResult<Delta> {
    let mut rx = svc.feed.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let delta = delta(svc, host, since).await?;
        if delta.resync || delta.revision > since {
            return Ok(delta);
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) => {
                return Err(ApiError::new(503, "ServiceUnavailable", "The server is shutting down."));
            }
            Err(_) => return Ok(Delta { revision: since, ..Default::default() }),
        }
    }
}

/// Changes considered in one answer; more means resync.
const MAX_CHANGES: usize = 5_000;

async fn delta(svc: &Services, host: &str, since: i64) -> ApiResult<Delta> {
    let (host, down) = (host.to_string(), svc.agent_down_time());
    svc.store
        .read(move |sql| {
            let current = changes::current(sql)?;
            if since > current || (since < changes::oldest(sql)? - 1 && current > 0) {
                return Ok(Delta { revision: current, resync: true, ..Default::default() });
            }
            let list = changes::since(sql, since, MAX_CHANGES + 1)?;
            if list.len() > MAX_CHANGES {
                return Ok(Delta { revision: current, resync: true, ..Default::default() });
            }
            let Some(last) = list.last().map(|c| c.revision) else {
                return Ok(Delta { revision: since, ..Default::default() });
            };
            let (cond, params) = bound_here(&host);
            let my_nets: BTreeSet<String> = sql
                .query(&format!("SELECT DISTINCT p.network_id FROM ports p WHERE {cond}"), &params)?
                .iter()
                .map(|r| r[0].text())
                .collect();
            let mut touched_ports = BTreeSet::new();
            let mut touched_nets = BTreeSet::new();
            let mut all_peers = false;
            for c in &list {
                match c.kind.as_str() {
                    "port" => {
                        if c.host.as_deref() == Some(host.as_str()) {
                            touched_ports.insert(c.resource_id.clone());
                        }
                        if let Some(n) = &c.network_id {
                            touched_nets.insert(n.clone());
                        }
                    }
                    "network" => {
                        touched_nets.insert(c.resource_id.clone());
                    }
                    _ => all_peers = true,
                }
            }
            let mut d = Delta { revision: last, ..Default::default() };
            if !touched_ports.is_empty() {
                let ids: Vec<String> = touched_ports.iter().cloned().collect();
                let mut found = vec![];
                for chunk in crate::store::list::chunks(&ids) {
                    let mut p = params.clone();
                    p.extend(chunk.iter().map(SqlValue::from));
                    let c = format!("{cond} AND p.id IN ({})", placeholders(chunk.len()));
                    found.extend(ports_where(sql, &c, &p)?);
                }
                let present: BTreeSet<String> = found.iter().map(|p| p.id.clone()).collect();
                d.removed_ports = touched_ports.difference(&present).cloned().collect();
                d.ports = found;
            }
            let mut nets: BTreeSet<String> = touched_nets.intersection(&my_nets).cloned().collect();
            nets.extend(d.ports.iter().map(|p| p.network_id.clone()));
            if all_peers {
                nets.extend(my_nets.iter().cloned());
            }
            d.networks = networks(sql, &nets)?;
            let now = unix_now();
            for n in d.networks.iter().filter(|n| tunnel(n)) {
                d.peers.insert(n.id.clone(), peers_of(sql, &host, &n.id, now, down)?);
            }
            Ok(d)
        })
        .await
}

/// Flips the status of ports bound to the reporting host; reports about other ports are
/// ignored (the port moved, or the report is stale). Returns how many ports changed.
pub async fn port_status(svc: &Services, r: StatusReport) -> ApiResult<usize> {
    if r.host.is_empty() {
        return Err(ApiError::bad_request("a status report needs a host"));
    }
    svc.store
        .write(move |sql| {
            let now = now_timestamp();
            let mut n = 0;
            for (ids, status) in [(&r.up, "ACTIVE"), (&r.down, "DOWN")] {
                for id in ids {
                    n += sql.execute(
                        "UPDATE ports SET status = ?, revision_number = revision_number + 1, updated_at = ? \
                         WHERE id = ? AND binding_host_id = ? AND status <> ?",
                        &[
                            status.into(),
                            now.as_str().into(),
                            id.as_str().into(),
                            r.host.as_str().into(),
                            status.into(),
                        ],
                    )?;
                }
            }
            Ok(n)
        })
        .await
}
