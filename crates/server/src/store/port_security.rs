//! Rows of `port_security_groups` (which groups a port is in) and `port_address_pairs` (its
//! allowed address pairs), written with the port and read back in bulk for lists, the in-use
//! check of a group and the firewall section of the internal API.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use neutrino_model::port::Port;
use neutrino_model::port_security::AddressPair;

use super::list::chunks;
use super::{Sql, SqlValue, StoreError, placeholders};

/// Replaces the groups and address pairs of port `p` with its own.
pub fn write(sql: &mut dyn Sql, p: &Port) -> Result<(), StoreError> {
    clear(sql, &p.std.id)?;
    for g in &p.security_groups {
        sql.execute(
            "INSERT INTO port_security_groups (port_id, security_group_id) VALUES (?, ?)",
            &[p.std.id.as_str().into(), g.as_str().into()],
        )?;
    }
    for a in &p.allowed_address_pairs {
        sql.execute(
            "INSERT INTO port_address_pairs (port_id, ip_address, mac_address) VALUES (?, ?, ?)",
            &[p.std.id.as_str().into(), a.ip_address.as_str().into(), a.mac_address.as_str().into()],
        )?;
    }
    Ok(())
}

/// Removes the groups and address pairs of port `id`.
pub fn clear(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    sql.execute("DELETE FROM port_security_groups WHERE port_id = ?", &[id.into()])?;
    sql.execute("DELETE FROM port_address_pairs WHERE port_id = ?", &[id.into()])?;
    Ok(())
}

/// Fills in the groups and address pairs of `ports`.
pub fn fill(sql: &mut dyn Sql, ports: &mut [Port]) -> Result<(), StoreError> {
    let ids: Vec<String> = ports.iter().map(|p| p.std.id.clone()).collect();
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    let mut pairs: HashMap<String, Vec<AddressPair>> = HashMap::new();
    for chunk in chunks(&ids) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let q = format!(
            "SELECT port_id, security_group_id FROM port_security_groups WHERE port_id IN ({}) \
             ORDER BY port_id, security_group_id",
            placeholders(chunk.len())
        );
        for r in sql.query(&q, &params)? {
            groups.entry(r[0].text()).or_default().push(r[1].text());
        }
        let q = format!(
            "SELECT port_id, ip_address, mac_address FROM port_address_pairs WHERE port_id IN ({}) \
             ORDER BY port_id, ip_address, mac_address",
            placeholders(chunk.len())
        );
        for r in sql.query(&q, &params)? {
            pairs
                .entry(r[0].text())
                .or_default()
                .push(AddressPair { ip_address: r[1].text(), mac_address: r[2].text() });
        }
    }
    for p in ports {
        p.security_groups = groups.remove(&p.std.id).unwrap_or_default();
        p.allowed_address_pairs = pairs.remove(&p.std.id).unwrap_or_default();
    }
    Ok(())
}

/// Whether any port is in group `id`.
pub fn group_in_use(sql: &mut dyn Sql, id: &str) -> Result<bool, StoreError> {
    Ok(!sql
        .query("SELECT 1 FROM port_security_groups WHERE security_group_id = ? LIMIT 1", &[id.into()])?
        .is_empty())
}

/// The addresses of the member ports of each of `groups` (fixed IPs, and the IPs or CIDRs of
/// their allowed address pairs), sorted and without duplicates; a group without members maps
/// to an empty list.
pub fn member_addresses(
    sql: &mut dyn Sql,
    groups: &[String],
) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let mut out: BTreeMap<String, BTreeSet<String>> =
        groups.iter().map(|g| (g.clone(), BTreeSet::new())).collect();
    for chunk in chunks(groups) {
        let ph = placeholders(chunk.len());
        let mut params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        params.extend(chunk.iter().map(SqlValue::from));
        let q = format!(
            "SELECT g.security_group_id, a.ip_address FROM port_security_groups g \
             JOIN ip_allocations a ON a.port_id = g.port_id WHERE g.security_group_id IN ({ph}) \
             UNION SELECT g.security_group_id, p.ip_address FROM port_security_groups g \
             JOIN port_address_pairs p ON p.port_id = g.port_id WHERE g.security_group_id IN ({ph})"
        );
        for r in sql.query(&q, &params)? {
            out.entry(r[0].text()).or_default().insert(r[1].text());
        }
    }
    Ok(out.into_iter().map(|(g, a)| (g, a.into_iter().collect())).collect())
}

/// The groups of the ports bound to `host` with `vif_type`, sorted.
pub fn groups_on_host(sql: &mut dyn Sql, host: &str, vif_type: &str) -> Result<Vec<String>, StoreError> {
    let rows = sql.query(
        "SELECT DISTINCT g.security_group_id FROM port_security_groups g JOIN ports p ON p.id = g.port_id \
         WHERE p.binding_host_id = ? AND p.binding_vif_type = ? ORDER BY g.security_group_id",
        &[host.into(), vif_type.into()],
    )?;
    Ok(rows.iter().map(|r| r[0].text()).collect())
}
