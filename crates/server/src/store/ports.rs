//! Rows of the `ports` table (their addresses are [`super::allocations`]), which of them a
//! project may see (its own, and every port on a network it owns), the `fixed_ips` list
//! filter, and the ports bound to a host that the internal API serves.

use neutrino_model::common::Standard;
use neutrino_model::port::Port;

use super::list::{Scope, Select, balanced, chunks};
use super::{Row, Sql, SqlValue, StoreError, allocations, placeholders, port_security, tags};

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
        security_groups: vec![],
        allowed_address_pairs: vec![],
        binding_host_id: r[11].text(),
        binding_profile: serde_json::from_str(&r[12].text()).unwrap_or_default(),
        binding_vif_type: r[13].text(),
        binding_vif_details: serde_json::from_str(&r[14].text()).unwrap_or_default(),
        binding_vnic_type: r[15].text(),
        extra_dhcp_opts: vec![],
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
    super::insert_row(sql, TABLE, COLS, &values(p))?;
    port_security::write(sql, p)?;
    super::dhcp::write_extra_opts(sql, &p.std.id, &p.extra_dhcp_opts)?;
    allocations::insert(sql, p)
}

/// Writes every column of `p` back and replaces its allocations.
pub fn update(sql: &mut dyn Sql, p: &Port) -> Result<(), StoreError> {
    super::update_row(sql, TABLE, COLS, &values(p))?;
    port_security::write(sql, p)?;
    super::dhcp::write_extra_opts(sql, &p.std.id, &p.extra_dhcp_opts)?;
    allocations::free_port(sql, &p.std.id)?;
    allocations::insert(sql, p)
}

pub fn get(sql: &mut dyn Sql, id: &str) -> Result<Option<Port>, StoreError> {
    let rows = sql.query(&format!("SELECT {COLS} FROM ports WHERE id = ?"), &[id.into()])?;
    let mut out: Vec<Port> = rows.iter().map(from_row).collect();
    fill(sql, &mut out)?;
    Ok(out.pop())
}

/// Fills in fixed IPs, security groups, address pairs and tags.
pub fn fill(sql: &mut dyn Sql, ports: &mut [Port]) -> Result<(), StoreError> {
    fill_addresses(sql, ports)?;
    let ids: Vec<String> = ports.iter().map(|p| p.std.id.clone()).collect();
    let mut tags = tags::of(sql, TAG_TYPE, &ids)?;
    for p in ports {
        p.std.tags = tags.remove(&p.std.id).unwrap_or_default();
    }
    Ok(())
}

/// Fills in fixed IPs, security groups, address pairs and extra DHCP options (not tags).
pub fn fill_addresses(sql: &mut dyn Sql, ports: &mut [Port]) -> Result<(), StoreError> {
    port_security::fill(sql, ports)?;
    let ids: Vec<String> = ports.iter().map(|p| p.std.id.clone()).collect();
    let mut ips = allocations::of_ports(sql, &ids)?;
    let mut opts = super::dhcp::extra_opts_of(sql, &ids)?;
    for p in ports {
        p.fixed_ips = ips.remove(&p.std.id).unwrap_or_default();
        p.extra_dhcp_opts = opts.remove(&p.std.id).unwrap_or_default();
    }
    Ok(())
}

pub fn delete(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    tags::clear(sql, TAG_TYPE, id)?;
    allocations::free_port(sql, id)?;
    port_security::clear(sql, id)?;
    super::dhcp::clear_extra_opts(sql, id)?;
    sql.execute("DELETE FROM ports WHERE id = ?", &[id.into()])?;
    Ok(())
}

/// Bumps the revision and update time of a port (an address or a tag of it changed).
pub fn touch(sql: &mut dyn Sql, id: &str, now: &str) -> Result<(), StoreError> {
    super::touch_row(sql, TABLE, id, now)
}

/// A select of the ports `scope` may see: a project sees its own and every port on the
/// networks it owns.
pub fn select(scope: Scope<'_>) -> Select {
    let mut select = Select::new(TABLE, COLS);
    if let Scope::Project(p) = scope {
        select.scope(
            "(project_id = ? OR network_id IN (SELECT n.id FROM networks n WHERE n.project_id = ?))",
            vec![p.into(), p.into()],
        );
    }
    select
}

/// The `fixed_ips=` list filters: addresses, subnets and address substrings
/// (`ip-substring-filtering`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixedIpsFilter {
    pub ip_addresses: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub substrings: Vec<String>,
}

/// Restricts `select` to the ports matching `f`, as upstream joins the filters: the port has an
/// address matching every kind given, and within a kind any of its values. A filter with no
/// values at all leaves `select` alone.
pub fn filter_fixed_ips(select: &mut Select, f: &FixedIpsFilter) {
    let mut conds = vec![];
    if !f.ip_addresses.is_empty() {
        conds.push(format!("a.ip_address IN ({})", placeholders(f.ip_addresses.len())));
    }
    if !f.subnet_ids.is_empty() {
        conds.push(format!("a.subnet_id IN ({})", placeholders(f.subnet_ids.len())));
    }
    if !f.substrings.is_empty() {
        let likes = vec!["a.ip_address LIKE ? ESCAPE '\\'".to_string(); f.substrings.len()];
        conds.push(balanced("OR", &likes));
    }
    if conds.is_empty() {
        return;
    }
    let like = |v: &String| {
        let escaped = v.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        SqlValue::from(format!("%{escaped}%"))
    };
    let params = f
        .ip_addresses
        .iter()
        .map(SqlValue::from)
        .chain(f.subnet_ids.iter().map(SqlValue::from))
        .chain(f.substrings.iter().map(like))
        .collect();
    let cond = format!(
        "EXISTS (SELECT 1 FROM ip_allocations a WHERE a.port_id = ports.id AND {})",
        conds.join(" AND ")
    );
    select.push(cond, params);
}

/// Restricts `select` to the ports in any of the groups `ids` (the `security_groups=` filter).
pub fn filter_security_groups(select: &mut Select, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let cond = format!(
        "EXISTS (SELECT 1 FROM port_security_groups g WHERE g.port_id = ports.id AND g.security_group_id IN ({}))",
        placeholders(ids.len())
    );
    select.push(cond, ids.iter().map(SqlValue::from).collect());
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

/// Whether ports of projects other than `project_id` are on `network_id`, not counting the
/// network's own ports (`network:*` owners).
pub fn used_by_others(sql: &mut dyn Sql, network_id: &str, project_id: &str) -> Result<bool, StoreError> {
    Ok(!sql
        .query(
            "SELECT 1 FROM ports WHERE network_id = ? AND project_id <> ? AND device_owner NOT LIKE 'network:%'",
            &[network_id.into(), project_id.into()],
        )?
        .is_empty())
}

/// The ports bound to `host` with `vif_type`, with their fixed IPs, groups and address pairs
/// (not their tags), sorted by id; only those of `ids` (sorted) when given.
pub fn bound_to(
    sql: &mut dyn Sql,
    host: &str,
    vif_type: &str,
    ids: Option<&[String]>,
) -> Result<Vec<Port>, StoreError> {
    let cond = "binding_host_id = ? AND binding_vif_type = ?";
    let mut out: Vec<Port> = vec![];
    match ids {
        None => {
            let q = format!("SELECT {COLS} FROM ports WHERE {cond} ORDER BY id");
            out.extend(sql.query(&q, &[host.into(), vif_type.into()])?.iter().map(from_row));
        }
        Some(ids) => {
            for chunk in chunks(ids) {
                let q = format!(
                    "SELECT {COLS} FROM ports WHERE {cond} AND id IN ({}) ORDER BY id",
                    placeholders(chunk.len())
                );
                let mut params: Vec<SqlValue> = vec![host.into(), vif_type.into()];
                params.extend(chunk.iter().map(SqlValue::from));
                out.extend(sql.query(&q, &params)?.iter().map(from_row));
            }
        }
    }
    fill_addresses(sql, &mut out)?;
    Ok(out)
}

/// The networks of the ports bound to `host` with `vif_type`.
pub fn networks_bound_to(sql: &mut dyn Sql, host: &str, vif_type: &str) -> Result<Vec<String>, StoreError> {
    let rows = sql.query(
        "SELECT DISTINCT network_id FROM ports WHERE binding_host_id = ? AND binding_vif_type = ?",
        &[host.into(), vif_type.into()],
    )?;
    Ok(rows.iter().map(|r| r[0].text()).collect())
}

/// Sets the status of port `id` if it is bound to `host` and its status differs, bumping its
/// revision; the number of ports changed (0 or 1).
pub fn set_status(
    sql: &mut dyn Sql,
    id: &str,
    host: &str,
    status: &str,
    now: &str,
) -> Result<usize, StoreError> {
    sql.execute(
        "UPDATE ports SET status = ?, revision_number = revision_number + 1, updated_at = ? \
         WHERE id = ? AND binding_host_id = ? AND status <> ?",
        &[status.into(), now.into(), id.into(), host.into(), status.into()],
    )
}
