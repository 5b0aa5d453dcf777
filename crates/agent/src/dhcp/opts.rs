//! dnsmasq's options file (`--dhcp-optsfile`) for one network, as upstream's DHCP agent writes
//! it (`neutron/agent/linux/dhcp.py`, `_generate_opts_per_subnet` and `_per_port`): per DHCP
//! subnet its DNS servers, router, host routes (option 121 and again as 249, with the on-link
//! routes of the network's other IPv4 subnets, the metadata route and the default route), per
//! port its `extra_dhcp_opts`. Which subnets are isolated (no router serves them, so metadata
//! is served from the DHCP namespace) comes from the server's `routed_subnets`.

use std::net::IpAddr;

use ipnet::IpNet;
use neutrino_model::internal::{DhcpNetworkState, DhcpSubnetState};

use crate::dhcp::hosts::{is_client_id, port_tag, subnet_tag};

/// The host route to the metadata service's address ([`crate::metadata::proxy::METADATA_IP`]).
pub const METADATA_CIDR: &str = "169.254.169.254/32";

/// The device owner of DHCP ports.
pub const DHCP_OWNER: &str = "network:dhcp";

/// A DHCP option line: `tag:<tag>,[<extra tags>,]option[6]:<name>[,<values>…]`. An IPv6
/// option is always `option6:`; an IPv4 option given by number stays a number. Values stop at
/// their first newline (a line is one option).
pub fn format_option(ip_version: u8, tag: &str, option: &str, values: &[&str]) -> String {
    let option = option.split('\n').next().unwrap_or_default();
    // `tag:a,tag:b,name`: the option's own tags, then its name.
    let (extra, name) = match option.strip_prefix("tag:") {
        Some(_) => match option.rsplit_once(',') {
            Some((tags, name)) => (Some(tags), name),
            None => (None, option),
        },
        None => (None, option),
    };
    let name = if ip_version == 6 {
        format!("option6:{name}")
    } else if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        name.to_string()
    } else {
        format!("option:{name}")
    };
    let mut parts = vec![format!("tag:{tag}")];
    parts.extend(extra.map(str::to_string));
    parts.push(name);
    parts.extend(values.iter().map(|v| v.split('\n').next().unwrap_or_default().to_string()));
    parts.join(",")
}

fn literal_addrs(ip_version: u8, ips: &[String]) -> String {
    let each = ips.iter().map(|ip| if ip_version == 6 { format!("[{ip}]") } else { ip.clone() });
    each.collect::<Vec<_>>().join(",")
}

/// Whether the subnet gets metadata from the DHCP namespace rather than through a router.
pub fn is_isolated(net: &DhcpNetworkState, subnet: &DhcpSubnetState) -> bool {
    !net.routed_subnets.contains(&subnet.id)
}

/// Whether the network gets a metadata proxy in its namespace (upstream's
/// `should_enable_metadata`): isolated metadata is on and a DHCP subnet is isolated.
pub fn metadata_enabled(net: &DhcpNetworkState, enable_isolated_metadata: bool) -> bool {
    enable_isolated_metadata && net.subnets.iter().any(|s| s.enable_dhcp && is_isolated(net, s))
}

/// The address the DHCP port holds on `subnet` (where its dnsmasq answers).
pub fn dhcp_port_ip<'a>(net: &'a DhcpNetworkState, subnet: &DhcpSubnetState) -> Option<&'a str> {
    let port = net.ports.iter().find(|p| Some(&p.id) == net.dhcp_port.as_ref())?;
    let cidr: IpNet = subnet.cidr.parse().ok()?;
    port.fixed_ips
        .iter()
        .filter(|f| f.subnet_id == subnet.id)
        .find(|f| f.ip_address.parse::<IpAddr>().is_ok_and(|a| cidr.contains(&a)))
        .map(|f| f.ip_address.as_str())
}

fn all_unspecified(servers: &[String]) -> bool {
    servers.iter().all(|s| s.parse::<IpAddr>().is_ok_and(|a| a.is_unspecified()))
}

/// The options of every DHCP subnet, and the subnets without DNS servers of their own.
fn per_subnet(net: &DhcpNetworkState, isolated_metadata: bool) -> (Vec<String>, Vec<String>) {
    let mut out = Vec::new();
    let mut without_dns = Vec::new();
    for s in &net.subnets {
        if !s.enable_dhcp || (s.ip_version == 6 && s.ipv6_address_mode.as_deref() == Some("slaac")) {
            continue;
        }
        let (v, tag) = (s.ip_version, subnet_tag(&s.id));
        if s.dns_nameservers.is_empty() {
            without_dns.push(s.id.clone());
        } else if all_unspecified(&s.dns_nameservers) {
            // "Announce no DNS server".
            out.push(format_option(v, &tag, "dns-server", &[]));
        } else {
            out.push(format_option(v, &tag, "dns-server", &[&literal_addrs(v, &s.dns_nameservers)]));
        }
        if v == 6 && !net.dns_domain.is_empty() {
            out.push(format_option(v, &tag, "domain-search", &[&net.dns_domain]));
        }
        if v != 4 {
            continue;
        }
        let mut gateway = s.gateway_ip.clone();
        let mut routes = Vec::new();
        for r in &s.host_routes {
            if r.destination == "0.0.0.0/0" {
                gateway = gateway.or_else(|| Some(r.nexthop.clone()));
            } else {
                routes.push(format!("{},{}", r.destination, r.nexthop));
            }
        }
        let metadata_via = if isolated_metadata && is_isolated(net, s) {
            dhcp_port_ip(net, s).map(str::to_string)
        } else if !is_isolated(net, s) {
            gateway.clone()
        } else {
            None
        };
        if let Some(via) = metadata_via {
            routes.push(format!("{METADATA_CIDR},{via}"));
        }
        // The network's other IPv4 subnets are on the same link.
        for other in net.subnets.iter().filter(|o| o.ip_version == 4 && o.cidr != s.cidr) {
            routes.insert(0, format!("{},0.0.0.0", other.cidr));
        }
        if !routes.is_empty() {
            if let Some(gw) = &gateway {
                routes.push(format!("0.0.0.0/0,{gw}"));
            }
            let routes = routes.join(",");
            out.push(format_option(v, &tag, "classless-static-route", &[&routes]));
            out.push(format_option(v, &tag, "249", &[&routes]));
        }
        match &gateway {
            Some(gw) => out.push(format_option(v, &tag, "router", &[gw])),
            // No gateway: an empty router option, so the client installs no default route.
            None => out.push(format_option(v, &tag, "router", &[])),
        }
    }
    (out, without_dns)
}

/// Per port its extra options (of the IP versions it has addresses of; the client id is in the
/// hosts file), then, for subnets without DNS servers of their own served by more than one
/// DHCP port, all their addresses (with one, dnsmasq announces itself).
fn per_port(net: &DhcpNetworkState, without_dns: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut dhcp_ips: Vec<(String, Vec<String>)> = Vec::new();
    for port in &net.ports {
        let versions: Vec<u8> = port
            .fixed_ips
            .iter()
            .filter_map(|f| f.ip_address.parse::<IpAddr>().ok())
            .map(|a| if a.is_ipv4() { 4 } else { 6 })
            .collect();
        for opt in port.extra_dhcp_opts.iter().filter(|o| !is_client_id(&o.opt_name)) {
            if versions.contains(&opt.ip_version) {
                out.push(format_option(
                    opt.ip_version,
                    &port_tag(&port.id),
                    &opt.opt_name,
                    &[&opt.opt_value],
                ));
            } else {
                tracing::info!(port = %port.id, option = %opt.opt_name, "option of an IP version the port has no address of");
            }
        }
        if port.device_owner == DHCP_OWNER {
            for f in port.fixed_ips.iter().filter(|f| without_dns.contains(&f.subnet_id)) {
                match dhcp_ips.iter_mut().find(|(s, _)| *s == f.subnet_id) {
                    Some((_, ips)) => ips.push(f.ip_address.clone()),
                    None => dhcp_ips.push((f.subnet_id.clone(), vec![f.ip_address.clone()])),
                }
            }
        }
    }
    for (subnet, ips) in dhcp_ips {
        for v in [4u8, 6] {
            let of_v: Vec<String> = ips
                .iter()
                .filter(|ip| ip.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4() == (v == 4)))
                .cloned()
                .collect();
            if of_v.len() > 1 {
                out.push(format_option(v, &subnet_tag(&subnet), "dns-server", &[&literal_addrs(v, &of_v)]));
            }
        }
    }
    out
}

/// The options file: one option per line (no final newline, as upstream writes it).
pub fn opts_file(net: &DhcpNetworkState, isolated_metadata: bool) -> String {
    let (mut lines, without_dns) = per_subnet(net, isolated_metadata);
    lines.extend(per_port(net, &without_dns));
    lines.join("\n")
}
