//! Rows of the `quotas` table (neutron `db/quota/models.py`, the `DbQuotaDriver`'s limits) and
//! the usage counts quotas are checked against: the registry of counted resources, each with
//! the table its rows live in and upstream's default limit (`neutron/conf/quota.py`).

use super::{Sql, SqlValue, StoreError};

/// A resource quotas count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// The name in quota bodies and in `OverQuota` (`network`, `security_group_rule`, …).
    pub name: &'static str,
    /// The table whose rows (by `project_id`) are the resource's usage.
    pub table: &'static str,
    /// Upstream's default limit (`quota_<name>`); `-1` is unlimited.
    pub default: i64,
}

/// Every counted resource, in the order quota bodies list them. Adding a resource (`router`,
/// `floatingip`) is one line here, plus its enforcement in the service that creates it.
pub const RESOURCES: &[Counted] = &[
    Counted { name: "network", table: "networks", default: 100 },
    Counted { name: "subnet", table: "subnets", default: 100 },
    Counted { name: "port", table: "ports", default: 500 },
    Counted { name: "router", table: "routers", default: 10 },
    Counted { name: "floatingip", table: "floatingips", default: 50 },
    Counted { name: "security_group", table: "security_groups", default: 10 },
    Counted { name: "security_group_rule", table: "security_group_rules", default: 100 },
];

/// The counted resource `name`, if quotas count it.
pub fn counted(name: &str) -> Option<&'static Counted> {
    RESOURCES.iter().find(|r| r.name == name)
}

/// How many rows of `resource` `project` has now (in this transaction, so rows it inserted
/// count).
pub fn used(sql: &mut dyn Sql, resource: &Counted, project: &str) -> Result<i64, StoreError> {
    let rows = sql
        .query(&format!("SELECT COUNT(*) FROM {} WHERE project_id = ?", resource.table), &[project.into()])?;
    Ok(rows.first().map_or(0, |r| r[0].int()))
}

/// The limits set for `project`: `(resource, limit)`.
pub fn of_project(sql: &mut dyn Sql, project: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sql.query(
        "SELECT resource, hard_limit FROM quotas WHERE project_id = ? ORDER BY resource",
        &[project.into()],
    )?;
    Ok(rows.iter().map(|r| (r[0].text(), r[1].int())).collect())
}

/// The limit set for `project` on `resource`, if any.
pub fn limit_of(sql: &mut dyn Sql, project: &str, resource: &str) -> Result<Option<i64>, StoreError> {
    let rows = sql.query(
        "SELECT hard_limit FROM quotas WHERE project_id = ? AND resource = ?",
        &[project.into(), resource.into()],
    )?;
    Ok(rows.first().map(|r| r[0].int()))
}

/// Every limit set, by project: `(project, resource, limit)`, ordered by project.
pub fn all(sql: &mut dyn Sql) -> Result<Vec<(String, String, i64)>, StoreError> {
    let rows =
        sql.query("SELECT project_id, resource, hard_limit FROM quotas ORDER BY project_id, resource", &[])?;
    Ok(rows.iter().map(|r| (r[0].text(), r[1].text(), r[2].int())).collect())
}

/// Sets `project`'s limit on `resource` (upstream `update_quota_limit`: a row even when the
/// value equals the default).
pub fn set(sql: &mut dyn Sql, project: &str, resource: &str, limit: i64) -> Result<(), StoreError> {
    let params: Vec<SqlValue> = vec![limit.into(), project.into(), resource.into()];
    if sql.execute("UPDATE quotas SET hard_limit = ? WHERE project_id = ? AND resource = ?", &params)? == 0 {
        sql.execute(
            "INSERT INTO quotas (project_id, resource, hard_limit) VALUES (?, ?, ?)",
            &[project.into(), resource.into(), limit.into()],
        )?;
    }
    Ok(())
}

/// Deletes every limit of `project`; returns how many there were.
pub fn delete_project(sql: &mut dyn Sql, project: &str) -> Result<usize, StoreError> {
    sql.execute("DELETE FROM quotas WHERE project_id = ?", &[project.into()])
}
