//! Floating IPs (`/v2.0/floatingips`, upstream `l3_db`'s floating IP parts): create (the
//! address from the external network's IPv4 subnets, held by a `network:floatingip` port),
//! show, list, update (associate, move, disassociate), delete; the association rules (the
//! port's IPv4 address, a router joining its subnet to the external network, one floating IP
//! per fixed IP and network); the port-delete hooks; and `GET /v2.0/floatingip_pools`.
//! Every write that changes what a router's agent realises records a `router` change for the
//! router the floating IP left and the one it joined.

use std::net::IpAddr;

use neutrino_model::attrs::{FLOATINGIP, Op, missing_required};
use neutrino_model::common::{Standard, new_id, now_timestamp};
use neutrino_model::floatingip::{
    FloatingIp, FloatingIpChanges, FloatingIpPool, OWNER_FLOATINGIP, STATUS_DOWN,
};
use neutrino_model::port::{FixedIp, Port};
use neutrino_model::{ApiError, ApiResult};
use serde_json::{Map, Value, json};

use super::query::ListParams;
use super::{Page, Services, check_revision, ipam, networks, policy, quotas};
use crate::context::RequestContext;
use crate::store::{Sql, changes, floatingips as rows, ports, subnets};

/// 404 `FloatingIPNotFound`.
pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found("FloatingIPNotFound", format!("Floating IP {id} could not be found"))
}

/// 400 `BadRequest` worded as upstream's `BadRequest(resource='floatingip')`.
fn bad(msg: impl AsRef<str>) -> ApiError {
    ApiError::bad_request(format!("Bad floatingip request: {}.", msg.as_ref())).with_kind("BadRequest")
}

/// The floating IP `id` if the caller may see it (their project's, or any for admins).
pub fn visible(sql: &mut dyn Sql, ctx: &RequestContext, id: &str) -> ApiResult<FloatingIp> {
    match rows::get(sql, id)? {
        Some(f) if policy::owns(ctx, &f.std.project_id) => Ok(f),
        _ => Err(not_found(id)),
    }
}

/// Where an association points: the port, its fixed IP, and the router that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Assoc {
    port_id: String,
    fixed_ip: String,
    router_id: String,
}

/// The port's IPv4 address the floating IP maps to: the one asked for, or its only one.
fn fixed_ip_of(port: &Port, asked: Option<IpAddr>) -> ApiResult<FixedIp> {
    let id = &port.std.id;
    if let Some(ip) = asked {
        if ip.is_ipv6() {
            return Err(bad(format!(
                "Cannot process floating IP association with {ip}, since that is not an IPv4 address"
            )));
        }
        return port
            .fixed_ips
            .iter()
            .find(|f| f.ip_address == ip)
            .cloned()
            .ok_or_else(|| bad(format!("Port {id} does not have fixed ip {ip}")));
    }
    let v4: Vec<&FixedIp> = port.fixed_ips.iter().filter(|f| f.ip_address.is_ipv4()).collect();
    match v4.as_slice() {
        [] => Err(bad(format!("Cannot add floating IP to port {id} that has no fixed IPv4 addresses"))),
        [one] => Ok((*one).clone()),
        _ => Err(bad(format!(
            "Port {id} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP"
        ))),
    }
}

/// Checks an association of floating IP `f` with `port_id` (upstream `_get_assoc_data`).
fn resolve(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    f: &FloatingIp,
    port_id: &str,
    asked: Option<IpAddr>,
) -> ApiResult<Assoc> {
    let port = super::ports::visible(sql, ctx, port_id)?;
    if port.std.project_id != f.std.project_id && !ctx.is_admin() {
        return Err(bad(format!(
            "Cannot process floating IP association with Port {port_id}, since that port is owned by a different project"
        )));
    }
    if port.device_owner == neutrino_model::port::OWNER_DHCP || port.device_owner == OWNER_FLOATINGIP {
        return Err(bad(format!("Port {port_id} is unable to be assigned a floating IP")));
    }
    let fixed = fixed_ip_of(&port, asked)?;
    let router_id = rows::router_for(sql, &f.floating_network_id, &fixed.subnet_id)?.ok_or_else(|| {
        ApiError::not_found(
            "ExternalGatewayForFloatingIPNotFound",
            format!(
                "External network {} is not reachable from subnet {}.  Therefore, cannot associate Port {port_id} with a Floating IP.",
                f.floating_network_id, fixed.subnet_id
            ),
        )
    })?;
    let fixed_ip = fixed.ip_address.to_string();
    if let Some(other) = rows::holding_fixed_ip(sql, &f.floating_network_id, port_id, &fixed_ip)?
        && other != f.std.id
    {
        return Err(ApiError::conflict(
            "FloatingIPPortAlreadyAssociated",
            format!(
                "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {fixed_ip}, as that fixed IP already has a floating IP on external network {}.",
                f.floating_ip_address, f.std.id, f.floating_network_id
            ),
        ));
    }
    Ok(Assoc { port_id: port_id.to_string(), fixed_ip, router_id })
}

/// Applies the association `c` asks for to `f` (upstream `_check_and_get_fip_assoc`): a
/// `port_id` associates (or moves), `null` disassociates, absent keeps it. A changed
/// association puts the floating IP DOWN until the router's agent reports it again.
fn associate(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    f: &mut FloatingIp,
    c: &FloatingIpChanges,
) -> ApiResult<()> {
    let asked_ip = c.fixed_ip_address.flatten();
    let assoc = match &c.port_id {
        Some(Some(port_id)) => Some(resolve(sql, ctx, f, port_id, asked_ip)?),
        _ if asked_ip.is_some() => return Err(bad("fixed_ip_address cannot be specified without a port_id")),
        Some(None) => None,
        None => return Ok(()),
    };
    let before = (f.port_id.clone(), f.fixed_ip_address.clone(), f.router_id.clone());
    match assoc {
        Some(a) => {
            f.port_id = Some(a.port_id);
            f.fixed_ip_address = Some(a.fixed_ip);
            f.router_id = Some(a.router_id);
        }
        None => {
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
        }
    }
    if (f.port_id.clone(), f.fixed_ip_address.clone(), f.router_id.clone()) != before {
        f.status = STATUS_DOWN.into();
    }
    Ok(())
}

/// Records a `router` change for each router of `routers` (the one left, the one joined).
fn record_routers(sql: &mut dyn Sql, routers: [Option<&str>; 2]) -> ApiResult<()> {
    let [a, b] = routers;
    if let Some(a) = a {
        changes::record(sql, changes::ROUTER, a, None, None)?;
    }
    if let Some(b) = b.filter(|b| Some(*b) != a) {
        changes::record(sql, changes::ROUTER, b, None, None)?;
    }
    Ok(())
}

/// The `network:floatingip` port holding the floating address: the one asked for (admins), one
/// from `subnet_id`, or one from any IPv4 subnet of the external network.
fn floating_port(sql: &mut dyn Sql, f: &FloatingIp, c: &FloatingIpChanges) -> ApiResult<Port> {
    let net_id = &f.floating_network_id;
    let v4: Vec<_> = subnets::of_network(sql, net_id)?.into_iter().filter(|s| !s.is_v6()).collect();
    if v4.is_empty() {
        return Err(bad(format!("Network {net_id} does not contain any IPv4 subnet")));
    }
    let candidates: Vec<_> = match &c.subnet_id {
        Some(id) => {
            let s = v4.iter().find(|s| &s.std.id == id).cloned().ok_or_else(|| {
                ApiError::invalid_input(format!(
                    "Failed to create port on network {net_id}, because fixed_ips included invalid subnet {id}"
                ))
            })?;
            vec![s]
        }
        None => v4,
    };
    let fixed = match c.floating_ip_address {
        Some(ip) => {
            let s = candidates.iter().find(|s| s.cidr.contains(&ip)).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "IP address {ip} is not a valid IP for any of the subnets on the specified network."
                ))
                .with_kind("InvalidIpForNetwork")
            })?;
            ipam::check_requested(sql, s, ip, OWNER_FLOATINGIP)?;
            FixedIp { subnet_id: s.std.id.clone(), ip_address: ip }
        }
        None => {
            let mut found = None;
            for s in &candidates {
                if let Some(ip) = ipam::pick(sql, s, &[])? {
                    found = Some(FixedIp { subnet_id: s.std.id.clone(), ip_address: ip });
                    break;
                }
            }
            found.ok_or_else(|| {
                ApiError::conflict(
                    "ExternalIpAddressExhausted",
                    format!("Unable to find any IP address on external network {net_id}."),
                )
            })?
        }
    };
    let now = now_timestamp();
    Ok(Port {
        std: Standard {
            id: new_id(),
            project_id: f.std.project_id.clone(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
            ..Default::default()
        },
        network_id: net_id.clone(),
        admin_state_up: true,
        mac_address: super::ports::choose_mac(sql, net_id, None, &[])?,
        fixed_ips: vec![fixed],
        device_id: f.std.id.clone(),
        device_owner: OWNER_FLOATINGIP.into(),
        status: "N/A".into(),
        port_security_enabled: false,
        security_groups: vec![],
        allowed_address_pairs: vec![],
        binding_host_id: String::new(),
        binding_profile: json!({}),
        binding_vif_type: crate::ml2::binding::Binding::unbound().vif_type,
        binding_vif_details: json!({}),
        binding_vnic_type: "normal".into(),
        extra_dhcp_opts: vec![],
    })
}

fn build(sql: &mut dyn Sql, ctx: &RequestContext, body: &Map<String, Value>) -> ApiResult<FloatingIp> {
    policy::require_write(ctx, "create_floatingip")?;
    // Upstream's `create_floatingip:floating_ip_address` is admin or project manager.
    let mut admin_only = body.clone();
    if ctx.has_role("manager") {
        admin_only.remove("floating_ip_address");
    }
    policy::check_admin_attrs(ctx, &FLOATINGIP, &admin_only, "create_floatingip")?;
    let c = FloatingIpChanges::parse(body, Op::Create)?;
    let net_id = c.floating_network_id.clone().ok_or_else(|| missing_required("floating_network_id"))?;
    let net = networks::visible(sql, ctx, &net_id)?;
    if !net.router_external {
        return Err(bad(format!("Network {net_id} is not a valid external network")));
    }
    let now = now_timestamp();
    let mut f = FloatingIp {
        std: Standard {
            id: new_id(),
            description: c.description.clone().unwrap_or_default(),
            project_id: policy::owner_for_create(ctx, c.project_id.clone())?,
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
            ..Default::default()
        },
        floating_network_id: net_id,
        status: STATUS_DOWN.into(),
        ..Default::default()
    };
    let port = floating_port(sql, &f, &c)?;
    f.floating_port_id = port.std.id.clone();
    f.floating_ip_address = port.fixed_ips[0].ip_address.to_string();
    ports::insert(sql, &port)?;
    super::binding::record(sql, None, Some(&port))?;
    associate(sql, ctx, &mut f, &c)?;
    rows::insert(sql, &f)?;
    record_routers(sql, [f.router_id.as_deref(), None])?;
    Ok(f)
}

/// Creates floating IPs from request bodies, all or nothing (409 `OverQuota` past a project's
/// `floatingip` quota).
pub async fn create(
    svc: &Services,
    ctx: &RequestContext,
    bodies: Vec<Map<String, Value>>,
) -> ApiResult<Vec<FloatingIp>> {
    let (ctx, config) = (ctx.clone(), svc.config.clone());
    let out = svc
        .store
        .write(move |sql| {
            let mut made = vec![];
            for b in &bodies {
                made.push(build(sql, &ctx, b)?);
            }
            quotas::enforce(
                sql,
                &config.quotas,
                "floatingip",
                made.iter().map(|f| f.std.project_id.as_str()),
            )?;
            rows::fill(sql, &mut made)?;
            Ok(made)
        })
        .await?;
    svc.changed();
    Ok(out)
}

pub async fn show(svc: &Services, ctx: &RequestContext, id: &str) -> ApiResult<FloatingIp> {
    policy::require_read(ctx)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store.read(move |sql| visible(sql, &ctx, &id)).await
}

pub async fn list(svc: &Services, ctx: &RequestContext, params: ListParams) -> ApiResult<Page<FloatingIp>> {
    policy::require_read(ctx)?;
    let ctx = ctx.clone();
    svc.store
        .read(move |sql| {
            let mut select = rows::select(policy::scope(&ctx));
            let (found, more) = params.run(sql, &mut select, &FLOATINGIP, rows::TAG_TYPE, not_found)?;
            let mut fips: Vec<FloatingIp> = found.iter().map(rows::from_row).collect();
            rows::fill(sql, &mut fips)?;
            Ok(Page { items: fips, more })
        })
        .await
}

pub async fn update(
    svc: &Services,
    ctx: &RequestContext,
    id: &str,
    body: Map<String, Value>,
    if_match: Option<i64>,
) -> ApiResult<FloatingIp> {
    let c = FloatingIpChanges::parse(&body, Op::Update)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    let out = svc
        .store
        .write(move |sql| {
            let mut f = visible(sql, &ctx, &id)?;
            policy::require_write(&ctx, "update_floatingip")?;
            check_revision(if_match, f.std.revision_number)?;
            let before = f.clone();
            associate(sql, &ctx, &mut f, &c)?;
            if let Some(d) = c.description.clone() {
                f.std.description = d;
            }
            if f != before {
                f.std.revision_number += 1;
                f.std.updated_at = now_timestamp();
                rows::update(sql, &f)?;
            }
            if (&f.port_id, &f.fixed_ip_address, &f.router_id)
                != (&before.port_id, &before.fixed_ip_address, &before.router_id)
            {
                record_routers(sql, [before.router_id.as_deref(), f.router_id.as_deref()])?;
            }
            rows::fill(sql, std::slice::from_mut(&mut f))?;
            Ok(f)
        })
        .await?;
    svc.changed();
    Ok(out)
}

/// Deletes a floating IP and its `network:floatingip` port (its address returns to the pool).
pub async fn delete(svc: &Services, ctx: &RequestContext, id: &str, if_match: Option<i64>) -> ApiResult<()> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store
        .write(move |sql| {
            let f = visible(sql, &ctx, &id)?;
            policy::require_write(&ctx, "delete_floatingip")?;
            check_revision(if_match, f.std.revision_number)?;
            rows::delete(sql, &id)?;
            if let Some(port) = ports::get(sql, &f.floating_port_id)? {
                ports::delete(sql, &port.std.id)?;
                super::binding::record(sql, Some(&port), None)?;
            }
            record_routers(sql, [f.router_id.as_deref(), None])?;
            Ok(())
        })
        .await?;
    svc.changed();
    Ok(())
}

/// The network-delete hook (upstream `delete_disassociated_floatingips`): deleting an external
/// network deletes the floating IPs on it that no port uses, with their ports; associated ones
/// keep it in use.
pub fn delete_disassociated(sql: &mut dyn Sql, network_id: &str) -> ApiResult<()> {
    for (id, port_id) in rows::disassociated_on(sql, network_id)? {
        rows::delete(sql, &id)?;
        if let Some(port) = ports::get(sql, &port_id)? {
            ports::delete(sql, &port.std.id)?;
            super::binding::record(sql, Some(&port), None)?;
        }
    }
    Ok(())
}

/// The port-delete hook (upstream `prevent_l3_port_deletion`): the port holding a floating
/// IP's address goes only with its floating IP (409 `ServicePortInUse`), whatever its owner
/// was changed to.
pub fn check_port_delete(sql: &mut dyn Sql, p: &Port) -> ApiResult<()> {
    if rows::held_by(sql, &p.std.id)?.is_some() {
        return Err(ApiError::conflict(
            "ServicePortInUse",
            format!(
                "Port {} cannot be deleted directly via the port API: has device owner {}.",
                p.std.id, p.device_owner
            ),
        ));
    }
    Ok(())
}

/// The port-update hook: the port holding a floating IP's address is the service's, so only
/// admins change it through `/v2.0/ports` (upstream's owner cannot even see it).
pub fn check_port_update(sql: &mut dyn Sql, ctx: &RequestContext, p: &Port) -> ApiResult<()> {
    if !ctx.is_admin() && rows::held_by(sql, &p.std.id)?.is_some() {
        return Err(ApiError::policy("update_port"));
    }
    Ok(())
}

/// The port-update hook (upstream `prevent_internal_ip_change_for_fip`): a port's new
/// addresses must keep every fixed IP a floating IP is associated with (400 otherwise).
pub fn check_port_fixed_ips(sql: &mut dyn Sql, port_id: &str, fixed_ips: &[FixedIp]) -> ApiResult<()> {
    for f in rows::of_fixed_port(sql, port_id)? {
        let kept = f
            .fixed_ip_address
            .as_deref()
            .is_none_or(|ip| fixed_ips.iter().any(|x| x.ip_address.to_string() == ip));
        if !kept {
            return Err(ApiError::bad_request(format!(
                "Bad port request: Cannot update the fixed_ips of the port {port_id}, because its original fixed_ip has been associated to a floating ip."
            ))
            .with_kind("BadRequest"));
        }
    }
    Ok(())
}

/// Disassociates the floating IPs of a port about to go (upstream `disassociate_floatingips`),
/// recording a `router` change for each router that served one.
pub fn disassociate_port(sql: &mut dyn Sql, port_id: &str) -> ApiResult<()> {
    let now = now_timestamp();
    for mut f in rows::of_fixed_port(sql, port_id)? {
        let router = f.router_id.take();
        f.port_id = None;
        f.fixed_ip_address = None;
        f.status = STATUS_DOWN.into();
        f.std.revision_number += 1;
        f.std.updated_at = now.clone();
        rows::update(sql, &f)?;
        record_routers(sql, [router.as_deref(), None])?;
    }
    Ok(())
}

/// `GET /v2.0/floatingip_pools`: every IPv4 subnet of every external network, by subnet id.
pub async fn pools(svc: &Services, ctx: &RequestContext) -> ApiResult<Vec<FloatingIpPool>> {
    policy::require_read(ctx)?;
    let project = ctx.project_id.clone();
    svc.store
        .read(move |sql| {
            Ok(rows::pools(sql)?
                .into_iter()
                .map(|p| FloatingIpPool { project_id: project.clone(), ..p })
                .collect())
        })
        .await
}
