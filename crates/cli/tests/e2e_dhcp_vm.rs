//! End-to-end DHCP VM through the agents' flows, without a DHCP agent (the client and the
//! firewall's DHCP path alone; `e2e_dhcp.rs` runs the agent's): the test's own dnsmasq in a VM
//! without port security on h1 serves a VM with port security on h2 across VXLAN. The VM gets its port's address and the network's MTU, applies them, and
//! reaches the server; a renewal (unicast, through the firewall) after the server changed its
//! host entry brings the new address.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod cloud;

use std::time::Duration;

use cloud::{Cloud, prerequisites};
use neutrino_sandbox::LeaseEvent;
use serde_json::json;

#[test]
fn a_dhcp_vm_gets_its_ports_address_across_hosts() {
    if !prerequisites() || !neutrino_host::testing::Prerequisites::new().programs(&["dnsmasq"]).met() {
        return;
    }
    let resolv_before = std::fs::read("/etc/resolv.conf").ok();
    let mut c = Cloud::up("nt-ed-", 2);
    let (net, mtu) = c.network("vxlan", "10.30.0.0/24");
    let open = json!({"port_security_enabled": false, "security_groups": []});
    let srv = c.vm_with("h1", "srv", &net, mtu, open);
    let srv_ip = srv["fixed_ips"][0]["ip_address"].as_str().expect("server address").to_string();

    // The client's port first: its MAC and IPAM address are the server's host entry.
    let port = c.port("h2", "a", &net, json!({}));
    let mac = port["mac_address"].as_str().expect("mac").to_string();
    let ip = port["fixed_ips"][0]["ip_address"].as_str().expect("ip").to_string();
    let mtu_option = format!("option:mtu,{mtu}");
    let server = c.dhcp_server("srv", "10.30.0.0", &[(&mac, &ip)], &[&mtu_option]);

    let lease = c.dhcp_vm("h2", "a", &port, mtu);
    assert_eq!(lease.event, LeaseEvent::Bound);
    assert_eq!(lease.address, Some(format!("{ip}/24").parse().expect("cidr")));
    assert_eq!(lease.mtu, Some(u32::try_from(mtu).expect("mtu")));
    assert_eq!(lease.server_id.map(|s| s.to_string()), Some(srv_ip.clone()));
    let addr = c.exec("a", &["ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(String::from_utf8_lossy(&addr.stdout).contains(&format!("inet {ip}/24")), "{addr:?}");
    c.wait_ping("a", &srv_ip);

    // The server now gives the MAC another address; a renewal brings it.
    let (s, b) = c.api("POST", "/v2.0/ports", Some(json!({"port": {"network_id": net}})));
    assert_eq!(s, 201, "{b}");
    let spare = b["port"]["fixed_ips"][0]["ip_address"].as_str().expect("spare address").to_string();
    let spare_id = b["port"]["id"].as_str().expect("id").to_string();
    c.dhcp_hosts("srv", &[(&mac, &spare)]);
    c.reload_dhcp_server("srv", &server);
    c.sandbox.renew_vm_lease("a").expect("renew");
    let renewed =
        c.sandbox.wait_vm_lease("a", Some(&lease), Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(renewed.ip().map(|a| a.to_string()), Some(spare.clone()));
    let addr = c.exec("a", &["ip", "-o", "-4", "addr", "show", "eth0"]);
    let text = String::from_utf8_lossy(&addr.stdout);
    assert!(text.contains(&format!("inet {spare}/24")) && !text.contains(&format!("inet {ip}/")), "{text}");

    c.stop_dhcp_server(&server);
    let (s, _) = c.api("DELETE", &format!("/v2.0/ports/{spare_id}"), None);
    assert_eq!(s, 204);
    drop(c);
    assert_eq!(std::fs::read("/etc/resolv.conf").ok(), resolv_before, "/etc/resolv.conf unchanged");
}
