//! Security groups (`/v2.0/security-groups`, neutron `db/securitygroups_db.py`): create (also
//! in bulk), show, list, update, delete, and each project's `default` group, made on first use
//! with its four rules; a new group gets the two egress rules.

use neutrino_model::attrs::{Op, SECURITY_GROUP};
use neutrino_model::common::{Standard, new_id, now_timestamp};
use neutrino_model::security_group::{
    self as sg, DEFAULT_DESCRIPTION, DEFAULT_NAME, ETHERTYPES, SecurityGroup, SecurityGroupChanges,
    SecurityGroupRule,
};
use neutrino_model::{ApiError, ApiResult};
use serde_json::{Map, Value};

use super::query::ListParams;
use super::{Page, Services, check_revision, policy, quotas};
use crate::context::RequestContext;
use crate::store::{Sql, security_groups as rows};

/// Whether the caller may see `g`: their own (or they are admin).
fn sees(ctx: &RequestContext, g: &SecurityGroup) -> bool {
    policy::owns(ctx, &g.std.project_id)
}

/// The group `id` (with rules and tags) if the caller may see it, else `SecurityGroupNotFound`.
pub fn visible(sql: &mut dyn Sql, ctx: &RequestContext, id: &str) -> ApiResult<SecurityGroup> {
    match rows::get(sql, id)? {
        Some(g) if sees(ctx, &g) => Ok(g),
        _ => Err(sg::group_not_found(id)),
    }
}

/// The group `id` if the caller may write it; one they cannot see is not found.
fn owned(sql: &mut dyn Sql, ctx: &RequestContext, id: &str, rule: &str) -> ApiResult<SecurityGroup> {
    let g = visible(sql, ctx, id)?;
    policy::require_write(ctx, rule)?;
    Ok(g)
}

/// A rule of a new group, made by the server.
fn rule(
    project: &str,
    group: &str,
    direction: &str,
    ethertype: &str,
    remote: Option<&str>,
    now: &str,
) -> SecurityGroupRule {
    SecurityGroupRule {
        id: new_id(),
        project_id: project.into(),
        security_group_id: group.into(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        remote_group_id: remote.map(String::from),
        created_at: now.into(),
        updated_at: now.into(),
        revision_number: 1,
        ..Default::default()
    }
}

/// A new group with upstream's rules: egress to anywhere for each ethertype, and for the
/// default group ingress from its own members too.
fn new_group(
    project: &str,
    name: String,
    description: String,
    stateful: bool,
    default: bool,
) -> SecurityGroup {
    let now = now_timestamp();
    let id = new_id();
    let mut rules = vec![];
    for e in ETHERTYPES {
        if default {
            rules.push(rule(project, &id, "ingress", e, Some(&id), &now));
        }
        rules.push(rule(project, &id, "egress", e, None, &now));
    }
    // In the order a show lists them (creation time, then id).
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    SecurityGroup {
        std: Standard {
            id,
            name,
            description,
            project_id: project.into(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
            tags: vec![],
        },
        stateful,
        rules,
    }
}

/// `_ensure_default_security_group`: the id of `project`'s default group, made now (with its
/// four rules) if it has none.
///
/// Quotas never refuse the default group: upstream makes it through the plugin, not the API,
/// so no `security_group` reservation is made for it, and here it is also made by reads (a
/// list or show of groups or rules) and by port creates, where an `OverQuota` for a group
/// nobody asked for would make no sense. Upstream does reserve its four rules against
/// `security_group_rule`; Neutrino does not, for the same reason. The group and its rules
/// still count as used, so a group or rule create that runs `ensure_default` in its own
/// transaction is checked with them ([`quotas::enforce`] counts after inserting).
pub fn ensure_default(sql: &mut dyn Sql, project: &str) -> ApiResult<String> {
    if let Some(id) = rows::default_of(sql, project)? {
        return Ok(id);
    }
    let g = new_group(project, DEFAULT_NAME.into(), DEFAULT_DESCRIPTION.into(), true, true);
    rows::insert(sql, &g)?;
    rows::set_default(sql, project, &g.std.id)?;
    Ok(g.std.id)
}

/// Makes `project`'s default group if it has none: a read first, a write only the first time.
pub async fn ensure_default_of(svc: &Services, project: &str) -> ApiResult<()> {
    if project.is_empty() {
        return Ok(());
    }
    let p = project.to_string();
    if svc.store.read(move |sql| Ok(rows::default_of(sql, &p)?.is_some())).await? {
        return Ok(());
    }
    let p = project.to_string();
    svc.store.write(move |sql| ensure_default(sql, &p).map(|_| ())).await.inspect(|_| svc.changed())
}

fn build(ctx: &RequestContext, body: &Map<String, Value>) -> ApiResult<SecurityGroup> {
    policy::require_write(ctx, "create_security_group")?;
    let c = SecurityGroupChanges::parse(body, Op::Create)?;
    let project = policy::owner_for_create(ctx, c.project_id)?;
    Ok(new_group(
        &project,
        c.name.unwrap_or_default(),
        c.description.unwrap_or_default(),
        c.stateful.unwrap_or(true),
        false,
    ))
}

/// Creates groups from request bodies, all or nothing, each with its two egress rules.
pub async fn create(
    svc: &Services,
    ctx: &RequestContext,
    bodies: Vec<Map<String, Value>>,
) -> ApiResult<Vec<SecurityGroup>> {
    let groups = bodies.iter().map(|b| build(ctx, b)).collect::<ApiResult<Vec<_>>>()?;
    let config = svc.config.clone();
    svc.store
        .write(move |sql| {
            for g in &groups {
                ensure_default(sql, &g.std.project_id)?;
                rows::insert(sql, g)?;
            }
            // The groups first, then their egress rules, which count against
            // `security_group_rule` as upstream reserves them (two per group).
            let projects = || groups.iter().map(|g| g.std.project_id.as_str());
            quotas::enforce(sql, &config.quotas, "security_group", projects())?;
            quotas::enforce(sql, &config.quotas, "security_group_rule", projects())?;
            Ok(groups)
        })
        .await
        .inspect(|_| svc.changed())
}

pub async fn show(svc: &Services, ctx: &RequestContext, id: &str) -> ApiResult<SecurityGroup> {
    policy::require_read(ctx)?;
    ensure_default_of(svc, &ctx.project_id).await?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store.read(move |sql| visible(sql, &ctx, &id)).await
}

/// The project whose default group a list makes: the one filtered on (admins only; others
/// see their own project only), else the caller's.
pub fn listed_project(ctx: &RequestContext, params: &ListParams) -> String {
    let asked =
        ["project_id", "tenant_id"].iter().find_map(|k| params.filters.get(*k).and_then(|v| v.first()));
    match asked {
        Some(p) if ctx.is_admin() => p.clone(),
        _ => ctx.project_id.clone(),
    }
}

pub async fn list(
    svc: &Services,
    ctx: &RequestContext,
    params: ListParams,
) -> ApiResult<Page<SecurityGroup>> {
    policy::require_read(ctx)?;
    ensure_default_of(svc, &listed_project(ctx, &params)).await?;
    let ctx = ctx.clone();
    svc.store
        .read(move |sql| {
            let mut select = rows::select(policy::scope(&ctx));
            let (found, more) =
                params.run(sql, &mut select, &SECURITY_GROUP, rows::TAG_TYPE, sg::group_not_found)?;
            let mut groups: Vec<SecurityGroup> = found.iter().map(rows::from_row).collect();
            rows::fill(sql, &mut groups)?;
            Ok(Page { items: groups, more })
        })
        .await
}

/// Updates name, description and `stateful`; the default group keeps its name (409).
pub async fn update(
    svc: &Services,
    ctx: &RequestContext,
    id: &str,
    body: Map<String, Value>,
    if_match: Option<i64>,
) -> ApiResult<SecurityGroup> {
    let c = SecurityGroupChanges::parse(&body, Op::Update)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store
        .write(move |sql| {
            let mut g = owned(sql, &ctx, &id, "update_security_group")?;
            check_revision(if_match, g.std.revision_number)?;
            if g.std.name == DEFAULT_NAME && c.name.is_some() {
                return Err(sg::cannot_update_default());
            }
            let before = g.clone();
            if let Some(v) = c.name {
                g.std.name = v;
            }
            if let Some(v) = c.description {
                g.std.description = v;
            }
            if let Some(v) = c.stateful {
                if v != g.stateful && rows::in_use(sql, &id)? {
                    return Err(sg::in_use(&id));
                }
                g.stateful = v;
            }
            if g != before {
                g.std.revision_number += 1;
                g.std.updated_at = now_timestamp();
                rows::update(sql, &g)?;
            }
            Ok(g)
        })
        .await
        .inspect(|_| svc.changed())
}

/// Deletes a group with its rules: 409 `SecurityGroupInUse` while ports use it, and
/// `SecurityGroupCannotRemoveDefault` for the default group unless the caller is admin.
pub async fn delete(svc: &Services, ctx: &RequestContext, id: &str, if_match: Option<i64>) -> ApiResult<()> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store
        .write(move |sql| {
            let g = owned(sql, &ctx, &id, "delete_security_group")?;
            check_revision(if_match, g.std.revision_number)?;
            if rows::in_use(sql, &id)? {
                return Err(sg::in_use(&id));
            }
            if g.std.name == DEFAULT_NAME && !ctx.is_admin() {
                return Err(sg::cannot_remove_default());
            }
            rows::delete(sql, &id)?;
            Ok(())
        })
        .await
        .inspect(|_| svc.changed())
}

/// 403 unless the caller may write group `g`'s rules.
pub fn check_owner(ctx: &RequestContext, g: &SecurityGroup, rule: &str) -> ApiResult<()> {
    if !policy::owns(ctx, &g.std.project_id) {
        return Err(ApiError::policy(rule));
    }
    policy::require_write(ctx, rule)
}
