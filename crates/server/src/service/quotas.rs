//! Quotas (`/v2.0/quotas`, neutron `extensions/quotasv2.py` and `quotasv2_detail.py` over the
//! `DbQuotaDriver`): each project's limits (defaults from `[quotas]`, overridden per project by
//! an admin), their usage, and [`enforce`], the check every create runs inside its own write
//! transaction.

use std::collections::BTreeSet;

use neutrino_model::{ApiError, ApiResult};
use serde_json::{Map, Value};

use super::{Services, policy};
use crate::config::QuotaConfig;
use crate::context::RequestContext;
use crate::store::Sql;
use crate::store::quotas::{self as rows, Counted, RESOURCES};

/// Upstream's largest limit (`DB_INTEGER_MAX_VALUE`).
pub const MAX_LIMIT: i64 = i32::MAX as i64;

/// The limit of each counted resource, in the order of [`RESOURCES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits(pub Vec<(&'static str, i64)>);

/// A project's limits, for the admin's list of projects that have some of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectLimits {
    pub project_id: String,
    pub limits: Limits,
}

/// One resource of `quota_details`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub limit: i64,
    pub used: i64,
    /// Always 0: creates check and insert in one transaction, so nothing is ever reserved.
    pub reserved: i64,
}

/// 409 `OverQuota` naming the resources, as upstream formats its sorted list.
pub fn over_quota(names: &[&str]) -> ApiError {
    let mut names = names.to_vec();
    names.sort_unstable();
    let list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    ApiError::conflict("OverQuota", format!("Quota exceeded for resources: [{}].", list.join(", ")))
}

/// The limits `project` has: the defaults overridden by the rows an admin set.
fn limits(sql: &mut dyn Sql, defaults: &QuotaConfig, project: &str) -> ApiResult<Limits> {
    let set = rows::of_project(sql, project)?;
    Ok(Limits(
        RESOURCES
            .iter()
            .map(|r| {
                let own = set.iter().find(|(name, _)| name == r.name).map(|(_, l)| *l);
                (r.name, own.unwrap_or_else(|| defaults.default_of(r)))
            })
            .collect(),
    ))
}

fn limit(sql: &mut dyn Sql, defaults: &QuotaConfig, project: &str, r: &Counted) -> ApiResult<i64> {
    Ok(rows::limit_of(sql, project, r.name)?.unwrap_or_else(|| defaults.default_of(r)))
}

/// The quota check of a create, run after it inserted its rows and before its transaction
/// commits: 409 `OverQuota` (and so a rollback of the whole request, bulk included) if any of
/// `projects` now holds more of `resource` than its limit (`-1`: unlimited). The store runs
/// one write transaction at a time, so the count sees every committed create and none can
/// slip in between the check and the commit: no project ever exceeds its limit, also under
/// concurrent creates. Upstream reserves before it inserts (`make_reservation`); counting
/// after the insert gives the same answer without a reservation table.
pub fn enforce<'a>(
    sql: &mut dyn Sql,
    defaults: &QuotaConfig,
    resource: &str,
    projects: impl IntoIterator<Item = &'a str>,
) -> ApiResult<()> {
    let Some(r) = rows::counted(resource) else {
        debug_assert!(false, "{resource} is not a counted resource");
        return Ok(());
    };
    for project in projects.into_iter().collect::<BTreeSet<_>>() {
        let limit = limit(sql, defaults, project, r)?;
        if limit >= 0 && rows::used(sql, r, project)? > limit {
            return Err(over_quota(&[r.name]));
        }
    }
    Ok(())
}

/// Reading another project's quota needs `get_quota` (admin); one's own needs nothing more
/// (upstream `show`, `default`, `details`: policy only when `id != context.project_id`).
fn check_read(ctx: &RequestContext, project: &str) -> ApiResult<()> {
    policy::require_read(ctx)?;
    if project != ctx.project_id && !ctx.is_admin() {
        return Err(ApiError::policy("get_quota"));
    }
    Ok(())
}

/// 403 for `rule` unless the caller is admin (`update_quota`, `delete_quota`, listing).
pub fn require_admin(ctx: &RequestContext, rule: &str) -> ApiResult<()> {
    if ctx.is_admin() { Ok(()) } else { Err(ApiError::policy(rule)) }
}

/// `GET /v2.0/quotas` (admin): the projects with limits of their own, each with all its
/// limits, ordered by project.
pub async fn list(svc: &Services, ctx: &RequestContext) -> ApiResult<Vec<ProjectLimits>> {
    require_admin(ctx, "get_quota")?;
    let config = svc.config.clone();
    svc.store
        .read(move |sql| {
            let mut projects: Vec<String> = rows::all(sql)?.into_iter().map(|(p, _, _)| p).collect();
            projects.dedup();
            projects
                .into_iter()
                .map(|p| Ok(ProjectLimits { limits: limits(sql, &config.quotas, &p)?, project_id: p }))
                .collect()
        })
        .await
}

/// `GET /v2.0/quotas/{project_id}`.
pub async fn show(svc: &Services, ctx: &RequestContext, project: &str) -> ApiResult<Limits> {
    check_read(ctx, project)?;
    let (config, project) = (svc.config.clone(), project.to_string());
    svc.store.read(move |sql| limits(sql, &config.quotas, &project)).await
}

/// `GET /v2.0/quotas/{project_id}/default`: the configured defaults.
pub fn defaults(svc: &Services, ctx: &RequestContext, project: &str) -> ApiResult<Limits> {
    check_read(ctx, project)?;
    Ok(Limits(RESOURCES.iter().map(|r| (r.name, svc.config.quotas.default_of(r))).collect()))
}

/// `GET /v2.0/quotas/{project_id}/details`: limit, usage and reservations of each resource.
pub async fn details(
    svc: &Services,
    ctx: &RequestContext,
    project: &str,
) -> ApiResult<Vec<(&'static str, Usage)>> {
    check_read(ctx, project)?;
    let (config, project) = (svc.config.clone(), project.to_string());
    svc.store
        .read(move |sql| {
            let limits = limits(sql, &config.quotas, &project)?;
            RESOURCES
                .iter()
                .zip(limits.0)
                .map(|(r, (name, limit))| {
                    Ok((name, Usage { limit, used: rows::used(sql, r, &project)?, reserved: 0 }))
                })
                .collect()
        })
        .await
}

/// `GET /v2.0/quotas/project` (and the deprecated `/tenant`): the caller's project id.
pub fn own_project(ctx: &RequestContext) -> ApiResult<String> {
    if ctx.project_id.is_empty() {
        return Err(ApiError::bad_request("Tenant-id was missing from quota request.")
            .with_kind("QuotaMissingTenant"));
    }
    Ok(ctx.project_id.clone())
}

/// Python's truthiness of a JSON value (upstream tests `if check_limit:`).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// neutron-lib's `convert_to_int` (Python `int()`: integers, integral strings, floats
/// truncated, booleans), then `type:range [-1, DB_INTEGER_MAX_VALUE]`.
fn parse_limit(name: &str, v: &Value) -> ApiResult<i64> {
    let not_int = || {
        let shown = match v {
            Value::String(s) => s.clone(),
            Value::Null => "None".into(),
            other => other.to_string(),
        };
        ApiError::invalid_input(format!("'{shown}' is not an integer"))
    };
    let n: i128 = match v {
        Value::Bool(b) => i128::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i128::from(i),
            (None, Some(u), _) => i128::from(u),
            // Truncated towards zero, as Python's int() does; beyond i128 only the sign matters.
            (None, None, Some(f)) if f.is_finite() => format!("{:.0}", f.trunc())
                .parse::<i128>()
                .unwrap_or(if f < 0.0 { i128::MIN } else { i128::MAX }),
            _ => return Err(not_int()),
        },
        Value::String(s) => s.trim().parse::<i128>().map_err(|_| not_int())?,
        _ => return Err(not_int()),
    };
    if n < -1 {
        return Err(ApiError::invalid_attr(name, format!("'{n}' is too small - must be at least '-1'")));
    }
    if n > i128::from(MAX_LIMIT) {
        return Err(ApiError::invalid_attr(
            name,
            format!("'{n}' is too large - must be no larger than '{MAX_LIMIT}'"),
        ));
    }
    i64::try_from(n).map_err(|_| not_int())
}

/// The limits of a `PUT` body (`{"quota": {...}}`'s object): `force` and `check_limit` taken
/// out, every other key a counted resource, every value an integer in `[-1, 2^31-1]`.
/// Returns the limits and whether to check them against the usage.
fn parse_update(mut body: Map<String, Value>) -> ApiResult<(Vec<(&'static str, i64)>, bool)> {
    body.remove("force");
    let check = body.remove("check_limit").is_some_and(|v| truthy(&v));
    let mut unknown: Vec<&str> =
        body.keys().map(String::as_str).filter(|k| rows::counted(k).is_none()).collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{}'", unknown.join(", "))));
    }
    let mut out = vec![];
    for r in RESOURCES {
        if let Some(v) = body.get(r.name) {
            out.push((r.name, parse_limit(r.name, v)?));
        }
    }
    Ok((out, check))
}

/// `PUT /v2.0/quotas/{project_id}` (admin): sets the given limits only and answers all of
/// them. With `check_limit` true, a limit below the current usage is a 400 (an unlimited
/// `-1` always passes; upstream compares -1 with the usage too and refuses it).
pub async fn update(
    svc: &Services,
    ctx: &RequestContext,
    project: &str,
    body: Map<String, Value>,
) -> ApiResult<Limits> {
    require_admin(ctx, "update_quota")?;
    let (set, check) = parse_update(body)?;
    let (config, project) = (svc.config.clone(), project.to_string());
    svc.store
        .write(move |sql| {
            for (name, limit) in &set {
                if let (true, Some(r)) = (check && *limit >= 0, rows::counted(name)) {
                    let used = rows::used(sql, r, &project)?;
                    if used > *limit {
                        return Err(ApiError::bad_request(format!(
                            "Quota limit {limit} for {name} must be greater than or equal to already used {used}"
                        )));
                    }
                }
                rows::set(sql, &project, name, *limit)?;
            }
            limits(sql, &config.quotas, &project)
        })
        .await
}

/// `DELETE /v2.0/quotas/{project_id}` (admin): back to the defaults; 404
/// `TenantQuotaNotFound` when the project had no limits of its own (upstream's driver).
pub async fn delete(svc: &Services, ctx: &RequestContext, project: &str) -> ApiResult<()> {
    require_admin(ctx, "delete_quota")?;
    let project = project.to_string();
    svc.store
        .write(move |sql| {
            if rows::delete_project(sql, &project)? == 0 {
                return Err(ApiError::not_found(
                    "TenantQuotaNotFound",
                    format!("Quota for tenant {project} could not be found."),
                ));
            }
            Ok(())
        })
        .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn limits_convert_as_upstream() {
        for (v, want) in [(json!(5), 5), (json!("7"), 7), (json!(" 8 "), 8), (json!(2.9), 2), (json!(-1), -1)]
        {
            assert_eq!(parse_limit("port", &v).unwrap(), want, "{v}");
        }
        let e = parse_limit("port", &json!("x")).unwrap_err();
        assert_eq!(
            (e.kind.as_str(), e.message.as_str()),
            ("InvalidInput", "Invalid input for operation: 'x' is not an integer.")
        );
        let e = parse_limit("port", &json!(-2)).unwrap_err();
        assert_eq!(e.message, "Invalid input for port. Reason: '-2' is too small - must be at least '-1'.");
        assert_eq!(
            parse_limit("port", &json!(null)).unwrap_err().message,
            "Invalid input for operation: 'None' is not an integer."
        );
        assert!(parse_limit("port", &json!(2147483648_i64)).unwrap_err().message.contains("too large"));
    }

    #[test]
    fn over_quota_lists_sorted_names() {
        assert_eq!(over_quota(&["port"]).message, "Quota exceeded for resources: ['port'].");
        assert_eq!(
            over_quota(&["subnet", "network"]).message,
            "Quota exceeded for resources: ['network', 'subnet']."
        );
    }

    #[test]
    fn update_bodies() {
        let m = |v: Value| v.as_object().unwrap().clone();
        let (set, check) = parse_update(m(json!({"port": 3, "network": "4", "force": true}))).unwrap();
        assert_eq!((set, check), (vec![("network", 4), ("port", 3)], false));
        assert!(parse_update(m(json!({"check_limit": true}))).unwrap().1);
        let e = parse_update(m(json!({"routerz": 1, "port": 1, "abc": 2}))).unwrap_err();
        assert_eq!(e.message, "Unrecognized attribute(s) 'abc, routerz'");
    }
}
