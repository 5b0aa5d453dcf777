//! The `dhcp` section of a host's desired state (docs/design.md "Server ↔ agent protocol"),
//! what upstream's `get_active_networks_info` gives its DHCP agent: every network scheduled to
//! the host's DHCP agent, whole (all subnets, all ports with their extra DHCP options, the
//! host's own DHCP port), and the delta of a watch by whole network.

use std::collections::BTreeSet;

use neutrino_model::ApiResult;
use neutrino_model::internal::{
    DhcpDelta, DhcpNetworkState, DhcpPortState, DhcpState, DhcpSubnetState, ExtraDhcpOptState, FixedIpState,
    HostRouteState,
};
use neutrino_model::subnet::Subnet;

use super::dhcp::device_id;
use crate::store::changes::{self, Change};
use crate::store::{Sql, dhcp as rows, networks as net_rows, subnets as subnet_rows};

fn subnet_state(s: Subnet) -> DhcpSubnetState {
    DhcpSubnetState {
        id: s.std.id,
        ip_version: s.ip_version,
        cidr: s.cidr.trunc().to_string(),
        gateway_ip: s.gateway_ip.map(|g| g.to_string()),
        enable_dhcp: s.enable_dhcp,
        dns_nameservers: s.dns_nameservers.iter().map(ToString::to_string).collect(),
        host_routes: s
            .host_routes
            .into_iter()
            .map(|r| HostRouteState {
                destination: r.destination.to_string(),
                nexthop: r.nexthop.to_string(),
            })
            .collect(),
        ipv6_ra_mode: s.ipv6_ra_mode,
        ipv6_address_mode: s.ipv6_address_mode,
    }
}

/// The network `id` as the DHCP agent of `host` serves it; `None` if it is gone.
fn network_state(
    sql: &mut dyn Sql,
    host: &str,
    id: &str,
    dns_domain: &str,
) -> ApiResult<Option<DhcpNetworkState>> {
    let Some(net) = net_rows::row(sql, id)? else { return Ok(None) };
    let subnets = subnet_rows::of_network(sql, id)?.into_iter().map(subnet_state).collect();
    let ports = rows::ports_of_network(sql, id, false)?;
    let mine = device_id(id, host);
    let dhcp_port = ports.iter().find(|p| p.device_id == mine).map(|p| p.std.id.clone());
    let ports = ports
        .into_iter()
        .map(|p| DhcpPortState {
            extra_dhcp_opts: p
                .extra_dhcp_opts
                .into_iter()
                .map(|o| ExtraDhcpOptState {
                    opt_name: o.opt_name,
                    opt_value: o.opt_value,
                    ip_version: o.ip_version,
                })
                .collect(),
            id: p.std.id,
            project_id: p.std.project_id,
            name: p.std.name,
            mac_address: p.mac_address,
            fixed_ips: p
                .fixed_ips
                .into_iter()
                .map(|f| FixedIpState { subnet_id: f.subnet_id, ip_address: f.ip_address.to_string() })
                .collect(),
            admin_state_up: p.admin_state_up,
            device_owner: p.device_owner,
            device_id: p.device_id,
            dns_name: String::new(),
        })
        .collect();
    Ok(Some(DhcpNetworkState {
        id: net.std.id,
        project_id: net.std.project_id,
        mtu: net.mtu,
        admin_state_up: net.admin_state_up,
        dhcp_port,
        subnets,
        ports,
        routed_subnets: crate::store::routers::routed_subnets(sql, id)?,
        dns_domain: dns_domain.to_string(),
    }))
}

fn networks(
    sql: &mut dyn Sql,
    host: &str,
    ids: &BTreeSet<String>,
    dns: &str,
) -> ApiResult<Vec<DhcpNetworkState>> {
    let mut out = vec![];
    for id in ids {
        out.extend(network_state(sql, host, id, dns)?);
    }
    Ok(out)
}

/// The dhcp section of `host`: the networks its DHCP agent hosts, sorted by id (none while the
/// agent is disabled, as upstream).
pub fn state(sql: &mut dyn Sql, host: &str, dns_domain: &str) -> ApiResult<DhcpState> {
    let ids: BTreeSet<String> = rows::networks_of_host(sql, host, true)?.into_iter().collect();
    Ok(DhcpState { networks: networks(sql, host, &ids, dns_domain)? })
}

/// The dhcp section of the changes `list` for `host`: each of its networks whose network,
/// subnets or ports changed, or that it started hosting, whole; the networks it stopped
/// hosting (or serves no more, disabled: a change of one of its agents sends them all again or
/// names them all removed); `None` when neither.
pub fn delta(
    sql: &mut dyn Sql,
    host: &str,
    list: &[Change],
    dns_domain: &str,
) -> ApiResult<Option<DhcpDelta>> {
    let mut touched = BTreeSet::new();
    let mut rescheduled = BTreeSet::new();
    let mut agent_changed = false;
    for c in list {
        match c.kind.as_str() {
            "port" | "network" | changes::SUBNET => touched.extend(c.network_id.clone()),
            changes::DHCP if c.host.as_deref() == Some(host) => {
                rescheduled.insert(c.resource_id.clone());
            }
            "agent" if c.host.as_deref() == Some(host) => agent_changed = true,
            _ => {}
        }
    }
    if agent_changed {
        rescheduled.extend(rows::networks_of_host(sql, host, false)?);
    }
    if touched.is_empty() && rescheduled.is_empty() {
        return Ok(None);
    }
    let mine: BTreeSet<String> = rows::networks_of_host(sql, host, true)?.into_iter().collect();
    let wanted: BTreeSet<String> =
        touched.union(&rescheduled).filter(|n| mine.contains(*n)).cloned().collect();
    let removed: Vec<String> = rescheduled.difference(&mine).cloned().collect();
    if wanted.is_empty() && removed.is_empty() {
        return Ok(None);
    }
    Ok(Some(DhcpDelta { networks: networks(sql, host, &wanted, dns_domain)?, removed_networks: removed }))
}
