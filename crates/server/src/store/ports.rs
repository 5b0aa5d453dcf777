//! Rows of the `ports` and `ip_allocations` tables.

use std::collections::HashMap;

use neutrino_model::common::Standard;
use neutrino_model::port::{FixedIp, Port};

use super::list::chunks;
use super::{Row, Sql, SqlValue, StoreError, placeholders, tags};

pub const TABLE: &str = "ports";
pub const TAG_TYPE: &str = "ports";
pub const COLS: &str = "id, project_id, name, description, network_id, admin_state_up, mac_address, device_id, \
    device_owner, status, port_security_enabled, binding_host_id, binding_profile, binding_vif_type, \
    binding_vif_details, binding_vnic_type, created_at, updated_at, revision_number";

pub fn from_row(r: &Row) -> Port {
    Port {
        std: Standard {
            id: r[0].text(),
            project_id: r[1].text(),
            name: r[2].text(),
            description: r[3].text(),
            created_at: r[16].text(),
            updated_at: r[17].text(),
            revision_number: r[18].int(),
            tags: vec![],
        },
        network_id: r[4].text(),
        admin_state_up: r[5].bool(),
        mac_address: r[6].text(),
        fixed_ips: vec![],
        device_id: r[7].text(),
        device_owner: r[8].text(),
        status: r[9].text(),
        port_security_enabled: r[10].bool(),
        binding_host_id: r[11].text(),
        binding_profile: serde_json::from_str(&r[12].text()).unwrap_or_default(),
        binding_vif_type: r[13].text(),
        binding_vif_details: serde_json::from_str(&r[14].text()).unwrap_or_default(),
        binding_vnic_type: r[15].text(),
    }
}

fn values(p: &Port) -> Vec<SqlValue> {
    vec![
        p.std.id.as_str().into(),
        p.std.project_id.as_str().into(),
        p.std.name.as_str().into(),
        p.std.description.as_str().into(),
        p.network_id.as_str().into(),
        p.admin_state_up.into(),
        p.mac_address.as_str().into(),
        p.device_id.as_str().into(),
        p.device_owner.as_str().into(),
        p.status.as_str().into(),
        p.port_security_enabled.into(),
        p.binding_host_id.as_str().into(),
        p.binding_profile.to_string().into(),
        p.binding_vif_type.as_str().into(),
        p.binding_vif_details.to_string().into(),
        p.binding_vnic_type.as_str().into(),
        p.std.created_at.as_str().into(),
        p.std.updated_at.as_str().into(),
        p.std.revision_number.into(),
    ]
}

/// Inserts the port row and its address allocations.
pub fn insert(sql: &mut dyn Sql, p: &Port) -> Result<(), StoreError> {
    super::insert_row(sql, "ports", COLS, &values(p))?;
    insert_ips(sql, p)
}

fn insert_ips(sql: &mut dyn Sql, p: &Port) -> Result<(), StoreError> {
    for (i, f) in p.fixed_ips.iter().enumerate() {
        sql.execute(
            "INSERT INTO ip_allocations (port_id, subnet_id, network_id, ip_address, position) VALUES (?, ?, ?, ?, ?)",
            &[
                p.std.id.as_str().into(),
                f.subnet_id.as_str().into(),
                p.network_id.as_str().into(),
                f.ip_address.to_string().into(),
                i64::try_from(i).unwrap_or(0).into(),
            ],
        )?;
    }
    Ok(())
}

/// Writes every column of `p` back and replaces its allocations.
pub fn update(sql: &mut dyn Sql, p: &Port) -> Result<(), StoreError> {
    super::update_row(sql, "ports", COLS, &values(p))?;
    sql.execute("DELETE FROM ip_allocations WHERE port_id = ?", &[p.std.id.as_str().into()])?;
    insert_ips(sql, p)
}

pub fn get(sql: &mut dyn Sql, id: &str) -> Result<Option<Port>, StoreError> {
    let rows = sql.query(&format!("SELECT {COLS} FROM ports WHERE id = ?"), &[id.into()])?;
    let mut out: Vec<Port> = rows.iter().map(from_row).collect();
    fill(sql, &mut out)?;
    Ok(out.pop())
}

/// Fills in fixed IPs and tags.
pub fn fill(sql: &mut dyn Sql, ports: &mut [Port]) -> Result<(), StoreError> {
    let ids: Vec<String> = ports.iter().map(|p| p.std.id.clone()).collect();
    let mut ips: HashMap<String, Vec<FixedIp>> = HashMap::new();
    for chunk in chunks(&ids) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let q = format!(
            "SELECT port_id, subnet_id, ip_address FROM ip_allocations WHERE port_id IN ({}) ORDER BY port_id, position",
            placeholders(chunk.len())
        );
        for r in sql.query(&q, &params)? {
            if let Ok(ip) = r[2].text().parse() {
                ips.entry(r[0].text()).or_default().push(FixedIp { subnet_id: r[1].text(), ip_address: ip });
            }
        }
    }
    let mut tags = tags::of(sql, TAG_TYPE, &ids)?;
    for p in ports {
        p.fixed_ips = ips.remove(&p.std.id).unwrap_or_default();
        p.std.tags = tags.remove(&p.std.id).unwrap_or_default();
    }
    Ok(())
}

pub fn delete(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    tags::clear(sql, TAG_TYPE, id)?;
    sql.execute("DELETE FROM ip_allocations WHERE port_id = ?", &[id.into()])?;
    sql.execute("DELETE FROM ports WHERE id = ?", &[id.into()])?;
    Ok(())
}

/// Ids and owners of the ports of a network.
pub fn owners_on_network(sql: &mut dyn Sql, network_id: &str) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sql.query("SELECT id, device_owner FROM ports WHERE network_id = ?", &[network_id.into()])?;
    Ok(rows.iter().map(|r| (r[0].text(), r[1].text())).collect())
}

/// Ids and owners of the ports holding an address of a subnet.
pub fn owners_on_subnet(sql: &mut dyn Sql, subnet_id: &str) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sql.query(
        "SELECT p.id, p.device_owner FROM ports p JOIN ip_allocations a ON a.port_id = p.id WHERE a.subnet_id = ?",
        &[subnet_id.into()],
    )?;
    Ok(rows.iter().map(|r| (r[0].text(), r[1].text())).collect())
}

/// Whether `mac` is taken on `network_id`.
pub fn mac_in_use(sql: &mut dyn Sql, network_id: &str, mac: &str) -> Result<bool, StoreError> {
    Ok(!sql
        .query(
            "SELECT 1 FROM ports WHERE network_id = ? AND mac_address = ?",
            &[network_id.into(), mac.into()],
        )?
        .is_empty())
}
