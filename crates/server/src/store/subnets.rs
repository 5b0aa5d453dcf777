//! Rows of the `subnets` table, and which of them a project may see (its own, and those on
//! networks it may see). Pools, name servers and host routes are stored as JSON text.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use neutrino_model::common::Standard;
use neutrino_model::ip::{self, Range};
use neutrino_model::subnet::{HostRoute, Subnet, pools_json, routes_json};

use super::list::{Scope, Select, chunks};
use super::{Row, Sql, SqlValue, StoreError, placeholders, tags};

pub const TABLE: &str = "subnets";
pub const TAG_TYPE: &str = "subnets";
pub const COLS: &str = "id, project_id, name, description, network_id, ip_version, cidr, gateway_ip, \
    allocation_pools, dns_nameservers, host_routes, enable_dhcp, ipv6_ra_mode, ipv6_address_mode, \
    created_at, updated_at, revision_number";

/// What a row whose cidr does not parse reads as.
const UNREADABLE_CIDR: IpNet = IpNet::new_assert(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 32);

fn parse_pools(text: &str) -> Vec<Range> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let s: IpAddr = p["start"].as_str()?.parse().ok()?;
                    let e: IpAddr = p["end"].as_str()?.parse().ok()?;
                    Some(Range { start: ip::to_u128(s), end: ip::to_u128(e) })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn parse_routes(text: &str) -> Vec<HostRoute> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    Some(HostRoute {
                        destination: r["destination"].as_str()?.parse().ok()?,
                        nexthop: r["nexthop"].as_str()?.parse().ok()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A row back to a subnet. Rows are written by this module only, so they parse.
pub fn from_row(r: &Row) -> Subnet {
    let dns: Vec<String> = serde_json::from_str(&r[9].text()).unwrap_or_default();
    Subnet {
        std: Standard {
            id: r[0].text(),
            project_id: r[1].text(),
            name: r[2].text(),
            description: r[3].text(),
            created_at: r[14].text(),
            updated_at: r[15].text(),
            revision_number: r[16].int(),
            tags: vec![],
        },
        network_id: r[4].text(),
        ip_version: u8::try_from(r[5].int()).unwrap_or(4),
        cidr: r[6].text().parse().unwrap_or(UNREADABLE_CIDR),
        gateway_ip: r[7].opt_text().and_then(|g| g.parse().ok()),
        allocation_pools: parse_pools(&r[8].text()),
        dns_nameservers: dns.iter().filter_map(|d| d.parse().ok()).collect(),
        host_routes: parse_routes(&r[10].text()),
        enable_dhcp: r[11].bool(),
        ipv6_ra_mode: r[12].opt_text(),
        ipv6_address_mode: r[13].opt_text(),
        router_external: false,
    }
}

fn values(s: &Subnet) -> Vec<SqlValue> {
    let dns: Vec<String> = s.dns_nameservers.iter().map(ToString::to_string).collect();
    vec![
        s.std.id.as_str().into(),
        s.std.project_id.as_str().into(),
        s.std.name.as_str().into(),
        s.std.description.as_str().into(),
        s.network_id.as_str().into(),
        i64::from(s.ip_version).into(),
        s.cidr.to_string().into(),
        s.gateway_ip.map(|g| g.to_string()).into(),
        pools_json(&s.allocation_pools, s.is_v6()).to_string().into(),
        serde_json::json!(dns).to_string().into(),
        routes_json(&s.host_routes).to_string().into(),
        s.enable_dhcp.into(),
        s.ipv6_ra_mode.clone().into(),
        s.ipv6_address_mode.clone().into(),
        s.std.created_at.as_str().into(),
        s.std.updated_at.as_str().into(),
        s.std.revision_number.into(),
    ]
}

pub fn insert(sql: &mut dyn Sql, s: &Subnet) -> Result<(), StoreError> {
    super::insert_row(sql, "subnets", COLS, &values(s))
}

pub fn update(sql: &mut dyn Sql, s: &Subnet) -> Result<(), StoreError> {
    super::update_row(sql, "subnets", COLS, &values(s))
}

pub fn get(sql: &mut dyn Sql, id: &str) -> Result<Option<Subnet>, StoreError> {
    let rows = sql.query(&format!("SELECT {COLS} FROM subnets WHERE id = ?"), &[id.into()])?;
    let mut out: Vec<Subnet> = rows.iter().map(from_row).collect();
    fill(sql, &mut out)?;
    Ok(out.pop())
}

/// The subnets of a network, oldest first.
pub fn of_network(sql: &mut dyn Sql, network_id: &str) -> Result<Vec<Subnet>, StoreError> {
    let rows = sql.query(
        &format!("SELECT {COLS} FROM subnets WHERE network_id = ? ORDER BY created_at, id"),
        &[network_id.into()],
    )?;
    Ok(rows.iter().map(from_row).collect())
}

/// A select of the subnets `scope` may see: a project sees its own and those on the networks
/// it may see (its own, shared and external ones).
pub fn select(scope: Scope<'_>) -> Select {
    let mut select = Select::new(TABLE, COLS);
    if let Scope::Project(p) = scope {
        select.scope(
            "(project_id = ? OR network_id IN (SELECT n.id FROM networks n WHERE n.shared = 1 OR n.router_external = 1 OR n.project_id = ?))",
            vec![p.into(), p.into()],
        );
    }
    select
}

/// Bumps the revision and update time of a subnet (its tags changed).
pub fn touch(sql: &mut dyn Sql, id: &str, now: &str) -> Result<(), StoreError> {
    super::touch_row(sql, TABLE, id, now)
}

/// Fills in tags and the network's `router:external`.
pub fn fill(sql: &mut dyn Sql, subnets: &mut [Subnet]) -> Result<(), StoreError> {
    let ids: Vec<String> = subnets.iter().map(|s| s.std.id.clone()).collect();
    let mut tags = tags::of(sql, TAG_TYPE, &ids)?;
    let mut nets: Vec<String> = subnets.iter().map(|s| s.network_id.clone()).collect();
    nets.sort();
    nets.dedup();
    let mut external: HashMap<String, bool> = HashMap::new();
    for chunk in chunks(&nets) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let q =
            format!("SELECT id, router_external FROM networks WHERE id IN ({})", placeholders(chunk.len()));
        for r in sql.query(&q, &params)? {
            external.insert(r[0].text(), r[1].bool());
        }
    }
    for s in subnets {
        s.std.tags = tags.remove(&s.std.id).unwrap_or_default();
        s.router_external = external.get(&s.network_id).copied().unwrap_or(false);
    }
    Ok(())
}

pub fn delete(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    tags::clear(sql, TAG_TYPE, id)?;
    sql.execute("DELETE FROM subnets WHERE id = ?", &[id.into()])?;
    Ok(())
}
