//! Rows of L3 scheduling (`router_l3_agents`, upstream `routerl3agentbindings`): which L3 agent
//! row runs which router (one agent per router), the agents a router can be scheduled to (least
//! loaded first), the routers that need an agent, and the bindings of dead agents.

use neutrino_model::agent::L3_AGENT_TYPE;

use super::dhcp::DhcpAgent;
use super::{Sql, StoreError};

/// An agent row running (or able to run) routers; the same pair DHCP scheduling uses.
pub type L3Agent = DhcpAgent;

/// The agent running `router_id`.
pub fn agent_of(sql: &mut dyn Sql, router_id: &str) -> Result<Option<L3Agent>, StoreError> {
    let rows = sql.query(
        "SELECT a.id, a.host FROM router_l3_agents b JOIN agents a ON a.id = b.agent_id WHERE b.router_id = ?",
        &[router_id.into()],
    )?;
    Ok(rows.first().map(|r| L3Agent { id: r[0].text(), host: r[1].text() }))
}

/// Schedules `router_id` to `agent_id` (replacing any binding it had).
pub fn bind(sql: &mut dyn Sql, router_id: &str, agent_id: &str) -> Result<(), StoreError> {
    unbind(sql, router_id)?;
    sql.execute(
        "INSERT INTO router_l3_agents (router_id, agent_id) VALUES (?, ?)",
        &[router_id.into(), agent_id.into()],
    )?;
    Ok(())
}

/// Removes the scheduling of `router_id`; whether it had one.
pub fn unbind(sql: &mut dyn Sql, router_id: &str) -> Result<bool, StoreError> {
    Ok(sql.execute("DELETE FROM router_l3_agents WHERE router_id = ?", &[router_id.into()])? > 0)
}

/// The routers the agent row `agent_id` runs, sorted.
pub fn routers_of_agent(sql: &mut dyn Sql, agent_id: &str) -> Result<Vec<String>, StoreError> {
    let rows = sql.query(
        "SELECT router_id FROM router_l3_agents WHERE agent_id = ? ORDER BY router_id",
        &[agent_id.into()],
    )?;
    Ok(rows.iter().map(|r| r[0].text()).collect())
}

/// The routers the L3 agent of `host` runs, sorted.
pub fn routers_of_host(sql: &mut dyn Sql, host: &str) -> Result<Vec<String>, StoreError> {
    let rows = sql.query(
        "SELECT b.router_id FROM router_l3_agents b JOIN agents a ON a.id = b.agent_id \
         WHERE a.host = ? AND a.agent_type = ? ORDER BY b.router_id",
        &[host.into(), L3_AGENT_TYPE.into()],
    )?;
    Ok(rows.iter().map(|r| r[0].text()).collect())
}

/// The L3 agents that may take a router: enabled and heartbeating after `alive_after`, least
/// loaded (fewest routers) first, ties by host.
pub fn candidates(sql: &mut dyn Sql, alive_after: i64) -> Result<Vec<L3Agent>, StoreError> {
    let rows = sql.query(
        "SELECT a.id, a.host, (SELECT COUNT(*) FROM router_l3_agents b WHERE b.agent_id = a.id) AS load \
         FROM agents a WHERE a.agent_type = ? AND a.admin_state_up = 1 AND a.heartbeat_at > ? \
         ORDER BY load, a.host, a.id",
        &[L3_AGENT_TYPE.into(), alive_after.into()],
    )?;
    Ok(rows.iter().map(|r| L3Agent { id: r[0].text(), host: r[1].text() }).collect())
}

/// The routers with a port (interface or gateway) and no agent, sorted.
pub fn unscheduled(sql: &mut dyn Sql) -> Result<Vec<String>, StoreError> {
    let rows = sql.query(
        "SELECT r.id FROM routers r WHERE EXISTS (SELECT 1 FROM router_ports p WHERE p.router_id = r.id) \
         AND NOT EXISTS (SELECT 1 FROM router_l3_agents b WHERE b.router_id = r.id) ORDER BY r.id",
        &[],
    )?;
    Ok(rows.iter().map(|r| r[0].text()).collect())
}

/// `(router, agent)` bindings whose L3 agent last heartbeat at or before `cutoff`.
pub fn dead_bindings(sql: &mut dyn Sql, cutoff: i64) -> Result<Vec<(String, L3Agent)>, StoreError> {
    let rows = sql.query(
        "SELECT b.router_id, a.id, a.host FROM router_l3_agents b JOIN agents a ON a.id = b.agent_id \
         WHERE a.heartbeat_at <= ? ORDER BY b.router_id",
        &[cutoff.into()],
    )?;
    Ok(rows.iter().map(|r| (r[0].text(), L3Agent { id: r[1].text(), host: r[2].text() })).collect())
}

/// Removes every binding of the agent row `agent_id` (before the row goes).
pub fn unbind_agent(sql: &mut dyn Sql, agent_id: &str) -> Result<(), StoreError> {
    sql.execute("DELETE FROM router_l3_agents WHERE agent_id = ?", &[agent_id.into()])?;
    Ok(())
}
