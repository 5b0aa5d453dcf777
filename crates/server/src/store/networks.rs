//! Rows of the `networks` table, and which of them a project may see (its own, shared and
//! external ones).

use neutrino_model::common::Standard;
use neutrino_model::network::{Network, Provider};

use super::list::{Scope, Select, chunks};
use super::{Row, Sql, SqlValue, StoreError, placeholders, tags};

pub const TABLE: &str = "networks";
pub const TAG_TYPE: &str = "networks";
pub const COLS: &str = "id, project_id, name, description, admin_state_up, status, shared, mtu, router_external, \
    network_type, physical_network, segmentation_id, port_security_enabled, availability_zone_hints, \
    created_at, updated_at, revision_number";

pub fn from_row(r: &Row) -> Network {
    Network {
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
        admin_state_up: r[4].bool(),
        status: r[5].text(),
        shared: r[6].bool(),
        mtu: r[7].int(),
        router_external: r[8].bool(),
        provider: Provider {
            // A type this build does not know (written by another) reads as none.
            network_type: r[9].opt_text().and_then(|t| t.parse().ok()),
            physical_network: r[10].opt_text(),
            segmentation_id: r[11].opt_int(),
        },
        port_security_enabled: r[12].bool(),
        availability_zone_hints: serde_json::from_str(&r[13].text()).unwrap_or_default(),
        subnets: vec![],
    }
}

fn values(n: &Network) -> Vec<SqlValue> {
    vec![
        n.std.id.as_str().into(),
        n.std.project_id.as_str().into(),
        n.std.name.as_str().into(),
        n.std.description.as_str().into(),
        n.admin_state_up.into(),
        n.status.as_str().into(),
        n.shared.into(),
        n.mtu.into(),
        n.router_external.into(),
        n.provider.network_type.map(|t| t.as_str()).into(),
        n.provider.physical_network.clone().into(),
        n.provider.segmentation_id.into(),
        n.port_security_enabled.into(),
        serde_json::to_string(&n.availability_zone_hints).unwrap_or_else(|_| "[]".into()).into(),
        n.std.created_at.as_str().into(),
        n.std.updated_at.as_str().into(),
        n.std.revision_number.into(),
    ]
}

pub fn insert(sql: &mut dyn Sql, n: &Network) -> Result<(), StoreError> {
    super::insert_row(sql, "networks", COLS, &values(n))
}

/// Writes every column of `n` back.
pub fn update(sql: &mut dyn Sql, n: &Network) -> Result<(), StoreError> {
    super::update_row(sql, "networks", COLS, &values(n))
}

/// A network by id, with its subnets and tags.
pub fn get(sql: &mut dyn Sql, id: &str) -> Result<Option<Network>, StoreError> {
    let mut nets: Vec<Network> = row(sql, id)?.into_iter().collect();
    fill(sql, &mut nets)?;
    Ok(nets.pop())
}

/// A network's own row, without its subnets and tags: for the checks of port requests
/// (owner, segment), which need no more.
pub fn row(sql: &mut dyn Sql, id: &str) -> Result<Option<Network>, StoreError> {
    let rows = sql.query(&format!("SELECT {COLS} FROM networks WHERE id = ?"), &[id.into()])?;
    Ok(rows.first().map(from_row))
}

/// The rows of `ids` (without subnets and tags), sorted by id when `ids` are.
pub fn rows(sql: &mut dyn Sql, ids: &[String]) -> Result<Vec<Network>, StoreError> {
    let mut out = vec![];
    for chunk in chunks(ids) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let q =
            format!("SELECT {COLS} FROM networks WHERE id IN ({}) ORDER BY id", placeholders(chunk.len()));
        out.extend(sql.query(&q, &params)?.iter().map(from_row));
    }
    Ok(out)
}

/// A select of the networks `scope` may see: a project sees its own, shared and external ones.
pub fn select(scope: Scope<'_>) -> Select {
    let mut select = Select::new(TABLE, COLS);
    if let Scope::Project(p) = scope {
        select.scope("(project_id = ? OR shared = 1 OR router_external = 1)", vec![p.into()]);
    }
    select
}

/// Fills in the subnet ids and tags of `nets`.
pub fn fill(sql: &mut dyn Sql, nets: &mut [Network]) -> Result<(), StoreError> {
    let ids: Vec<String> = nets.iter().map(|n| n.std.id.clone()).collect();
    let mut subnets: std::collections::HashMap<String, Vec<String>> = Default::default();
    for chunk in chunks(&ids) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let rows = sql.query(
            &format!(
                "SELECT network_id, id FROM subnets WHERE network_id IN ({}) ORDER BY created_at, id",
                placeholders(chunk.len())
            ),
            &params,
        )?;
        for r in rows {
            subnets.entry(r[0].text()).or_default().push(r[1].text());
        }
    }
    let mut tags = tags::of(sql, TAG_TYPE, &ids)?;
    for n in nets {
        n.subnets = subnets.remove(&n.std.id).unwrap_or_default();
        n.std.tags = tags.remove(&n.std.id).unwrap_or_default();
    }
    Ok(())
}

pub fn delete(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    tags::clear(sql, TAG_TYPE, id)?;
    sql.execute("DELETE FROM networks WHERE id = ?", &[id.into()])?;
    Ok(())
}

/// Bumps the revision and update time of a network (a child changed).
pub fn touch(sql: &mut dyn Sql, id: &str, now: &str) -> Result<(), StoreError> {
    super::touch_row(sql, TABLE, id, now)
}
