//! End-to-end routers: two tenant networks on two compute hosts joined by a router on the
//! network node, its gateway on the external network `public` (the sandbox's `ext` namespace
//! and the public host behind it), over VXLAN and VLAN: routing across hosts, SNAT, floating IPs
//! reached from outside and moved between VMs, an interface removed, extra routes, metadata
//! through the router, an agent restart under a continuous ping, and a router rescheduled when
//! its host dies.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod cloud;

use std::time::Duration;

use cloud::l3::{PUBLIC_HOST, l3_prerequisites, public_exchange_result};
use cloud::{Cloud, Options, ping_counts};
use serde_json::{Value, json};

/// What [`routed_world`] builds.
struct World {
    c: Cloud,
    ext: String,
    router: String,
    subnet_a: String,
    subnet_b: String,
    /// VM a1 (h1, network A) and b1 (h2, network B): (port, address).
    a1: (Value, String),
    b1: (Value, String),
}

/// A group letting ICMP and TCP in from anywhere (the tests below are about routing, not the
/// firewall; the demo shows the firewall with routers).
fn open_group(c: &Cloud) -> String {
    let g = c.group("open");
    for protocol in ["icmp", "tcp"] {
        c.rule(
            &g,
            json!({"direction": "ingress", "ethertype": "IPv4", "protocol": protocol,
            "remote_ip_prefix": "0.0.0.0/0"}),
        );
    }
    g
}

/// The network node, two compute hosts, the external network, networks A (10.60.1.0/24) and B
/// (10.60.2.0/24) of `kind` joined by router r1 with its gateway on `public`, and a DHCP VM on
/// each (a1 on h1 in A, b1 on h2 in B).
fn routed_world(prefix: &str, kind: &str, opts: Options) -> World {
    let mut c = Cloud::up_with(prefix, opts);
    let (ext, _) = c.external_network();
    let (net_a, subnet_a, mtu_a) = c.routed_network(kind, "10.60.1");
    let (net_b, subnet_b, mtu_b) = c.routed_network(kind, "10.60.2");
    let router = c.router("r1", Some(&ext));
    c.attach(&router, &subnet_a);
    c.attach(&router, &subnet_b);
    let open = open_group(&c);
    let vm = |c: &mut Cloud, host: &str, name: &str, net: &str, mtu: i64| {
        let port = c.port(host, name, net, json!({"security_groups": [open]}));
        let lease = c.dhcp_vm(host, name, &port, mtu);
        let ip = port["fixed_ips"][0]["ip_address"].as_str().expect("ip").to_string();
        assert_eq!(lease.address.map(|a| a.addr().to_string()), Some(ip.clone()), "{lease:?}");
        (port, ip, lease)
    };
    let (pa, ipa, lease_a) = vm(&mut c, "h1", "a1", &net_a, mtu_a);
    let (pb, ipb, _) = vm(&mut c, "h2", "b1", &net_b, mtu_b);
    // The router is each subnet's gateway, and a routed subnet's metadata comes through the
    // router (upstream's host route via the gateway), not from the DHCP port.
    assert_eq!(lease_a.routers.iter().map(ToString::to_string).collect::<Vec<_>>(), ["10.60.1.1"]);
    let metadata: Vec<String> = lease_a
        .routes
        .iter()
        .filter(|r| r.destination.to_string() == "169.254.169.254/32")
        .map(|r| r.gateway.to_string())
        .collect();
    assert_eq!(metadata, ["10.60.1.1"], "the metadata route of a routed subnet: {lease_a:?}");
    World { c, ext, router, subnet_a, subnet_b, a1: (pa, ipa), b1: (pb, ipb) }
}

fn three_hosts() -> Options {
    Options { hosts: 2, network_node: true, ..Options::default() }
}

fn port_id(p: &Value) -> &str {
    p["id"].as_str().expect("port id")
}

/// Routing, SNAT, a floating IP reached from outside and moved, and an interface removed.
fn routes_nat_and_floating_ips(prefix: &str, kind: &str) {
    if !l3_prerequisites() {
        return;
    }
    let w = routed_world(prefix, kind, three_hosts());
    let c = &w.c;
    assert_eq!(c.router_host(&w.router), "network", "the network node's L3 agent runs the router");
    // Routing between two tenant networks across hosts (h1 → network node → h2).
    c.wait_ping("a1", &w.b1.1);
    assert!(c.ping("b1", &w.a1.1), "b1 reaches a1 through the router\n{}", c.logs());
    // SNAT: the outside sees the router's gateway address.
    let gw = c.gateway_ip(&w.router);
    assert_eq!(c.seen_from_outside("a1", 8001), Some(gw.clone()), "a1 leaves through SNAT\n{}", c.logs());
    assert_eq!(c.seen_from_outside("b1", 8001), Some(gw.clone()), "b1 leaves through SNAT");

    // A floating IP: reached from outside, answered by the VM, and the VM's own address outside.
    let fip = c.floating_ip(&w.ext, Some(port_id(&w.a1.0)));
    let (fip_id, fip_ip) =
        (fip["id"].as_str().expect("id"), fip["floating_ip_address"].as_str().expect("ip"));
    assert_eq!(fip["fixed_ip_address"], w.a1.1.as_str());
    c.wait_fip_status(fip_id, "ACTIVE");
    c.wait_public_reach(fip_ip, true);
    assert_eq!(c.public_connects("a1", fip_ip, 8002).as_deref(), Some("a1"), "a1 answers on {fip_ip}");
    assert_eq!(c.seen_from_outside("a1", 8003), Some(fip_ip.to_string()), "a1 leaves as its floating IP");
    assert_eq!(c.seen_from_outside("b1", 8003), Some(gw.clone()), "b1 still leaves as the gateway");

    // Moved to b1: the connection through the old mapping stops at once, the new VM answers.
    let (server, client) = c.start_public_exchange("a1", fip_ip, 8004, 6);
    std::thread::sleep(Duration::from_millis(1500));
    let moved = c.associate(fip_id, Some(port_id(&w.b1.0)));
    assert_eq!(moved["fixed_ip_address"], w.b1.1.as_str());
    let lines = public_exchange_result(server, client);
    assert!(
        lines.iter().take(5).all(|l| l == "ok"),
        "the exchange worked through the old mapping: {lines:?}"
    );
    assert!(
        lines.iter().rev().take(10).all(|l| l != "ok"),
        "the old connection stopped after the move: {lines:?}"
    );
    c.wait_fip_status(fip_id, "ACTIVE");
    c.wait(Duration::from_secs(20), "b1 answers on the floating IP", |c| {
        c.public_connects("b1", fip_ip, 8005).as_deref() == Some("b1")
    });
    assert_eq!(c.seen_from_outside("a1", 8006), Some(gw.clone()), "a1 is back behind SNAT");

    // An interface removed: its subnet is cut off from the other one and from the outside,
    // while the other subnet still routes.
    c.associate(fip_id, None);
    let (s, b) = c.router_interface(&w.router, "remove", &w.subnet_b);
    assert_eq!(s, 200, "{b}");
    c.wait_reach("a1", &w.b1.1, false);
    assert_eq!(c.seen_from_outside("b1", 8007), None, "b1's subnet no longer reaches the outside");
    assert_eq!(c.seen_from_outside("a1", 8007), Some(gw), "a1's subnet still does (same probe, same router)");
    assert!(c.ping("a1", "10.60.1.1"), "a1 still reaches its gateway");
    let _ = w.subnet_a;
}

#[test]
fn routes_nat_and_floating_ips_over_vxlan() {
    routes_nat_and_floating_ips("nt-l3x-", "vxlan");
}

#[test]
fn routes_nat_and_floating_ips_over_vlan() {
    routes_nat_and_floating_ips("nt-l3v-", "vlan");
}

/// Extra routes, the metadata service through the router, and an agent restart that loses no
/// packet of a ping running through the router.
fn extra_routes_metadata_and_restart(prefix: &str, kind: &str) {
    if !l3_prerequisites() {
        return;
    }
    let mut w = routed_world(prefix, kind, three_hosts());
    // Extra route: 10.77.0.0/24 lives behind a2 (network A, on h2), which may send from it.
    let net_a = w.a1.0["network_id"].as_str().expect("network").to_string();
    let mtu =
        w.c.api("GET", &format!("/v2.0/networks/{net_a}"), None).1["network"]["mtu"].as_i64().expect("mtu");
    let open = w.a1.0["security_groups"][0].as_str().expect("group").to_string();
    let pa2 = w.c.port(
        "h2",
        "a2",
        &net_a,
        json!({"security_groups": [open], "allowed_address_pairs": [{"ip_address": "10.77.0.0/24"}]}),
    );
    w.c.dhcp_vm("h2", "a2", &pa2, mtu);
    let a2_ip = pa2["fixed_ips"][0]["ip_address"].as_str().expect("ip").to_string();
    assert!(w.c.run_ok("a2", &["ip", "addr", "add", "10.77.0.1/32", "dev", "lo"]));
    w.c.wait_ping("b1", &a2_ip);
    assert!(!w.c.ping("b1", "10.77.0.1"), "without the route, 10.77.0.1 is not behind the router");
    let (s, r) = w.c.api(
        "PUT",
        &format!("/v2.0/routers/{}", w.router),
        Some(json!({"router": {"routes": [{"destination": "10.77.0.0/24", "nexthop": a2_ip}]}})),
    );
    assert_eq!(s, 200, "{r}");
    w.c.wait_reach("b1", "10.77.0.1", true);

    // Metadata through the router: a1 asks 169.254.169.254 and hears about itself.
    let meta = w.c.exec(
        "a1",
        &["python3", "-c", "import urllib.request as u; print(u.urlopen('http://169.254.169.254/openstack/latest/meta_data.json', timeout=5).read().decode())"],
    );
    let text = String::from_utf8_lossy(&meta.stdout);
    let doc: Value = serde_json::from_str(text.trim()).unwrap_or_else(|_| {
        panic!("metadata answer: {text} {}\n{}", String::from_utf8_lossy(&meta.stderr), w.c.logs())
    });
    assert_eq!(doc["uuid"], "vm-a1", "{doc}");

    // An agent restart under a continuous ping from a1 to the public host through SNAT.
    w.c.wait_ping("a1", PUBLIC_HOST);
    let ping =
        w.c.sandbox
            .spawn(&w.c.vm_netns("a1"), &["busybox", "ping", "-c", "60", "-i", "0.2", "-W", "1", PUBLIC_HOST])
            .expect("ping");
    std::thread::sleep(Duration::from_secs(2));
    w.c.stop_agent("network");
    w.c.start_agent("network");
    w.c.wait(Duration::from_secs(30), "the restarted agents alive", |c| {
        let a = c.api("GET", "/v2.0/agents?host=network", None).1;
        a["agents"].as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|x| x["alive"] == true))
    });
    let out = ping.wait_with_output().expect("ping ends");
    let (sent, got) = ping_counts(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(sent, 60, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(got, sent, "no packet lost across the agent restart\n{}", w.c.logs());
    // And the router still works for new traffic after the restart.
    assert_eq!(w.c.seen_from_outside("b1", 8010), Some(w.c.gateway_ip(&w.router)));
}

#[test]
fn extra_routes_metadata_and_restart_over_vxlan() {
    extra_routes_metadata_and_restart("nt-l3r-", "vxlan");
}

#[test]
fn extra_routes_metadata_and_restart_over_vlan() {
    extra_routes_metadata_and_restart("nt-l3q-", "vlan");
}

/// The host running the router dies (its agent stops, its router namespace goes): after the
/// server's failover time the router runs on the other L3 host, the VM on the host that stays
/// up reaches the outside and its floating IP answers again; the old host's agent, back, removes what it had of it.
#[test]
fn a_router_moves_when_its_host_dies() {
    if !l3_prerequisites() {
        return;
    }
    let opts = Options { agent_down_time: Some(3), dhcp_hosts: vec!["h1"], ..three_hosts() };
    let mut w = routed_world("nt-l3m-", "vxlan", opts);
    let fip = w.c.floating_ip(&w.ext, Some(port_id(&w.b1.0)));
    let fip_ip = fip["floating_ip_address"].as_str().expect("ip").to_string();
    w.c.wait_fip_status(fip["id"].as_str().expect("id"), "ACTIVE");
    w.c.wait_public_reach(&fip_ip, true);
    let first = w.c.router_host(&w.router);
    let second = if first == "network" { "h1" } else { "network" };
    // The host dies: its agent, then what ran in its router namespace (the metadata proxy), then
    // the namespace (and with it the router's devices).
    w.c.stop_agent(&first);
    let ns = format!("{}qrouter-{}", w.c.sandbox.host(&first).expect("host").namespace_prefix(), w.router);
    kill_netns(&w.c, &ns);
    w.c.wait(Duration::from_secs(40), "the router rescheduled", |c| c.router_host(&c_router(c)) == second);
    w.c.wait_public_reach(&fip_ip, true);
    // b1 (on h2, which stays up) leaves through the router on its new host, as its floating
    // IP (a1 sits on h1, which may be the host that died).
    w.c.wait(Duration::from_secs(20), "b1 reaches the outside again", |c| {
        c.seen_from_outside("b1", 8020).is_some()
    });
    assert_eq!(w.c.seen_from_outside("b1", 8021), Some(fip_ip.clone()), "through the router on {second}");
    // The old host comes back: its agent removes its leftovers of the router.
    w.c.start_agent(&first);
    w.c.wait(Duration::from_secs(30), "the old host's router ports removed", |c| {
        !c.ovs_ports(&first, "br-int").iter().any(|p| p.starts_with("tr-") || p.starts_with("tg-"))
    });
    w.c.wait_public_reach(&fip_ip, true);
}

/// Stops every process in sandbox namespace `ns` (by pid), then deletes it.
fn kill_netns(c: &Cloud, ns: &str) {
    let host = &c.sandbox.machine().host;
    for p in host.processes_in_netns(ns).expect("processes of the namespace") {
        assert!(host.stop(&p, Duration::from_secs(5)).expect("stop"), "{p:?} stopped");
    }
    let del = std::process::Command::new("ip").args(["netns", "delete", ns]).status().expect("ip netns");
    assert!(del.success(), "the router's namespace {ns} existed");
}

fn c_router(c: &Cloud) -> String {
    let r = c.api("GET", "/v2.0/routers?name=r1", None).1;
    r["routers"][0]["id"].as_str().expect("router r1").to_string()
}
