//! Security group rules (`/v2.0/security-group-rules`, neutron `db/securitygroups_db.py`):
//! create (also in bulk) with upstream's checks of the group, the remote group and duplicates;
//! show, list and delete. Rules cannot be updated.

use std::collections::HashSet;

use neutrino_model::attrs::SECURITY_GROUP_RULE;
use neutrino_model::common::{new_id, now_timestamp};
use neutrino_model::security_group::{self as sg, RuleRequest, SecurityGroupRule};
use neutrino_model::{ApiError, ApiResult};
use serde_json::{Map, Value};

use super::query::{ListParams, TAG_FILTERS};
use super::security_groups::{check_owner, ensure_default, ensure_default_of, listed_project};
use super::{Page, Services, policy, quotas};
use crate::context::RequestContext;
use crate::store::{Sql, security_groups as rows};

/// Whether the caller may see rule `r` of a group owned by `group_project`: their own rules
/// and the rules of their groups.
fn sees(ctx: &RequestContext, r: &SecurityGroupRule, group_project: &str) -> bool {
    policy::owns(ctx, &r.project_id) || policy::owns(ctx, group_project)
}

/// The rule `id` if the caller may see it, with its group's project; else
/// `SecurityGroupRuleNotFound`.
fn visible(sql: &mut dyn Sql, ctx: &RequestContext, id: &str) -> ApiResult<(SecurityGroupRule, String)> {
    let r = rows::rule(sql, id)?.ok_or_else(|| sg::rule_not_found(id))?;
    let group_project = rows::row(sql, &r.security_group_id)?.map(|g| g.std.project_id).unwrap_or_default();
    if sees(ctx, &r, &group_project) { Ok((r, group_project)) } else { Err(sg::rule_not_found(id)) }
}

/// Checks one rule against the store and fills in its id, project and times: its group must
/// be the caller's (`SecurityGroupNotFound` otherwise), its remote group visible to the rule's
/// project.
fn prepare(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    req: RuleRequest,
    now: &str,
) -> ApiResult<SecurityGroupRule> {
    let mut r = req.rule;
    let group = rows::row(sql, &r.security_group_id)?
        .filter(|g| policy::owns(ctx, &g.std.project_id))
        .ok_or_else(|| sg::group_not_found(&r.security_group_id))?;
    check_owner(ctx, &group, "create_security_group_rule")?;
    r.project_id = match req.project_id {
        None if ctx.is_admin() => group.std.project_id.clone(),
        asked => policy::owner_for_create(ctx, asked)?,
    };
    ensure_default(sql, &r.project_id)?;
    if let Some(remote) = &r.remote_group_id {
        let ok = rows::row(sql, remote)?.is_some_and(|g| ctx.is_admin() || g.std.project_id == r.project_id);
        if !ok {
            return Err(sg::group_not_found(remote));
        }
    }
    r.id = new_id();
    r.created_at = now.into();
    r.updated_at = now.into();
    r.revision_number = 1;
    Ok(r)
}

/// Creates rules from request bodies, all or nothing: 409 `DuplicateSecurityGroupRuleInPost`
/// for two equal rules in the request, `SecurityGroupRuleExists` (naming it) for one the group
/// has. Each group's revision is bumped.
pub async fn create(
    svc: &Services,
    ctx: &RequestContext,
    bodies: Vec<Map<String, Value>>,
) -> ApiResult<Vec<SecurityGroupRule>> {
    policy::require_write(ctx, "create_security_group_rule")?;
    let reqs = bodies.iter().map(RuleRequest::parse).collect::<ApiResult<Vec<_>>>()?;
    let (ctx, config) = (ctx.clone(), svc.config.clone());
    svc.store
        .write(move |sql| {
            let now = now_timestamp();
            let mut made = vec![];
            let mut keys = HashSet::new();
            for req in reqs {
                let r = prepare(sql, &ctx, req, &now)?;
                if !keys.insert(r.key()) {
                    return Err(sg::duplicate_in_post());
                }
                if let Some(existing) =
                    rows::rules_of(sql, &r.security_group_id)?.iter().find(|e| e.key() == r.key())
                {
                    return Err(sg::rule_exists(&existing.id));
                }
                made.push(r);
            }
            let mut touched = HashSet::new();
            for r in &made {
                rows::insert_rule(sql, r)?;
                if touched.insert(r.security_group_id.clone()) {
                    rows::touch(sql, &r.security_group_id, &now)?;
                }
            }
            quotas::enforce(
                sql,
                &config.quotas,
                "security_group_rule",
                made.iter().map(|r| r.project_id.as_str()),
            )?;
            Ok(made)
        })
        .await
        .inspect(|_| svc.changed())
}

pub async fn show(svc: &Services, ctx: &RequestContext, id: &str) -> ApiResult<SecurityGroupRule> {
    policy::require_read(ctx)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store.read(move |sql| visible(sql, &ctx, &id).map(|(r, _)| r)).await
}

pub async fn list(
    svc: &Services,
    ctx: &RequestContext,
    params: ListParams,
) -> ApiResult<Page<SecurityGroupRule>> {
    policy::require_read(ctx)?;
    // Rules have no tags: their tag filters are unknown filters.
    if let Some(k) = params.filters.keys().find(|k| TAG_FILTERS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("[{k}] is invalid attribute for filtering")));
    }
    ensure_default_of(svc, &listed_project(ctx, &params)).await?;
    let ctx = ctx.clone();
    svc.store
        .read(move |sql| {
            let mut select = rows::rule_select(policy::scope(&ctx));
            let (found, more) = params.run(sql, &mut select, &SECURITY_GROUP_RULE, "", sg::rule_not_found)?;
            Ok(Page { items: found.iter().map(rows::rule_from_row).collect(), more })
        })
        .await
}

/// Deletes a rule of the caller's group (or their own rule); bumps the group's revision.
pub async fn delete(svc: &Services, ctx: &RequestContext, id: &str) -> ApiResult<()> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store
        .write(move |sql| {
            let (r, group_project) = visible(sql, &ctx, &id)?;
            if !policy::owns(&ctx, &r.project_id) && !policy::owns(&ctx, &group_project) {
                return Err(ApiError::policy("delete_security_group_rule"));
            }
            policy::require_write(&ctx, "delete_security_group_rule")?;
            rows::delete_rule(sql, &id)?;
            rows::touch(sql, &r.security_group_id, &now_timestamp())?;
            Ok(())
        })
        .await
        .inspect(|_| svc.changed())
}
