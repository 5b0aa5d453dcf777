//! Ports (`/v2.0/ports`): create (also in bulk), show, list, update, delete, with MAC
//! generation and uniqueness, fixed IP allocation through [`super::ipam`], and the port
//! policy of upstream (network owners may manage ports on their network).

use std::net::IpAddr;

use neutrino_model::attrs::{Op, PORT, missing_required};
use neutrino_model::common::{Standard, new_id, now_timestamp};
use neutrino_model::extra_dhcp_opt;
use neutrino_model::ip;
use neutrino_model::port::{FixedIp, FixedIpRequest, Port, PortChanges, random_mac};
use neutrino_model::subnet::Subnet;
use neutrino_model::{ApiError, ApiResult};
use serde_json::{Map, Value, json};

use super::query::ListParams;
use super::{Page, Services, binding, check_revision, ipam, networks, policy, port_security, quotas};
use crate::context::RequestContext;
use crate::store::{Sql, allocations, ports as rows, subnets};

/// Whether the caller may see `p`: their own, or on a network they own.
fn sees(sql: &mut dyn Sql, ctx: &RequestContext, p: &Port) -> ApiResult<bool> {
    if ctx.is_admin() || p.std.project_id == ctx.project_id {
        return Ok(true);
    }
    Ok(crate::store::networks::row(sql, &p.network_id)?.is_some_and(|n| n.std.project_id == ctx.project_id))
}

/// The port `id` if the caller may see it, else `PortNotFound`.
pub fn visible(sql: &mut dyn Sql, ctx: &RequestContext, id: &str) -> ApiResult<Port> {
    let p = rows::get(sql, id)?.ok_or_else(|| ApiError::port_not_found(id))?;
    if sees(sql, ctx, &p)? { Ok(p) } else { Err(ApiError::port_not_found(id)) }
}

/// The port `id` for a write: one the caller cannot see is a policy-hidden 404 (`HTTPNotFound`).
fn writable(sql: &mut dyn Sql, ctx: &RequestContext, id: &str) -> ApiResult<Port> {
    let p = rows::get(sql, id)?.ok_or_else(|| ApiError::port_not_found(id))?;
    if sees(sql, ctx, &p)? { Ok(p) } else { Err(ApiError::http_not_found()) }
}

fn mac_in_use(network_id: &str, mac: &str) -> ApiError {
    ApiError::conflict(
        "MacAddressInUse",
        format!("Unable to complete operation for network {network_id}. The mac address {mac} is in use."),
    )
}

/// A free MAC on the network: the requested one, or a random `fa:16:3e` one.
pub(crate) fn choose_mac(
    sql: &mut dyn Sql,
    network_id: &str,
    asked: Option<String>,
    pending: &[String],
) -> ApiResult<String> {
    if let Some(mac) = asked {
        if pending.contains(&mac) || rows::mac_in_use(sql, network_id, &mac)? {
            return Err(mac_in_use(network_id, &mac));
        }
        return Ok(mac);
    }
    for _ in 0..16 {
        let mac = random_mac();
        if !pending.contains(&mac) && !rows::mac_in_use(sql, network_id, &mac)? {
            return Ok(mac);
        }
    }
    Err(ApiError::conflict(
        "MacAddressGenerationFailure",
        format!("Unable to generate unique mac on network {network_id}."),
    ))
}

/// The subnet `id` of a `fixed_ips` entry: one of the network's, else `SubnetNotFound` when the
/// caller cannot see it (as an unknown id) and `InvalidInput` when it is on another network.
fn subnet_for(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    subnets: &[Subnet],
    network_id: &str,
    id: &str,
) -> ApiResult<Subnet> {
    if let Some(s) = subnets.iter().find(|s| s.std.id == id) {
        return Ok(s.clone());
    }
    super::subnets::visible(sql, ctx, id)?;
    Err(ApiError::invalid_input(format!(
        "Failed to create port on network {network_id}, because fixed_ips included invalid subnet {id}"
    )))
}

/// Allocates the addresses a port asks for (or the automatic ones when `requests` is None).
pub(crate) fn allocate(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    network_id: &str,
    requests: Option<&[FixedIpRequest]>,
    owner: &str,
    mac: &str,
) -> ApiResult<Vec<FixedIp>> {
    let all = subnets::of_network(sql, network_id)?;
    let mut out: Vec<FixedIp> = vec![];
    let taken = |out: &[FixedIp]| out.iter().map(|f| f.ip_address).collect::<Vec<IpAddr>>();
    let Some(requests) = requests else {
        let mut need_v4 = false;
        let mut got_v4 = false;
        let mut got_v6_stateful = false;
        let mut need_v6_stateful = false;
        for s in &all {
            if ipam::is_auto_address(s) {
                if let Some(ip) = ip::eui64(&s.cidr, mac) {
                    out.push(FixedIp { subnet_id: s.std.id.clone(), ip_address: ip });
                }
                continue;
            }
            let (need, got) = if s.is_v6() {
                (&mut need_v6_stateful, &mut got_v6_stateful)
            } else {
                (&mut need_v4, &mut got_v4)
            };
            *need = true;
            if *got {
                continue;
            }
            if let Some(ip) = ipam::pick(sql, s, &taken(&out))? {
                out.push(FixedIp { subnet_id: s.std.id.clone(), ip_address: ip });
                *got = true;
            }
        }
        if (need_v4 && !got_v4) || (need_v6_stateful && !got_v6_stateful && !need_v4) {
            return Err(ipam::exhausted(network_id));
        }
        return Ok(out);
    };
    for r in requests {
        let subnet = match (&r.subnet_id, r.ip_address) {
            (Some(id), _) => subnet_for(sql, ctx, &all, network_id, id)?,
            (None, Some(ip)) => all.iter().find(|s| s.cidr.contains(&ip)).cloned().ok_or_else(|| {
                ApiError::bad_request(format!(
                    "IP address {ip} is not a valid IP for any of the subnets on the specified network."
                ))
                .with_kind("InvalidIpForNetwork")
            })?,
            (None, None) => unreachable!("parse_fixed_ips refuses empty entries"),
        };
        let ip = match r.ip_address {
            Some(ip) => {
                if taken(&out).contains(&ip) {
                    return Err(ApiError::conflict(
                        "IpAddressInUse",
                        format!(
                            "Unable to complete operation for network {network_id}. The IP address {ip} is in use."
                        ),
                    ));
                }
                ipam::check_requested(sql, &subnet, ip, owner)?;
                ip
            }
            None if ipam::is_auto_address(&subnet) => {
                ip::eui64(&subnet.cidr, mac).ok_or_else(|| ipam::exhausted(network_id))?
            }
            None => ipam::pick(sql, &subnet, &taken(&out))?.ok_or_else(|| ipam::exhausted(network_id))?,
        };
        out.push(FixedIp { subnet_id: subnet.std.id.clone(), ip_address: ip });
    }
    Ok(out)
}

/// Policy checks that depend on whether the caller owns the port's network.
fn check_network_rules(ctx: &RequestContext, owns_net: bool, c: &PortChanges, action: &str) -> ApiResult<()> {
    if ctx.is_admin() || owns_net {
        return Ok(());
    }
    if c.mac_address.is_some() {
        return Err(ApiError::policy(&format!("{action}:mac_address")));
    }
    if c.fixed_ips.as_ref().is_some_and(|f| f.iter().any(|r| r.ip_address.is_some())) {
        return Err(ApiError::policy(&format!("{action}:fixed_ips:ip_address")));
    }
    if c.device_owner.as_ref().is_some_and(|o| o.starts_with("network:")) {
        return Err(ApiError::policy(&format!("{action}:device_owner")));
    }
    // Upstream's `ADMIN_OR_NET_OWNER_MEMBER` rules: only the network's owner turns a port's
    // protection off or lets it send from other addresses.
    if c.port_security_enabled.is_some() {
        return Err(ApiError::policy(&format!("{action}:port_security_enabled")));
    }
    if c.allowed_address_pairs.is_some() {
        return Err(ApiError::policy(&format!("{action}:allowed_address_pairs")));
    }
    Ok(())
}

fn build(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    body: &Map<String, Value>,
    pending: &[Port],
    down_time: i64,
) -> ApiResult<Port> {
    policy::require_write(ctx, "create_port")?;
    policy::check_admin_attrs(ctx, &PORT, body, "create_port")?;
    let c = PortChanges::parse(body, Op::Create)?;
    let network_id = c.network_id.clone().ok_or_else(|| missing_required("network_id"))?;
    let net = networks::visible(sql, ctx, &network_id)?;
    let owns_net = policy::owns(ctx, &net.std.project_id);
    if !owns_net && !net.shared {
        return Err(ApiError::policy("create_port"));
    }
    check_network_rules(ctx, owns_net, &c, "create_port")?;
    let pending_macs: Vec<String> =
        pending.iter().filter(|p| p.network_id == network_id).map(|p| p.mac_address.clone()).collect();
    let mac = choose_mac(sql, &network_id, c.mac_address.clone(), &pending_macs)?;
    let owner = c.device_owner.clone().unwrap_or_default();
    let fixed_ips = allocate(sql, ctx, &network_id, c.fixed_ips.as_deref(), &owner, &mac)?;
    let now = now_timestamp();
    let host = c.binding_host_id.clone().unwrap_or_default();
    let bound = binding::binding_for(sql, &host, &net.provider, down_time)?;
    let mut p = Port {
        std: Standard {
            id: new_id(),
            name: c.name.clone().unwrap_or_default(),
            description: c.description.clone().unwrap_or_default(),
            project_id: policy::owner_for_create(ctx, c.project_id.clone())?,
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
            tags: vec![],
        },
        network_id,
        admin_state_up: c.admin_state_up.unwrap_or(true),
        mac_address: mac,
        fixed_ips,
        device_id: c.device_id.clone().unwrap_or_default(),
        device_owner: owner,
        status: "DOWN".into(),
        port_security_enabled: c.port_security_enabled.unwrap_or(net.port_security_enabled),
        security_groups: vec![],
        allowed_address_pairs: vec![],
        binding_host_id: host,
        binding_profile: c.binding_profile.clone().unwrap_or_else(|| json!({})),
        binding_vif_type: bound.vif_type,
        binding_vif_details: bound.vif_details,
        binding_vnic_type: c.binding_vnic_type.clone().unwrap_or_else(|| "normal".into()),
        extra_dhcp_opts: c.extra_dhcp_opts.as_deref().map(extra_dhcp_opt::on_create).unwrap_or_default(),
    };
    port_security::on_create(sql, ctx, &c, &mut p)?;
    Ok(p)
}

pub async fn create(
    svc: &Services,
    ctx: &RequestContext,
    bodies: Vec<Map<String, Value>>,
) -> ApiResult<Vec<Port>> {
    let (ctx, down, config) = (ctx.clone(), svc.agent_down_time(), svc.config.clone());
    let out = svc
        .store
        .write(move |sql| {
            let mut made: Vec<Port> = vec![];
            for b in &bodies {
                let p = build(sql, &ctx, b, &made, down)?;
                rows::insert(sql, &p)?;
                binding::record(sql, None, Some(&p))?;
                made.push(p);
            }
            quotas::enforce(sql, &config.quotas, "port", made.iter().map(|p| p.std.project_id.as_str()))?;
            Ok(made)
        })
        .await?;
    svc.changed();
    Ok(out)
}

pub async fn show(svc: &Services, ctx: &RequestContext, id: &str) -> ApiResult<Port> {
    policy::require_read(ctx)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store.read(move |sql| visible(sql, &ctx, &id)).await
}

pub async fn list(svc: &Services, ctx: &RequestContext, params: ListParams) -> ApiResult<Page<Port>> {
    policy::require_read(ctx)?;
    let ctx = ctx.clone();
    svc.store
        .read(move |sql| {
            let mut select = rows::select(policy::scope(&ctx));
            if let Some(filters) = params.special("fixed_ips") {
                rows::filter_fixed_ips(&mut select, &parse_fixed_ips_filter(filters)?);
            }
            if let Some(ids) = params.special("security_groups") {
                rows::filter_security_groups(&mut select, ids);
            }
            let (found, more) =
                params.run(sql, &mut select, &PORT, rows::TAG_TYPE, ApiError::port_not_found)?;
            let mut ports: Vec<Port> = found.iter().map(rows::from_row).collect();
            rows::fill(sql, &mut ports)?;
            Ok(Page { items: ports, more })
        })
        .await
}

/// The `fixed_ips=` list filters (`ip_address=A`, `subnet_id=S`, `ip_address_substr=P` of
/// `ip-substring-filtering`); anything else is a 400.
fn parse_fixed_ips_filter(filters: &[String]) -> ApiResult<rows::FixedIpsFilter> {
    let mut f = rows::FixedIpsFilter::default();
    for v in filters {
        match v.split_once('=') {
            Some(("ip_address", x)) => f.ip_addresses.push(x.to_string()),
            Some(("subnet_id", x)) => f.subnet_ids.push(x.to_string()),
            Some(("ip_address_substr", x)) => f.substrings.push(x.to_string()),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for fixed_ips. Reason: '{v}' is not of the form ip_address=X, subnet_id=X or ip_address_substr=X."
                )));
            }
        }
    }
    Ok(f)
}

pub async fn update(
    svc: &Services,
    ctx: &RequestContext,
    id: &str,
    body: Map<String, Value>,
    if_match: Option<i64>,
) -> ApiResult<Port> {
    let c = PortChanges::parse(&body, Op::Update)?;
    let (ctx, id, down) = (ctx.clone(), id.to_string(), svc.agent_down_time());
    let out = svc
        .store
        .write(move |sql| {
            let mut p = writable(sql, &ctx, &id)?;
            policy::require_write(&ctx, "update_port")?;
            policy::check_admin_attrs(&ctx, &PORT, &body, "update_port")?;
            super::floatingips::check_port_update(sql, &ctx, &p)?;
            check_revision(if_match, p.std.revision_number)?;
            let net = crate::store::networks::row(sql, &p.network_id)?.unwrap_or_default();
            check_network_rules(&ctx, policy::owns(&ctx, &net.std.project_id), &c, "update_port")?;
            let before = p.clone();
            if let Some(mac) = c.mac_address.clone().filter(|m| *m != p.mac_address) {
                if !ctx.is_admin() {
                    return Err(ApiError::policy("update_port:mac_address"));
                }
                if !matches!(p.binding_vif_type.as_str(), "unbound" | "binding_failed") {
                    return Err(ApiError::conflict(
                        "PortBound",
                        format!("Unable to complete operation on port {id}, port is already bound."),
                    ));
                }
                p.mac_address = choose_mac(sql, &p.network_id, Some(mac), &[])?;
            }
            if let Some(requests) = &c.fixed_ips {
                // The port's own addresses are free to ask for again.
                allocations::free_port(sql, &id)?;
                let owner = c.device_owner.clone().unwrap_or_else(|| p.device_owner.clone());
                p.fixed_ips = allocate(sql, &ctx, &p.network_id, Some(requests), &owner, &p.mac_address)?;
                super::floatingips::check_port_fixed_ips(sql, &id, &p.fixed_ips)?;
            }
            if let Some(v) = c.name.clone() {
                p.std.name = v
            }
            if let Some(v) = c.description.clone() {
                p.std.description = v
            }
            if let Some(v) = c.admin_state_up {
                p.admin_state_up = v
            }
            if let Some(v) = c.device_id.clone() {
                p.device_id = v
            }
            if let Some(v) = c.device_owner.clone() {
                p.device_owner = v
            }
            if let Some(v) = c.port_security_enabled {
                p.port_security_enabled = v
            }
            if let Some(v) = c.binding_host_id.clone() {
                // (Re)bind: upstream binds again whenever the host is set.
                binding::apply(&mut p, binding::binding_for(sql, &v, &net.provider, down)?);
                p.binding_host_id = v;
            }
            if let Some(v) = c.binding_profile.clone() {
                p.binding_profile = v
            }
            if let Some(v) = c.binding_vnic_type.clone() {
                p.binding_vnic_type = v
            }
            if let Some(opts) = &c.extra_dhcp_opts {
                p.extra_dhcp_opts = extra_dhcp_opt::on_update(&p.extra_dhcp_opts, opts);
            }
            port_security::on_update(sql, &ctx, &c, &mut p)?;
            if p != before {
                p.std.revision_number += 1;
                p.std.updated_at = now_timestamp();
                rows::update(sql, &p)?;
                binding::record(sql, Some(&before), Some(&p))?;
            }
            Ok(p)
        })
        .await?;
    svc.changed();
    Ok(out)
}

/// Deletes a port and frees its addresses; its floating IPs are disassociated, and the port of
/// a floating IP cannot be deleted here (409). A deleted DHCP port of a network still hosted is
/// made again (upstream's DHCP agent makes its port again when it resyncs the network).
pub async fn delete(svc: &Services, ctx: &RequestContext, id: &str, if_match: Option<i64>) -> ApiResult<()> {
    let (ctx, id, sched) = (ctx.clone(), id.to_string(), super::dhcp::Scheduling::of(svc));
    svc.store
        .write(move |sql| {
            let p = writable(sql, &ctx, &id)?;
            policy::require_write(&ctx, "delete_port")?;
            check_revision(if_match, p.std.revision_number)?;
            // Upstream's `prevent_l3_port_deletion`: a router's own ports go with
            // remove_router_interface or the gateway's clearing.
            if p.device_owner.starts_with("network:router_")
                && crate::store::routers::router_of_port(sql, &id)?.is_some()
            {
                return Err(ApiError::conflict(
                    "ServicePortInUse",
                    format!(
                        "Port {id} cannot be deleted directly via the port API: has device owner {}.",
                        p.device_owner
                    ),
                ));
            }
            super::floatingips::check_port_delete(sql, &p)?;
            super::floatingips::disassociate_port(sql, &id)?;
            rows::delete(sql, &id)?;
            binding::record(sql, Some(&p), None)?;
            if p.device_owner == neutrino_model::port::OWNER_DHCP {
                super::dhcp::sync_network(sql, sched, &p.network_id)?;
            }
            Ok(())
        })
        .await?;
    svc.changed();
    Ok(())
}
