//! End-to-end DHCP and metadata: VMs on compute hosts configured by the dnsmasq a DHCP agent on
//! another host (the network node) runs for their network, over VXLAN and VLAN; what changes
//! reaches them at renewal; the metadata service answers each VM about itself.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod cloud;

use std::time::Duration;

use cloud::{Cloud, Options, prerequisites};
use serde_json::{Value, json};

fn network_node(prefix: &str) -> Cloud {
    Cloud::up_with(prefix, Options { hosts: 1, network_node: true, ..Options::default() })
}

/// A network of `kind` and a DHCP subnet with a gateway, a DNS server and a host route.
fn dhcp_network(c: &Cloud, kind: &str, cidr_prefix: &str) -> (String, String, i64) {
    let provider = match kind {
        "vlan" => json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1"}),
        t => json!({"provider:network_type": t}),
    };
    let (s, n) = c.api("POST", "/v2.0/networks", Some(json!({ "network": provider })));
    assert_eq!(s, 201, "{n}");
    let net = n["network"]["id"].as_str().expect("id").to_string();
    let subnet = json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": format!("{cidr_prefix}.0/24"),
        "gateway_ip": format!("{cidr_prefix}.1"), "dns_nameservers": [format!("{cidr_prefix}.53")],
        "host_routes": [{"destination": "10.99.0.0/16", "nexthop": format!("{cidr_prefix}.254")}]}});
    let (s, b) = c.api("POST", "/v2.0/subnets", Some(subnet));
    assert_eq!(s, 201, "{b}");
    (net, b["subnet"]["id"].as_str().expect("id").to_string(), n["network"]["mtu"].as_i64().expect("mtu"))
}

/// The address of the network's DHCP port (on the network node) once the server made it.
fn dhcp_port_ip(c: &Cloud, net: &str) -> String {
    let mut ip = String::new();
    c.wait(Duration::from_secs(30), "the DHCP port", |c| {
        let ports = c.api("GET", &format!("/v2.0/ports?network_id={net}&device_owner=network:dhcp"), None).1;
        match ports["ports"][0]["fixed_ips"][0]["ip_address"].as_str() {
            Some(a) => {
                ip = a.to_string();
                true
            }
            None => false,
        }
    });
    ip
}

fn vm_gets_everything_from_dhcp(prefix: &str, kind: &str) {
    if !prerequisites() {
        return;
    }
    let mut c = network_node(prefix);
    let (net, _, mtu) = dhcp_network(&c, kind, "10.40.0");
    let agents = c.api("GET", &format!("/v2.0/networks/{net}/dhcp-agents"), None).1;
    assert_eq!(agents["agents"][0]["host"], "network", "the network node's DHCP agent hosts it: {agents}");
    let server = dhcp_port_ip(&c, &net);
    let port = c.port("h1", "a", &net, json!({}));
    let want_ip = port["fixed_ips"][0]["ip_address"].as_str().expect("ip").to_string();
    let lease = c.dhcp_vm("h1", "a", &port, mtu);
    assert_eq!(lease.address.map(|a| a.to_string()), Some(format!("{want_ip}/24")), "{lease:?}");
    assert_eq!(lease.server_id.map(|a| a.to_string()), Some(server.clone()), "served by the network node");
    assert_eq!(lease.mtu, u32::try_from(mtu).ok(), "the network's MTU");
    assert_eq!(lease.dns.iter().map(|a| a.to_string()).collect::<Vec<_>>(), ["10.40.0.53"]);
    let routes: Vec<(String, String)> =
        lease.routes.iter().map(|r| (r.destination.to_string(), r.gateway.to_string())).collect();
    for want in [("10.99.0.0/16", "10.40.0.254"), ("169.254.169.254/32", server.as_str()), ("0.0.0.0/0", "10.40.0.1")] {
        assert!(routes.contains(&(want.0.to_string(), want.1.to_string())), "route {want:?} in {routes:?}");
    }
    // Applied inside the VM: the address and the host route.
    let out = c.exec("a", &["ip", "-4", "route"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("10.99.0.0/16 via 10.40.0.254"), "{table}");
    // The VM reaches the DHCP server over the network (the path every renewal takes).
    assert!(c.ping("a", &server), "a pings its DHCP server {server}\n{}", c.logs());
    // And its metadata: about itself.
    let meta = metadata(&c, "a", "openstack/latest/meta_data.json");
    assert_eq!(meta["uuid"], "vm-a", "{meta}");
}

/// `GET http://169.254.169.254/<path>` from inside VM `vm`, as JSON.
fn metadata(c: &Cloud, vm: &str, path: &str) -> Value {
    let url = format!("http://169.254.169.254/{path}");
    // Not busybox wget: its `-T` crashes on Debian's busybox.
    let get = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())";
    let out = c.exec(vm, &["python3", "-c", get, &url]);
    assert!(out.status.success(), "{vm}: GET {url}: {}\n{}", String::from_utf8_lossy(&out.stderr), c.logs());
    serde_json::from_slice(&out.stdout).expect("JSON from the metadata service")
}

#[test]
fn a_vm_on_vxlan_gets_its_configuration_from_the_network_node() {
    vm_gets_everything_from_dhcp("nt-dx-", "vxlan");
}

#[test]
fn a_vm_on_vlan_gets_its_configuration_from_the_network_node() {
    vm_gets_everything_from_dhcp("nt-dl-", "vlan");
}
