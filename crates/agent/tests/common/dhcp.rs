//! What the `dhcp` driver's tests share: a port and a network of its section, and the guard
//! that removes the namespaces a root test made (with what runs in them) even when it fails.

use std::time::Duration;

use neutrino_host::{LinuxHost, Netns, Processes};
use neutrino_model::internal::{DhcpNetworkState, DhcpPortState, DhcpSubnetState, FixedIpState};

/// The test's namespaces, removed on drop after stopping whatever runs in them.
pub struct Namespaces(pub Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        let host = LinuxHost::new();
        for ns in &self.0 {
            if host.netns_exists(ns).unwrap_or(false) {
                for p in host.processes_in_netns(ns).unwrap_or_default() {
                    let _ = host.stop(&p, Duration::from_secs(5));
                }
                let _ = host.delete_netns(ns);
            }
        }
    }
}

/// A port with one address on subnet `s4`.
pub fn dhcp_port(id: &str, mac: &str, owner: &str, ip: &str) -> DhcpPortState {
    DhcpPortState {
        id: id.into(),
        mac_address: mac.into(),
        device_owner: owner.into(),
        admin_state_up: true,
        fixed_ips: vec![FixedIpState { subnet_id: "s4".into(), ip_address: ip.into() }],
        ..Default::default()
    }
}

/// Network `id` (project `p`, MTU `mtu`) with one DHCP subnet `s4`, `<prefix>.0/24` with the
/// gateway `<prefix>.1`, served by `dhcp_port` (which `ports` holds).
pub fn dhcp_network(
    id: &str,
    dhcp_port: &str,
    prefix: &str,
    mtu: i64,
    ports: Vec<DhcpPortState>,
) -> DhcpNetworkState {
    DhcpNetworkState {
        id: id.into(),
        project_id: "p".into(),
        mtu,
        admin_state_up: true,
        dhcp_port: Some(dhcp_port.into()),
        subnets: vec![DhcpSubnetState {
            id: "s4".into(),
            ip_version: 4,
            cidr: format!("{prefix}.0/24"),
            gateway_ip: Some(format!("{prefix}.1")),
            enable_dhcp: true,
            ..Default::default()
        }],
        ports,
        routed_subnets: vec![],
        dns_domain: "openstacklocal".into(),
    }
}
