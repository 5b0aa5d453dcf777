//! DHCP scheduling and DHCP ports (upstream's `dhcp_agent_scheduler`, `agentschedulers_db` and
//! the ports its DHCP agent makes): a network with a DHCP-enabled subnet is hosted by
//! `[dhcp] dhcp_agents_per_network` live, enabled DHCP agents, least loaded first; each hosting
//! agent has a `network:dhcp` port bound to its host with one address in every DHCP-enabled
//! subnet. Everything here runs inside the caller's write transaction ([`sync_network`] after a
//! subnet write, [`auto_schedule`] on a DHCP agent's heartbeat, [`failover`] on the periodic
//! task) and records `dhcp` and `port` changes for the agents' watches.

use std::time::Duration;

use neutrino_model::agent::{DHCP_AGENT_TYPE, OVS_AGENT_TYPE};
use neutrino_model::common::{Standard, new_id, now_timestamp};
use neutrino_model::ip;
use neutrino_model::network::Network;
use neutrino_model::port::{FixedIp, OWNER_DHCP, Port};
use neutrino_model::subnet::Subnet;
use neutrino_model::{ApiError, ApiResult};
use serde_json::json;

use super::{Services, binding, ipam, unix_now};
use crate::ml2::binding::{Binding, VIF_FAILED};
use crate::store::dhcp::{self as rows, DhcpAgent};
use crate::store::{Sql, changes, networks as net_rows, ports as port_rows, subnets as subnet_rows};

/// Upstream's `DEVICE_ID_RESERVED_DHCP_PORT`: a DHCP port kept for the next agent to host its
/// network, so that the server's address stays the same.
pub const RESERVED_DHCP_PORT: &str = "reserved_dhcp_port";

/// What scheduling needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Scheduling {
    /// Agents per DHCP network.
    pub per_network: usize,
    /// `agent_down_time` in seconds.
    pub down: i64,
}

impl Scheduling {
    pub fn of(svc: &Services) -> Self {
        Self { per_network: svc.config.dhcp.dhcp_agents_per_network.max(1), down: svc.agent_down_time() }
    }
}

/// Upstream's `get_dhcp_agent_device_id`: `dhcp` + the UUID v5 (DNS namespace) of the host's
/// first label + `-` + the network.
pub fn device_id(network_id: &str, host: &str) -> String {
    let local = host.split('.').next().unwrap_or(host);
    let host_uuid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, local.as_bytes());
    format!("dhcp{host_uuid}-{network_id}")
}

fn record(sql: &mut dyn Sql, network_id: &str, host: &str) -> ApiResult<()> {
    changes::record(sql, changes::DHCP, network_id, Some(network_id), Some(host))?;
    Ok(())
}

/// Brings `network_id` in line with its subnets: without a DHCP-enabled subnet it is hosted by
/// no agent and has no DHCP port; with one it is scheduled to agents until it has
/// `per_network` of them (if live ones are there), and every hosting agent has its DHCP port
/// with one address in each DHCP-enabled subnet. Returns whether anything changed.
pub fn sync_network(sql: &mut dyn Sql, s: Scheduling, network_id: &str) -> ApiResult<bool> {
    let Some(net) = net_rows::row(sql, network_id)? else { return Ok(false) };
    let dhcp_subnets: Vec<Subnet> =
        subnet_rows::of_network(sql, network_id)?.into_iter().filter(|s| s.enable_dhcp).collect();
    let mut changed = false;
    if dhcp_subnets.is_empty() {
        for a in rows::hosting(sql, network_id)? {
            rows::unbind(sql, network_id, &a.id)?;
            record(sql, network_id, &a.host)?;
            changed = true;
        }
        for p in rows::ports_of_network(sql, network_id, true)? {
            port_rows::delete(sql, &p.std.id)?;
            binding::record(sql, Some(&p), None)?;
            changed = true;
        }
        return Ok(changed);
    }
    let mut hosting = rows::hosting(sql, network_id)?;
    if hosting.len() < s.per_network {
        let wanted = s.per_network - hosting.len();
        let free: Vec<DhcpAgent> = rows::candidates(sql, unix_now() - s.down)?
            .into_iter()
            .filter(|c| !hosting.iter().any(|h| h.id == c.id))
            .take(wanted)
            .collect();
        for a in free {
            rows::bind(sql, network_id, &a.id)?;
            record(sql, network_id, &a.host)?;
            hosting.push(a);
            changed = true;
        }
    }
    changed |= ensure_ports(sql, s, &net, &dhcp_subnets, &hosting)?;
    Ok(changed)
}

/// Gives every agent of `hosting` its DHCP port (its own, else a reserved one, else a new one)
/// and every DHCP port of the network one address in each of `dhcp_subnets`, none elsewhere.
fn ensure_ports(
    sql: &mut dyn Sql,
    s: Scheduling,
    net: &Network,
    dhcp_subnets: &[Subnet],
    hosting: &[DhcpAgent],
) -> ApiResult<bool> {
    let mut changed = false;
    let existing = rows::ports_of_network(sql, &net.std.id, true)?;
    let mut reserved: Vec<Port> =
        existing.iter().filter(|p| p.device_id == RESERVED_DHCP_PORT).cloned().collect();
    let mut fresh: Vec<Port> = vec![];
    for a in hosting {
        let dev = device_id(&net.std.id, &a.host);
        if existing.iter().any(|p| p.device_id == dev) {
            continue;
        }
        let bound = binding::binding_for(sql, &a.host, &net.provider, s.down)?;
        if let Some(mut p) = (!reserved.is_empty()).then(|| reserved.remove(0)) {
            let before = p.clone();
            p.device_id = dev;
            p.binding_host_id = a.host.clone();
            binding::apply(&mut p, bound);
            save(sql, &before, p)?;
        } else {
            fresh.push(new_port(sql, net, &a.host, dev, bound)?);
        }
        changed = true;
    }
    for p in fresh {
        let p = with_addresses(sql, p, dhcp_subnets)?.unwrap_or_else(|p| p);
        port_rows::insert(sql, &p)?;
        binding::record(sql, None, Some(&p))?;
    }
    for p in rows::ports_of_network(sql, &net.std.id, true)? {
        let before = p.clone();
        if let Ok(after) = with_addresses(sql, p, dhcp_subnets)? {
            save(sql, &before, after)?;
            changed = true;
        }
    }
    Ok(changed)
}

/// Writes a changed DHCP port back with a new revision and records it.
fn save(sql: &mut dyn Sql, before: &Port, mut p: Port) -> ApiResult<()> {
    p.std.revision_number += 1;
    p.std.updated_at = now_timestamp();
    port_rows::update(sql, &p)?;
    binding::record(sql, Some(before), Some(&p))
}

/// A new DHCP port of `net` for the agent of `host` (no addresses yet): the network's project,
/// no security groups, bound to the host.
fn new_port(
    sql: &mut dyn Sql,
    net: &Network,
    host: &str,
    device_id: String,
    bound: Binding,
) -> ApiResult<Port> {
    let now = now_timestamp();
    Ok(Port {
        std: Standard {
            id: new_id(),
            name: String::new(),
            description: String::new(),
            project_id: net.std.project_id.clone(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
            tags: vec![],
        },
        network_id: net.std.id.clone(),
        admin_state_up: true,
        mac_address: super::ports::choose_mac(sql, &net.std.id, None, &[])?,
        fixed_ips: vec![],
        device_id,
        device_owner: OWNER_DHCP.into(),
        status: "DOWN".into(),
        port_security_enabled: net.port_security_enabled,
        security_groups: vec![],
        allowed_address_pairs: vec![],
        binding_host_id: host.to_string(),
        binding_profile: json!({}),
        binding_vif_type: bound.vif_type,
        binding_vif_details: bound.vif_details,
        binding_vnic_type: "normal".into(),
        extra_dhcp_opts: vec![],
    })
}

/// `p` with one address in each of `dhcp_subnets` (its own kept, a new one by IPAM where it
/// has none; a subnet with no free address is skipped) and none elsewhere: `Ok` if that
/// changed its addresses, `Err(p)` unchanged otherwise.
fn with_addresses(sql: &mut dyn Sql, mut p: Port, dhcp_subnets: &[Subnet]) -> ApiResult<Result<Port, Port>> {
    let before = p.fixed_ips.clone();
    let mut kept: Vec<FixedIp> = vec![];
    for f in &before {
        if dhcp_subnets.iter().any(|s| s.std.id == f.subnet_id)
            && !kept.iter().any(|k| k.subnet_id == f.subnet_id)
        {
            kept.push(f.clone());
        }
    }
    for s in dhcp_subnets {
        if kept.iter().any(|k| k.subnet_id == s.std.id) {
            continue;
        }
        let taken: Vec<std::net::IpAddr> = kept.iter().map(|k| k.ip_address).collect();
        let ip = if ipam::is_auto_address(s) {
            ip::eui64(&s.cidr, &p.mac_address)
        } else {
            ipam::lowest(sql, s, &taken)?
        };
        match ip {
            Some(ip) => kept.push(FixedIp { subnet_id: s.std.id.clone(), ip_address: ip }),
            None => tracing::warn!(subnet = %s.std.id, port = %p.std.id, "no free address for the DHCP port"),
        }
    }
    if kept == before {
        return Ok(Err(p));
    }
    p.fixed_ips = kept;
    Ok(Ok(p))
}

/// Stops `agent` hosting `network_id` (upstream's `remove_network_from_dhcp_agent`): its DHCP
/// port is kept as `reserved_dhcp_port`, unbound, for the next agent to take with its
/// addresses. Whether the network was hosted by it.
pub fn release(sql: &mut dyn Sql, network_id: &str, agent: &DhcpAgent) -> ApiResult<bool> {
    if !rows::unbind(sql, network_id, &agent.id)? {
        return Ok(false);
    }
    record(sql, network_id, &agent.host)?;
    let dev = device_id(network_id, &agent.host);
    for p in rows::ports_of_network(sql, network_id, true)?.into_iter().filter(|p| p.device_id == dev) {
        let before = p.clone();
        let mut p = p;
        p.device_id = RESERVED_DHCP_PORT.into();
        p.binding_host_id = String::new();
        binding::apply(&mut p, Binding::unbound());
        save(sql, &before, p)?;
    }
    Ok(true)
}

/// Binds `agent` to `network_id` (also beyond `per_network`, and also without a DHCP subnet
/// yet: a manual add, as upstream's forced scheduling) and gives it its DHCP port when the
/// network needs one.
pub fn host(sql: &mut dyn Sql, s: Scheduling, network_id: &str, agent: &DhcpAgent) -> ApiResult<()> {
    if rows::bind(sql, network_id, &agent.id)? {
        record(sql, network_id, &agent.host)?;
    }
    if rows::needs_dhcp(sql, network_id)? {
        sync_network(sql, s, network_id)?;
    }
    Ok(())
}

/// Upstream's `auto_schedule_networks` when a DHCP agent starts or comes back: the networks
/// that need DHCP and have fewer than `per_network` agents are given to it.
pub fn auto_schedule(sql: &mut dyn Sql, s: Scheduling, agent: &DhcpAgent) -> ApiResult<bool> {
    let mut changed = false;
    for net in rows::underhosted(sql, s.per_network)? {
        if !rows::is_bound(sql, &net, &agent.id)? {
            host(sql, s, &net, agent)?;
            changed = true;
        }
    }
    Ok(changed)
}

/// Binds again the DHCP ports of `host` whose binding failed (its Open vSwitch agent reported
/// after its DHCP agent was given the network).
pub fn rebind_host(sql: &mut dyn Sql, s: Scheduling, host: &str) -> ApiResult<bool> {
    let mut changed = false;
    for p in rows::failed_ports_on_host(sql, host, VIF_FAILED)? {
        let Some(net) = net_rows::row(sql, &p.network_id)? else { continue };
        let bound = binding::binding_for(sql, host, &net.provider, s.down)?;
        if bound.vif_type == VIF_FAILED {
            continue;
        }
        let before = p.clone();
        let mut p = p;
        binding::apply(&mut p, bound);
        save(sql, &before, p)?;
        changed = true;
    }
    Ok(changed)
}

/// What a heartbeat means for scheduling: a DHCP agent that started, appeared or came back
/// takes the unhosted networks; an Open vSwitch agent that appeared or changed binds the DHCP
/// ports of its host that could not bind.
pub fn on_report(
    sql: &mut dyn Sql,
    s: Scheduling,
    agent_type: &str,
    agent: &DhcpAgent,
    admin_state_up: bool,
    woke: bool,
) -> ApiResult<bool> {
    match agent_type {
        DHCP_AGENT_TYPE if woke && admin_state_up => auto_schedule(sql, s, agent),
        OVS_AGENT_TYPE if woke => rebind_host(sql, s, &agent.host),
        _ => Ok(false),
    }
}

/// Before a network is deleted: its bindings and DHCP ports go, recorded for the agents.
pub fn forget_network(sql: &mut dyn Sql, network_id: &str) -> ApiResult<()> {
    for a in rows::hosting(sql, network_id)? {
        rows::unbind(sql, network_id, &a.id)?;
        record(sql, network_id, &a.host)?;
    }
    for p in rows::ports_of_network(sql, network_id, true)? {
        port_rows::delete(sql, &p.std.id)?;
        binding::record(sql, Some(&p), None)?;
    }
    Ok(())
}

/// Before an agent row is deleted: the networks it hosted are released and scheduled again
/// onto the live agents.
pub fn forget_agent(sql: &mut dyn Sql, s: Scheduling, agent: &DhcpAgent) -> ApiResult<()> {
    for net in rows::networks_of_agent(sql, &agent.id)? {
        release(sql, &net, agent)?;
        sync_network(sql, s, &net)?;
    }
    Ok(())
}

/// Upstream's `remove_networks_from_down_agents`: the networks of DHCP agents silent for twice
/// `agent_down_time` are released and scheduled again onto live agents, when there is a live
/// one at all (otherwise the server, not the agents, may be what is cut off).
pub fn failover(sql: &mut dyn Sql, s: Scheduling) -> ApiResult<bool> {
    let now = unix_now();
    let dead = rows::dead_bindings(sql, now - 2 * s.down)?;
    if dead.is_empty() || rows::candidates(sql, now - s.down)?.is_empty() {
        return Ok(false);
    }
    for (net, agent) in &dead {
        tracing::warn!(network = %net, agent = %agent.id, host = %agent.host, "moving a network off a dead DHCP agent");
        release(sql, net, agent)?;
    }
    for (net, _) in &dead {
        sync_network(sql, s, net)?;
    }
    Ok(true)
}

/// The periodic task of upstream's `allow_automatic_dhcp_failover`: every half
/// `agent_down_time`, [`failover`]. It ends when the application it serves is gone.
pub async fn failover_loop(svc: Services) {
    let period = Duration::from_millis(u64::try_from(svc.agent_down_time().max(1)).unwrap_or(1) * 500);
    loop {
        tokio::time::sleep(period).await;
        if std::sync::Arc::strong_count(&svc.feed) <= 1 {
            return;
        }
        let s = Scheduling::of(&svc);
        let due = svc
            .store
            .read(move |sql| Ok(!rows::dead_bindings(sql, unix_now() - 2 * s.down)?.is_empty()))
            .await;
        if !matches!(due, Ok(true)) {
            continue;
        }
        match svc.store.write(move |sql| failover(sql, s)).await {
            Ok(true) => svc.changed(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = ?e, "DHCP failover failed"),
        }
    }
}

/// 404 `AgentNotFound`.
pub fn agent_not_found(id: &str) -> ApiError {
    ApiError::not_found("AgentNotFound", format!("Agent {id} could not be found."))
}
