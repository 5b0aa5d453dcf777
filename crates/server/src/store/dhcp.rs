//! Rows of DHCP scheduling (`network_dhcp_agents`, upstream's `networkdhcpagentbindings`): which
//! DHCP agent rows host which networks, the agents a network can be scheduled to (least loaded
//! first), the networks that need DHCP, the DHCP ports of a network; and the per-port options
//! of the `extra_dhcp_opt` extension (`port_extra_dhcp_opts`).

use std::collections::HashMap;

use neutrino_model::agent::DHCP_AGENT_TYPE;
use neutrino_model::extra_dhcp_opt::ExtraDhcpOpt;
use neutrino_model::port::{OWNER_DHCP, Port};

use super::list::chunks;
use super::{Sql, SqlValue, StoreError, placeholders, ports};

/// A DHCP agent row hosting (or able to host) networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpAgent {
    pub id: String,
    pub host: String,
}

/// Binds `network_id` to the agent row `agent_id` (nothing if it already is).
pub fn bind(sql: &mut dyn Sql, network_id: &str, agent_id: &str) -> Result<bool, StoreError> {
    if is_bound(sql, network_id, agent_id)? {
        return Ok(false);
    }
    sql.execute(
        "INSERT INTO network_dhcp_agents (network_id, agent_id) VALUES (?, ?)",
        &[network_id.into(), agent_id.into()],
    )?;
    Ok(true)
}

/// Removes the binding of `network_id` to `agent_id`; whether there was one.
pub fn unbind(sql: &mut dyn Sql, network_id: &str, agent_id: &str) -> Result<bool, StoreError> {
    Ok(sql.execute(
        "DELETE FROM network_dhcp_agents WHERE network_id = ? AND agent_id = ?",
        &[network_id.into(), agent_id.into()],
    )? > 0)
}

pub fn is_bound(sql: &mut dyn Sql, network_id: &str, agent_id: &str) -> Result<bool, StoreError> {
    Ok(!sql
        .query(
            "SELECT 1 FROM network_dhcp_agents WHERE network_id = ? AND agent_id = ?",
            &[network_id.into(), agent_id.into()],
        )?
        .is_empty())
}

/// The agents hosting `network_id`, by host.
pub fn hosting(sql: &mut dyn Sql, network_id: &str) -> Result<Vec<DhcpAgent>, StoreError> {
    let rows = sql.query(
        "SELECT a.id, a.host FROM network_dhcp_agents b JOIN agents a ON a.id = b.agent_id \
         WHERE b.network_id = ? ORDER BY a.host, a.id",
        &[network_id.into()],
    )?;
    Ok(rows.iter().map(|r| DhcpAgent { id: r[0].text(), host: r[1].text() }).collect())
}

/// The networks hosted by the agent row `agent_id`, sorted.
pub fn networks_of_agent(sql: &mut dyn Sql, agent_id: &str) -> Result<Vec<String>, StoreError> {
    let rows = sql.query(
        "SELECT network_id FROM network_dhcp_agents WHERE agent_id = ? ORDER BY network_id",
        &[agent_id.into()],
    )?;
    Ok(rows.iter().map(|r| r[0].text()).collect())
}

/// The networks hosted by the DHCP agent of `host`, sorted; none while it is disabled when
/// `enabled_only` (upstream's `list_active_networks_on_active_dhcp_agent`).
pub fn networks_of_host(
    sql: &mut dyn Sql,
    host: &str,
    enabled_only: bool,
) -> Result<Vec<String>, StoreError> {
    let enabled = if enabled_only { " AND a.admin_state_up = 1" } else { "" };
    let rows = sql.query(
        &format!(
            "SELECT b.network_id FROM network_dhcp_agents b JOIN agents a ON a.id = b.agent_id \
             WHERE a.host = ? AND a.agent_type = ?{enabled} ORDER BY b.network_id"
        ),
        &[host.into(), DHCP_AGENT_TYPE.into()],
    )?;
    Ok(rows.iter().map(|r| r[0].text()).collect())
}

/// The DHCP agents that may take a network: enabled and heartbeating after `alive_after`,
/// least loaded (fewest networks) first, ties by host.
pub fn candidates(sql: &mut dyn Sql, alive_after: i64) -> Result<Vec<DhcpAgent>, StoreError> {
    let rows = sql.query(
        "SELECT a.id, a.host, (SELECT COUNT(*) FROM network_dhcp_agents b WHERE b.agent_id = a.id) AS load \
         FROM agents a WHERE a.agent_type = ? AND a.admin_state_up = 1 AND a.heartbeat_at > ? \
         ORDER BY load, a.host, a.id",
        &[DHCP_AGENT_TYPE.into(), alive_after.into()],
    )?;
    Ok(rows.iter().map(|r| DhcpAgent { id: r[0].text(), host: r[1].text() }).collect())
}

/// Whether `network_id` has a subnet with DHCP enabled.
pub fn needs_dhcp(sql: &mut dyn Sql, network_id: &str) -> Result<bool, StoreError> {
    Ok(!sql
        .query("SELECT 1 FROM subnets WHERE network_id = ? AND enable_dhcp = 1", &[network_id.into()])?
        .is_empty())
}

/// The networks with a DHCP-enabled subnet hosted by fewer than `wanted` agents, sorted.
pub fn underhosted(sql: &mut dyn Sql, wanted: usize) -> Result<Vec<String>, StoreError> {
    let rows = sql.query(
        "SELECT n.id FROM networks n WHERE EXISTS (SELECT 1 FROM subnets s WHERE s.network_id = n.id AND s.enable_dhcp = 1) \
         AND (SELECT COUNT(*) FROM network_dhcp_agents b WHERE b.network_id = n.id) < ? ORDER BY n.id",
        &[i64::try_from(wanted).unwrap_or(i64::MAX).into()],
    )?;
    Ok(rows.iter().map(|r| r[0].text()).collect())
}

/// `(network, agent)` bindings whose DHCP agent last heartbeat at or before `cutoff`.
pub fn dead_bindings(sql: &mut dyn Sql, cutoff: i64) -> Result<Vec<(String, DhcpAgent)>, StoreError> {
    let rows = sql.query(
        "SELECT b.network_id, a.id, a.host FROM network_dhcp_agents b JOIN agents a ON a.id = b.agent_id \
         WHERE a.heartbeat_at <= ? ORDER BY b.network_id, a.host",
        &[cutoff.into()],
    )?;
    Ok(rows.iter().map(|r| (r[0].text(), DhcpAgent { id: r[1].text(), host: r[2].text() })).collect())
}

/// The ports of `network_id` with their addresses, groups and pairs (not tags), sorted by id;
/// only the `network:dhcp` ones when `dhcp_only`.
pub fn ports_of_network(
    sql: &mut dyn Sql,
    network_id: &str,
    dhcp_only: bool,
) -> Result<Vec<Port>, StoreError> {
    let (cond, params): (&str, Vec<SqlValue>) = if dhcp_only {
        ("network_id = ? AND device_owner = ?", vec![network_id.into(), OWNER_DHCP.into()])
    } else {
        ("network_id = ?", vec![network_id.into()])
    };
    let q = format!("SELECT {} FROM ports WHERE {cond} ORDER BY id", ports::COLS);
    let mut out: Vec<Port> = sql.query(&q, &params)?.iter().map(ports::from_row).collect();
    ports::fill_addresses(sql, &mut out)?;
    Ok(out)
}

/// The DHCP ports bound to `host` whose binding failed.
pub fn failed_ports_on_host(
    sql: &mut dyn Sql,
    host: &str,
    vif_failed: &str,
) -> Result<Vec<Port>, StoreError> {
    let q = format!(
        "SELECT {} FROM ports WHERE binding_host_id = ? AND device_owner = ? AND binding_vif_type = ? ORDER BY id",
        ports::COLS
    );
    let mut out: Vec<Port> = sql
        .query(&q, &[host.into(), OWNER_DHCP.into(), vif_failed.into()])?
        .iter()
        .map(ports::from_row)
        .collect();
    ports::fill_addresses(sql, &mut out)?;
    Ok(out)
}

/// Forgets every binding of the agent row `agent_id` (it is being deleted).
pub fn unbind_agent(sql: &mut dyn Sql, agent_id: &str) -> Result<(), StoreError> {
    sql.execute("DELETE FROM network_dhcp_agents WHERE agent_id = ?", &[agent_id.into()])?;
    Ok(())
}

/// The extra DHCP options of each of `port_ids`, sorted by IP version and name.
pub fn extra_opts_of(
    sql: &mut dyn Sql,
    port_ids: &[String],
) -> Result<HashMap<String, Vec<ExtraDhcpOpt>>, StoreError> {
    let mut out: HashMap<String, Vec<ExtraDhcpOpt>> = HashMap::new();
    for chunk in chunks(port_ids) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let q = format!(
            "SELECT port_id, opt_name, opt_value, ip_version FROM port_extra_dhcp_opts WHERE port_id IN ({}) \
             ORDER BY port_id, ip_version, opt_name",
            placeholders(chunk.len())
        );
        for r in sql.query(&q, &params)? {
            out.entry(r[0].text()).or_default().push(ExtraDhcpOpt {
                opt_name: r[1].text(),
                opt_value: r[2].text(),
                ip_version: u8::try_from(r[3].int()).unwrap_or(4),
            });
        }
    }
    Ok(out)
}

/// Replaces the extra DHCP options of `port_id`.
pub fn write_extra_opts(sql: &mut dyn Sql, port_id: &str, opts: &[ExtraDhcpOpt]) -> Result<(), StoreError> {
    clear_extra_opts(sql, port_id)?;
    for o in opts {
        sql.execute(
            "INSERT INTO port_extra_dhcp_opts (port_id, opt_name, opt_value, ip_version) VALUES (?, ?, ?, ?)",
            &[
                port_id.into(),
                o.opt_name.as_str().into(),
                o.opt_value.as_str().into(),
                i64::from(o.ip_version).into(),
            ],
        )?;
    }
    Ok(())
}

pub fn clear_extra_opts(sql: &mut dyn Sql, port_id: &str) -> Result<(), StoreError> {
    sql.execute("DELETE FROM port_extra_dhcp_opts WHERE port_id = ?", &[port_id.into()])?;
    Ok(())
}
