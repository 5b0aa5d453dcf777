//! Subnets (`/v2.0/subnets`): create (also in bulk), show, list, update, delete, with the
//! upstream rules on CIDRs, gateways, pools, name servers, host routes and overlap.

use neutrino_model::attrs::{Op, SUBNET, missing_required};
use neutrino_model::common::{Standard, new_id, now_timestamp};
use neutrino_model::ip;
use neutrino_model::port::OWNER_DHCP;
use neutrino_model::subnet::{self as model, Subnet, SubnetChanges};
use neutrino_model::{ApiError, ApiResult};
use serde_json::{Map, Value};

use super::dhcp::{self, Scheduling};
use super::query::ListParams;
use super::{Page, Services, check_revision, networks, policy, quotas};
use crate::context::RequestContext;
use crate::store::{Sql, allocations, changes, networks as net_rows, ports, subnets as rows};

/// Whether the caller may see `s` (own, or on a network they can see).
fn sees(sql: &mut dyn Sql, ctx: &RequestContext, s: &Subnet) -> ApiResult<bool> {
    Ok(ctx.is_admin()
        || s.std.project_id == ctx.project_id
        || networks::visible(sql, ctx, &s.network_id).is_ok())
}

/// The subnet `id` if the caller may see it, else `SubnetNotFound`.
pub fn visible(sql: &mut dyn Sql, ctx: &RequestContext, id: &str) -> ApiResult<Subnet> {
    let s = rows::get(sql, id)?.ok_or_else(|| ApiError::subnet_not_found(id))?;
    if sees(sql, ctx, &s)? { Ok(s) } else { Err(ApiError::subnet_not_found(id)) }
}

/// The subnet `id` if the caller owns it (for writes); one they cannot see is a policy-hidden
/// 404 (`HTTPNotFound`), one they see but do not own a 403.
fn owned(sql: &mut dyn Sql, ctx: &RequestContext, id: &str, rule: &str) -> ApiResult<Subnet> {
    let s = rows::get(sql, id)?.ok_or_else(|| ApiError::subnet_not_found(id))?;
    if !sees(sql, ctx, &s)? {
        return Err(ApiError::http_not_found());
    }
    if !policy::owns(ctx, &s.std.project_id) {
        return Err(ApiError::policy(rule));
    }
    policy::require_write(ctx, rule)?;
    Ok(s)
}

/// Validates and builds one subnet inside the transaction (it needs the network and its other
/// subnets).
fn build(
    sql: &mut dyn Sql,
    ctx: &RequestContext,
    body: &Map<String, Value>,
    pending: &[Subnet],
) -> ApiResult<Subnet> {
    policy::require_write(ctx, "create_subnet")?;
    let c = SubnetChanges::parse(body, Op::Create)?;
    let network_id = c.network_id.clone().ok_or_else(|| missing_required("network_id"))?;
    let net = networks::visible(sql, ctx, &network_id)?;
    if !policy::owns(ctx, &net.std.project_id) {
        return Err(ApiError::policy("create_subnet"));
    }
    let ip_version = c.ip_version.ok_or_else(|| missing_required("ip_version"))?;
    let cidr = c.cidr.ok_or_else(|| missing_required("cidr"))?;
    model::check_cidr(&cidr, ip_version, c.ipv6_ra_mode.as_deref(), c.ipv6_address_mode.as_deref())?;
    let mut siblings = rows::of_network(sql, &network_id)?;
    siblings.extend(pending.iter().filter(|p| p.network_id == network_id).cloned());
    if let Some(o) =
        siblings.iter().find(|s| s.cidr.contains(&cidr.network()) || cidr.contains(&s.cidr.network()))
    {
        return Err(ApiError::invalid_input(format!(
            "Requested subnet with cidr: {cidr} for network: {network_id} overlaps with another subnet {}",
            o.std.id
        )));
    }
    let gateway_ip = match c.gateway_ip {
        Some(g) => g,
        None => ip::usable(&cidr).map(|r| ip::from_u128(r.start, ip_version == 6)),
    };
    if let Some(g) = gateway_ip {
        model::check_gateway(&cidr, g)?;
    }
    let allocation_pools = match &c.allocation_pools {
        Some(p) => model::resolve_pools(&cidr, p, gateway_ip)?,
        None => ip::default_pools(&cidr, gateway_ip),
    };
    let id = new_id();
    model::check_lists(&cidr, c.dns_nameservers.as_deref(), c.host_routes.as_deref(), &id)?;
    let now = now_timestamp();
    Ok(Subnet {
        std: Standard {
            id,
            name: c.name.unwrap_or_default(),
            description: c.description.unwrap_or_default(),
            project_id: policy::owner_for_create(ctx, c.project_id)?,
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
            tags: vec![],
        },
        network_id,
        ip_version,
        cidr,
        gateway_ip,
        allocation_pools,
        dns_nameservers: c.dns_nameservers.unwrap_or_default(),
        host_routes: c.host_routes.unwrap_or_default(),
        enable_dhcp: c.enable_dhcp.unwrap_or(true),
        ipv6_ra_mode: c.ipv6_ra_mode,
        ipv6_address_mode: c.ipv6_address_mode,
        router_external: net.router_external,
    })
}

pub async fn create(
    svc: &Services,
    ctx: &RequestContext,
    bodies: Vec<Map<String, Value>>,
) -> ApiResult<Vec<Subnet>> {
    let (ctx, config, sched) = (ctx.clone(), svc.config.clone(), Scheduling::of(svc));
    let out = svc
        .store
        .write(move |sql| {
            let mut made: Vec<Subnet> = vec![];
            for b in &bodies {
                let s = build(sql, &ctx, b, &made)?;
                rows::insert(sql, &s)?;
                net_rows::touch(sql, &s.network_id, &s.std.created_at)?;
                record(sql, &s)?;
                made.push(s);
            }
            quotas::enforce(sql, &config.quotas, "subnet", made.iter().map(|s| s.std.project_id.as_str()))?;
            // Scheduling and the DHCP ports follow the subnets, in the same transaction.
            let mut nets: Vec<&str> =
                made.iter().filter(|s| s.enable_dhcp).map(|s| s.network_id.as_str()).collect();
            nets.sort();
            nets.dedup();
            for n in nets {
                dhcp::sync_network(sql, sched, n)?;
            }
            Ok(made)
        })
        .await?;
    svc.changed();
    Ok(out)
}

/// Records a subnet change for the DHCP agents of its network.
fn record(sql: &mut dyn Sql, s: &Subnet) -> ApiResult<()> {
    changes::record(sql, changes::SUBNET, &s.std.id, Some(&s.network_id), None)?;
    Ok(())
}

pub async fn show(svc: &Services, ctx: &RequestContext, id: &str) -> ApiResult<Subnet> {
    policy::require_read(ctx)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    svc.store.read(move |sql| visible(sql, &ctx, &id)).await
}

pub async fn list(svc: &Services, ctx: &RequestContext, params: ListParams) -> ApiResult<Page<Subnet>> {
    policy::require_read(ctx)?;
    let ctx = ctx.clone();
    svc.store
        .read(move |sql| {
            let mut select = rows::select(policy::scope(&ctx));
            let (found, more) =
                params.run(sql, &mut select, &SUBNET, rows::TAG_TYPE, ApiError::subnet_not_found)?;
            let mut subnets: Vec<Subnet> = found.iter().map(rows::from_row).collect();
            rows::fill(sql, &mut subnets)?;
            Ok(Page { items: subnets, more })
        })
        .await
}

pub async fn update(
    svc: &Services,
    ctx: &RequestContext,
    id: &str,
    body: Map<String, Value>,
    if_match: Option<i64>,
) -> ApiResult<Subnet> {
    let c = SubnetChanges::parse(&body, Op::Update)?;
    let (ctx, id, sched) = (ctx.clone(), id.to_string(), Scheduling::of(svc));
    let out = svc
        .store
        .write(move |sql| {
            let mut s = owned(sql, &ctx, &id, "update_subnet")?;
            check_revision(if_match, s.std.revision_number)?;
            let before = s.clone();
            if let Some(g) = c.gateway_ip {
                if let Some(g) = g {
                    model::check_gateway(&s.cidr, g)?;
                }
                s.gateway_ip = g;
            }
            match &c.allocation_pools {
                Some(p) => s.allocation_pools = model::resolve_pools(&s.cidr, p, s.gateway_ip)?,
                None => {
                    if let Some(g) = s.gateway_ip {
                        model::check_gateway_outside_pools(&s.cidr, g, &s.allocation_pools)?;
                    }
                }
            }
            model::check_lists(&s.cidr, c.dns_nameservers.as_deref(), c.host_routes.as_deref(), &id)?;
            if let Some(v) = c.name {
                s.std.name = v
            }
            if let Some(v) = c.description {
                s.std.description = v
            }
            if let Some(v) = c.dns_nameservers {
                s.dns_nameservers = v
            }
            if let Some(v) = c.host_routes {
                s.host_routes = v
            }
            if let Some(v) = c.enable_dhcp {
                s.enable_dhcp = v
            }
            if s != before {
                s.std.revision_number += 1;
                s.std.updated_at = now_timestamp();
                rows::update(sql, &s)?;
                record(sql, &s)?;
            }
            if s.enable_dhcp != before.enable_dhcp {
                dhcp::sync_network(sql, sched, &s.network_id)?;
            }
            Ok(s)
        })
        .await?;
    svc.changed();
    Ok(out)
}

/// Deletes a subnet; 409 `SubnetInUse` while ports other than DHCP ports hold its addresses.
pub async fn delete(svc: &Services, ctx: &RequestContext, id: &str, if_match: Option<i64>) -> ApiResult<()> {
    let (ctx, id, sched) = (ctx.clone(), id.to_string(), Scheduling::of(svc));
    svc.store
        .write(move |sql| {
            let s = owned(sql, &ctx, &id, "delete_subnet")?;
            check_revision(if_match, s.std.revision_number)?;
            let holders = ports::owners_on_subnet(sql, &id)?;
            // SLAAC and DHCPv6-stateless addresses are derived, not handed out: upstream
            // removes them from their ports rather than refusing the delete.
            let auto = super::ipam::is_auto_address(&s);
            // A router interface holds even a derived address (upstream refuses those too).
            let routed = holders.iter().any(|(_, owner)| owner == neutrino_model::router::OWNER_ROUTER_INTERFACE);
            if routed || (!auto && holders.iter().any(|(_, owner)| owner != OWNER_DHCP)) {
                return Err(ApiError::conflict(
                    "SubnetInUse",
                    format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
                ));
            }
            let now = now_timestamp();
            for (port, _) in &holders {
                ports::touch(sql, port, &now)?;
                // The port's addresses change on its host too.
                if let Some(p) = ports::get(sql, port)? {
                    super::binding::record(sql, Some(&p), Some(&p))?;
                }
            }
            allocations::free_subnet(sql, &id)?;
            rows::delete(sql, &id)?;
            net_rows::touch(sql, &s.network_id, &now_timestamp())?;
            record(sql, &s)?;
            // The DHCP ports lost their address on it; without a DHCP subnet left they go.
            dhcp::sync_network(sql, sched, &s.network_id)?;
            Ok(())
        })
        .await?;
    svc.changed();
    Ok(())
}
