//! End-to-end `trace` of the inspection shell on the sandbox: one cloud (a network node running
//! router r1 with its gateway on `public`, two compute hosts, network A behind the router,
//! network C attached to nothing and network B, a VLAN), and for each path the trace's verdict and steps checked
//! against real traffic on the same path — an allowed connection across hosts (over VXLAN and over a VLAN), SNAT to the
//! outside, a floating IP reached from outside, a port no security group rule opens, and a
//! network nothing connects to. Every "it does not arrive" is paired with a packet on the same
//! path that does. Also `show` of every host against the API, `ipt`'s rule counter growing
//! with real connections, and `dump`'s flow ids unchanged by a rule added beside them.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod cloud;

use cloud::l3::{PUBLIC_HOST, l3_prerequisites};
use cloud::{Cloud, Options};
use neutrino_inspect::cloud::Cloud as ApiCloud;
use neutrino_inspect::owners::Owners;
use neutrino_inspect::source::RealHost;
use neutrino_inspect::trace::{Fabric, Outcome, TraceHost, TraceRequest, TraceResult, trace};
use neutrino_inspect::views::dump::{BridgeFlows, BridgeRole, Dump, DumpRow, read_bridge};
use neutrino_inspect::views::ipt::Ipt;
use neutrino_inspect::views::switch::Switch;
use serde_json::{Value, json};

/// Every sandbox host as the shell reads it, from the `agent.toml` its agent runs with.
fn real_hosts(c: &Cloud) -> Vec<RealHost> {
    c.sandbox
        .hosts()
        .iter()
        .map(|h| {
            let path = h.run_dir().join("agent.toml");
            let cfg = neutrino_agent::config::AgentConfig::load(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            RealHost::from_agent_config(&cfg)
        })
        .collect()
}

/// The API's objects as the admin sees them (bindings and agents are admin-only).
fn api_cloud(c: &Cloud) -> ApiCloud {
    let client = neutrino_client::Client::new(&c.url, neutrino_client::Auth::None).expect("client");
    c.rt.block_on(ApiCloud::fetch(&client)).expect("the API's objects")
}

/// `trace WORDS…` over every host, as the shell runs it; printed for the test's log.
fn run_trace(c: &Cloud, words: &[&str]) -> TraceResult {
    let cloud = api_cloud(c);
    let hosts = real_hosts(c);
    let traced: Vec<TraceHost<'_>> = hosts
        .iter()
        .map(|h| TraceHost { src: h, switch: Switch::read(h).expect("the host's OVSDB") })
        .collect();
    let fabric = Fabric { cloud: &cloud, hosts: traced, int_bridge: "br-int".into() };
    let req = TraceRequest::parse(words).expect("trace request");
    let t = trace(&fabric, &req).unwrap_or_else(|e| panic!("trace {words:?}: {e}"));
    println!("$ trace {}\n{}", words.join(" "), t.render());
    t
}

/// One host as the shell reads it.
fn real_host(c: &Cloud, host: &str) -> RealHost {
    real_hosts(c).into_iter().find(|h| h.host == host).expect("the host")
}

/// What `dump br-int` and `ipt` of `host` read: its br-int's flows and port names, and the API.
fn br_int(c: &Cloud, host: &str) -> (ApiCloud, BridgeFlows) {
    let b = read_bridge(&real_host(c, host), "br-int").expect("br-int's flows and ports");
    (api_cloud(c), b)
}

/// `dump br-int` of `host`, its rows as the shell shows them.
fn dump_rows(c: &Cloud, host: &str) -> Vec<DumpRow> {
    let (cloud, b) = br_int(c, host);
    let owners = Owners::new(&cloud, host);
    Dump::new("br-int", BridgeRole::Integration, &b.flows, &b.names, &owners, None).rows
}

/// `ipt IP` on `host`: the packets of `rule`'s row.
fn ipt_packets(c: &Cloud, host: &str, ip: &str, rule: &str) -> u64 {
    let (cloud, b) = br_int(c, host);
    let owners = Owners::new(&cloud, host);
    let view = Ipt::new(ip, &cloud, &owners, &b.flows, &b.names).expect("ipt");
    let row = view.sections.iter().flat_map(|s| s.rows.iter()).find(|r| r.rule.as_deref() == Some(rule));
    row.unwrap_or_else(|| panic!("rule {rule} in ipt {ip}:\n{}", view.render())).packets
}

fn json_of(t: &TraceResult) -> Value {
    serde_json::to_value(t).expect("a trace is JSON")
}

/// The observations' texts, for failure messages.
fn steps(t: &TraceResult) -> String {
    t.render()
}

/// One VM: its port and fixed address.
struct Vm {
    name: &'static str,
    port: Value,
    ip: String,
}

impl Vm {
    fn id(&self) -> &str {
        self.port["id"].as_str().expect("port id")
    }
    fn mac(&self) -> &str {
        self.port["mac_address"].as_str().expect("mac")
    }
}

/// `show br-int` of each host against the API: every port bound to the host (VMs, DHCP,
/// router interfaces and gateways) has its row, with the port's addresses and MAC.
fn check_show(c: &Cloud, vms: &[&Vm], nets: &[(&str, &str)]) {
    let cloud = api_cloud(c);
    let ports = c.api("GET", "/v2.0/ports", None).1["ports"].as_array().cloned().expect("ports");
    let mut vlans = std::collections::BTreeMap::new();
    for host in real_hosts(c) {
        let view = neutrino_inspect::views::show::read(&host, "br-int", &cloud).expect("show br-int");
        println!("$ shell --host {} -c 'show br-int'\n{}", host.host, view.render());
        let bound = ports.iter().filter(|p| p["binding:host_id"] == host.host.as_str());
        for p in bound {
            let id = p["id"].as_str().expect("id");
            let row = view.ports.iter().find(|r| r.port_id.as_deref() == Some(id)).unwrap_or_else(|| {
                panic!("port {id} ({}) has a row on {}\n{}", p["device_owner"], host.host, view.render())
            });
            let ips: Vec<&str> = p["fixed_ips"]
                .as_array()
                .expect("ips")
                .iter()
                .filter_map(|f| f["ip_address"].as_str())
                .collect();
            assert_eq!(row.ips, ips, "{id}");
            assert_eq!(row.mac.as_deref(), p["mac_address"].as_str(), "{id}");
            assert!(!row.mac_mismatch, "{id}");
            assert_eq!(row.network_id.as_deref(), p["network_id"].as_str(), "{id}");
            assert!(row.vlan.is_some(), "port {id} has a local VLAN on {}", host.host);
        }
        for vm in vms.iter().filter(|v| v.port["binding:host_id"] == host.host.as_str()) {
            let row = view.ports.iter().find(|r| r.port_id.as_deref() == Some(vm.id())).expect("vm row");
            assert_eq!(row.port_name.as_deref(), Some(vm.name));
            assert_eq!(row.ips, std::slice::from_ref(&vm.ip));
            assert_eq!(row.mac.as_deref(), Some(vm.mac()));
            assert_eq!(
                row.owner.as_deref().map(|o| o.starts_with("compute:nova")),
                Some(true),
                "{:?}",
                row.owner
            );
            let net = nets.iter().find(|(n, _)| vm.port["network_id"] == *n).expect("network").1;
            vlans.insert((host.host.clone(), net), row.vlan);
        }
    }
    for h in ["h1", "h2"] {
        assert_ne!(vlans[&(h.to_string(), "a")], vlans[&(h.to_string(), "c")], "networks A and C on {h}");
    }
}

#[test]
fn trace_verdicts_match_real_traffic() {
    if !l3_prerequisites() {
        return;
    }
    let mut c = Cloud::up_with("nt-ins-", Options { hosts: 2, network_node: true, ..Options::default() });
    let (ext, _) = c.external_network();
    let (net_a, subnet_a, mtu_a) = c.routed_network("vxlan", "10.61.1");
    // Network C: a subnet with a gateway address, but no router behind it.
    let (net_c, _, mtu_c) = c.routed_network("vxlan", "10.61.3");
    // Network B: a VLAN on physnet1, across the hosts' physical bridges.
    let (net_b, _, mtu_b) = c.routed_network("vlan", "10.61.2");
    let router = c.router("r1", Some(&ext));
    c.attach(&router, &subnet_a);
    // Group web: tcp/80 and ICMP from anywhere (and the default egress rules), nothing else.
    let web = c.group("web");
    let http_rule = c.rule(
        &web,
        json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
            "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "0.0.0.0/0"}),
    );
    let icmp_rule = c.rule(
        &web,
        json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"}),
    );
    let vm = |c: &mut Cloud, host: &str, name: &'static str, net: &str, mtu: i64| {
        let port = c.port(host, name, net, json!({"name": name, "security_groups": [web]}));
        let lease = c.dhcp_vm(host, name, &port, mtu);
        let ip = port["fixed_ips"][0]["ip_address"].as_str().expect("ip").to_string();
        assert_eq!(lease.address.map(|a| a.addr().to_string()), Some(ip.clone()), "{lease:?}");
        Vm { name, port, ip }
    };
    let a1 = vm(&mut c, "h1", "a1", &net_a, mtu_a);
    let a2 = vm(&mut c, "h2", "a2", &net_a, mtu_a);
    let c1 = vm(&mut c, "h1", "c1", &net_c, mtu_c);
    let c2 = vm(&mut c, "h2", "c2", &net_c, mtu_c);
    let b1 = vm(&mut c, "h1", "b1", &net_b, mtu_b);
    let b2 = vm(&mut c, "h2", "b2", &net_b, mtu_b);
    let fip = c.floating_ip(&ext, Some(a2.id()));
    let fip_ip = fip["floating_ip_address"].as_str().expect("floating ip").to_string();
    c.wait_fip_status(fip["id"].as_str().expect("id"), "ACTIVE");
    c.wait_public_reach(&fip_ip, true);
    c.wait_ping(a1.name, &a2.ip);
    assert_eq!(c.router_host(&router), "network");

    // `show br-int` on every host: one joined row per port bound there, with the API's
    // addresses, MAC, name and network; VMs of different networks on one host on different
    // local VLANs.
    check_show(&c, &[&a1, &a2, &c1, &c2], &[(&net_a, "a"), (&net_c, "c")]);

    // 1. Allowed across hosts: a1 (h1) → a2 (h2) tcp/80, admitted by the web group's rule.
    assert!(c.tcp_connects(a1.name, a2.name, &a2.ip, 80), "a1 connects to a2:80\n{}", c.logs());
    let t = run_trace(&c, &[a1.name, &a2.ip, "tcp", "80"]);
    assert_eq!(t.verdict.outcome, Outcome::Delivered, "{}", steps(&t));
    assert!(t.verdict.reason.contains("a2"), "{}", steps(&t));
    assert!(
        t.observations.iter().any(|o| o.rule.as_deref() == Some(http_rule.as_str())
            && o.component == "security-group"
            && o.action == "allowed"
            && o.host == "h2"),
        "the web group's tcp/80 rule admits it on h2\n{}",
        steps(&t)
    );
    assert!(
        t.observations.iter().any(|o| o.component == "tunnel"
            && o.host == "h1"
            && o.text == format!("VXLAN {} to h2 (172.31.0.2)", c.segment(&net_a))
            && o.tunnel_dst.as_deref() == Some("172.31.0.2")),
        "a tunnel step from h1 to h2\n{}",
        steps(&t)
    );
    assert!(
        t.observations.iter().any(|o| o.component == "port" && o.text.contains("anti-spoofing ok")),
        "a1's anti-spoofing\n{}",
        steps(&t)
    );
    assert_eq!(t.established.as_ref().map(|v| v.outcome), Some(Outcome::Delivered), "{}", steps(&t));
    assert_eq!(json_of(&t)["verdict"]["outcome"], "delivered");

    // 4. Dropped by the group: tcp/22 is opened by no rule of web (while tcp/80 above works).
    assert!(!c.tcp_connects(a1.name, a2.name, &a2.ip, 22), "nothing admits tcp/22 to a2");
    let t = run_trace(&c, &[a1.name, &a2.ip, "tcp", "22"]);
    assert_eq!(t.verdict.outcome, Outcome::Dropped, "{}", steps(&t));
    let want = format!("no rule of group web allows ingress tcp/22 from {}", a1.ip);
    assert!(t.verdict.reason.contains(&want), "{want:?} in {}", steps(&t));
    assert!(t.verdict.reason.contains("nearest: rule"), "{}", steps(&t));
    let dropped = t.observations.last().expect("a drop step");
    assert_eq!((dropped.host.as_str(), dropped.action.as_str()), ("h2", "dropped"), "{}", steps(&t));
    assert!(
        [&http_rule, &icmp_rule].iter().any(|r| dropped.rule.as_deref() == Some(r.as_str())),
        "the nearest rule is one of web's ingress rules: {:?}\n{}",
        dropped.rule,
        steps(&t)
    );
    assert!(t.established.is_none());

    // 2. SNAT: a1 (no floating IP) → the public host leaves as the router's gateway address.
    let gw = c.gateway_ip(&router);
    assert_eq!(c.seen_from_outside(a1.name, 8001), Some(gw.clone()), "a1 leaves through SNAT\n{}", c.logs());
    let t = run_trace(&c, &[a1.name, PUBLIC_HOST, "tcp", "8001"]);
    assert_eq!(t.verdict.outcome, Outcome::LeftCloud, "{}", steps(&t));
    let snat = t
        .observations
        .iter()
        .find(|o| o.text.contains(&format!("SNAT to {gw}")))
        .unwrap_or_else(|| panic!("an SNAT step\n{}", steps(&t)));
    assert_eq!(snat.translated_src.as_deref(), Some(gw.as_str()), "{}", steps(&t));
    assert_eq!(snat.host, "network", "{}", steps(&t));
    assert!(t.verdict.reason.contains(&gw), "{}", steps(&t));
    let observed = json_of(&t)["observations"].as_array().cloned().expect("observations");
    assert!(
        observed.iter().any(|o| o["translated_src"] == gw.as_str() && o["component"] == "nat"),
        "{observed:?}"
    );

    // 3. A floating IP from outside: the public host → a2's floating IP tcp/80 reaches a2.
    assert_eq!(c.public_connects(a2.name, &fip_ip, 80).as_deref(), Some("a2"), "a2 answers on {fip_ip}");
    let t = run_trace(&c, &[PUBLIC_HOST, &fip_ip, "tcp", "80"]);
    assert_eq!(t.verdict.outcome, Outcome::Delivered, "{}", steps(&t));
    assert!(t.verdict.reason.contains("a2"), "{}", steps(&t));
    assert!(
        t.observations.iter().any(|o| o.translated_dst.as_deref() == Some(a2.ip.as_str())),
        "a DNAT step to {}\n{}",
        a2.ip,
        steps(&t)
    );
    assert!(
        t.observations.iter().any(|o| o.rule.as_deref() == Some(http_rule.as_str()) && o.host == "h2"),
        "web's tcp/80 rule admits it on h2\n{}",
        steps(&t)
    );
    // The same from outside to a port no rule opens is dropped at a2 (while tcp/80 arrives).
    assert_eq!(
        c.public_connects(a2.name, &fip_ip, 22),
        None,
        "nothing admits tcp/22 through the floating IP"
    );
    let t = run_trace(&c, &[PUBLIC_HOST, &fip_ip, "tcp", "22"]);
    assert_eq!(t.verdict.outcome, Outcome::Dropped, "{}", steps(&t));
    assert!(t.verdict.reason.contains("no rule of group web allows ingress tcp/22"), "{}", steps(&t));

    // 5. Isolated networks: c1 (network C, no router) reaches c2 on its own network, not a1.
    // c1 is given a1's address on link with a1's MAC, so its packet is exactly the traced one.
    assert!(c.ping(c1.name, &c2.ip), "c1 pings c2 on network C\n{}", c.logs());
    let t = run_trace(&c, &[c1.name, c2.name]);
    assert_eq!(t.verdict.outcome, Outcome::Delivered, "{}", steps(&t));
    assert!(c.run_ok(c1.name, &["ip", "route", "replace", &format!("{}/32", a1.ip), "dev", "eth0"]));
    assert!(c.run_ok(
        c1.name,
        &["ip", "neigh", "replace", &a1.ip, "lladdr", a1.mac(), "dev", "eth0", "nud", "permanent"]
    ));
    assert!(!c.ping(c1.name, &a1.ip), "nothing connects network C to a1");
    let t = run_trace(&c, &[c1.name, &a1.ip]);
    assert_eq!(t.verdict.outcome, Outcome::Dropped, "{}", steps(&t));
    assert!(t.verdict.reason.contains("nothing connects them"), "{}", steps(&t));
    assert!(t.verdict.reason.contains("has no router at its gateway 10.61.3.1"), "{}", steps(&t));
    assert!(
        !t.observations.iter().any(|o| o.text.contains("allows ingress")),
        "no ingress firewall admits it anywhere (the flooded copy back to c1 is not a step)\n{}",
        steps(&t)
    );

    // 1b. Allowed across hosts on a VLAN: b1 (h1) → b2 (h2) tcp/80 leaves h1 by its physical
    // bridge tagged with the network's VLAN and enters h2's.
    assert!(c.tcp_connects(b1.name, b2.name, &b2.ip, 80), "b1 connects to b2:80\n{}", c.logs());
    let t = run_trace(&c, &[b1.name, b2.name, "tcp", "80"]);
    assert_eq!(t.verdict.outcome, Outcome::Delivered, "{}", steps(&t));
    let vlan = api_cloud(&c).network(&net_b).and_then(|n| n.segmentation_id).expect("the VLAN id");
    assert!(
        t.observations.iter().any(|o| o.component == "physical"
            && o.host == "h1"
            && o.text.contains(&format!("VLAN {vlan} to h2"))),
        "a physical step from h1 to h2 on VLAN {vlan}\n{}",
        steps(&t)
    );
    assert!(
        t.observations.iter().any(|o| o.rule.as_deref() == Some(http_rule.as_str()) && o.host == "h2"),
        "{}",
        steps(&t)
    );

    // `ipt` of a2: its tcp/80 rule counts the connections that really arrive.
    let before = ipt_packets(&c, "h2", &a2.ip, &http_rule);
    for _ in 0..3 {
        assert!(c.tcp_connects(a1.name, a2.name, &a2.ip, 80), "a1 connects to a2:80");
    }
    // Open vSwitch folds the datapath's counters into its flows' every second or so.
    c.wait(std::time::Duration::from_secs(15), "ipt's tcp/80 counter grows by the connections", |c| {
        ipt_packets(c, "h2", &a2.ip, &http_rule) >= before + 3
    });

    // `dump` ids: a new rule of group web (tcp/8443) adds its own flows on h2 and leaves the id
    // of every other flow as it was (flows learnt from traffic come and go, and are left out).
    let ids = |rows: &[DumpRow]| -> std::collections::BTreeSet<String> {
        rows.iter().filter(|r| r.owner.kind != "learnt").map(|r| r.id.clone()).collect()
    };
    let old = ids(&dump_rows(&c, "h2"));
    let extra = c.rule(
        &web,
        json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
            "port_range_min": 8443, "port_range_max": 8443, "remote_ip_prefix": "0.0.0.0/0"}),
    );
    c.wait(std::time::Duration::from_secs(30), "the new rule's flows on h2", |c| {
        dump_rows(c, "h2").iter().any(|r| r.owner.id == extra)
    });
    let rows = dump_rows(&c, "h2");
    let new = ids(&rows);
    let missing: Vec<&String> = old.difference(&new).collect();
    assert!(missing.is_empty(), "every flow of before keeps its id: {missing:?} are gone");
    let added: Vec<&DumpRow> =
        rows.iter().filter(|r| r.owner.kind != "learnt" && !old.contains(&r.id)).collect();
    assert!(!added.is_empty());
    assert!(
        added.iter().all(|r| r.owner.id == extra),
        "only the new rule's flows are new: {:?}",
        added.iter().map(|r| (&r.id, &r.owner.text)).collect::<Vec<_>>()
    );
}
