//! The `l3` section of a host's desired state (docs/design.md "Server ↔ agent protocol"),
//! what upstream's `sync_routers` gives its L3 agent: every router scheduled to the host's L3
//! agent, whole (gateway with its subnets and the external network's segment, interfaces with
//! their subnets, extra routes, associated floating IPs), and the delta of a watch by whole
//! router.

use std::collections::BTreeSet;

use neutrino_model::internal::HostRouteState;
use neutrino_model::internal::{
    FloatingIpState, L3Delta, L3State, RouterGatewayState, RouterPortState, RouterState, RouterSubnetState,
};
use neutrino_model::router::{OWNER_ROUTER_INTERFACE, Router};
use neutrino_model::{ApiResult, NetworkType};

use crate::store::changes::{self, Change};
use crate::store::{Sql, l3 as l3_rows, networks as net_rows, ports as port_rows, routers as rows, subnets};

/// A router port as the agent plugs it: its MAC, MTU and one address per subnet.
fn port_state(
    sql: &mut dyn Sql,
    port_id: &str,
) -> ApiResult<Option<(RouterPortState, neutrino_model::network::Network)>> {
    let Some(p) = port_rows::get(sql, port_id)? else { return Ok(None) };
    let Some(net) = net_rows::row(sql, &p.network_id)? else { return Ok(None) };
    let mut out = vec![];
    for f in &p.fixed_ips {
        let Some(s) = subnets::get(sql, &f.subnet_id)? else { continue };
        out.push(RouterSubnetState {
            subnet_id: s.std.id.clone(),
            ip_address: f.ip_address.to_string(),
            cidr: s.cidr.trunc().to_string(),
            gateway_ip: s.gateway_ip.map(|g| g.to_string()),
            ip_version: s.ip_version,
            ipv6_ra_mode: s.ipv6_ra_mode.clone(),
            ipv6_address_mode: s.ipv6_address_mode.clone(),
            dns_nameservers: s.dns_nameservers.iter().map(ToString::to_string).collect(),
        });
    }
    out.sort_by(|a, b| a.subnet_id.cmp(&b.subnet_id));
    let state = RouterPortState {
        id: p.std.id,
        network_id: p.network_id,
        mac_address: p.mac_address,
        mtu: net.mtu,
        subnets: out,
    };
    Ok(Some((state, net)))
}

/// The router `r` whole, as its agent realises it.
fn router_state(sql: &mut dyn Sql, r: Router) -> ApiResult<RouterState> {
    let mut interfaces = vec![];
    for id in rows::ports_of(sql, &r.std.id, Some(OWNER_ROUTER_INTERFACE))? {
        interfaces.extend(port_state(sql, &id)?.map(|(p, _)| p));
    }
    let gateway = match &r.gw_port_id {
        Some(id) => port_state(sql, id)?.map(|(port, net)| RouterGatewayState {
            port,
            enable_snat: r.enable_snat,
            network_type: net.provider.network_type.unwrap_or(NetworkType::Local),
            physical_network: net.provider.physical_network,
            segmentation_id: net.provider.segmentation_id,
        }),
        None => None,
    };
    let floating_ips = rows::floating_ips(sql, &r.std.id)?
        .into_iter()
        .filter_map(|f| match (f.fixed_port_id, f.fixed_ip_address) {
            (Some(port_id), Some(fixed)) => Some(FloatingIpState {
                id: f.id,
                floating_ip_address: f.floating_ip_address,
                fixed_ip_address: fixed,
                port_id,
            }),
            _ => None,
        })
        .collect();
    Ok(RouterState {
        id: r.std.id,
        project_id: r.std.project_id,
        admin_state_up: r.admin_state_up,
        gateway,
        interfaces,
        routes: r
            .routes
            .iter()
            .map(|rt| HostRouteState {
                destination: rt.destination.to_string(),
                nexthop: rt.nexthop.to_string(),
            })
            .collect(),
        floating_ips,
    })
}

fn routers(sql: &mut dyn Sql, ids: &BTreeSet<String>) -> ApiResult<Vec<RouterState>> {
    let mut out = vec![];
    for id in ids {
        if let Some(r) = rows::get(sql, id)? {
            out.push(router_state(sql, r)?);
        }
    }
    Ok(out)
}

/// The l3 section of `host`: the routers its L3 agent runs, sorted by id.
pub fn state(sql: &mut dyn Sql, host: &str) -> ApiResult<L3State> {
    let ids: BTreeSet<String> = l3_rows::routers_of_host(sql, host)?.into_iter().collect();
    Ok(L3State { routers: routers(sql, &ids)? })
}

/// The l3 section of the changes `list` for `host`: each of its routers named by a `router`
/// change or with a port on a network a `port`, `network` or `subnet` change touched, whole;
/// the routers it ran and runs no more (deleted, moved); `None` when neither.
pub fn delta(sql: &mut dyn Sql, host: &str, list: &[Change]) -> ApiResult<Option<L3Delta>> {
    let mut named = BTreeSet::new();
    let mut left = BTreeSet::new();
    let mut nets = BTreeSet::new();
    for c in list {
        match c.kind.as_str() {
            changes::ROUTER => {
                named.insert(c.resource_id.clone());
                if c.host.as_deref() == Some(host) {
                    left.insert(c.resource_id.clone());
                }
            }
            "port" | "network" | changes::SUBNET => nets.extend(c.network_id.clone()),
            _ => {}
        }
    }
    if !nets.is_empty() {
        let nets: Vec<String> = nets.into_iter().collect();
        named.extend(rows::on_networks(sql, &nets)?);
    }
    if named.is_empty() {
        return Ok(None);
    }
    let mine: BTreeSet<String> = l3_rows::routers_of_host(sql, host)?.into_iter().collect();
    let wanted: BTreeSet<String> = named.intersection(&mine).cloned().collect();
    let removed: Vec<String> = left.difference(&mine).cloned().collect();
    if wanted.is_empty() && removed.is_empty() {
        return Ok(None);
    }
    Ok(Some(L3Delta { routers: routers(sql, &wanted)?, removed_routers: removed }))
}
