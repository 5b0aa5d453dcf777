//! Router helpers of the end-to-end harness: the external network `public` (flat on physnet
//! `public`, the network node's `br-ex`, 203.0.113.0/24 with the sandbox's `ext` namespace as
//! its gateway), routed tenant networks with DHCP, routers, interfaces and floating IPs through
//! the API, and probes from the outside world (the `public` host behind `ext`, 198.51.100.10).

use std::process::{Child, Output};
use std::time::Duration;

use serde_json::{Value, json};

use super::Cloud;
use super::security::exchange_result;

/// The host behind the `ext` namespace that plays "the Internet".
pub const PUBLIC_HOST: &str = "198.51.100.10";

/// Prints the address a TCP connection came from, then answers with `argv[2]`, once per
/// connection, for `argv[3]` seconds.
const WHO_LISTENER: &str = r#"
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(8)
s.settimeout(float(sys.argv[3]))
try:
    while True:
        c, a = s.accept()
        print(a[0], flush=True)
        c.sendall(sys.argv[2].encode())
        c.close()
except OSError:
    pass
"#;

/// Connects to `argv[1]:argv[2]` and prints what the other side sends (empty on failure).
const WHO_CLIENT: &str = r#"
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
    s.settimeout(2)
    print(s.recv(64).decode(), flush=True)
except OSError as e:
    print("", flush=True)
    sys.exit(1)
"#;

/// [`super::prerequisites`] and what a network node's `l3` and `dhcp` roles run: nftables,
/// conntrack, arping, haproxy, radvd and dnsmasq.
pub fn l3_prerequisites() -> bool {
    const TOOLS: [&str; 14] = [
        "ovs-vswitchd",
        "ovsdb-server",
        "ovs-vsctl",
        "ovs-ofctl",
        "ip",
        "busybox",
        "iperf3",
        "python3",
        "nft",
        "conntrack",
        "arping",
        "haproxy",
        "radvd",
        "dnsmasq",
    ];
    neutrino_host::testing::Prerequisites::new().root().programs(&TOOLS).met()
}

impl Cloud {
    /// The namespace of the public host.
    pub fn public_netns(&self) -> String {
        format!("{}public", self.sandbox.state().name_prefix)
    }

    /// The network `public` (admin: flat, physnet `public`, `router:external`) with its subnet
    /// 203.0.113.0/24 (gateway 203.0.113.1, pool .100–.200): (network id, subnet id).
    pub fn external_network(&self) -> (String, String) {
        let net = json!({"network": {"name": "public", "router:external": true,
            "provider:network_type": "flat", "provider:physical_network": "public"}});
        let (s, n) = self.api("POST", "/v2.0/networks", Some(net));
        assert_eq!(s, 201, "{n}");
        let id = n["network"]["id"].as_str().expect("id").to_string();
        let subnet = json!({"subnet": {"network_id": id, "ip_version": 4, "cidr": "203.0.113.0/24",
            "gateway_ip": "203.0.113.1", "enable_dhcp": false,
            "allocation_pools": [{"start": "203.0.113.100", "end": "203.0.113.200"}]}});
        let (s, b) = self.api("POST", "/v2.0/subnets", Some(subnet));
        assert_eq!(s, 201, "{b}");
        (id, b["subnet"]["id"].as_str().expect("id").to_string())
    }

    /// A tenant network of `kind` with a DHCP subnet `<prefix>.0/24` whose gateway is
    /// `<prefix>.1`: (network id, subnet id, mtu).
    pub fn routed_network(&self, kind: &str, prefix: &str) -> (String, String, i64) {
        let provider = match kind {
            "vlan" => json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1"}),
            t => json!({"provider:network_type": t}),
        };
        let (s, n) = self.api("POST", "/v2.0/networks", Some(json!({ "network": provider })));
        assert_eq!(s, 201, "{n}");
        let net = n["network"]["id"].as_str().expect("id").to_string();
        let subnet = json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": format!("{prefix}.0/24"),
            "gateway_ip": format!("{prefix}.1")}});
        let (s, b) = self.api("POST", "/v2.0/subnets", Some(subnet));
        assert_eq!(s, 201, "{b}");
        (net, b["subnet"]["id"].as_str().expect("id").to_string(), n["network"]["mtu"].as_i64().expect("mtu"))
    }

    /// A router with its gateway on `external` (when given); its id.
    pub fn router(&self, name: &str, external: Option<&str>) -> String {
        let mut body = json!({"name": name});
        if let Some(ext) = external {
            body["external_gateway_info"] = json!({"network_id": ext});
        }
        let (s, b) = self.api("POST", "/v2.0/routers", Some(json!({ "router": body })));
        assert_eq!(s, 201, "{b}");
        b["router"]["id"].as_str().expect("id").to_string()
    }

    /// `add_router_interface` or `remove_router_interface` by subnet: (status, answer).
    pub fn router_interface(&self, router: &str, verb: &str, subnet: &str) -> (u16, Value) {
        self.api(
            "PUT",
            &format!("/v2.0/routers/{router}/{verb}_router_interface"),
            Some(json!({"subnet_id": subnet})),
        )
    }

    /// Adds an interface on `subnet` to `router`, asserting it worked.
    pub fn attach(&self, router: &str, subnet: &str) {
        let (s, b) = self.router_interface(router, "add", subnet);
        assert_eq!(s, 200, "{b}");
    }

    /// The router's gateway address on the external network.
    pub fn gateway_ip(&self, router: &str) -> String {
        let r = self.api("GET", &format!("/v2.0/routers/{router}"), None).1;
        r["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
            .as_str()
            .unwrap_or_else(|| panic!("router has a gateway address: {r}"))
            .to_string()
    }

    /// The host of the L3 agent running `router`.
    pub fn router_host(&self, router: &str) -> String {
        let a = self.api("GET", &format!("/v2.0/routers/{router}/l3-agents"), None).1;
        a["agents"][0]["host"].as_str().unwrap_or_else(|| panic!("router is scheduled: {a}")).to_string()
    }

    /// A floating IP on `external` associated with `port` (when given); the floating IP.
    pub fn floating_ip(&self, external: &str, port: Option<&str>) -> Value {
        let mut body = json!({"floating_network_id": external});
        if let Some(p) = port {
            body["port_id"] = json!(p);
        }
        let (s, b) = self.api("POST", "/v2.0/floatingips", Some(json!({ "floatingip": body })));
        assert_eq!(s, 201, "{b}");
        b["floatingip"].clone()
    }

    /// Associates floating IP `fip` with `port` (`None`: disassociates); the floating IP.
    pub fn associate(&self, fip: &str, port: Option<&str>) -> Value {
        let (s, b) = self.api(
            "PUT",
            &format!("/v2.0/floatingips/{fip}"),
            Some(json!({"floatingip": {"port_id": port}})),
        );
        assert_eq!(s, 200, "{b}");
        b["floatingip"].clone()
    }

    /// Waits until floating IP `fip` has `status` (ACTIVE once the router's agent wired it).
    pub fn wait_fip_status(&self, fip: &str, status: &str) {
        let path = format!("/v2.0/floatingips/{fip}");
        let start = std::time::Instant::now();
        loop {
            let seen = self.api("GET", &path, None).1;
            if seen["floatingip"]["status"] == status {
                return;
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("timed out waiting for floating IP {fip} {status}: {seen}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `argv` on the public host.
    pub fn exec_public(&self, argv: &[&str]) -> Output {
        self.sandbox.exec(&self.public_netns(), argv).expect("exec on the public host")
    }

    /// Whether the public host's pings to `ip` are answered (2 tries).
    pub fn public_pings(&self, ip: &str) -> bool {
        self.exec_public(&["busybox", "ping", "-c", "2", "-W", "1", ip]).status.success()
    }

    /// Waits until the public host's pings to `ip` are answered, or no longer are.
    pub fn wait_public_reach(&self, ip: &str, through: bool) {
        let what = format!("the public host {} {ip}", if through { "reaches" } else { "no longer reaches" });
        self.wait(Duration::from_secs(20), &what, |c| c.public_pings(ip) == through);
    }

    /// The source address the public host sees on a TCP connection from VM `vm`, or `None`
    /// when the connection did not get through.
    pub fn seen_from_outside(&self, vm: &str, port: u16) -> Option<String> {
        let p = port.to_string();
        let listener = self
            .sandbox
            .spawn(&self.public_netns(), &["python3", "-c", WHO_LISTENER, &p, "public", "5"])
            .expect("listener on the public host");
        self.wait_listening(&self.public_netns(), port);
        let ok = self.run_ok(vm, &["python3", "-c", WHO_CLIENT, super::l3::PUBLIC_HOST, &p]);
        let seen = stop_listener(listener);
        ok.then(|| seen.first().cloned()).flatten()
    }

    /// What a TCP connection from the public host to `ip:port` gets back from a listener in VM
    /// `vm` answering its own name, or `None` when it did not get through.
    pub fn public_connects(&self, vm: &str, ip: &str, port: u16) -> Option<String> {
        let p = port.to_string();
        let listener = self
            .sandbox
            .spawn(&self.vm_netns(vm), &["python3", "-c", WHO_LISTENER, &p, vm, "5"])
            .expect("listener");
        self.wait_listening(&self.vm_netns(vm), port);
        let out = self.exec_public(&["python3", "-c", WHO_CLIENT, ip, &p]);
        stop_listener(listener);
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    }

    /// The ports of `bridge` on `host`.
    pub fn ovs_ports(&self, host: &str, bridge: &str) -> Vec<String> {
        let h = self.sandbox.host(host).expect("host");
        let out = std::process::Command::new("ovs-vsctl")
            .env("OVS_RUNDIR", h.run_dir())
            .args(["--timeout=5", "list-ports", bridge])
            .output()
            .expect("ovs-vsctl");
        String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
    }

    /// Starts an echo server on `port` in VM `to` and a client on the public host exchanging a
    /// byte every 100 ms with `ip:port` for `secs` seconds; [`exchange_result`] reads it.
    pub fn start_public_exchange(&self, to: &str, ip: &str, port: u16, secs: u32) -> (Child, Child) {
        let p = port.to_string();
        let server = self
            .sandbox
            .spawn(&self.vm_netns(to), &["python3", "-c", neutrino_sandbox::ECHO_SERVER, &p])
            .expect("echo server");
        self.wait_listening(&self.vm_netns(to), port);
        let client = self
            .sandbox
            .spawn(
                &self.public_netns(),
                &["python3", "-c", super::security::EXCHANGE_CLIENT, ip, &p, &secs.to_string()],
            )
            .expect("exchange client");
        (server, client)
    }
}

/// Stops a listener and returns the lines it printed.
fn stop_listener(mut listener: Child) -> Vec<String> {
    let _ = listener.kill();
    let out = listener.wait_with_output().expect("listener output");
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

/// The `ok`/`lost` lines of a public exchange.
pub fn public_exchange_result(server: Child, client: Child) -> Vec<String> {
    exchange_result(server, client)
}
