//! End-to-end security groups on the sandbox, over VXLAN and over VLAN, with VMs on two hosts
//! and a dual-stack network: the default group (members talk, nothing else gets in), an
//! ingress TCP/22 rule from one address, a remote-group rule following membership, a removed
//! rule cutting an established connection, anti-spoofing (IP, MAC, ARP), an allowed address
//! pair, ports without port security, ICMP type rules and IPv6 rules. Every "blocked" is paired
//! with a probe on the same path that gets through.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod cloud;

use std::time::Duration;

use cloud::security::exchange_result;
use cloud::{Cloud, prerequisites};
use serde_json::{Value, json};

/// The IPv4 and IPv6 addresses of a port.
fn addrs(p: &Value) -> (String, String) {
    let ips: Vec<String> = p["fixed_ips"]
        .as_array()
        .expect("fixed ips")
        .iter()
        .filter_map(|f| f["ip_address"].as_str().map(String::from))
        .collect();
    let v4 = ips.iter().find(|i| !i.contains(':')).expect("an IPv4 address").clone();
    let v6 = ips.iter().find(|i| i.contains(':')).expect("an IPv6 address").clone();
    (v4, v6)
}

fn id(p: &Value) -> String {
    p["id"].as_str().expect("id").to_string()
}

/// Three IPv4 addresses of 10.20.0.0/24 that no port of `net` holds (ports get random ones).
fn unused_v4(c: &Cloud, net: &str) -> [String; 3] {
    let (s, ports) = c.api("GET", &format!("/v2.0/ports?network_id={net}"), None);
    assert_eq!(s, 200, "{ports}");
    let taken: Vec<String> = ports["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .flat_map(|p| p["fixed_ips"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["ip_address"].as_str().map(String::from))
        .collect();
    let mut free = (2..255).map(|i| format!("10.20.0.{i}")).filter(|ip| !taken.contains(ip));
    let mut next = || free.next().expect("a free address");
    [next(), next(), next()]
}

fn groups(ids: &[&str]) -> Value {
    json!({ "security_groups": ids })
}

fn security_groups_hold(prefix: &str, kind: &str) {
    if !prerequisites() {
        return;
    }
    let mut c = Cloud::up(prefix, 2);
    let (net, mtu) = c.network(kind, "10.20.0.0/24");
    let (s, b) = c.api(
        "POST",
        "/v2.0/subnets",
        Some(json!({"subnet": {"network_id": net, "ip_version": 6, "cidr": "fd00:20::/64", "gateway_ip": null}})),
    );
    assert_eq!(s, 201, "{b}");
    let (other, ssh, web, app) = (c.group("other"), c.group("ssh"), c.group("web"), c.group("app"));
    let a = c.vm_with("h1", "a", &net, mtu, json!({}));
    let b = c.vm_with("h2", "b", &net, mtu, json!({}));
    let vc = c.vm_with("h2", "c", &net, mtu, groups(&[&other]));
    let vs = c.vm_with("h1", "s", &net, mtu, groups(&[&ssh]));
    let vw = c.vm_with("h1", "w", &net, mtu, groups(&[&web]));
    let open = json!({"port_security_enabled": false, "security_groups": []});
    let vn = c.vm_with("h1", "n", &net, mtu, open.clone());
    let vm = c.vm_with("h2", "m", &net, mtu, open);
    let default = a["security_groups"][0].as_str().expect("a has the default group").to_string();
    let ((a4, a6), (b4, b6), (c4, c6)) = (addrs(&a), addrs(&b), addrs(&vc));
    let (s4, w4, n4, m4) = (addrs(&vs).0, addrs(&vw).0, addrs(&vn).0, addrs(&vm).0);
    for (vm, v6) in [("a", &a6), ("b", &b6), ("c", &c6)] {
        assert!(c.run_ok(vm, &["ip", "-6", "addr", "add", &format!("{v6}/64"), "dev", "eth0", "nodad"]));
    }

    // The default group: its members talk, over IPv4 and IPv6, both ways.
    c.wait_ping("a", &b4);
    assert!(c.ping_src("b", None, &a4), "b pings a\n{}", c.logs());
    c.wait_ping("a", &b6);
    // Nothing else gets in: c is not a member. Its path works (it reaches a port without port
    // security), and a rule admitting c's address lets the same ping through.
    c.wait_ping("c", &n4);
    assert!(!c.ping_src("c", None, &a4), "c must not reach a");
    assert!(!c.ping_src("c", None, &a6), "c must not reach a over IPv6");
    let let_c_in = c.rule(
        &default,
        json!({"direction": "ingress", "protocol": "icmp", "remote_ip_prefix": format!("{c4}/32")}),
    );
    c.wait_reach("c", &a4, true);
    c.delete_rule(&let_c_in);
    c.wait_reach("c", &a4, false);

    // IPv6 rules: ICMPv6 from c's address admits c over IPv6 only.
    let v6_rule = c.rule(
        &default,
        json!({"direction": "ingress", "ethertype": "IPv6", "protocol": "ipv6-icmp", "remote_ip_prefix": format!("{c6}/128")}),
    );
    c.wait_reach("c", &a6, true);
    assert!(!c.ping_src("c", None, &a4), "an IPv6 rule admits no IPv4");
    c.delete_rule(&v6_rule);
    c.wait_reach("c", &a6, false);

    // TCP 22 from one address: exactly that.
    let c_ssh = c.rule(
        &ssh,
        json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 22,
        "port_range_max": 22, "remote_ip_prefix": format!("{c4}/32")}),
    );
    c.wait(Duration::from_secs(20), "c connects to s:22", |c| c.tcp_connects("c", "s", &s4, 22));
    assert!(!c.tcp_connects("c", "s", &s4, 23), "only port 22 is open to c");
    assert!(!c.tcp_connects("a", "s", &s4, 22), "a is not in the rule's prefix");
    c.rule(
        &ssh,
        json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 22,
        "port_range_max": 22, "remote_ip_prefix": format!("{a4}/32")}),
    );
    c.wait(Duration::from_secs(20), "a connects to s:22", |c| c.tcp_connects("a", "s", &s4, 22));

    // ICMP type rules: timestamp requests only do not admit echo requests; echo (type 8 code 0) does.
    c.rule(&ssh, json!({"direction": "ingress", "protocol": "icmp", "port_range_min": 13}));
    assert!(!c.ping_src("c", None, &s4), "an ICMP type 13 rule admits no echo request");
    c.rule(
        &ssh,
        json!({"direction": "ingress", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0}),
    );
    c.wait_reach("c", &s4, true);

    // A remote group follows its membership: w admits ICMP from members of `app`.
    c.rule(&web, json!({"direction": "ingress", "protocol": "icmp", "remote_group_id": app}));
    assert!(!c.ping_src("c", None, &w4), "c is not in app yet");
    c.update_port(&id(&vc), groups(&[&other, &app]));
    c.wait_reach("c", &w4, true);
    c.update_port(&id(&vc), groups(&[&other]));
    c.wait_reach("c", &w4, false);

    // Removing a rule cuts the established connection it allowed.
    let (server, client) = c.start_exchange("c", "s", &s4, 22, 5);
    std::thread::sleep(Duration::from_secs(2));
    c.delete_rule(&c_ssh);
    let seen = exchange_result(server, client);
    // One line per 100 ms while echoes come back, per 300 ms timeout once they stop.
    let first_lost = seen.iter().position(|l| l == "lost").unwrap_or(seen.len());
    assert!(first_lost >= 15, "the connection worked for the 2 s before the rule went: {seen:?}");
    assert!(seen.len() - first_lost >= 5, "it stopped: {seen:?}");
    assert!(seen[first_lost..].iter().all(|l| l == "lost"), "and stayed stopped: {seen:?}");

    // Anti-spoofing, with addresses no port holds. ARP: only for a's own address.
    let [foreign, second, never_given] = unused_v4(&c, &net);
    assert!(c.arp_replies("a", &a4, &b4) >= 1, "a's own ARP is answered");
    assert_eq!(c.arp_replies("a", &foreign, &b4), 0, "ARP from an address a does not own");
    // IP: a second address gets nothing through until it is an allowed address pair.
    assert!(c.run_ok("a", &["ip", "addr", "add", &format!("{second}/24"), "dev", "eth0"]));
    assert!(!c.ping_src("a", Some(&second), &b4), "a spoofs {second}");
    assert!(c.ping_src("a", None, &b4), "a's own address still works");
    c.update_port(&id(&a), json!({"allowed_address_pairs": [{"ip_address": second}]}));
    c.wait(Duration::from_secs(20), "the address pair lets the second address through", |c| {
        c.ping_src("a", Some(&second), &b4)
    });
    // MAC: a changed MAC gets nothing through; the port's own works again.
    let mac = a["mac_address"].as_str().expect("mac");
    assert!(c.run_ok("a", &["ip", "link", "set", "eth0", "address", "fa:16:3e:de:ad:01"]));
    assert!(c.run_ok("b", &["ip", "neigh", "flush", "dev", "eth0"]));
    assert!(!c.ping_src("a", None, &b4), "a with another MAC");
    assert!(c.run_ok("a", &["ip", "link", "set", "eth0", "address", mac]));
    c.wait_reach("a", &b4, true);

    // Without port security everything passes: n sends from an address it was never given.
    assert!(c.run_ok("n", &["ip", "addr", "add", &format!("{never_given}/24"), "dev", "eth0"]));
    c.wait(Duration::from_secs(20), "n reaches m from an address it was never given", |c| {
        c.ping_src("n", Some(&never_given), &m4)
    });
}

#[test]
fn security_groups_over_vxlan() {
    security_groups_hold("nt-sx-", "vxlan");
}

#[test]
fn security_groups_over_vlan() {
    security_groups_hold("nt-sl-", "vlan");
}
