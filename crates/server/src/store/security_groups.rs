//! Rows of the `security_groups`, `security_group_rules` and `default_security_groups` tables
//! (neutron `db/models/securitygroup.py`): groups with their rules, which of them a project may
//! see (its own groups; the rules of its groups and its own rules), and each project's default.

use std::collections::HashMap;

use neutrino_model::common::Standard;
use neutrino_model::security_group::{SecurityGroup, SecurityGroupRule};

use super::list::{Scope, Select, chunks};
use super::{Row, Sql, SqlValue, StoreError, changes, placeholders, tags};

pub const TABLE: &str = "security_groups";
pub const TAG_TYPE: &str = "security_groups";
pub const COLS: &str = "id, project_id, name, description, stateful, created_at, updated_at, revision_number";

pub const RULE_TABLE: &str = "security_group_rules";
pub const RULE_COLS: &str = "id, project_id, security_group_id, direction, ethertype, protocol, \
    port_range_min, port_range_max, remote_ip_prefix, normalized_cidr, remote_group_id, description, \
    created_at, updated_at, revision_number";

pub fn from_row(r: &Row) -> SecurityGroup {
    SecurityGroup {
        std: Standard {
            id: r[0].text(),
            project_id: r[1].text(),
            name: r[2].text(),
            description: r[3].text(),
            created_at: r[5].text(),
            updated_at: r[6].text(),
            revision_number: r[7].int(),
            tags: vec![],
        },
        stateful: r[4].bool(),
        rules: vec![],
    }
}

fn values(g: &SecurityGroup) -> Vec<SqlValue> {
    vec![
        g.std.id.as_str().into(),
        g.std.project_id.as_str().into(),
        g.std.name.as_str().into(),
        g.std.description.as_str().into(),
        g.stateful.into(),
        g.std.created_at.as_str().into(),
        g.std.updated_at.as_str().into(),
        g.std.revision_number.into(),
    ]
}

pub fn rule_from_row(r: &Row) -> SecurityGroupRule {
    SecurityGroupRule {
        id: r[0].text(),
        project_id: r[1].text(),
        security_group_id: r[2].text(),
        direction: r[3].text(),
        ethertype: r[4].text(),
        protocol: r[5].opt_text(),
        port_range_min: r[6].opt_int(),
        port_range_max: r[7].opt_int(),
        remote_ip_prefix: r[8].opt_text(),
        remote_group_id: r[10].opt_text(),
        description: r[11].text(),
        created_at: r[12].text(),
        updated_at: r[13].text(),
        revision_number: r[14].int(),
    }
}

fn rule_values(r: &SecurityGroupRule) -> Vec<SqlValue> {
    vec![
        r.id.as_str().into(),
        r.project_id.as_str().into(),
        r.security_group_id.as_str().into(),
        r.direction.as_str().into(),
        r.ethertype.as_str().into(),
        r.protocol.clone().into(),
        r.port_range_min.into(),
        r.port_range_max.into(),
        r.remote_ip_prefix.clone().into(),
        r.normalized_cidr().into(),
        r.remote_group_id.clone().into(),
        r.description.as_str().into(),
        r.created_at.as_str().into(),
        r.updated_at.as_str().into(),
        r.revision_number.into(),
    ]
}

/// Tells the agents' change feed that what the firewalls enforce may have changed (`id`: the
/// group or rule written; the firewall section is recomputed whole).
fn record(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    changes::record(sql, changes::SECURITY_GROUP, id, None, None).map(|_| ())
}

/// Inserts a group and its rules.
pub fn insert(sql: &mut dyn Sql, g: &SecurityGroup) -> Result<(), StoreError> {
    super::insert_row(sql, TABLE, COLS, &values(g))?;
    for r in &g.rules {
        super::insert_row(sql, RULE_TABLE, RULE_COLS, &rule_values(r))?;
    }
    record(sql, &g.std.id)
}

/// Writes every column of the group `g` back (not its rules).
pub fn update(sql: &mut dyn Sql, g: &SecurityGroup) -> Result<(), StoreError> {
    super::update_row(sql, TABLE, COLS, &values(g))?;
    record(sql, &g.std.id)
}

pub fn insert_rule(sql: &mut dyn Sql, r: &SecurityGroupRule) -> Result<(), StoreError> {
    super::insert_row(sql, RULE_TABLE, RULE_COLS, &rule_values(r))?;
    record(sql, &r.id)
}

/// A group by id, with its rules and tags.
pub fn get(sql: &mut dyn Sql, id: &str) -> Result<Option<SecurityGroup>, StoreError> {
    let rows = sql.query(&format!("SELECT {COLS} FROM {TABLE} WHERE id = ?"), &[id.into()])?;
    let mut groups: Vec<SecurityGroup> = rows.iter().map(from_row).collect();
    fill(sql, &mut groups)?;
    Ok(groups.pop())
}

/// A group's own row (owner, name), without rules and tags.
pub fn row(sql: &mut dyn Sql, id: &str) -> Result<Option<SecurityGroup>, StoreError> {
    let rows = sql.query(&format!("SELECT {COLS} FROM {TABLE} WHERE id = ?"), &[id.into()])?;
    Ok(rows.first().map(from_row))
}

/// A select of the groups `scope` may see: a project sees its own.
pub fn select(scope: Scope<'_>) -> Select {
    let mut select = Select::new(TABLE, COLS);
    if let Scope::Project(p) = scope {
        select.scope("project_id = ?", vec![p.into()]);
    }
    select
}

/// Fills in the rules and tags of `groups`.
pub fn fill(sql: &mut dyn Sql, groups: &mut [SecurityGroup]) -> Result<(), StoreError> {
    let ids: Vec<String> = groups.iter().map(|g| g.std.id.clone()).collect();
    let mut rules: HashMap<String, Vec<SecurityGroupRule>> = HashMap::new();
    for chunk in chunks(&ids) {
        let params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
        let q = format!(
            "SELECT {RULE_COLS} FROM {RULE_TABLE} WHERE security_group_id IN ({}) ORDER BY created_at, id",
            placeholders(chunk.len())
        );
        for r in sql.query(&q, &params)?.iter().map(rule_from_row) {
            rules.entry(r.security_group_id.clone()).or_default().push(r);
        }
    }
    let mut tags = tags::of(sql, TAG_TYPE, &ids)?;
    for g in groups {
        g.rules = rules.remove(&g.std.id).unwrap_or_default();
        g.std.tags = tags.remove(&g.std.id).unwrap_or_default();
    }
    Ok(())
}

/// Deletes a group with its rules, the rules of other groups naming it as their remote group,
/// its tags, and its place as its project's default.
pub fn delete(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    tags::clear(sql, TAG_TYPE, id)?;
    sql.execute(
        &format!("DELETE FROM {RULE_TABLE} WHERE security_group_id = ? OR remote_group_id = ?"),
        &[id.into(), id.into()],
    )?;
    sql.execute("DELETE FROM default_security_groups WHERE security_group_id = ?", &[id.into()])?;
    sql.execute(&format!("DELETE FROM {TABLE} WHERE id = ?"), &[id.into()])?;
    record(sql, id)
}

/// Bumps the revision and update time of a group (a rule or tag of it changed).
pub fn touch(sql: &mut dyn Sql, id: &str, now: &str) -> Result<(), StoreError> {
    super::touch_row(sql, TABLE, id, now)
}

/// The id of `project`'s default group, if it has one.
pub fn default_of(sql: &mut dyn Sql, project: &str) -> Result<Option<String>, StoreError> {
    let rows = sql.query(
        "SELECT security_group_id FROM default_security_groups WHERE project_id = ?",
        &[project.into()],
    )?;
    Ok(rows.first().map(|r| r[0].text()))
}

/// Records `group` as `project`'s default group.
pub fn set_default(sql: &mut dyn Sql, project: &str, group: &str) -> Result<(), StoreError> {
    sql.execute(
        "INSERT INTO default_security_groups (project_id, security_group_id) VALUES (?, ?)",
        &[project.into(), group.into()],
    )?;
    Ok(())
}

/// Whether `id` is some project's default group.
pub fn is_default(sql: &mut dyn Sql, id: &str) -> Result<bool, StoreError> {
    let rows =
        sql.query("SELECT 1 FROM default_security_groups WHERE security_group_id = ?", &[id.into()])?;
    Ok(!rows.is_empty())
}

/// Whether any port uses group `id` (then it cannot be deleted).
pub fn in_use(sql: &mut dyn Sql, id: &str) -> Result<bool, StoreError> {
    super::port_security::group_in_use(sql, id)
}

/// A rule by id.
pub fn rule(sql: &mut dyn Sql, id: &str) -> Result<Option<SecurityGroupRule>, StoreError> {
    let rows = sql.query(&format!("SELECT {RULE_COLS} FROM {RULE_TABLE} WHERE id = ?"), &[id.into()])?;
    Ok(rows.first().map(rule_from_row))
}

/// The rules of group `id`.
pub fn rules_of(sql: &mut dyn Sql, id: &str) -> Result<Vec<SecurityGroupRule>, StoreError> {
    let rows = sql.query(
        &format!("SELECT {RULE_COLS} FROM {RULE_TABLE} WHERE security_group_id = ? ORDER BY created_at, id"),
        &[id.into()],
    )?;
    Ok(rows.iter().map(rule_from_row).collect())
}

/// A select of the rules `scope` may see: a project sees its own rules and the rules of its
/// groups.
pub fn rule_select(scope: Scope<'_>) -> Select {
    let mut select = Select::new(RULE_TABLE, RULE_COLS);
    if let Scope::Project(p) = scope {
        select.scope(
            "(project_id = ? OR security_group_id IN (SELECT id FROM security_groups WHERE project_id = ?))",
            vec![p.into(), p.into()],
        );
    }
    select
}

pub fn delete_rule(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    sql.execute(&format!("DELETE FROM {RULE_TABLE} WHERE id = ?"), &[id.into()])?;
    record(sql, id)
}
