//! `network_data.json` of a caller, in the shape of Nova's `get_network_metadata`
//! (`nova/virt/netutils.py`): one link for the port, a network for its first IPv4 and its first
//! IPv6 address, and the DNS servers of those subnets as services.

use std::net::IpAddr;

use neutrino_model::internal::{DhcpNetworkState, DhcpPortState, DhcpSubnetState};
use serde_json::{Value, json};

/// Nova's interface name length (`NIC_NAME_LEN`): `tap` and the port id's first 11 characters.
const NIC_NAME_LEN: usize = 14;

/// The device name Nova gives the port's tap (`tap` + the id, 14 characters in all).
pub fn tap_name(port_id: &str) -> String {
    let mut name = format!("tap{port_id}");
    if let Some((i, _)) = name.char_indices().nth(NIC_NAME_LEN) {
        name.truncate(i);
    }
    name
}

/// The prefix length of `cidr` (`10.0.0.0/24` → 24), if it is one.
fn prefix_len(cidr: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = cidr.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

/// The network address and netmask of `cidr` in Nova's spelling (`0.0.0.0`, `ffff:ffff::`).
fn net_and_mask(cidr: &str) -> Option<(String, String)> {
    let (addr, len) = prefix_len(cidr)?;
    Some(match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            (
                std::net::Ipv4Addr::from(u32::from(a) & mask).to_string(),
                std::net::Ipv4Addr::from(mask).to_string(),
            )
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            (
                std::net::Ipv6Addr::from(u128::from(a) & mask).to_string(),
                std::net::Ipv6Addr::from(mask).to_string(),
            )
        }
    })
}

/// The subnet (by id) of the port's first fixed IP of `version`, with that address.
fn first_of_version<'a>(
    network: &'a DhcpNetworkState,
    port: &'a DhcpPortState,
    version: u8,
) -> Option<(&'a DhcpSubnetState, &'a str)> {
    port.fixed_ips.iter().find_map(|f| {
        let subnet = network.subnets.iter().find(|s| s.id == f.subnet_id && s.ip_version == version)?;
        Some((subnet, f.ip_address.as_str()))
    })
}

/// Whether a `network:dhcp` port has an address on `subnet` (Nova's `dhcp_server` meta).
fn has_dhcp_server(network: &DhcpNetworkState, subnet: &DhcpSubnetState) -> bool {
    network
        .ports
        .iter()
        .filter(|p| p.device_owner == "network:dhcp")
        .any(|p| p.fixed_ips.iter().any(|f| f.subnet_id == subnet.id))
}

fn dns_services(subnet: &DhcpSubnetState) -> Vec<Value> {
    subnet.dns_nameservers.iter().map(|d| json!({"type": "dns", "address": d})).collect()
}

/// One entry of `networks`: `ipvN_dhcp` without an address when DHCP serves the subnet (unless
/// it has an IPv6 address mode, which Nova spells `ipv6_<mode>`), else the static address.
fn network_entry(
    network: &DhcpNetworkState,
    subnet: &DhcpSubnetState,
    address: &str,
    index: usize,
    link: &str,
) -> Value {
    let version = subnet.ip_version;
    let id = format!("network{index}");
    let suffix = match subnet.ipv6_address_mode.as_deref() {
        Some(mode) if !mode.is_empty() => format!("_{mode}"),
        _ if subnet.enable_dhcp || has_dhcp_server(network, subnet) => {
            return json!({
                "id": id,
                "type": format!("ipv{version}_dhcp"),
                "link": link,
                "network_id": network.id,
            });
        }
        _ => String::new(),
    };
    let netmask = net_and_mask(&subnet.cidr).map(|(_, m)| m);
    let mut routes = Vec::new();
    if let Some(gw) = subnet.gateway_ip.as_deref().filter(|g| !g.is_empty()) {
        let any = if version == 4 { "0.0.0.0" } else { "::" };
        routes.push(json!({"network": any, "netmask": any, "gateway": gw}));
    }
    for r in &subnet.host_routes {
        if let Some((net, mask)) = net_and_mask(&r.destination) {
            routes.push(json!({"network": net, "netmask": mask, "gateway": r.nexthop}));
        }
    }
    json!({
        "id": id,
        "type": format!("ipv{version}{suffix}"),
        "link": link,
        "ip_address": address,
        "netmask": netmask,
        "routes": routes,
        "network_id": network.id,
        "services": dns_services(subnet),
    })
}

/// The whole document for `port` of `network`.
pub fn network_data(network: &DhcpNetworkState, port: &DhcpPortState) -> Value {
    let v4 = first_of_version(network, port, 4);
    let v6 = first_of_version(network, port, 6);
    if v4.is_none() && v6.is_none() {
        return json!({"links": [], "networks": [], "services": []});
    }
    let link_id = tap_name(&port.id);
    // DHCP announces the MTU when a DHCP server is on any of the port's subnets.
    let dhcp_served = port
        .fixed_ips
        .iter()
        .any(|f| network.subnets.iter().any(|s| s.id == f.subnet_id && has_dhcp_server(network, s)));
    let mtu = (!dhcp_served && network.mtu > 0).then_some(network.mtu);
    let link = json!({
        "id": link_id,
        "vif_id": port.id,
        "type": "ovs",
        "mtu": mtu,
        "ethernet_mac_address": port.mac_address,
    });
    let mut networks = Vec::new();
    let mut services: Vec<Value> = Vec::new();
    for (subnet, address) in [v4, v6].into_iter().flatten() {
        networks.push(network_entry(network, subnet, address, networks.len(), &link_id));
        for s in dns_services(subnet) {
            if !services.contains(&s) {
                services.push(s);
            }
        }
    }
    json!({"links": [link], "networks": networks, "services": services})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_masks() {
        assert_eq!(tap_name("0123456789abcdef"), "tap0123456789a");
        assert_eq!(tap_name("ab"), "tapab");
        assert_eq!(net_and_mask("10.1.2.3/16"), Some(("10.1.0.0".into(), "255.255.0.0".into())));
        assert_eq!(net_and_mask("0.0.0.0/0"), Some(("0.0.0.0".into(), "0.0.0.0".into())));
        assert_eq!(net_and_mask("10.0.0.1/32"), Some(("10.0.0.1".into(), "255.255.255.255".into())));
        assert_eq!(
            net_and_mask("2001:db8:1::/64"),
            Some(("2001:db8:1::".into(), "ffff:ffff:ffff:ffff::".into()))
        );
        assert_eq!(net_and_mask("::/0"), Some(("::".into(), "::".into())));
        for bad in ["10.0.0.0/33", "10.0.0.0", "x/8", "::/129", ""] {
            assert_eq!(net_and_mask(bad), None, "{bad}");
        }
    }
}
