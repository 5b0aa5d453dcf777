//! Default policy of upstream Neutron (`neutron/conf/policies/{network,subnet,port}.py`) for
//! the roles admin, member and reader: a project sees its own resources and shared networks,
//! someone else's resource is a 404, admin-only attributes give 403 when set.

use neutrino_model::ApiError;
use neutrino_model::attrs::Attr;
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::store::list::Scope;

/// Readers (and callers with no known role) may not write: 403 for `rule`.
pub fn require_write(ctx: &RequestContext, rule: &str) -> Result<(), ApiError> {
    if ctx.can_write() { Ok(()) } else { Err(ApiError::policy(rule)) }
}

/// Callers without a known role may not read.
pub fn require_read(ctx: &RequestContext) -> Result<(), ApiError> {
    if ctx.can_read() { Ok(()) } else { Err(ApiError::policy("get")) }
}

/// 403 when a non-admin sets an admin-only attribute (`create_network:shared`).
pub fn check_admin_attrs(
    ctx: &RequestContext,
    attrs: &[Attr],
    body: &Map<String, Value>,
    action: &str,
) -> Result<(), ApiError> {
    if ctx.is_admin() {
        return Ok(());
    }
    let service_ok = |name: &str| ctx.is_service() && name.starts_with("binding:");
    match neutrino_model::attrs::admin_only_keys(attrs, body).into_iter().find(|k| !service_ok(k)) {
        Some(k) => Err(ApiError::policy(&format!("{action}:{k}"))),
        None => Ok(()),
    }
}

/// The project a create puts the resource in; only admins may name another one (400, as
/// upstream words it).
pub fn owner_for_create(ctx: &RequestContext, asked: Option<String>) -> Result<String, ApiError> {
    match asked {
        Some(p) if p != ctx.project_id && !ctx.is_admin() => Err(ApiError::bad_request(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
        )),
        Some(p) => Ok(p),
        None => Ok(ctx.project_id.clone()),
    }
}

/// Whether the caller owns a resource of `project_id` (or is admin).
pub fn owns(ctx: &RequestContext, project_id: &str) -> bool {
    ctx.is_admin() || ctx.project_id == project_id
}

/// Which rows the caller's lists cover: all for admins, else what their project may see.
pub fn scope(ctx: &RequestContext) -> Scope<'_> {
    if ctx.is_admin() { Scope::All } else { Scope::Project(&ctx.project_id) }
}

/// Whether the caller may read attribute `a` (admin-only ones are hidden from others, except
/// the `binding:` attributes from the `service` role).
pub fn may_read(ctx: &RequestContext, a: &Attr) -> bool {
    !a.admin_read || ctx.is_admin() || (ctx.is_service() && a.name.starts_with("binding:"))
}

/// Removes the attributes the caller may not read.
pub fn strip(ctx: &RequestContext, attrs: &[Attr], m: &mut Map<String, Value>) {
    if ctx.is_admin() {
        return;
    }
    for a in attrs.iter().filter(|a| !may_read(ctx, a)) {
        m.remove(a.name);
    }
}
