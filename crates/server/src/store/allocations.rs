//! Rows of the `ip_allocations` table: the fixed IPs of ports, one row per address, unique per
//! subnet and address (the primary key makes a double hand-out impossible).

use std::collections::HashMap;
use std::net::IpAddr;

use neutrino_model::port::{FixedIp, Port};

use super::list::chunks;
use super::{Sql, SqlValue, StoreError, placeholders};

/// Inserts the allocations of `p`, in the order of its `fixed_ips`.
pub fn insert(sql: &mut dyn Sql, p: &Port) -> Result<(), StoreError> {
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

/// The fixed IPs of each of `port_ids`, in their order on the port.
pub fn of_ports(sql: &mut dyn Sql, port_ids: &[String]) -> Result<HashMap<String, Vec<FixedIp>>, StoreError> {
    let mut ips: HashMap<String, Vec<FixedIp>> = HashMap::new();
    for chunk in chunks(port_ids) {
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
    Ok(ips)
}

/// Frees the addresses of a port.
pub fn free_port(sql: &mut dyn Sql, port_id: &str) -> Result<(), StoreError> {
    sql.execute("DELETE FROM ip_allocations WHERE port_id = ?", &[port_id.into()])?;
    Ok(())
}

/// Frees every address handed out from a subnet.
pub fn free_subnet(sql: &mut dyn Sql, subnet_id: &str) -> Result<(), StoreError> {
    sql.execute("DELETE FROM ip_allocations WHERE subnet_id = ?", &[subnet_id.into()])?;
    Ok(())
}

/// Whether `ip` of `subnet_id` is handed out.
pub fn in_use(sql: &mut dyn Sql, subnet_id: &str, ip: IpAddr) -> Result<bool, StoreError> {
    Ok(!sql
        .query(
            "SELECT 1 FROM ip_allocations WHERE subnet_id = ? AND ip_address = ?",
            &[subnet_id.into(), ip.to_string().into()],
        )?
        .is_empty())
}

/// Every address of `subnet_id` handed out, in no particular order.
pub fn taken(sql: &mut dyn Sql, subnet_id: &str) -> Result<Vec<IpAddr>, StoreError> {
    Ok(sql
        .query("SELECT ip_address FROM ip_allocations WHERE subnet_id = ?", &[subnet_id.into()])?
        .iter()
        .filter_map(|r| r[0].text().parse::<IpAddr>().ok())
        .collect())
}
