//! L3 scheduling (upstream `l3_agent_scheduler`'s least-routers scheduler and
//! `l3_agentschedulers_db`): a router is run by one live, enabled L3 agent, the one running
//! the fewest routers (ties by host), from the moment it has a port (its first interface or
//! its gateway); an L3 agent that starts or comes back takes the routers left without one;
//! routers of agents silent for twice `agent_down_time` move to live ones. Scheduling binds
//! the router's ports to the agent's host, as ML2 binds any port, and records a `router`
//! change for the old and the new host. Everything runs inside the caller's write transaction.

use std::time::Duration;

use neutrino_model::ApiResult;
use neutrino_model::agent::{L3_AGENT_TYPE, OVS_AGENT_TYPE};
use neutrino_model::common::now_timestamp;

use super::{Services, binding, unix_now};
use crate::ml2::binding::VIF_FAILED;
use crate::store::l3::{self as rows, L3Agent};
use crate::store::{Sql, changes, networks as net_rows, ports as port_rows, routers as router_rows};

/// Records a `router` change for `router_id` (for `host` when scheduling changed).
pub fn record(sql: &mut dyn Sql, router_id: &str, host: Option<&str>) -> ApiResult<()> {
    changes::record(sql, changes::ROUTER, router_id, None, host)?;
    Ok(())
}

/// Records a `router` change for the host running `router_id` (or none if unscheduled).
pub fn record_update(sql: &mut dyn Sql, router_id: &str) -> ApiResult<()> {
    let host = rows::agent_of(sql, router_id)?.map(|a| a.host);
    record(sql, router_id, host.as_deref())
}

/// The host a new port of `router_id` is bound to: its agent's, or none.
pub fn host_of(sql: &mut dyn Sql, router_id: &str) -> ApiResult<String> {
    Ok(rows::agent_of(sql, router_id)?.map(|a| a.host).unwrap_or_default())
}

/// Binds every port of `router_id` to `host` ("" unbinds them) and records the port changes.
fn bind_ports(sql: &mut dyn Sql, router_id: &str, host: &str, down: i64) -> ApiResult<()> {
    for id in router_rows::ports_of(sql, router_id, None)? {
        let Some(p) = port_rows::get(sql, &id)? else { continue };
        let Some(net) = net_rows::row(sql, &p.network_id)? else { continue };
        let before = p.clone();
        let mut p = p;
        p.binding_host_id = host.to_string();
        binding::apply(&mut p, binding::binding_for(sql, host, &net.provider, down)?);
        if p != before {
            p.std.revision_number += 1;
            p.std.updated_at = now_timestamp();
            port_rows::update(sql, &p)?;
            binding::record(sql, Some(&before), Some(&p))?;
        }
    }
    Ok(())
}

/// Moves `router_id` to `agent` (off any agent when `None`): the binding, its ports' host, and
/// a `router` change for the host it left and the one it joined.
pub fn move_to(sql: &mut dyn Sql, router_id: &str, agent: Option<&L3Agent>, down: i64) -> ApiResult<()> {
    let old = rows::agent_of(sql, router_id)?;
    if old.as_ref().map(|a| &a.id) == agent.map(|a| &a.id) {
        return Ok(());
    }
    match agent {
        Some(a) => rows::bind(sql, router_id, &a.id)?,
        None => {
            rows::unbind(sql, router_id)?;
        }
    }
    if let Some(o) = &old {
        record(sql, router_id, Some(&o.host))?;
    }
    if let Some(a) = agent {
        record(sql, router_id, Some(&a.host))?;
    }
    bind_ports(sql, router_id, agent.map_or("", |a| a.host.as_str()), down)
}

/// Schedules `router_id` if it has a port and no agent, to the least loaded live agent.
/// Whether it was scheduled.
pub fn schedule(sql: &mut dyn Sql, router_id: &str, down: i64) -> ApiResult<bool> {
    if rows::agent_of(sql, router_id)?.is_some() || router_rows::ports_of(sql, router_id, None)?.is_empty() {
        return Ok(false);
    }
    let Some(a) = rows::candidates(sql, unix_now() - down)?.into_iter().next() else { return Ok(false) };
    move_to(sql, router_id, Some(&a), down)?;
    Ok(true)
}

/// Schedules every router that has ports and no agent (upstream `auto_schedule_routers`).
pub fn schedule_all(sql: &mut dyn Sql, down: i64) -> ApiResult<bool> {
    let mut changed = false;
    for r in rows::unscheduled(sql)? {
        changed |= schedule(sql, &r, down)?;
    }
    Ok(changed)
}

/// Binds again the router ports of `host` whose binding failed (its Open vSwitch agent reported
/// after its L3 agent was given the router).
fn rebind_host(sql: &mut dyn Sql, host: &str, down: i64) -> ApiResult<bool> {
    let mut changed = false;
    for router in rows::routers_of_host(sql, host)? {
        let mut failed = false;
        for id in router_rows::ports_of(sql, &router, None)? {
            failed |= port_rows::get(sql, &id)?.is_some_and(|p| p.binding_vif_type == VIF_FAILED);
        }
        if failed {
            bind_ports(sql, &router, host, down)?;
            changed = true;
        }
    }
    Ok(changed)
}

/// What a heartbeat means for L3 scheduling: an enabled L3 agent that started, appeared or
/// came back takes the unscheduled routers; an Open vSwitch agent that appeared or changed
/// binds the router ports of its host that could not bind.
pub fn on_report(
    sql: &mut dyn Sql,
    down: i64,
    agent_type: &str,
    host: &str,
    admin_state_up: bool,
    woke: bool,
) -> ApiResult<bool> {
    match agent_type {
        L3_AGENT_TYPE if woke && admin_state_up => schedule_all(sql, down),
        OVS_AGENT_TYPE if woke => rebind_host(sql, host, down),
        _ => Ok(false),
    }
}

/// Before an L3 agent row is deleted: its routers move to the live agents (or to none).
pub fn forget_agent(sql: &mut dyn Sql, agent_id: &str, down: i64) -> ApiResult<()> {
    let routers = rows::routers_of_agent(sql, agent_id)?;
    for r in &routers {
        move_to(sql, r, None, down)?;
    }
    for r in &routers {
        schedule(sql, r, down)?;
    }
    Ok(())
}

/// Upstream's `reschedule_routers_from_down_agents`: the routers of L3 agents silent for twice
/// `agent_down_time` move to live agents, when there is a live one at all (otherwise the
/// server, not the agents, may be what is cut off).
pub fn failover(sql: &mut dyn Sql, down: i64) -> ApiResult<bool> {
    let now = unix_now();
    let dead = rows::dead_bindings(sql, now - 2 * down)?;
    if dead.is_empty() || rows::candidates(sql, now - down)?.is_empty() {
        return Ok(false);
    }
    for (router, agent) in &dead {
        tracing::warn!(router = %router, agent = %agent.id, host = %agent.host, "moving a router off a dead L3 agent");
        move_to(sql, router, None, down)?;
    }
    for (router, _) in &dead {
        schedule(sql, router, down)?;
    }
    Ok(true)
}

/// The periodic rescheduling: every half `agent_down_time`, [`failover`]. It ends when the
/// application it serves is gone.
pub async fn failover_loop(svc: Services) {
    let period = Duration::from_millis(u64::try_from(svc.agent_down_time().max(1)).unwrap_or(1) * 500);
    loop {
        tokio::time::sleep(period).await;
        if std::sync::Arc::strong_count(&svc.feed) <= 1 {
            return;
        }
        let down = svc.agent_down_time();
        let due =
            svc.store.read(move |sql| Ok(!rows::dead_bindings(sql, unix_now() - 2 * down)?.is_empty())).await;
        if !matches!(due, Ok(true)) {
            continue;
        }
        match svc.store.write(move |sql| failover(sql, down)).await {
            Ok(true) => svc.changed(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = ?e, "L3 failover failed"),
        }
    }
}
