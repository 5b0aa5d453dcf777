//! The internal API agents use (docs/design.md "Server ↔ agent protocol"): the desired state of
//! one host, watching the change feed from a revision (answered with deltas for that host, or
//! "resync" after a gap), and status reports that flip a port's status between DOWN and ACTIVE
//! (and a floating IP's, from the L3 agent serving it).
//! Ports and networks are read with the public API's store rows ([`crate::store::ports`],
//! [`crate::store::networks`]) and mapped to what an agent wires ([`PortState`],
//! [`NetworkState`]); each driver's section of the state is computed by its own function
//! (`l2_state`, `l2_delta` here, the firewall's in [`super::firewall`], the DHCP agent's in
//! [`super::dhcp_state`]), so a later section
//! adds functions, not branches.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use neutrino_model::common::now_timestamp;
use neutrino_model::floatingip::{STATUS_ACTIVE, STATUS_DOWN, STATUS_ERROR};
use neutrino_model::network::Network;
use neutrino_model::port::Port;
use neutrino_model::{ApiError, ApiResult, NetworkType};

pub use neutrino_model::internal::{
    AddressPairState, Delta, FirewallState, FixedIpState, HostState, L2Delta, L2State, NetworkState,
    PortState, StatusReport,
};

use super::{Services, dhcp_state, firewall, l3_state, unix_now};
use crate::ml2::binding::VIF_OVS;
use crate::store::changes::Change;
use crate::store::{Sql, agents, changes, floatingips as fip_rows, networks as net_rows, ports as port_rows};

/// What an agent wires of a port (the public API's row, seen by the host).
fn port_state(p: Port) -> PortState {
    // Upstream's trusted ports: what the cloud itself runs (DHCP, router interfaces) is never
    // filtered.
    let filtered = p.port_security_enabled && !is_trusted(&p.device_owner);
    PortState {
        id: p.std.id,
        network_id: p.network_id,
        mac_address: p.mac_address,
        fixed_ips: p
            .fixed_ips
            .into_iter()
            .map(|f| FixedIpState { subnet_id: f.subnet_id, ip_address: f.ip_address.to_string() })
            .collect(),
        admin_state_up: p.admin_state_up,
        device_owner: p.device_owner,
        device_id: p.device_id,
        security_groups: if filtered { p.security_groups } else { vec![] },
        allowed_address_pairs: p
            .allowed_address_pairs
            .into_iter()
            .map(|a| AddressPairState { ip_address: a.ip_address, mac_address: a.mac_address })
            .collect(),
        port_security_enabled: filtered,
    }
}

/// A port the cloud itself runs (`network:dhcp`, `network:router_interface`, …).
pub fn is_trusted(device_owner: &str) -> bool {
    device_owner.starts_with("network:")
}

/// What an agent wires of a network: its segment (`local` when it has none), MTU and state.
fn network_state(n: Network) -> NetworkState {
    NetworkState {
        id: n.std.id,
        network_type: n.provider.network_type.unwrap_or(NetworkType::Local),
        physical_network: n.provider.physical_network,
        segmentation_id: n.provider.segmentation_id,
        mtu: n.mtu,
        admin_state_up: n.admin_state_up,
    }
}

/// The ports bound to `host` (only those of `ids` when given), sorted by id.
fn ports_bound(sql: &mut dyn Sql, host: &str, ids: Option<&[String]>) -> ApiResult<Vec<PortState>> {
    Ok(port_rows::bound_to(sql, host, VIF_OVS, ids)?.into_iter().map(port_state).collect())
}

fn networks(sql: &mut dyn Sql, ids: &BTreeSet<String>) -> ApiResult<Vec<NetworkState>> {
    let ids: Vec<String> = ids.iter().cloned().collect();
    Ok(net_rows::rows(sql, &ids)?.into_iter().map(network_state).collect())
}

/// Tunnel endpoints of the live agents of other hosts with bound ports on `network_id`.
fn peers_of(sql: &mut dyn Sql, host: &str, network_id: &str, now: i64, down: i64) -> ApiResult<Vec<String>> {
    let configs = agents::l2_configurations_on_network(sql, network_id, host, VIF_OVS, now - down)?;
    let mut ips: Vec<String> = configs.iter().filter_map(|c| c.tunnel_endpoint().map(String::from)).collect();
    ips.sort();
    ips.dedup();
    Ok(ips)
}

/// The peer lists of the tunnel networks among `networks`.
fn peers(
    sql: &mut dyn Sql,
    host: &str,
    networks: &[NetworkState],
    down: i64,
) -> ApiResult<BTreeMap<String, Vec<String>>> {
    let now = unix_now();
    let mut peers = BTreeMap::new();
    for n in networks.iter().filter(|n| n.network_type.is_tunnel()) {
        peers.insert(n.id.clone(), peers_of(sql, host, &n.id, now, down)?);
    }
    Ok(peers)
}

/// The `l2` section of `host`'s state: its bound ports, their networks and tunnel peers.
fn l2_state(sql: &mut dyn Sql, host: &str, down: i64) -> ApiResult<L2State> {
    let ports = ports_bound(sql, host, None)?;
    let ids: BTreeSet<String> = ports.iter().map(|p| p.network_id.clone()).collect();
    let networks = networks(sql, &ids)?;
    let peers = peers(sql, host, &networks, down)?;
    Ok(L2State { ports, networks, peers })
}

/// The whole desired state of `host`.
pub async fn host_state(svc: &Services, host: &str) -> ApiResult<HostState> {
    let (host, down, dns) = (host.to_string(), svc.agent_down_time(), svc.config.dhcp.dns_domain.clone());
    svc.store
        .read(move |sql| {
            let revision = changes::current(sql)?;
            Ok(HostState {
                revision,
                l2: l2_state(sql, &host, down)?,
                firewall: firewall::state(sql, &host)?,
                dhcp: dhcp_state::state(sql, &host, &dns)?,
                l3: l3_state::state(sql, &host)?,
            })
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
    let (host, down, dns) = (host.to_string(), svc.agent_down_time(), svc.config.dhcp.dns_domain.clone());
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
            let firewall = if firewall::touched(&list) { Some(firewall::state(sql, &host)?) } else { None };
            Ok(Delta {
                revision: last,
                resync: false,
                l2: l2_delta(sql, &host, &list, down)?,
                firewall,
                dhcp: dhcp_state::delta(sql, &host, &list, &dns)?,
                l3: l3_state::delta(sql, &host, &list)?,
            })
        })
        .await
}

/// The `l2` section of the changes `list` for `host`: its ports that changed or went, the
/// networks of the host they touched, and the peers of those (of all its networks when an agent
/// changed, since a tunnel endpoint may have).
fn l2_delta(sql: &mut dyn Sql, host: &str, list: &[Change], down: i64) -> ApiResult<L2Delta> {
    let my_nets: BTreeSet<String> = port_rows::networks_bound_to(sql, host, VIF_OVS)?.into_iter().collect();
    let mut touched_ports = BTreeSet::new();
    let mut touched_nets = BTreeSet::new();
    let mut all_peers = false;
    for c in list {
        match c.kind.as_str() {
            "port" => {
                if c.host.as_deref() == Some(host) {
                    touched_ports.insert(c.resource_id.clone());
                }
                if let Some(n) = &c.network_id {
                    touched_nets.insert(n.clone());
                }
            }
            "network" => {
                touched_nets.insert(c.resource_id.clone());
            }
            // Neither moves a port of this host nor a tunnel endpoint.
            changes::SECURITY_GROUP | changes::SUBNET | changes::DHCP | changes::ROUTER => {}
            _ => all_peers = true,
        }
    }
    let mut d = L2Delta::default();
    if !touched_ports.is_empty() {
        let ids: Vec<String> = touched_ports.iter().cloned().collect();
        let found = ports_bound(sql, host, Some(&ids))?;
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
    d.peers = peers(sql, host, &d.networks, down)?;
    Ok(d)
}

/// The statuses an L3 agent may report for a floating IP.
const FIP_STATUSES: [&str; 3] = [STATUS_ACTIVE, STATUS_DOWN, STATUS_ERROR];

/// Flips the status of ports bound to the reporting host, and of floating IPs served by a
/// router whose L3 agent runs there; reports about others are ignored (the port or router
/// moved, or the report is stale). Returns how many ports and floating IPs changed.
pub async fn port_status(svc: &Services, r: StatusReport) -> ApiResult<usize> {
    if r.host.is_empty() {
        return Err(ApiError::bad_request("a status report needs a host"));
    }
    if let Some((id, s)) = r.floatingips.iter().find(|(_, s)| !FIP_STATUSES.contains(&s.as_str())) {
        return Err(ApiError::bad_request(format!(
            "floating IP {id}: status {s:?} is not one of {FIP_STATUSES:?}"
        )));
    }
    svc.store
        .write(move |sql| {
            let now = now_timestamp();
            let mut n = 0;
            for (ids, status) in [(&r.up, "ACTIVE"), (&r.down, "DOWN")] {
                for id in ids {
                    n += port_rows::set_status(sql, id, &r.host, status, &now)?;
                }
            }
            for (id, status) in &r.floatingips {
                n += fip_rows::set_status(sql, id, &r.host, status, &now)?;
            }
            Ok(n)
        })
        .await
}
