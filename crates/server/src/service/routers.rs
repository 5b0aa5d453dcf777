//! Routers (`/v2.0/routers`, upstream `l3_db`, `l3_gwmode_db` and `extraroute_db`): create,
//! show, list, update, delete, the external gateway (its `network:router_gateway` port on a
//! `router:external` network, SNAT), and extra routes set whole on update. Interfaces and the
//! atomic route actions are [`super::router_interfaces`]; scheduling is [`super::l3`].

use neutrino_model::attrs::{Op, ROUTER};
use neutrino_model::common::{Standard, new_id, now_timestamp};
use neutrino_model::port::{FixedIpRequest, Port};
use neutrino_model::router::{GatewayRequest, OWNER_ROUTER_GATEWAY, Router, RouterChanges, sort_routes};
use neutrino_model::{ApiError, ApiResult};
use serde_json::{Map, Value, json};

use super::query::ListParams;
use super::{Page, Services, binding, check_revision, l3, policy, quotas, router_interfaces};
use crate::context::RequestContext;
use crate::store::{Sql, allocations, networks as net_rows, ports as port_rows, routers as rows};

/// 404 `RouterNotFound`.
pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found("RouterNotFound", format!("Router {id} could not be found"))
}

pub use neutrino_model::router::bad_request;

/// The router `id` if the caller may see it (their own, or any for admins), else
/// `RouterNotFound`.
pub fn visible(sql: &mut dyn Sql, ctx: &RequestContext, id: &str) -> ApiResult<Router> {
    match rows::get(sql, id)? {
        Some(r) if policy::owns(ctx, &r.std.project_id) => Ok(r),
        _ => Err(not_found(id)),
    }
}

/// The router `id` for a write by the caller (`rule` for readers).
pub fn writable(sql: &mut dyn Sql, ctx: &RequestContext, id: &str, rule: &str) -> ApiResult<Router> {
    let r = visible(sql, ctx, id)?;
    policy::require_write(ctx, rule)?;
    Ok(r)
}

/// Upstream policy: only admins choose the gateway's SNAT mode or addresses.
fn check_gateway_policy(
    ctx: &RequestContext,
    gw: Option<&Option<GatewayRequest>>,
    action: &str,
) -> ApiResult<()> {
    let Some(Some(g)) = gw else { return Ok(()) };
    if ctx.is_admin() {
        return Ok(());
    }
    if g.enable_snat.is_some() {
        return Err(ApiError::policy(&format!("{action}:external_gateway_info:enable_snat")));
    }
    if g.external_fixed_ips.is_some() {
        return Err(ApiError::policy(&format!("{action}:external_gateway_info:external_fixed_ips")));
    }
    Ok(())
}

/// 409 `RouterExternalGatewayInUseByFloatingIp` if floating IPs are served through the gateway.
fn check_gateway_unused(sql: &mut dyn Sql, r: &Router) -> ApiResult<()> {
    let Some(g) = &r.gateway else { return Ok(()) };
    if rows::floating_ips(sql, &r.std.id)?.is_empty() {
        return Ok(());
    }
    Err(ApiError::conflict(
        "RouterExternalGatewayInUseByFloatingIp",
        format!(
            "Gateway cannot be updated for router {}, since a gateway to external network {} is required by one or more floating IPs.",
            r.std.id, g.network_id
        ),
    ))
}

/// Removes the gateway of `r` (its port goes), after [`check_gateway_unused`].
fn clear_gateway(sql: &mut dyn Sql, r: &mut Router) -> ApiResult<()> {
    check_gateway_unused(sql, r)?;
    let Some(pid) = r.gw_port_id.take() else { return Ok(()) };
    r.gateway = None;
    // The references to the port go before it does.
    rows::forget_gateway(sql, &r.std.id)?;
    rows::remove_port(sql, &pid)?;
    if let Some(p) = port_rows::get(sql, &pid)? {
        port_rows::delete(sql, &pid)?;
        binding::record(sql, Some(&p), None)?;
    }
    Ok(())
}

fn requests(g: &GatewayRequest) -> Option<Vec<FixedIpRequest>> {
    g.external_fixed_ips.as_ref().map(|ips| {
        ips.iter()
            .map(|i| FixedIpRequest { subnet_id: i.subnet_id.clone(), ip_address: i.ip_address })
            .collect()
    })
}

/// Gives `r` a gateway on `g.network_id`: a `network:router_gateway` port (no project, as
/// upstream) with an address on the external subnets, bound to the router's L3 agent host.
fn set_gateway(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    r: &mut Router,
    g: &GatewayRequest,
    down: i64,
) -> ApiResult<()> {
    let net = net_rows::row(sql, &g.network_id)?.ok_or_else(|| ApiError::network_not_found(&g.network_id))?;
    if !net.router_external {
        return Err(bad_request(format!("Network {} is not an external network", g.network_id)));
    }
    let mac = super::ports::choose_mac(sql, &net.std.id, None, &[])?;
    let fixed_ips =
        super::ports::allocate(sql, ctx, &net.std.id, requests(g).as_deref(), OWNER_ROUTER_GATEWAY, &mac)?;
    let host = l3::host_of(sql, &r.std.id)?;
    let bound = binding::binding_for(sql, &host, &net.provider, down)?;
    let now = now_timestamp();
    let p = Port {
        std: Standard {
            id: new_id(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
            ..Default::default()
        },
        network_id: net.std.id.clone(),
        admin_state_up: true,
        mac_address: mac,
        fixed_ips,
        device_id: r.std.id.clone(),
        device_owner: OWNER_ROUTER_GATEWAY.into(),
        status: "DOWN".into(),
        port_security_enabled: false,
        security_groups: vec![],
        allowed_address_pairs: vec![],
        binding_host_id: host,
        binding_profile: json!({}),
        binding_vif_type: bound.vif_type,
        binding_vif_details: bound.vif_details,
        binding_vnic_type: "normal".into(),
        extra_dhcp_opts: vec![],
    };
    port_rows::insert(sql, &p)?;
    binding::record(sql, None, Some(&p))?;
    rows::add_port(sql, &r.std.id, &p.std.id, OWNER_ROUTER_GATEWAY)?;
    r.gw_port_id = Some(p.std.id);
    r.enable_snat = g.enable_snat.unwrap_or(true);
    Ok(())
}

/// Changes the addresses of the existing gateway port of `r` to what `g` asks for.
fn readdress_gateway(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    r: &Router,
    g: &GatewayRequest,
) -> ApiResult<()> {
    let (Some(pid), Some(reqs)) = (&r.gw_port_id, requests(g)) else { return Ok(()) };
    let Some(mut p) = port_rows::get(sql, pid)? else { return Ok(()) };
    let before = p.clone();
    allocations::free_port(sql, pid)?;
    p.fixed_ips =
        super::ports::allocate(sql, ctx, &p.network_id, Some(&reqs), OWNER_ROUTER_GATEWAY, &p.mac_address)?;
    if p.fixed_ips != before.fixed_ips {
        p.std.revision_number += 1;
        p.std.updated_at = now_timestamp();
    }
    port_rows::update(sql, &p)?;
    if p != before {
        binding::record(sql, Some(&before), Some(&p))?;
    }
    Ok(())
}

/// Applies an `external_gateway_info` of a create or update.
fn apply_gateway(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    r: &mut Router,
    g: Option<&GatewayRequest>,
    down: i64,
) -> ApiResult<()> {
    match g {
        None => clear_gateway(sql, r),
        Some(g) if r.gateway.as_ref().is_some_and(|cur| cur.network_id == g.network_id) => {
            if let Some(v) = g.enable_snat {
                r.enable_snat = v;
            }
            readdress_gateway(sql, ctx, r, g)
        }
        Some(g) => {
            clear_gateway(sql, r)?;
            set_gateway(sql, ctx, r, g, down)
        }
    }
}

/// A new router from a create body, and the gateway it asks for.
fn build(ctx: &RequestContext, body: &Map<String, Value>) -> ApiResult<(Router, Option<GatewayRequest>)> {
    policy::require_write(ctx, "create_router")?;
    policy::check_admin_attrs(ctx, &ROUTER, body, "create_router")?;
    let c = RouterChanges::parse(body, Op::Create)?;
    check_gateway_policy(ctx, c.gateway.as_ref(), "create_router")?;
    let now = now_timestamp();
    let r = Router {
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
        gw_port_id: None,
        enable_snat: true,
        gateway: None,
        routes: vec![],
        availability_zone_hints: c.availability_zone_hints.unwrap_or_default(),
    };
    Ok((r, c.gateway.flatten()))
}

/// Creates routers from request bodies, all or nothing (409 `OverQuota` past a project's
/// `router` quota); a gateway asked for schedules the router.
pub async fn create(
    svc: &Services,
    ctx: &RequestContext,
    bodies: Vec<Map<String, Value>>,
) -> ApiResult<Vec<Router>> {
    let built = bodies.iter().map(|b| build(ctx, b)).collect::<ApiResult<Vec<_>>>()?;
    let (ctx, down, config) = (ctx.clone(), svc.agent_down_time(), svc.config.clone());
    let out = svc
        .store
        .write(move |sql| {
            let mut made = vec![];
            for (mut r, gw) in built {
                rows::insert(sql, &r)?;
                if let Some(g) = &gw {
                    set_gateway(sql, &ctx, &mut r, g, down)?;
                    rows::update(sql, &r)?;
                    l3::schedule(sql, &r.std.id, down)?;
                }
                l3::record_update(sql, &r.std.id)?;
                made.push(r.std.id.clone());
            }
            let projects: Vec<String> = made
                .iter()
                .map(|id| rows::row(sql, id).map(|r| r.map(|r| r.std.project_id).unwrap_or_default()))
                .collect::<Result<_, _>>()?;
            quotas::enforce(sql, &config.quotas, "router", projects.iter().map(String::as_str))?;
            let mut out = vec![];
            for id in made {
                out.extend(rows::get(sql, &id)?);
            }
            Ok(out)
        })
        .await?;
    svc.changed();
    Ok(out)
}

pub async fn show(svc: &Services, ctx: &RequestContext, id: &str) -> ApiResult<Router> {
    policy::require_read(ctx)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store.read(move |sql| visible(sql, &ctx, &id)).await
}

pub async fn list(svc: &Services, ctx: &RequestContext, params: ListParams) -> ApiResult<Page<Router>> {
    policy::require_read(ctx)?;
    let ctx = ctx.clone();
    svc.store
        .read(move |sql| {
            let mut select = rows::select(policy::scope(&ctx));
            let (found, more) = params.run(sql, &mut select, &ROUTER, rows::TAG_TYPE, not_found)?;
            let mut routers: Vec<Router> = found.iter().map(rows::from_row).collect();
            rows::fill(sql, &mut routers)?;
            Ok(Page { items: routers, more })
        })
        .await
}

pub async fn update(
    svc: &Services,
    ctx: &RequestContext,
    id: &str,
    body: Map<String, Value>,
    if_match: Option<i64>,
) -> ApiResult<Router> {
    let c = RouterChanges::parse(&body, Op::Update)?;
    let (ctx, id, down) = (ctx.clone(), id.to_string(), svc.agent_down_time());
    let out = svc
        .store
        .write(move |sql| {
            let mut r = writable(sql, &ctx, &id, "update_router")?;
            policy::check_admin_attrs(&ctx, &ROUTER, &body, "update_router")?;
            check_gateway_policy(&ctx, c.gateway.as_ref(), "update_router")?;
            check_revision(if_match, r.std.revision_number)?;
            let before = r.clone();
            if let Some(v) = c.name {
                r.std.name = v
            }
            if let Some(v) = c.description {
                r.std.description = v
            }
            if let Some(v) = c.admin_state_up {
                r.admin_state_up = v
            }
            if let Some(g) = &c.gateway {
                apply_gateway(sql, &ctx, &mut r, g.as_ref(), down)?;
            }
            // The gateway as its (possibly new) port now shows it.
            rows::fill(sql, std::slice::from_mut(&mut r))?;
            if let Some(mut routes) = c.routes {
                router_interfaces::check_routes(sql, &id, &routes)?;
                sort_routes(&mut routes);
                r.routes = routes;
            }
            if r != before {
                r.std.revision_number += 1;
                r.std.updated_at = now_timestamp();
                rows::update(sql, &r)?;
                l3::schedule(sql, &id, down)?;
                l3::record_update(sql, &id)?;
            }
            Ok(rows::get(sql, &id)?.unwrap_or(r))
        })
        .await?;
    svc.changed();
    Ok(out)
}

/// Deletes a router and its gateway port; 409 `RouterInUse` while it has interfaces.
pub async fn delete(svc: &Services, ctx: &RequestContext, id: &str, if_match: Option<i64>) -> ApiResult<()> {
    let (ctx, id, down) = (ctx.clone(), id.to_string(), svc.agent_down_time());
    svc.store
        .write(move |sql| {
            let mut r = writable(sql, &ctx, &id, "delete_router")?;
            check_revision(if_match, r.std.revision_number)?;
            if !rows::ports_of(sql, &id, Some(neutrino_model::router::OWNER_ROUTER_INTERFACE))?.is_empty() {
                return Err(ApiError::conflict("RouterInUse", format!("Router {id} still has ports")));
            }
            clear_gateway(sql, &mut r)?;
            l3::move_to(sql, &id, None, down)?;
            rows::delete(sql, &id)?;
            Ok(())
        })
        .await?;
    svc.changed();
    Ok(())
}
