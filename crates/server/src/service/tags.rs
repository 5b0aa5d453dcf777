//! The tag sub-resource (`standard-attr-tag`):
//! `/v2.0/{networks,subnets,ports,security-groups,routers,floatingips}/{id}/tags[/{tag}]`.
//! Every change bumps the resource's revision.

use neutrino_model::common::now_timestamp;
use neutrino_model::{ApiError, ApiResult, convert};
use serde_json::Value;

use super::{Services, floatingips, networks, policy, ports, security_groups, subnets};
use crate::context::RequestContext;
use crate::store::{self, Sql, tags as rows};

/// Tag limits of upstream.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_LEN: usize = 255;

/// The resources tags hang on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagged {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    Router,
    FloatingIp,
}

impl Tagged {
    /// From a URL collection name.
    pub fn from_collection(c: &str) -> Option<Self> {
        match c {
            "networks" => Some(Self::Network),
            "subnets" => Some(Self::Subnet),
            "ports" => Some(Self::Port),
            "security-groups" => Some(Self::SecurityGroup),
            "routers" => Some(Self::Router),
            "floatingips" => Some(Self::FloatingIp),
            _ => None,
        }
    }

    /// The resource type its tags are stored under.
    fn table(self) -> &'static str {
        match self {
            Self::Network => store::networks::TAG_TYPE,
            Self::Subnet => store::subnets::TAG_TYPE,
            Self::Port => store::ports::TAG_TYPE,
            Self::SecurityGroup => store::security_groups::TAG_TYPE,
            Self::Router => store::routers::TAG_TYPE,
            Self::FloatingIp => store::floatingips::TAG_TYPE,
        }
    }

    /// The owner project of the resource, if the caller may see it.
    fn owner(self, sql: &mut dyn Sql, ctx: &RequestContext, id: &str) -> ApiResult<String> {
        Ok(match self {
            Self::Network => networks::visible(sql, ctx, id)?.std.project_id,
            Self::Subnet => subnets::visible(sql, ctx, id)?.std.project_id,
            Self::Port => ports::visible(sql, ctx, id)?.std.project_id,
            Self::SecurityGroup => security_groups::visible(sql, ctx, id)?.std.project_id,
            Self::Router => super::routers::visible(sql, ctx, id)?.std.project_id,
            Self::FloatingIp => floatingips::visible(sql, ctx, id)?.std.project_id,
        })
    }
}

/// Validates one tag.
pub fn check_tag(tag: &str) -> ApiResult<()> {
    if tag.is_empty() || tag.chars().count() > MAX_TAG_LEN {
        return Err(ApiError::invalid_attr(
            "tags",
            format!("'{tag}' is not a valid tag: 1 to {MAX_TAG_LEN} characters"),
        ));
    }
    if tag.contains(',') {
        return Err(ApiError::invalid_attr("tags", format!("'{tag}' contains a comma")));
    }
    Ok(())
}

/// Validates a `{"tags": [...]}` body.
pub fn parse_tags(body: &Value) -> ApiResult<Vec<String>> {
    let list = body
        .get("tags")
        .ok_or_else(|| ApiError::bad_request("Invalid input for tags. Reason: 'tags' must be given."))?;
    let mut out: Vec<String> = vec![];
    for t in convert::to_list("tags", list)? {
        let t = convert::to_string("tags", t, MAX_TAG_LEN)?;
        check_tag(&t)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::invalid_attr("tags", format!("No more than {MAX_TAGS} tags per resource")));
    }
    Ok(out)
}

fn writable(sql: &mut dyn Sql, ctx: &RequestContext, kind: Tagged, id: &str) -> ApiResult<()> {
    let owner = kind.owner(sql, ctx, id)?;
    if !policy::owns(ctx, &owner) {
        return Err(ApiError::policy("update_tags"));
    }
    policy::require_write(ctx, "update_tags")
}

/// Bumps the resource's revision: its tags changed.
fn bump(sql: &mut dyn Sql, kind: Tagged, id: &str) -> ApiResult<()> {
    let now = now_timestamp();
    match kind {
        Tagged::Network => store::networks::touch(sql, id, &now)?,
        Tagged::Subnet => store::subnets::touch(sql, id, &now)?,
        Tagged::Port => store::ports::touch(sql, id, &now)?,
        Tagged::SecurityGroup => store::security_groups::touch(sql, id, &now)?,
        Tagged::Router => store::routers::touch(sql, id, &now)?,
        Tagged::FloatingIp => store::floatingips::touch(sql, id, &now)?,
    }
    Ok(())
}

fn current(sql: &mut dyn Sql, kind: Tagged, id: &str) -> ApiResult<Vec<String>> {
    Ok(rows::of(sql, kind.table(), &[id.to_string()])?.remove(id).unwrap_or_default())
}

/// `GET .../tags`.
pub async fn list(svc: &Services, ctx: &RequestContext, kind: Tagged, id: &str) -> ApiResult<Vec<String>> {
    policy::require_read(ctx)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store
        .read(move |sql| {
            kind.owner(sql, &ctx, &id)?;
            current(sql, kind, &id)
        })
        .await
}

/// `GET .../tags/{tag}`: Ok when present, 404 `TagNotFound` otherwise.
pub async fn check(svc: &Services, ctx: &RequestContext, kind: Tagged, id: &str, tag: &str) -> ApiResult<()> {
    let tags = list(svc, ctx, kind, id).await?;
    if tags.iter().any(|t| t == tag) { Ok(()) } else { Err(not_found(tag, id)) }
}

fn not_found(tag: &str, id: &str) -> ApiError {
    ApiError::not_found("TagNotFound", format!("Tag {tag} could not be found for resource {id}."))
}

/// `PUT .../tags` (replace all, `add = false`) and `POST .../tags` (add, `add = true`).
pub async fn set(
    svc: &Services,
    ctx: &RequestContext,
    kind: Tagged,
    id: &str,
    tags: Vec<String>,
    add: bool,
) -> ApiResult<Vec<String>> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store
        .write(move |sql| {
            writable(sql, &ctx, kind, &id)?;
            let before = current(sql, kind, &id)?;
            if !add {
                rows::clear(sql, kind.table(), &id)?;
            }
            for t in &tags {
                rows::add(sql, kind.table(), &id, t)?;
            }
            let after = current(sql, kind, &id)?;
            if after.len() > MAX_TAGS {
                return Err(ApiError::invalid_attr(
                    "tags",
                    format!("No more than {MAX_TAGS} tags per resource"),
                ));
            }
            if after != before {
                bump(sql, kind, &id)?;
            }
            Ok(after)
        })
        .await
}

/// `PUT .../tags/{tag}` (add one).
pub async fn add_one(
    svc: &Services,
    ctx: &RequestContext,
    kind: Tagged,
    id: &str,
    tag: &str,
) -> ApiResult<()> {
    check_tag(tag)?;
    set(svc, ctx, kind, id, vec![tag.to_string()], true).await.map(|_| ())
}

/// `DELETE .../tags/{tag}` (one; 404 if absent) and `DELETE .../tags` (all, `tag = None`).
pub async fn remove(
    svc: &Services,
    ctx: &RequestContext,
    kind: Tagged,
    id: &str,
    tag: Option<String>,
) -> ApiResult<()> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store
        .write(move |sql| {
            writable(sql, &ctx, kind, &id)?;
            let changed = match &tag {
                Some(t) => {
                    if !rows::remove(sql, kind.table(), &id, t)? {
                        return Err(not_found(t, &id));
                    }
                    true
                }
                None => rows::clear(sql, kind.table(), &id)? > 0,
            };
            if changed {
                bump(sql, kind, &id)?;
            }
            Ok(())
        })
        .await
}
