//! Security group helpers of the end-to-end harness: groups, rules and ports' groups through
//! the API, VMs with a port body of the test's choosing, and the probes the firewall tests use
//! (ICMP from a chosen source, a TCP connection to a port, a long-lived TCP exchange, ARP with
//! a chosen sender address). Every probe reports what got through; the tests pair each "it is
//! blocked" with a probe on the same path that gets through.

use std::process::Child;
use std::time::Duration;

use neutrino_sandbox::{ECHO_SERVER, VmSpec};
use serde_json::{Value, json};

use super::Cloud;

/// The client side of [`Cloud::start_exchange`]: sends a byte every 100 ms on one TCP
/// connection for `secs` seconds and prints `ok` or `lost` per byte echoed back or not.
pub const EXCHANGE_CLIENT: &str = r#"
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.settimeout(0.3)
end = time.time() + float(sys.argv[3])
while time.time() < end:
    t = time.time()
    try:
        s.sendall(b"x")
        print("ok" if s.recv(1) else "closed", flush=True)
    except OSError:
        print("lost", flush=True)
    time.sleep(max(0.0, 0.1 - (time.time() - t)))
"#;

impl Cloud {
    /// A security group (of the admin's project) without rules other than its egress ones.
    pub fn group(&self, name: &str) -> String {
        let (s, b) =
            self.api("POST", "/v2.0/security-groups", Some(json!({"security_group": {"name": name}})));
        assert_eq!(s, 201, "{b}");
        b["security_group"]["id"].as_str().expect("id").to_string()
    }

    /// Adds a rule (`body` without the group) to `group`; returns its id.
    pub fn rule(&self, group: &str, mut body: Value) -> String {
        body["security_group_id"] = json!(group);
        let (s, b) =
            self.api("POST", "/v2.0/security-group-rules", Some(json!({"security_group_rule": body})));
        assert_eq!(s, 201, "{b}");
        b["security_group_rule"]["id"].as_str().expect("id").to_string()
    }

    pub fn delete_rule(&self, rule: &str) {
        let (s, b) = self.api("DELETE", &format!("/v2.0/security-group-rules/{rule}"), None);
        assert_eq!(s, 204, "{b}");
    }

    /// Updates port `port` with `body` (e.g. its groups or address pairs).
    pub fn update_port(&self, port: &str, body: Value) -> Value {
        let (s, b) = self.api("PUT", &format!("/v2.0/ports/{port}"), Some(json!({ "port": body })));
        assert_eq!(s, 200, "{b}");
        b["port"].clone()
    }

    /// A VM as [`Cloud::vm`] does it, its port created with `extra` merged into the body;
    /// returns the port as created.
    pub fn vm_with(&mut self, host: &str, name: &str, network: &str, mtu: i64, extra: Value) -> Value {
        let mut port = json!({"network_id": network, "binding:host_id": host, "device_owner": "compute:nova",
            "device_id": format!("vm-{name}")});
        port.as_object_mut().expect("object").extend(extra.as_object().cloned().unwrap_or_default());
        let (s, p) = self.api("POST", "/v2.0/ports", Some(json!({ "port": port })));
        assert_eq!(s, 201, "{p}");
        let p = p["port"].clone();
        assert_eq!(p["binding:vif_type"], "ovs", "port binds to {host}");
        let id = p["id"].as_str().expect("id").to_string();
        let v4 = p["fixed_ips"].as_array().expect("fixed ips").iter().find_map(|f| {
            let ip = f["ip_address"].as_str()?;
            (!ip.contains(':')).then(|| ip.to_string())
        });
        let mut spec = VmSpec::new(name, &id, p["mac_address"].as_str().expect("mac"));
        spec.ip_cidr = v4.map(|ip| format!("{ip}/24"));
        spec.mtu = u32::try_from(mtu).expect("mtu");
        self.sandbox.plug_vm(host, &spec).expect("plug vm");
        let path = format!("/v2.0/ports/{id}");
        self.wait(Duration::from_secs(20), &format!("port of {name} ACTIVE"), |c| {
            c.api("GET", &path, None).1["port"]["status"] == "ACTIVE"
        });
        p
    }

    /// Runs `argv` in VM `name`, asserting it could be started; true when it exited 0.
    pub fn run_ok(&self, name: &str, argv: &[&str]) -> bool {
        self.exec(name, argv).status.success()
    }

    /// Whether one ICMP echo from `from` (with source address `src`, when given) to `ip` is
    /// answered within a second, tried twice.
    pub fn ping_src(&self, from: &str, src: Option<&str>, ip: &str) -> bool {
        let mut argv = vec!["busybox", if ip.contains(':') { "ping6" } else { "ping" }, "-c", "2", "-W", "1"];
        if let Some(s) = src {
            argv.extend(["-I", s]);
        }
        argv.push(ip);
        self.run_ok(from, &argv)
    }

    /// Waits until pings from `from` to `ip` go through (`through`) or stop going through.
    pub fn wait_reach(&self, from: &str, ip: &str, through: bool) {
        let what = format!("{from} {} {ip}", if through { "reaches" } else { "no longer reaches" });
        self.wait(Duration::from_secs(20), &what, |c| c.ping_src(from, None, ip) == through);
    }

    /// Whether a TCP connection from `from` to `ip:port` (a listener started in `to`) is
    /// accepted within two seconds.
    pub fn tcp_connects(&self, from: &str, to: &str, ip: &str, port: u16) -> bool {
        let p = port.to_string();
        let mut server =
            self.sandbox.spawn(&self.vm_netns(to), &["busybox", "nc", "-l", "-p", &p]).expect("nc -l");
        self.wait_listening(&self.vm_netns(to), port);
        let ok = self.run_ok(from, &["busybox", "nc", "-w", "2", ip, &p]);
        let _ = server.kill();
        let _ = server.wait();
        ok
    }

    /// Starts an echo server on `port` in `to` and a client in `from` exchanging one byte every
    /// 100 ms for `secs` seconds on one connection; [`exchange_result`] reads what it saw.
    pub fn start_exchange(&self, from: &str, to: &str, ip: &str, port: u16, secs: u32) -> (Child, Child) {
        let p = port.to_string();
        let server =
            self.sandbox.spawn(&self.vm_netns(to), &["python3", "-c", ECHO_SERVER, &p]).expect("echo server");
        self.wait_listening(&self.vm_netns(to), port);
        let s = secs.to_string();
        let client = self
            .sandbox
            .spawn(&self.vm_netns(from), &["python3", "-c", EXCHANGE_CLIENT, ip, &p, &s])
            .expect("exchange client");
        (server, client)
    }

    /// Replies `from` gets to ARP requests for `target` sent with sender address `sender`.
    pub fn arp_replies(&self, from: &str, sender: &str, target: &str) -> u32 {
        let out =
            self.exec(from, &["busybox", "arping", "-c", "2", "-w", "3", "-I", "eth0", "-s", sender, target]);
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.starts_with("Received")).unwrap_or_default();
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
    }
}

/// The `ok`/`lost` lines of an exchange, after both ends are stopped.
pub fn exchange_result(server: Child, client: Child) -> Vec<String> {
    let out = client.wait_with_output().expect("exchange client ends");
    let mut server = server;
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() || !text.is_empty(),
        "exchange client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines().map(String::from).collect()
}
