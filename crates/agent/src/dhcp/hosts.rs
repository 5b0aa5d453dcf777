//! dnsmasq's per-port files for one network, as upstream's DHCP agent writes them
//! (`neutron/agent/linux/dhcp.py`, `Dnsmasq`): the DHCP hosts file (`--dhcp-hostsfile`: MAC,
//! name and address of every port that gets a lease), the additional hosts file (`--addn-hosts`:
//! every address's names, for DNS) and the seed lease file (`--dhcp-leasefile`, written before
//! each start so that a restarted dnsmasq does not NAK leases it gave out). Pure functions of
//! the network's state.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use neutrino_model::internal::{DhcpNetworkState, DhcpPortState, DhcpSubnetState, FixedIpState};

/// Ports whose addresses dnsmasq never serves nor names (upstream's
/// `DHCP_CONFIG_NOT_REQUIRED_OWNERS`): routers' external sides and floating IPs.
const NOT_SERVED_OWNERS: &[&str] = &[
    "network:floatingip",
    "network:router_gateway",
    "network:router_centralized_snat",
    "network:router_ha_interface",
    "network:floatingip_agent_gateway",
];

/// The tag dnsmasq gives a port's options (`set:port-<id>` in the hosts file).
pub fn port_tag(port_id: &str) -> String {
    format!("port-{port_id}")
}

/// The tag of a subnet's range and options.
pub fn subnet_tag(subnet_id: &str) -> String {
    format!("subnet-{subnet_id}")
}

/// Whether a port's `extra_dhcp_opt` names the DHCP client identifier (option 61).
pub(crate) fn is_client_id(opt_name: &str) -> bool {
    matches!(opt_name, "client-id" | "61")
}

fn client_id(port: &DhcpPortState) -> Option<&str> {
    port.extra_dhcp_opts.iter().find(|o| is_client_id(&o.opt_name)).map(|o| o.opt_value.as_str())
}

/// An address as dnsmasq reads it in a hosts line: IPv6 in brackets (so it is not read as a MAC).
pub(crate) fn literal(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{ip}]"),
        _ => ip.to_string(),
    }
}

/// One address of one port, as dnsmasq configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry<'a> {
    pub port: &'a DhcpPortState,
    pub alloc: &'a FixedIpState,
    pub hostname: String,
    pub fqdn: String,
    /// The address is not leased (SLAAC or stateless DHCPv6).
    pub no_dhcp: bool,
    /// Nor are options given (SLAAC).
    pub no_opts: bool,
    /// `tag:dhcpv6,` on IPv6 entries.
    pub tag: &'static str,
}

/// The network's subnets by id.
pub(crate) fn subnets(net: &DhcpNetworkState) -> BTreeMap<&str, &DhcpSubnetState> {
    net.subnets.iter().map(|s| (s.id.as_str(), s)).collect()
}

fn v6_mode<'a>(s: Option<&&'a DhcpSubnetState>) -> Option<&'a str> {
    s.filter(|s| s.ip_version == 6).and_then(|s| s.ipv6_address_mode.as_deref())
}

/// Host name and FQDN of an address: the port's `dns_name`, else `host-<address with dashes>`,
/// each with the network's domain.
fn names(port: &DhcpPortState, ip: &str, domain: &str) -> (String, String) {
    let hostname = if port.dns_name.is_empty() {
        format!("host-{}", ip.replace(['.', ':'], "-"))
    } else {
        port.dns_name.clone()
    };
    let fqdn = if domain.is_empty() { hostname.clone() } else { format!("{hostname}.{domain}") };
    (hostname, fqdn)
}

/// Every address of every served port (upstream's `_iter_hosts`): per port, its stateless
/// DHCPv6 addresses first (dnsmasq reads the file from the end, and an address-less entry read
/// first would answer the port's DHCPv4 requests with "no address available").
pub fn entries(net: &DhcpNetworkState) -> Vec<HostEntry<'_>> {
    let subnets = subnets(net);
    let mut out = Vec::new();
    for port in net.ports.iter().filter(|p| !NOT_SERVED_OWNERS.contains(&p.device_owner.as_str())) {
        let mut ips: Vec<&FixedIpState> = port.fixed_ips.iter().collect();
        ips.sort_by_key(|f| v6_mode(subnets.get(f.subnet_id.as_str())) != Some("dhcpv6-stateless"));
        for alloc in ips {
            let subnet = subnets.get(alloc.subnet_id.as_str());
            let v6 = subnet.is_some_and(|s| s.ip_version == 6);
            let mode = v6_mode(subnet);
            let (hostname, fqdn) = names(port, &alloc.ip_address, &net.dns_domain);
            out.push(HostEntry {
                port,
                alloc,
                hostname,
                fqdn,
                no_dhcp: v6 && matches!(mode, Some("slaac" | "dhcpv6-stateless")),
                no_opts: v6 && mode == Some("slaac"),
                tag: if v6 { "tag:dhcpv6," } else { "" },
            });
        }
    }
    out
}

/// The DHCP hosts file: `mac,[tag:dhcpv6,][id:<client id>,]<fqdn>,<address>[,set:port-<id>]`
/// for each leased address on a DHCP subnet; a `mac,[tag:dhcpv6,]set:port-<id>` line for a
/// stateless address of a port with options.
pub fn hosts_file(net: &DhcpNetworkState) -> String {
    let subnets = subnets(net);
    let mut out = String::new();
    for e in entries(net) {
        let (mac, tag, opts) = (&e.port.mac_address, e.tag, &e.port.extra_dhcp_opts);
        let set = format!("set:{}", port_tag(&e.port.id));
        if e.no_dhcp {
            if !e.no_opts && !opts.is_empty() {
                let _ = writeln!(out, "{mac},{tag}{set}");
            }
            continue;
        }
        if !subnets.get(e.alloc.subnet_id.as_str()).is_some_and(|s| s.enable_dhcp) {
            continue;
        }
        let (fqdn, ip) = (&e.fqdn, literal(&e.alloc.ip_address));
        let _ = match (opts.is_empty(), client_id(e.port)) {
            (true, _) => writeln!(out, "{mac},{tag}{fqdn},{ip}"),
            (false, Some(cid)) if opts.len() > 1 => writeln!(out, "{mac},{tag}id:{cid},{fqdn},{ip},{set}"),
            (false, Some(cid)) => writeln!(out, "{mac},{tag}id:{cid},{fqdn},{ip}"),
            (false, None) => writeln!(out, "{mac},{tag}{fqdn},{ip},{set}"),
        };
    }
    out
}

/// The additional hosts file: `<address>\t<fqdn> <hostname>` per address (the FQDN first, so
/// that reverse lookups answer it).
pub fn addn_hosts_file(net: &DhcpNetworkState) -> String {
    let mut out = String::new();
    for e in entries(net) {
        let _ = writeln!(out, "{}\t{} {}", e.alloc.ip_address, e.fqdn, e.hostname);
    }
    out
}

/// The seed lease file: `0 <mac> <address> * *` (0: no expiry; dnsmasq sets the real one on
/// renewal) for each address on a DHCPv4 subnet. IPv6 leases cannot be made up (their IAID is
/// the client's), so the lines of `existing` for addresses still served on a DHCPv6 subnet are
/// kept, with its `duid` line.
pub fn seed_leases(net: &DhcpNetworkState, existing: Option<&str>) -> String {
    let subnets = subnets(net);
    let mut out = String::new();
    let mut v6_leases: BTreeMap<IpAddr, &str> = BTreeMap::new();
    for line in existing.unwrap_or_default().lines() {
        if line.starts_with("duid ") {
            let _ = writeln!(out, "{line}");
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        if let [_, _, ip, _, _] = fields.as_slice()
            && let Ok(ip @ IpAddr::V6(_)) = ip.trim_matches(['[', ']']).parse::<IpAddr>()
        {
            v6_leases.insert(ip, line);
        }
    }
    for e in entries(net) {
        let Some(s) = subnets.get(e.alloc.subnet_id.as_str()).filter(|s| s.enable_dhcp) else { continue };
        if e.no_dhcp {
            continue;
        }
        if s.ip_version == 4 {
            let _ = writeln!(out, "0 {} {} * *", e.port.mac_address, e.alloc.ip_address);
        } else if let Some(line) = e.alloc.ip_address.parse::<IpAddr>().ok().and_then(|ip| v6_leases.get(&ip))
        {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}
