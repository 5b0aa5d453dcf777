//! Rows of the `agents` table (unique per agent type and host), and the live agents of the
//! hosts a network's ports are bound to (tunnel peers).

use neutrino_model::agent::{Agent, L2Configurations, OVS_AGENT_TYPE};

use super::{Row, Sql, SqlValue, StoreError};

pub const COLS: &str = "id, agent_type, agent_binary, host, topic, admin_state_up, description, availability_zone, \
    configurations, heartbeat_at, heartbeat_timestamp, started_at, created_at";

/// A row back to an agent; `alive` is computed against `now` and `down_time` (seconds).
pub fn from_row(r: &Row, now: i64, down_time: i64) -> Agent {
    let heartbeat_at = r[9].int();
    Agent {
        id: r[0].text(),
        agent_type: r[1].text(),
        binary: r[2].text(),
        host: r[3].text(),
        topic: r[4].text(),
        admin_state_up: r[5].bool(),
        description: r[6].text(),
        availability_zone: r[7].opt_text(),
        configurations: serde_json::from_str(&r[8].text()).unwrap_or_default(),
        heartbeat_at,
        heartbeat_timestamp: r[10].text(),
        started_at: r[11].text(),
        created_at: r[12].text(),
        alive: now - heartbeat_at < down_time,
    }
}

pub fn all(sql: &mut dyn Sql, now: i64, down: i64) -> Result<Vec<Agent>, StoreError> {
    let rows = sql.query(&format!("SELECT {COLS} FROM agents ORDER BY host, agent_type"), &[])?;
    Ok(rows.iter().map(|r| from_row(r, now, down)).collect())
}

pub fn get(sql: &mut dyn Sql, id: &str, now: i64, down: i64) -> Result<Option<Agent>, StoreError> {
    let rows = sql.query(&format!("SELECT {COLS} FROM agents WHERE id = ?"), &[id.into()])?;
    Ok(rows.first().map(|r| from_row(r, now, down)))
}

pub fn by_host(
    sql: &mut dyn Sql,
    agent_type: &str,
    host: &str,
    now: i64,
    down: i64,
) -> Result<Option<Agent>, StoreError> {
    let rows = sql.query(
        &format!("SELECT {COLS} FROM agents WHERE agent_type = ? AND host = ?"),
        &[agent_type.into(), host.into()],
    )?;
    Ok(rows.first().map(|r| from_row(r, now, down)))
}

fn values(a: &Agent) -> Vec<SqlValue> {
    vec![
        a.id.as_str().into(),
        a.agent_type.as_str().into(),
        a.binary.as_str().into(),
        a.host.as_str().into(),
        a.topic.as_str().into(),
        a.admin_state_up.into(),
        a.description.as_str().into(),
        a.availability_zone.clone().into(),
        a.configurations.to_string().into(),
        a.heartbeat_at.into(),
        a.heartbeat_timestamp.as_str().into(),
        a.started_at.as_str().into(),
        a.created_at.as_str().into(),
    ]
}

pub fn insert(sql: &mut dyn Sql, a: &Agent) -> Result<(), StoreError> {
    super::insert_row(sql, "agents", COLS, &values(a))
}

pub fn update(sql: &mut dyn Sql, a: &Agent) -> Result<(), StoreError> {
    super::update_row(sql, "agents", COLS, &values(a))
}

pub fn delete(sql: &mut dyn Sql, id: &str) -> Result<usize, StoreError> {
    sql.execute("DELETE FROM agents WHERE id = ?", &[id.into()])
}

/// The host of agent `id`, if it exists.
pub fn host_of(sql: &mut dyn Sql, id: &str) -> Result<Option<String>, StoreError> {
    let rows = sql.query("SELECT host FROM agents WHERE id = ?", &[id.into()])?;
    Ok(rows.first().map(|r| r[0].text()))
}

/// The distinct configurations of the Open vSwitch agents (the `l2` role) that heartbeat after
/// `alive_after` on the hosts, other than `except_host`, with ports of `network_id` bound with
/// `vif_type`; those not of upstream's shape are left out.
pub fn l2_configurations_on_network(
    sql: &mut dyn Sql,
    network_id: &str,
    except_host: &str,
    vif_type: &str,
    alive_after: i64,
) -> Result<Vec<L2Configurations>, StoreError> {
    let rows = sql.query(
        "SELECT DISTINCT a.configurations FROM ports p JOIN agents a ON a.host = p.binding_host_id \
         WHERE p.network_id = ? AND p.binding_host_id <> ? AND p.binding_vif_type = ? AND a.agent_type = ? \
         AND a.heartbeat_at > ?",
        &[network_id.into(), except_host.into(), vif_type.into(), OVS_AGENT_TYPE.into(), alive_after.into()],
    )?;
    Ok(rows.iter().filter_map(|r| serde_json::from_str(&r[0].text()).ok()).collect())
}
