//! A port's security attributes on create and update, as ML2 with the `port_security`
//! extension driver decides them (neutron `db/securitygroups_db.py`,
//! `db/allowedaddresspairs_db.py`, `plugins/ml2/plugin.py`): the project's `default` group
//! unless told otherwise, none for the service's own ports or without port security, groups
//! only of the port's project (else `SecurityGroupNotFound`), and upstream's conflicts between
//! port security, groups and address pairs.

use neutrino_model::ApiResult;
use neutrino_model::port::{Port, PortChanges};
use neutrino_model::port_security::{self as ps, AddressPair, is_trusted};
use neutrino_model::security_group as sg;

use super::security_groups::ensure_default;
use crate::context::RequestContext;
use crate::store::{Sql, security_groups as groups};

/// The groups of `requested` for a port of `project`: each must exist and be `project`'s,
/// unless the caller is admin. Sorted.
fn checked_groups(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    project: &str,
    requested: &[String],
) -> ApiResult<Vec<String>> {
    let mut missing = vec![];
    for id in requested {
        match groups::row(sql, id)? {
            Some(g) if ctx.is_admin() || g.std.project_id == project => {}
            _ => missing.push(id.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(sg::group_not_found(&missing.join(", ")));
    }
    let mut out = requested.to_vec();
    out.sort();
    Ok(out)
}

fn resolved_pairs(c: &PortChanges, mac: &str) -> Option<Vec<AddressPair>> {
    c.allowed_address_pairs.as_ref().map(|list| {
        let mut out: Vec<AddressPair> = list.iter().map(|r| r.resolve(mac)).collect();
        out.sort();
        out
    })
}

/// Sets the security attributes of the new port `p` (its project, owner, MAC and port
/// security already decided) from the request `c`.
pub fn on_create(sql: &mut dyn Sql, ctx: &RequestContext, c: &PortChanges, p: &mut Port) -> ApiResult<()> {
    let pairs = resolved_pairs(c, &p.mac_address).unwrap_or_default();
    if !pairs.is_empty() && !p.port_security_enabled {
        return Err(ps::pairs_need_port_security());
    }
    p.allowed_address_pairs = pairs;
    p.security_groups = match &c.security_groups {
        _ if is_trusted(&p.device_owner) => vec![],
        Some(list) if !p.port_security_enabled && !list.is_empty() => {
            return Err(ps::groups_need_port_security());
        }
        _ if !p.port_security_enabled => vec![],
        Some(list) => checked_groups(sql, ctx, &p.std.project_id, list)?,
        None => vec![ensure_default(sql, &p.std.project_id)?],
    };
    Ok(())
}

/// Applies the security attributes of the update `c` to `p` (port security already set from
/// `c`, MAC already updated). Turning port security off needs the groups and address pairs
/// gone, in the same request or before.
pub fn on_update(sql: &mut dyn Sql, ctx: &RequestContext, c: &PortChanges, p: &mut Port) -> ApiResult<()> {
    if let Some(pairs) = resolved_pairs(c, &p.mac_address) {
        p.allowed_address_pairs = pairs;
    }
    if let Some(list) = &c.security_groups {
        if !p.port_security_enabled && !list.is_empty() {
            return Err(ps::groups_need_port_security());
        }
        if !is_trusted(&p.device_owner) {
            p.security_groups = checked_groups(sql, ctx, &p.std.project_id, list)?;
        }
    }
    if !p.port_security_enabled {
        if !p.security_groups.is_empty() {
            return Err(ps::port_has_groups());
        }
        if !p.allowed_address_pairs.is_empty() {
            return Err(ps::pairs_need_port_security());
        }
    }
    Ok(())
}
