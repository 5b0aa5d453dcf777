//! Networks (`/v2.0/networks`): create (also in bulk), show, list, update, delete, with the
//! upstream rules for sharing, `router:external`, provider attributes and deletion in use.

use neutrino_model::attrs::{NETWORK, Op};
use neutrino_model::common::{Standard, new_id, now_timestamp};
use neutrino_model::network::{Network, NetworkChanges};
use neutrino_model::port::OWNER_DHCP;
use neutrino_model::{ApiError, ApiResult};
use serde_json::{Map, Value};

use super::query::ListParams;
use super::{Page, Services, check_revision, policy, quotas};
use crate::context::RequestContext;
use crate::store::{Sql, networks as rows, ports, subnets};

/// Whether the caller may see `n`: their own, shared or external.
fn sees(ctx: &RequestContext, n: &Network) -> bool {
    ctx.is_admin() || n.std.project_id == ctx.project_id || n.shared || n.router_external
}

/// The network `id` if the caller may see it, else `NetworkNotFound`.
pub fn visible(sql: &mut dyn Sql, ctx: &RequestContext, id: &str) -> ApiResult<Network> {
    match rows::get(sql, id)? {
        Some(n) if sees(ctx, &n) => Ok(n),
        _ => Err(ApiError::network_not_found(id)),
    }
}

/// The network `id` if the caller owns it (for writes). A network the caller cannot see is a
/// policy-hidden 404 (`HTTPNotFound`); one they see but do not own is a 403.
fn owned(sql: &mut dyn Sql, ctx: &RequestContext, id: &str, rule: &str) -> ApiResult<Network> {
    let n = rows::get(sql, id)?.ok_or_else(|| ApiError::network_not_found(id))?;
    if !sees(ctx, &n) {
        return Err(ApiError::http_not_found());
    }
    if !policy::owns(ctx, &n.std.project_id) {
        // Shared and external networks are visible to all but writable by their owner only.
        return Err(ApiError::policy(rule));
    }
    policy::require_write(ctx, rule)?;
    Ok(n)
}

fn build(ctx: &RequestContext, svc: &Services, body: &Map<String, Value>) -> ApiResult<Network> {
    policy::require_write(ctx, "create_network")?;
    policy::check_admin_attrs(ctx, &NETWORK, body, "create_network")?;
    let c = NetworkChanges::parse(body, Op::Create)?;
    let now = now_timestamp();
    Ok(Network {
        std: Standard {
            id: new_id(),
            name: c.name.unwrap_or_default(),
            description: c.description.unwrap_or_default(),
            project_id: policy::owner_for_create(ctx, c.project_id)?,
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
            tags: vec![],
        },
        admin_state_up: c.admin_state_up.unwrap_or(true),
        status: "ACTIVE".into(),
        shared: c.shared.unwrap_or(false),
        mtu: svc.config.server.global_physnet_mtu,
        router_external: c.router_external.unwrap_or(false),
        provider: c.provider.unwrap_or_default(),
        port_security_enabled: c.port_security_enabled.unwrap_or(true),
        availability_zone_hints: c.availability_zone_hints.unwrap_or_default(),
        subnets: vec![],
    })
}

/// Creates networks from request bodies, all or nothing (409 `OverQuota` past a project's
/// `network` quota).
pub async fn create(
    svc: &Services,
    ctx: &RequestContext,
    bodies: Vec<Map<String, Value>>,
) -> ApiResult<Vec<Network>> {
    let mut nets = bodies.iter().map(|b| build(ctx, svc, b)).collect::<ApiResult<Vec<_>>>()?;
    let (ml2, config) = (svc.ml2.clone(), svc.config.clone());
    svc.store
        .write(move |sql| {
            for n in &mut nets {
                // The segment: the admin's provider attributes checked and reserved, or a
                // tenant segment allocated; the MTU follows its type.
                let asked = std::mem::take(&mut n.provider);
                n.provider = ml2.allocate(sql, &n.std.id, Some(&asked))?;
                n.mtu = ml2.mtu(n.provider.network_type);
                rows::insert(sql, n)?;
            }
            quotas::enforce(sql, &config.quotas, "network", nets.iter().map(|n| n.std.project_id.as_str()))?;
            Ok(nets)
        })
        .await
}

pub async fn show(svc: &Services, ctx: &RequestContext, id: &str) -> ApiResult<Network> {
    policy::require_read(ctx)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store.read(move |sql| visible(sql, &ctx, &id)).await
}

pub async fn list(svc: &Services, ctx: &RequestContext, params: ListParams) -> ApiResult<Page<Network>> {
    policy::require_read(ctx)?;
    let ctx = ctx.clone();
    svc.store
        .read(move |sql| {
            let mut select = rows::select(policy::scope(&ctx));
            let (found, more) =
                params.run(sql, &mut select, &NETWORK, rows::TAG_TYPE, ApiError::network_not_found)?;
            let mut nets: Vec<Network> = found.iter().map(rows::from_row).collect();
            rows::fill(sql, &mut nets)?;
            Ok(Page { items: nets, more })
        })
        .await
}

pub async fn update(
    svc: &Services,
    ctx: &RequestContext,
    id: &str,
    body: Map<String, Value>,
    if_match: Option<i64>,
) -> ApiResult<Network> {
    let c = NetworkChanges::parse(&body, Op::Update)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    let out = svc
        .store
        .write(move |sql| {
            let mut n = owned(sql, &ctx, &id, "update_network")?;
            policy::check_admin_attrs(&ctx, &NETWORK, &body, "update_network")?;
            check_revision(if_match, n.std.revision_number)?;
            let before = n.clone();
            if let Some(p) = &c.provider {
                let mut merged = n.provider.clone();
                if body.contains_key("provider:network_type") {
                    merged.network_type = p.network_type;
                }
                if body.contains_key("provider:physical_network") {
                    merged.physical_network = p.physical_network.clone();
                }
                if body.contains_key("provider:segmentation_id") {
                    merged.segmentation_id = p.segmentation_id;
                }
                if merged != n.provider {
                    return Err(ApiError::invalid_input(
                        "Plugin does not support updating the following provider network attributes: provider:network_type, provider:physical_network, provider:segmentation_id",
                    ));
                }
            }
            if c.shared == Some(false) && n.shared && ports::used_by_others(sql, &id, &n.std.project_id)? {
                return Err(ApiError::conflict(
                    "InvalidSharedSetting",
                    format!("Unable to reconfigure sharing settings for network {id}. Multiple tenants are using it."),
                ));
            }
            if let Some(v) = c.name { n.std.name = v }
            if let Some(v) = c.description { n.std.description = v }
            if let Some(v) = c.admin_state_up { n.admin_state_up = v }
            if let Some(v) = c.shared { n.shared = v }
            if let Some(v) = c.router_external { n.router_external = v }
            if let Some(v) = c.port_security_enabled { n.port_security_enabled = v }
            if n != before {
                n.std.revision_number += 1;
                n.std.updated_at = now_timestamp();
                rows::update(sql, &n)?;
                crate::store::changes::record(sql, "network", &id, Some(&id), None)?;
            }
            Ok(n)
        })
        .await?;
    svc.changed();
    Ok(out)
}

/// Deletes a network with its subnets and its DHCP ports; 409 `NetworkInUse` if any other port
/// is left on it.
pub async fn delete(svc: &Services, ctx: &RequestContext, id: &str, if_match: Option<i64>) -> ApiResult<()> {
    let (ctx, id, ml2) = (ctx.clone(), id.to_string(), svc.ml2.clone());
    svc.store
        .write(move |sql| {
            let n = owned(sql, &ctx, &id, "delete_network")?;
            check_revision(if_match, n.std.revision_number)?;
            if n.router_external {
                super::floatingips::delete_disassociated(sql, &id)?;
            }
            let owners = ports::owners_on_network(sql, &id)?;
            if owners.iter().any(|(_, owner)| owner != OWNER_DHCP) {
                return Err(ApiError::conflict(
                    "NetworkInUse",
                    format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network."),
                ));
            }
            super::dhcp::forget_network(sql, &id)?;
            for s in subnets::of_network(sql, &id)? {
                subnets::delete(sql, &s.std.id)?;
            }
            ml2.release(sql, &id)?;
            rows::delete(sql, &id)?;
            crate::store::changes::record(sql, "network", &id, Some(&id), None)?;
            Ok(())
        })
        .await?;
    svc.changed();
    Ok(())
}
