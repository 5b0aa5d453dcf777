//! Rows of the `floatingips` table (upstream `floatingips`), which of them a project may see
//! (its own), and the router lookups floating IPs need: the router joining a subnet to an
//! external network (upstream `get_router_for_floatingip`) and, for status reports, whether a
//! host runs the L3 agent of a floating IP's router (`router_l3_agents`). All the SQL about
//! routers that floating IPs rely on lives here.

use neutrino_model::common::Standard;
use neutrino_model::floatingip::{FloatingIp, PortDetails};

use super::list::{Scope, Select};
use super::{Row, Sql, SqlValue, StoreError, tags};

pub const TABLE: &str = "floatingips";
pub const TAG_TYPE: &str = "floatingips";
pub const COLS: &str = "id, project_id, description, floating_network_id, floating_port_id, floating_ip_address, \
    fixed_port_id, fixed_ip_address, router_id, status, created_at, updated_at, revision_number";

pub fn from_row(r: &Row) -> FloatingIp {
    FloatingIp {
        std: Standard {
            id: r[0].text(),
            project_id: r[1].text(),
            name: String::new(),
            description: r[2].text(),
            created_at: r[10].text(),
            updated_at: r[11].text(),
            revision_number: r[12].int(),
            tags: vec![],
        },
        floating_network_id: r[3].text(),
        floating_port_id: r[4].text(),
        floating_ip_address: r[5].text(),
        port_id: r[6].opt_text(),
        fixed_ip_address: r[7].opt_text(),
        router_id: r[8].opt_text(),
        status: r[9].text(),
        port_details: None,
    }
}

fn values(f: &FloatingIp) -> Vec<SqlValue> {
    vec![
        f.std.id.as_str().into(),
        f.std.project_id.as_str().into(),
        f.std.description.as_str().into(),
        f.floating_network_id.as_str().into(),
        f.floating_port_id.as_str().into(),
        f.floating_ip_address.as_str().into(),
        f.port_id.clone().into(),
        f.fixed_ip_address.clone().into(),
        f.router_id.clone().into(),
        f.status.as_str().into(),
        f.std.created_at.as_str().into(),
        f.std.updated_at.as_str().into(),
        f.std.revision_number.into(),
    ]
}

pub fn insert(sql: &mut dyn Sql, f: &FloatingIp) -> Result<(), StoreError> {
    super::insert_row(sql, TABLE, COLS, &values(f))
}

/// Writes every column of `f` back.
pub fn update(sql: &mut dyn Sql, f: &FloatingIp) -> Result<(), StoreError> {
    super::update_row(sql, TABLE, COLS, &values(f))
}

pub fn get(sql: &mut dyn Sql, id: &str) -> Result<Option<FloatingIp>, StoreError> {
    let rows = sql.query(&format!("SELECT {COLS} FROM floatingips WHERE id = ?"), &[id.into()])?;
    let mut out: Vec<FloatingIp> = rows.iter().map(from_row).collect();
    fill(sql, &mut out)?;
    Ok(out.pop())
}

/// Deletes the row and its tags (not its port).
pub fn delete(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    tags::clear(sql, TAG_TYPE, id)?;
    sql.execute("DELETE FROM floatingips WHERE id = ?", &[id.into()])?;
    Ok(())
}

/// Bumps the revision and update time of a floating IP (a tag of it changed).
pub fn touch(sql: &mut dyn Sql, id: &str, now: &str) -> Result<(), StoreError> {
    super::touch_row(sql, TABLE, id, now)
}

/// Fills in tags and the `port_details` of the associated ports.
pub fn fill(sql: &mut dyn Sql, fips: &mut [FloatingIp]) -> Result<(), StoreError> {
    let ids: Vec<String> = fips.iter().map(|f| f.std.id.clone()).collect();
    let mut tags = tags::of(sql, TAG_TYPE, &ids)?;
    for f in fips {
        f.std.tags = tags.remove(&f.std.id).unwrap_or_default();
        f.port_details = match &f.port_id {
            Some(p) => port_details(sql, p)?,
            None => None,
        };
    }
    Ok(())
}

fn port_details(sql: &mut dyn Sql, port_id: &str) -> Result<Option<PortDetails>, StoreError> {
    let rows = sql.query(
        "SELECT name, network_id, mac_address, admin_state_up, status, device_id, device_owner FROM ports WHERE id = ?",
        &[port_id.into()],
    )?;
    Ok(rows.first().map(|r| PortDetails {
        name: r[0].text(),
        network_id: r[1].text(),
        mac_address: r[2].text(),
        admin_state_up: r[3].bool(),
        status: r[4].text(),
        device_id: r[5].text(),
        device_owner: r[6].text(),
    }))
}

/// A select of the floating IPs `scope` may see: a project sees its own.
pub fn select(scope: Scope<'_>) -> Select {
    let mut select = Select::new(TABLE, COLS);
    if let Scope::Project(p) = scope {
        select.scope("project_id = ?", vec![p.into()]);
    }
    select
}

/// The floating IPs associated with port `port_id`.
pub fn of_fixed_port(sql: &mut dyn Sql, port_id: &str) -> Result<Vec<FloatingIp>, StoreError> {
    let rows =
        sql.query(&format!("SELECT {COLS} FROM floatingips WHERE fixed_port_id = ?"), &[port_id.into()])?;
    Ok(rows.iter().map(from_row).collect())
}

/// The floating IP whose address port `port_id` holds, if any.
pub fn held_by(sql: &mut dyn Sql, port_id: &str) -> Result<Option<String>, StoreError> {
    let rows = sql.query("SELECT id FROM floatingips WHERE floating_port_id = ?", &[port_id.into()])?;
    Ok(rows.first().map(|r| r[0].text()))
}

/// The floating IPs on external network `network_id` that no port uses: (id, the port holding
/// the address).
pub fn disassociated_on(sql: &mut dyn Sql, network_id: &str) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sql.query(
        "SELECT id, floating_port_id FROM floatingips WHERE floating_network_id = ? AND fixed_port_id IS NULL \
         ORDER BY id",
        &[network_id.into()],
    )?;
    Ok(rows.iter().map(|r| (r[0].text(), r[1].text())).collect())
}

/// The floating IP on `network_id` already associated with `fixed_ip_address` of `port_id`.
pub fn holding_fixed_ip(
    sql: &mut dyn Sql,
    network_id: &str,
    port_id: &str,
    fixed_ip_address: &str,
) -> Result<Option<String>, StoreError> {
    let rows = sql.query(
        "SELECT id FROM floatingips WHERE floating_network_id = ? AND fixed_port_id = ? AND fixed_ip_address = ?",
        &[network_id.into(), port_id.into(), fixed_ip_address.into()],
    )?;
    Ok(rows.first().map(|r| r[0].text()))
}

/// The router that joins subnet `subnet_id` to `external_network_id`: one with its gateway
/// port on the external network and an interface port holding an address of the subnet.
/// Among several, the one whose interface holds the subnet's gateway address, else the first
/// by id (upstream `get_router_for_floatingip`).
pub fn router_for(
    sql: &mut dyn Sql,
    external_network_id: &str,
    subnet_id: &str,
) -> Result<Option<String>, StoreError> {
    let rows = sql.query(
        "SELECT r.id, a.ip_address, s.gateway_ip FROM routers r \
         JOIN ports gw ON gw.id = r.gw_port_id \
         JOIN router_ports rp ON rp.router_id = r.id \
         JOIN ip_allocations a ON a.port_id = rp.port_id \
         JOIN subnets s ON s.id = a.subnet_id \
         WHERE gw.network_id = ? AND a.subnet_id = ? \
         AND rp.port_type IN ('network:router_interface', 'network:ha_router_replicated_interface', \
             'network:router_interface_distributed') \
         ORDER BY r.id",
        &[external_network_id.into(), subnet_id.into()],
    )?;
    let on_gateway = rows.iter().find(|r| r[2].opt_text().is_some_and(|g| g == r[1].text()));
    Ok(on_gateway.or(rows.first()).map(|r| r[0].text()))
}

/// Sets the status of floating IP `id` if it is served by a router whose L3 agent runs on
/// `host` and its status differs, bumping its revision; the number changed (0 or 1).
pub fn set_status(
    sql: &mut dyn Sql,
    id: &str,
    host: &str,
    status: &str,
    now: &str,
) -> Result<usize, StoreError> {
    sql.execute(
        "UPDATE floatingips SET status = ?, revision_number = revision_number + 1, updated_at = ? \
         WHERE id = ? AND status <> ? AND router_id IN (SELECT b.router_id FROM router_l3_agents b \
             JOIN agents a ON a.id = b.agent_id WHERE a.host = ?)",
        &[status.into(), now.into(), id.into(), status.into(), host.into()],
    )
}

/// The IPv4 subnets of the external networks, by subnet id, as floating IP pools (the
/// `project_id` left for the caller to fill).
pub fn pools(sql: &mut dyn Sql) -> Result<Vec<neutrino_model::floatingip::FloatingIpPool>, StoreError> {
    let rows = sql.query(
        "SELECT s.id, s.name, n.id, n.name, s.cidr FROM subnets s JOIN networks n ON n.id = s.network_id \
         WHERE n.router_external = 1 AND s.ip_version = 4 ORDER BY s.id",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| neutrino_model::floatingip::FloatingIpPool {
            subnet_id: r[0].text(),
            subnet_name: r[1].text(),
            network_id: r[2].text(),
            network_name: r[3].text(),
            cidr: r[4].text(),
            project_id: String::new(),
        })
        .collect())
}
