//! Router interfaces and extra routes (upstream `l3_db.add/remove_router_interface`,
//! `extraroute_db`, `extraroute-atomic`): an interface is a `network:router_interface` port of
//! the router on a tenant subnet (made with the subnet's gateway address, or an unowned port
//! the caller gives); routes must go through an address on one of the router's subnets.

use std::net::IpAddr;

use ipnet::IpNet;
use neutrino_model::common::{Standard, new_id, now_timestamp};
use neutrino_model::port::{FixedIp, Port};
use neutrino_model::router::{
    InterfaceRequest, OWNER_ROUTER_INTERFACE, Router, parse_routes_body, sort_routes,
};
use neutrino_model::subnet::{HostRoute, Subnet};
use neutrino_model::{ApiError, ApiResult, convert};
use serde_json::{Map, Value, json};

use super::routers::{bad_request, writable};
use super::{Services, binding, ipam, l3};
use crate::context::RequestContext;
use crate::store::{Sql, networks as net_rows, ports as port_rows, routers as rows, subnets as subnet_rows};

/// Upstream's `max_routes`: extra routes a router may have.
pub const MAX_ROUTES: usize = 30;

/// The answer of `add_router_interface` / `remove_router_interface`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub router_id: String,
    pub project_id: String,
    pub port_id: String,
    pub network_id: String,
    pub subnet_ids: Vec<String>,
}

impl InterfaceInfo {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.router_id,
            "tenant_id": self.project_id,
            "project_id": self.project_id,
            "port_id": self.port_id,
            "network_id": self.network_id,
            "subnet_id": self.subnet_ids.first(),
            "subnet_ids": self.subnet_ids,
        })
    }
}

fn info(r: &Router, p: &Port, subnet_ids: Vec<String>) -> InterfaceInfo {
    InterfaceInfo {
        router_id: r.std.id.clone(),
        project_id: r.std.project_id.clone(),
        port_id: p.std.id.clone(),
        network_id: p.network_id.clone(),
        subnet_ids,
    }
}

/// The interface ports of `router_id`, with their addresses.
fn interfaces(sql: &mut dyn Sql, router_id: &str) -> ApiResult<Vec<Port>> {
    let mut out = vec![];
    for id in rows::ports_of(sql, router_id, Some(OWNER_ROUTER_INTERFACE))? {
        out.extend(port_rows::get(sql, &id)?);
    }
    Ok(out)
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Upstream's `_check_for_dup_router_subnets`: 400 when one of `new` is already on the router
/// or overlaps a subnet it is on.
fn check_dup(sql: &mut dyn Sql, router_id: &str, new: &[Subnet]) -> ApiResult<()> {
    for p in interfaces(sql, router_id)? {
        for f in &p.fixed_ips {
            let Some(have) = subnet_rows::get(sql, &f.subnet_id)? else { continue };
            for s in new {
                if s.std.id == have.std.id {
                    return Err(bad_request(format!("Router already has a port on subnet {}", s.std.id)));
                }
                if overlaps(&s.cidr, &have.cidr) {
                    return Err(bad_request(format!(
                        "Cidr {} of subnet {} overlaps with cidr {} of subnet {}",
                        s.cidr, s.std.id, have.cidr, have.std.id
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A new interface port of `r` on `subnet`, holding its gateway address.
fn port_for_subnet(sql: &mut dyn Sql, r: &Router, subnet: &Subnet, down: i64) -> ApiResult<Port> {
    let Some(gw) = subnet.gateway_ip else {
        return Err(bad_request(format!(
            "Subnet {} for router interface must have a gateway IP",
            subnet.std.id
        )));
    };
    ipam::check_requested(sql, subnet, gw, OWNER_ROUTER_INTERFACE)?;
    let net = net_rows::row(sql, &subnet.network_id)?
        .ok_or_else(|| ApiError::network_not_found(&subnet.network_id))?;
    let host = l3::host_of(sql, &r.std.id)?;
    let bound = binding::binding_for(sql, &host, &net.provider, down)?;
    let now = now_timestamp();
    Ok(Port {
        std: Standard {
            id: new_id(),
            project_id: r.std.project_id.clone(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
            ..Default::default()
        },
        network_id: net.std.id.clone(),
        admin_state_up: true,
        mac_address: super::ports::choose_mac(sql, &net.std.id, None, &[])?,
        fixed_ips: vec![FixedIp { subnet_id: subnet.std.id.clone(), ip_address: gw }],
        device_id: r.std.id.clone(),
        device_owner: OWNER_ROUTER_INTERFACE.into(),
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
    })
}

/// Makes `p` (a port the caller gave) an interface of `r`.
fn adopt_port(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    r: &Router,
    mut p: Port,
    down: i64,
) -> ApiResult<Port> {
    if !p.device_id.is_empty() || !p.device_owner.is_empty() {
        return Err(ApiError::conflict(
            "PortInUse",
            format!(
                "Unable to complete operation on port {} for network {}. Port already has an attached device {}.",
                p.std.id, p.network_id, p.device_id
            ),
        ));
    }
    if p.fixed_ips.is_empty() {
        return Err(bad_request("Router port must have at least one fixed IP"));
    }
    if !ctx.is_admin() && p.std.project_id != r.std.project_id {
        return Err(bad_request(format!(
            "Cannot add interface to router {}: port {} belongs to another project",
            r.std.id, p.std.id
        )));
    }
    let net = net_rows::row(sql, &p.network_id)?.ok_or_else(|| ApiError::network_not_found(&p.network_id))?;
    let before = p.clone();
    p.device_id = r.std.id.clone();
    p.device_owner = OWNER_ROUTER_INTERFACE.into();
    p.binding_host_id = l3::host_of(sql, &r.std.id)?;
    let bound = binding::binding_for(sql, &p.binding_host_id, &net.provider, down)?;
    binding::apply(&mut p, bound);
    p.std.revision_number += 1;
    p.std.updated_at = now_timestamp();
    port_rows::update(sql, &p)?;
    binding::record(sql, Some(&before), Some(&p))?;
    Ok(p)
}

/// After an interface came or went: the router's revision, its scheduling, its agent's change.
fn router_changed(sql: &mut dyn Sql, router_id: &str, down: i64) -> ApiResult<()> {
    rows::touch(sql, router_id, &now_timestamp())?;
    l3::schedule(sql, router_id, down)?;
    l3::record_update(sql, router_id)
}

/// `PUT /v2.0/routers/{id}/add_router_interface`.
pub async fn add(
    svc: &Services,
    ctx: &RequestContext,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult<InterfaceInfo> {
    let req = InterfaceRequest::parse(&body)?;
    let (ctx, id, down) = (ctx.clone(), id.to_string(), svc.agent_down_time());
    let out = svc
        .store
        .write(move |sql| {
            let r = writable(sql, &ctx, &id, "add_router_interface")?;
            let p = match req {
                InterfaceRequest::Subnet(sid) => {
                    let subnet = super::subnets::visible(sql, &ctx, &sid)?;
                    check_dup(sql, &id, std::slice::from_ref(&subnet))?;
                    let p = port_for_subnet(sql, &r, &subnet, down)?;
                    port_rows::insert(sql, &p)?;
                    binding::record(sql, None, Some(&p))?;
                    p
                }
                InterfaceRequest::Port(pid) => {
                    let p = super::ports::visible(sql, &ctx, &pid)?;
                    let mut subnets = vec![];
                    for f in &p.fixed_ips {
                        subnets.extend(subnet_rows::get(sql, &f.subnet_id)?);
                    }
                    check_dup(sql, &id, &subnets)?;
                    adopt_port(sql, &ctx, &r, p, down)?
                }
            };
            rows::add_port(sql, &id, &p.std.id, OWNER_ROUTER_INTERFACE)?;
            router_changed(sql, &id, down)?;
            let subnets = p.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect();
            Ok(info(&r, &p, subnets))
        })
        .await?;
    svc.changed();
    Ok(out)
}

/// The body of `remove_router_interface`: the port when given (the subnet, if also given, must
/// be on it), else the subnet.
fn removal(body: &Map<String, Value>) -> ApiResult<(Option<String>, Option<String>)> {
    let id = |k: &str| body.get(k).filter(|v| !v.is_null()).map(|v| convert::to_uuid(k, v)).transpose();
    let (port, subnet) = (id("port_id")?, id("subnet_id")?);
    if port.is_none() && subnet.is_none() {
        return Err(bad_request("Either subnet_id or port_id must be specified"));
    }
    Ok((port, subnet))
}

/// 409 when floating IPs or routes of `r` need `subnet`.
fn check_unused(sql: &mut dyn Sql, r: &Router, subnet: &Subnet) -> ApiResult<()> {
    let fips = rows::floating_ips(sql, &r.std.id)?;
    let needed = |ip: &Option<String>| {
        ip.as_deref().and_then(|a| a.parse::<IpAddr>().ok()).is_some_and(|a| subnet.cidr.contains(&a))
    };
    if fips.iter().any(|f| needed(&f.fixed_ip_address)) {
        return Err(ApiError::conflict(
            "RouterInterfaceInUseByFloatingIP",
            format!(
                "Router interface for subnet {} on router {} cannot be deleted, as it is required by one or more floating IPs.",
                subnet.std.id, r.std.id
            ),
        ));
    }
    if r.routes.iter().any(|rt| subnet.cidr.contains(&rt.nexthop)) {
        return Err(ApiError::conflict(
            "RouterInterfaceInUseByRoute",
            format!(
                "Router interface for subnet {} on router {} cannot be deleted, as it is required by one or more routes.",
                subnet.std.id, r.std.id
            ),
        ));
    }
    Ok(())
}

/// `PUT /v2.0/routers/{id}/remove_router_interface`: the port goes (or, removed by a subnet of
/// a port on several, only that address).
pub async fn remove(
    svc: &Services,
    ctx: &RequestContext,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult<InterfaceInfo> {
    let (port_id, subnet_id) = removal(&body)?;
    let (ctx, id, down) = (ctx.clone(), id.to_string(), svc.agent_down_time());
    let out = svc
        .store
        .write(move |sql| {
            let r = writable(sql, &ctx, &id, "remove_router_interface")?;
            let ifaces = interfaces(sql, &id)?;
            let p = match (&port_id, &subnet_id) {
                (Some(pid), _) => ifaces.iter().find(|p| &p.std.id == pid).cloned().ok_or_else(|| {
                    ApiError::not_found(
                        "RouterInterfaceNotFound",
                        format!("Router {id} does not have an interface with id {pid}"),
                    )
                })?,
                (None, Some(sid)) => {
                    super::subnets::visible(sql, &ctx, sid)?;
                    ifaces
                        .iter()
                        .find(|p| p.fixed_ips.iter().any(|f| &f.subnet_id == sid))
                        .cloned()
                        .ok_or_else(|| not_on_subnet(&id, sid))?
                }
                (None, None) => return Err(bad_request("Either subnet_id or port_id must be specified")),
            };
            if let Some(sid) = &subnet_id
                && !p.fixed_ips.iter().any(|f| &f.subnet_id == sid)
            {
                return Err(not_on_subnet(&id, sid));
            }
            // Removed by subnet: only that address; by port: the whole port.
            let going: Vec<String> = match (&port_id, &subnet_id) {
                (None, Some(sid)) => vec![sid.clone()],
                _ => p.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect(),
            };
            for sid in &going {
                if let Some(s) = subnet_rows::get(sql, sid)? {
                    check_unused(sql, &r, &s)?;
                }
            }
            if going.len() < p.fixed_ips.len() {
                let before = p.clone();
                let mut after = p.clone();
                after.fixed_ips.retain(|f| !going.contains(&f.subnet_id));
                after.std.revision_number += 1;
                after.std.updated_at = now_timestamp();
                port_rows::update(sql, &after)?;
                binding::record(sql, Some(&before), Some(&after))?;
            } else {
                rows::remove_port(sql, &p.std.id)?;
                port_rows::delete(sql, &p.std.id)?;
                binding::record(sql, Some(&p), None)?;
            }
            router_changed(sql, &id, down)?;
            Ok(info(&r, &p, going))
        })
        .await?;
    svc.changed();
    Ok(out)
}

fn not_on_subnet(router_id: &str, subnet_id: &str) -> ApiError {
    ApiError::not_found(
        "RouterInterfaceNotFoundForSubnet",
        format!("Router {router_id} has no interface on subnet {subnet_id}"),
    )
}

fn routes_text(routes: &[HostRoute]) -> String {
    let items: Vec<String> = routes
        .iter()
        .map(|r| format!("{{'destination': '{}', 'nexthop': '{}'}}", r.destination, r.nexthop))
        .collect();
    format!("[{}]", items.join(", "))
}

/// Upstream's `_validate_routes`: at most [`MAX_ROUTES`] (400 `RoutesExhausted`), each nexthop
/// on one of the router's subnets and not one of its own addresses (400 `InvalidRoutes`).
pub fn check_routes(sql: &mut dyn Sql, router_id: &str, routes: &[HostRoute]) -> ApiResult<()> {
    if routes.len() > MAX_ROUTES {
        return Err(ApiError::bad_request(format!(
            "Unable to complete operation for {router_id}. The number of routes exceeds the maximum {MAX_ROUTES}."
        ))
        .with_kind("RoutesExhausted"));
    }
    let mut cidrs: Vec<IpNet> = vec![];
    let mut ips: Vec<IpAddr> = vec![];
    for pid in rows::ports_of(sql, router_id, None)? {
        let Some(p) = port_rows::get(sql, &pid)? else { continue };
        for f in p.fixed_ips {
            cidrs.extend(subnet_rows::get(sql, &f.subnet_id)?.map(|s| s.cidr));
            ips.push(f.ip_address);
        }
    }
    let invalid = |reason: &str| {
        ApiError::bad_request(format!("Invalid format for routes: {}, {reason}.", routes_text(routes)))
            .with_kind("InvalidRoutes")
    };
    for r in routes {
        if !cidrs.iter().any(|c| c.contains(&r.nexthop)) {
            return Err(invalid("the nexthop is not connected with router"));
        }
        if ips.contains(&r.nexthop) {
            return Err(invalid("the nexthop is used by router"));
        }
    }
    Ok(())
}

/// `PUT /v2.0/routers/{id}/add_extraroutes` (`add`) and `remove_extraroutes`: the routes of
/// the body added to (or removed from) the router's, in one step; the whole router answers.
pub async fn change_routes(
    svc: &Services,
    ctx: &RequestContext,
    id: &str,
    body: Map<String, Value>,
    add: bool,
) -> ApiResult<Router> {
    let asked = parse_routes_body(&body)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    let rule = if add { "add_extraroutes" } else { "remove_extraroutes" };
    let out = svc
        .store
        .write(move |sql| {
            let mut r = writable(sql, &ctx, &id, rule)?;
            let before = r.routes.clone();
            if add {
                for rt in asked {
                    if !r.routes.contains(&rt) {
                        r.routes.push(rt);
                    }
                }
                check_routes(sql, &id, &r.routes)?;
            } else {
                r.routes.retain(|rt| !asked.contains(rt));
            }
            sort_routes(&mut r.routes);
            if r.routes != before {
                r.std.revision_number += 1;
                r.std.updated_at = now_timestamp();
                rows::update(sql, &r)?;
                l3::record_update(sql, &id)?;
            }
            Ok(r)
        })
        .await?;
    svc.changed();
    Ok(out)
}
