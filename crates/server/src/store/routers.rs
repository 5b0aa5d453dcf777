//! Rows of the `routers` table (upstream `routers`), the ports each router owns
//! (`router_ports`, upstream `routerports`) and its extra routes (`router_routes`, upstream
//! `routerroutes`); which routers a project may see (its own). The router's gateway info is
//! read from its gateway port's row and addresses.

use std::collections::HashMap;

use neutrino_model::common::Standard;
use neutrino_model::router::{Gateway, Router, sort_routes};
use neutrino_model::subnet::HostRoute;

use super::list::{Scope, Select, chunks};
use super::{Row, Sql, SqlValue, StoreError, allocations, placeholders, tags};

pub const TABLE: &str = "routers";
pub const TAG_TYPE: &str = "routers";
pub const COLS: &str = "id, project_id, name, description, admin_state_up, status, gw_port_id, enable_snat, \
    availability_zone_hints, created_at, updated_at, revision_number";

pub fn from_row(r: &Row) -> Router {
    Router {
        std: Standard {
            id: r[0].text(),
            project_id: r[1].text(),
            name: r[2].text(),
            description: r[3].text(),
            created_at: r[9].text(),
            updated_at: r[10].text(),
            revision_number: r[11].int(),
            tags: vec![],
        },
        admin_state_up: r[4].bool(),
        status: r[5].text(),
        gw_port_id: r[6].opt_text(),
        enable_snat: r[7].bool(),
        gateway: None,
        routes: vec![],
        availability_zone_hints: serde_json::from_str(&r[8].text()).unwrap_or_default(),
    }
}

fn values(r: &Router) -> Vec<SqlValue> {
    vec![
        r.std.id.as_str().into(),
        r.std.project_id.as_str().into(),
        r.std.name.as_str().into(),
        r.std.description.as_str().into(),
        r.admin_state_up.into(),
        r.status.as_str().into(),
        r.gw_port_id.clone().into(),
        r.enable_snat.into(),
        serde_json::to_string(&r.availability_zone_hints).unwrap_or_else(|_| "[]".into()).into(),
        r.std.created_at.as_str().into(),
        r.std.updated_at.as_str().into(),
        r.std.revision_number.into(),
    ]
}

/// Inserts the router row and its routes.
pub fn insert(sql: &mut dyn Sql, r: &Router) -> Result<(), StoreError> {
    super::insert_row(sql, TABLE, COLS, &values(r))?;
    write_routes(sql, &r.std.id, &r.routes)
}

/// Writes every column of `r` back and replaces its routes.
pub fn update(sql: &mut dyn Sql, r: &Router) -> Result<(), StoreError> {
    super::update_row(sql, TABLE, COLS, &values(r))?;
    write_routes(sql, &r.std.id, &r.routes)
}

fn write_routes(sql: &mut dyn Sql, id: &str, routes: &[HostRoute]) -> Result<(), StoreError> {
    sql.execute("DELETE FROM router_routes WHERE router_id = ?", &[id.into()])?;
    for r in routes {
        sql.execute(
            "INSERT INTO router_routes (router_id, destination, nexthop) VALUES (?, ?, ?)",
            &[id.into(), r.destination.to_string().into(), r.nexthop.to_string().into()],
        )?;
    }
    Ok(())
}

/// A router's own row (no routes, gateway or tags).
pub fn row(sql: &mut dyn Sql, id: &str) -> Result<Option<Router>, StoreError> {
    let rows = sql.query(&format!("SELECT {COLS} FROM routers WHERE id = ?"), &[id.into()])?;
    Ok(rows.first().map(from_row))
}

/// A router by id, whole.
pub fn get(sql: &mut dyn Sql, id: &str) -> Result<Option<Router>, StoreError> {
    let mut out: Vec<Router> = row(sql, id)?.into_iter().collect();
    fill(sql, &mut out)?;
    Ok(out.pop())
}

/// A select of the routers `scope` may see: a project sees its own.
pub fn select(scope: Scope<'_>) -> Select {
    let mut select = Select::new(TABLE, COLS);
    if let Scope::Project(p) = scope {
        select.scope("project_id = ?", vec![p.into()]);
    }
    select
}

/// Fills in the routes, gateway info and tags of `routers`.
pub fn fill(sql: &mut dyn Sql, routers: &mut [Router]) -> Result<(), StoreError> {
    let ids: Vec<String> = routers.iter().map(|r| r.std.id.clone()).collect();
    let mut routes: HashMap<String, Vec<HostRoute>> = HashMap::new();
    for chunk in chunks(&ids) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let q = format!(
            "SELECT router_id, destination, nexthop FROM router_routes WHERE router_id IN ({})",
            placeholders(chunk.len())
        );
        for r in sql.query(&q, &params)? {
            if let (Ok(destination), Ok(nexthop)) = (r[1].text().parse(), r[2].text().parse()) {
                routes.entry(r[0].text()).or_default().push(HostRoute { destination, nexthop });
            }
        }
    }
    let gw_ports: Vec<String> = routers.iter().filter_map(|r| r.gw_port_id.clone()).collect();
    let mut ips = allocations::of_ports(sql, &gw_ports)?;
    let mut gw_nets: HashMap<String, String> = HashMap::new();
    for chunk in chunks(&gw_ports) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let q = format!("SELECT id, network_id FROM ports WHERE id IN ({})", placeholders(chunk.len()));
        for r in sql.query(&q, &params)? {
            gw_nets.insert(r[0].text(), r[1].text());
        }
    }
    let mut tags = tags::of(sql, TAG_TYPE, &ids)?;
    for r in routers {
        let mut rs = routes.remove(&r.std.id).unwrap_or_default();
        sort_routes(&mut rs);
        r.routes = rs;
        r.std.tags = tags.remove(&r.std.id).unwrap_or_default();
        r.gateway = r.gw_port_id.as_ref().and_then(|p| {
            gw_nets.get(p).map(|net| Gateway {
                network_id: net.clone(),
                enable_snat: r.enable_snat,
                external_fixed_ips: ips.remove(p).unwrap_or_default(),
            })
        });
    }
    Ok(())
}

/// Deletes the router row, its routes, port rows, scheduling and tags.
pub fn delete(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    tags::clear(sql, TAG_TYPE, id)?;
    sql.execute("DELETE FROM router_routes WHERE router_id = ?", &[id.into()])?;
    sql.execute("DELETE FROM router_ports WHERE router_id = ?", &[id.into()])?;
    sql.execute("DELETE FROM router_l3_agents WHERE router_id = ?", &[id.into()])?;
    sql.execute("DELETE FROM routers WHERE id = ?", &[id.into()])?;
    Ok(())
}

/// Bumps the revision and update time of a router (a tag or interface changed).
pub fn touch(sql: &mut dyn Sql, id: &str, now: &str) -> Result<(), StoreError> {
    super::touch_row(sql, TABLE, id, now)
}

/// Drops the router's reference to its gateway port (before the port goes).
pub fn forget_gateway(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    sql.execute("UPDATE routers SET gw_port_id = NULL WHERE id = ?", &[id.into()])?;
    Ok(())
}

/// Records that `router_id` owns `port_id` (an interface or its gateway).
pub fn add_port(
    sql: &mut dyn Sql,
    router_id: &str,
    port_id: &str,
    port_type: &str,
) -> Result<(), StoreError> {
    super::insert_row(
        sql,
        "router_ports",
        "port_id, router_id, port_type",
        &[port_id.into(), router_id.into(), port_type.into()],
    )
}

pub fn remove_port(sql: &mut dyn Sql, port_id: &str) -> Result<(), StoreError> {
    sql.execute("DELETE FROM router_ports WHERE port_id = ?", &[port_id.into()])?;
    Ok(())
}

/// The ports of `router_id` of `port_type` (all when `None`), sorted by port id.
pub fn ports_of(
    sql: &mut dyn Sql,
    router_id: &str,
    port_type: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let rows = match port_type {
        Some(t) => sql.query(
            "SELECT port_id FROM router_ports WHERE router_id = ? AND port_type = ? ORDER BY port_id",
            &[router_id.into(), t.into()],
        )?,
        None => sql.query(
            "SELECT port_id FROM router_ports WHERE router_id = ? ORDER BY port_id",
            &[router_id.into()],
        )?,
    };
    Ok(rows.iter().map(|r| r[0].text()).collect())
}

/// The router owning `port_id`, if one does.
pub fn router_of_port(sql: &mut dyn Sql, port_id: &str) -> Result<Option<String>, StoreError> {
    let rows = sql.query("SELECT router_id FROM router_ports WHERE port_id = ?", &[port_id.into()])?;
    Ok(rows.first().map(|r| r[0].text()))
}

/// The routers with a port (interface or gateway) on any of `network_ids`, sorted.
pub fn on_networks(sql: &mut dyn Sql, network_ids: &[String]) -> Result<Vec<String>, StoreError> {
    let mut out = vec![];
    for chunk in chunks(network_ids) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let q = format!(
            "SELECT DISTINCT rp.router_id FROM router_ports rp JOIN ports p ON p.id = rp.port_id \
             WHERE p.network_id IN ({})",
            placeholders(chunk.len())
        );
        out.extend(sql.query(&q, &params)?.iter().map(|r| r[0].text()));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The subnets of `network_id` that hold an address of a router interface, sorted.
pub fn routed_subnets(sql: &mut dyn Sql, network_id: &str) -> Result<Vec<String>, StoreError> {
    let rows = sql.query(
        "SELECT DISTINCT a.subnet_id FROM ip_allocations a JOIN router_ports rp ON rp.port_id = a.port_id \
         WHERE a.network_id = ? AND rp.port_type = ? ORDER BY a.subnet_id",
        &[network_id.into(), neutrino_model::router::OWNER_ROUTER_INTERFACE.into()],
    )?;
    Ok(rows.iter().map(|r| r[0].text()).collect())
}

/// A floating IP served by a router, as the router's rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterFip {
    pub id: String,
    pub floating_ip_address: String,
    pub fixed_ip_address: Option<String>,
    pub fixed_port_id: Option<String>,
}

/// The floating IPs whose `router_id` is `router_id`, sorted by id.
pub fn floating_ips(sql: &mut dyn Sql, router_id: &str) -> Result<Vec<RouterFip>, StoreError> {
    let rows = sql.query(
        "SELECT id, floating_ip_address, fixed_ip_address, fixed_port_id FROM floatingips \
         WHERE router_id = ? ORDER BY id",
        &[router_id.into()],
    )?;
    Ok(rows
        .iter()
        .map(|r| RouterFip {
            id: r[0].text(),
            floating_ip_address: r[1].text(),
            fixed_ip_address: r[2].opt_text(),
            fixed_port_id: r[3].opt_text(),
        })
        .collect())
}
