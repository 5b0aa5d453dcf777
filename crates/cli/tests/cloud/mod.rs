//! End-to-end harness: a Neutrino server (in this process, on its own runtime), a sandbox of
//! hosts in network namespaces each with its own Open vSwitch and a `neutrino agent` process,
//! and VMs plugged the way os-vif plugs them. Needs root and Open vSwitch: without them the
//! tests print why and pass, except under `CI=true`, where they fail.
#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]
#![allow(dead_code)]

use std::process::Output;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use neutrino_sandbox::{Sandbox, SandboxSpec, VmSpec};
use serde_json::{Value, json};

pub mod dhcp;
pub mod l3;
pub mod security;

const AGENT_TOKEN: &str = "e2e-agent-secret";
static SERIAL: Mutex<()> = Mutex::new(());

/// Whether the machine can run the end-to-end tests; panics under CI when it cannot.
pub fn prerequisites() -> bool {
    const TOOLS: [&str; 8] =
        ["ovs-vswitchd", "ovsdb-server", "ovs-vsctl", "ovs-ofctl", "ip", "busybox", "iperf3", "python3"];
    neutrino_host::testing::Prerequisites::new().root().programs(&TOOLS).met()
}

/// What [`Cloud::up_with`] builds.
#[derive(Debug, Default)]
pub struct Options {
    /// Compute hosts `h1`…
    pub hosts: usize,
    /// A network node (`network`, roles `l2` and `dhcp`).
    pub network_node: bool,
    /// Compute hosts that also get the network role (a second DHCP agent).
    pub dhcp_hosts: Vec<&'static str>,
    /// The server's `agent_down_time` (seconds), for tests of dead agents.
    pub agent_down_time: Option<u64>,
}

pub struct Cloud {
    pub sandbox: Sandbox,
    pub rt: tokio::runtime::Runtime,
    pub url: String,
    /// The noauth admin's client.
    client: neutrino_client::Client,
    dir: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

/// The agents' settings: heartbeats every 2 s, the roles this build's agent has drivers for.
fn agent_settings(url: &str) -> neutrino_sandbox::AgentSettings {
    neutrino_sandbox::AgentSettings {
        report_interval: Some(2),
        ..neutrino_sandbox::AgentSettings::new(url, AGENT_TOKEN)
    }
    .with_roles_available(neutrino_agent::drivers::AVAILABLE.iter().map(|r| r.as_str()))
}

fn bin() -> String {
    env!("CARGO_BIN_EXE_neutrino").to_string()
}

impl Cloud {
    /// A server and `hosts` hosts with running agents. `prefix` names the namespaces (`nt-xx-`).
    pub fn up(prefix: &str, hosts: usize) -> Cloud {
        Cloud::up_with(prefix, Options { hosts, ..Options::default() })
    }

    /// A server and the hosts `opts` asks for, with running agents.
    pub fn up_with(prefix: &str, opts: Options) -> Cloud {
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().expect("tempdir");
        // dnsmasq reads its files as `nobody` once it dropped its privileges: the directories
        // above a DHCP agent's state path must be open to it.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod the test's directory");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut config = neutrino_server::config::Config::default();
        config.auth.mode = neutrino_server::auth::AuthMode::Noauth;
        config.agents.token = Some(AGENT_TOKEN.into());
        config.server.data_dir = dir.path().join("server");
        if let Some(t) = opts.agent_down_time {
            config.ml2.agent_down_time = t;
        }
        let store =
            neutrino_server::store::Store::open(&format!("sqlite:{}/server.db", dir.path().display()))
                .expect("store");
        let url = neutrino_server::run::spawn_local(config, store).expect("server starts");
        let mut spec = SandboxSpec::default(opts.hosts);
        spec.name_prefix = prefix.to_string();
        spec.run_dir = dir.path().join("sandbox");
        spec.network_node = opts.network_node;
        for h in spec.hosts.iter_mut().filter(|h| opts.dhcp_hosts.contains(&h.name.as_str())) {
            h.role = neutrino_sandbox::HostRole::Network;
        }
        let sandbox = Sandbox::up(&spec).expect("sandbox up");
        let client = neutrino_client::Client::new(&url, neutrino_client::Auth::None).expect("client");
        let mut cloud = Cloud { sandbox, rt, url, client, dir, _serial: serial };
        let names: Vec<String> = cloud.sandbox.hosts().iter().map(|h| h.name.clone()).collect();
        for h in &names {
            cloud.start_agent(h);
        }
        // One agent row per role of each host's agent.
        let settings = agent_settings(&cloud.url);
        let rows: usize = spec.all_hosts().iter().map(|h| settings.roles_of(h.role).len()).sum();
        cloud.wait(Duration::from_secs(30), "agents alive", |c| {
            let agents = c.api("GET", "/v2.0/agents", None).1;
            agents["agents"]
                .as_array()
                .is_some_and(|a| a.len() == rows && a.iter().all(|x| x["alive"] == true))
        });
        cloud
    }

    /// Starts `host`'s agent with the `agent.toml` the sandbox writes for its role (heartbeats
    /// every 2 s).
    pub fn start_agent(&mut self, host: &str) {
        let settings = agent_settings(&self.url);
        self.sandbox.start_agent(host, &bin(), &settings, &[("NEUTRINO_LOG", "info")]).expect("start agent");
    }

    pub fn stop_agent(&mut self, host: &str) {
        self.sandbox.stop_process(host, "agent").expect("stop agent");
    }

    /// One API call as the noauth admin: (status, body).
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = neutrino_client::Method::from_bytes(method.as_bytes()).expect("method");
        self.rt.block_on(self.client.call(m, path, body.as_ref())).expect("server answers with JSON")
    }

    pub fn wait(&self, timeout: Duration, what: &str, mut ok: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if ok(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out after {timeout:?} waiting for {what}\n{}", self.logs());
    }

    /// Agent logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for h in self.sandbox.hosts() {
            let log = h.run_dir().join("agent.log");
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            s.push_str(&format!("--- {} agent log (tail)\n", h.name));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    /// A network of `kind` (vxlan, gre, vlan, flat) with a subnet; returns (network id, mtu).
    pub fn network(&self, kind: &str, cidr: &str) -> (String, i64) {
        let provider = match kind {
            "vlan" => json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1"}),
            "flat" => json!({"provider:network_type": "flat", "provider:physical_network": "physnet1"}),
            t => json!({"provider:network_type": t}),
        };
        let (s, n) = self.api("POST", "/v2.0/networks", Some(json!({"network": provider})));
        assert_eq!(s, 201, "{n}");
        let id = n["network"]["id"].as_str().expect("id").to_string();
        let (s, b) = self.api(
            "POST",
            "/v2.0/subnets",
            Some(json!({"subnet": {"network_id": id, "ip_version": 4, "cidr": cidr, "gateway_ip": null}})),
        );
        assert_eq!(s, 201, "{b}");
        (id, n["network"]["mtu"].as_i64().expect("mtu"))
    }

    /// A VM `name` on `host` attached to `network`: the port is created bound to the host, the
    /// VM plugged with its MAC and address; waits until the port is ACTIVE. Returns (port id, ip).
    pub fn vm(
        &mut self,
        host: &str,
        name: &str,
        network: &str,
        mtu: i64,
        ip: Option<&str>,
    ) -> (String, String) {
        let mut port = json!({"network_id": network, "binding:host_id": host, "device_owner": "compute:nova",
            "device_id": format!("vm-{name}")});
        if let Some(ip) = ip {
            port["fixed_ips"] = json!([{"ip_address": ip}]);
        }
        let (s, p) = self.api("POST", "/v2.0/ports", Some(json!({"port": port})));
        assert_eq!(s, 201, "{p}");
        let p = &p["port"];
        assert_eq!(p["binding:vif_type"], "ovs", "port binds to {host}");
        let id = p["id"].as_str().expect("id").to_string();
        let addr = p["fixed_ips"][0]["ip_address"].as_str().expect("ip").to_string();
        let mut spec = VmSpec::new(name, &id, p["mac_address"].as_str().expect("mac"));
        spec.ip_cidr = Some(format!("{addr}/24"));
        spec.mtu = u32::try_from(mtu).expect("mtu");
        self.sandbox.plug_vm(host, &spec).expect("plug vm");
        let path = format!("/v2.0/ports/{id}");
        self.wait(Duration::from_secs(20), &format!("port of {name} ACTIVE"), |c| {
            c.api("GET", &path, None).1["port"]["status"] == "ACTIVE"
        });
        (id, addr)
    }

    pub fn dir_path(&self) -> String {
        self.dir.path().display().to_string()
    }

    pub fn vm_netns(&self, name: &str) -> String {
        self.sandbox.vm(name).expect("vm").netns.clone()
    }

    pub fn exec(&self, name: &str, argv: &[&str]) -> Output {
        self.sandbox.exec(&self.vm_netns(name), argv).expect("exec")
    }

    /// Whether `from` reaches `ip` by ICMP (3 tries).
    pub fn ping(&self, from: &str, ip: &str) -> bool {
        self.exec(from, &["busybox", "ping", "-c", "3", "-W", "1", ip]).status.success()
    }

    /// Waits until `from` pings `ip` (the first packets may need flows to settle).
    pub fn wait_ping(&self, from: &str, ip: &str) {
        self.wait(Duration::from_secs(20), &format!("{from} pings {ip}"), |c| {
            c.exec(from, &["busybox", "ping", "-c", "1", "-W", "1", ip]).status.success()
        });
    }

    /// Waits (at most 5 s) until something listens on TCP `port` in namespace `ns`: a listener
    /// started a moment ago may still be starting on a busy machine, and a client that came
    /// first would be refused and read as "blocked".
    pub fn wait_listening(&self, ns: &str, port: u16) {
        let start = Instant::now();
        let filter = format!("sport = :{port}");
        while start.elapsed() < Duration::from_secs(5) {
            let out =
                std::process::Command::new("ip").args(["netns", "exec", ns, "ss", "-Hltn", &filter]).output();
            if out.is_ok_and(|o| o.status.success() && !o.stdout.is_empty()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Bytes a one-second iperf3 TCP transfer from `from` to `to` (at `ip`) delivered.
    pub fn tcp_bytes(&self, from: &str, to: &str, ip: &str) -> u64 {
        for _ in 0..5 {
            let mut server =
                self.sandbox.spawn(&self.vm_netns(to), &["iperf3", "-s", "-1"]).expect("iperf3 -s");
            self.wait_listening(&self.vm_netns(to), 5201);
            let out = self.exec(from, &["iperf3", "-c", ip, "-t", "1", "-J"]);
            let _ = server.kill();
            let _ = server.wait();
            let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if v.get("error").is_none()
                && let Some(b) = v["end"]["sum_received"]["bytes"].as_u64()
            {
                return b;
            }
        }
        0
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let names: Vec<String> = self.sandbox.hosts().iter().map(|h| h.name.clone()).collect();
        for h in names {
            let _ = self.sandbox.stop_process(&h, "agent");
        }
        let _ = neutrino_sandbox::down(self.sandbox.run_dir());
    }
}

/// Packets sent and received by a `busybox ping` summary.
pub fn ping_counts(out: &str) -> (u32, u32) {
    let line = out.lines().find(|l| l.contains("packets transmitted")).unwrap_or_default();
    let nums: Vec<u32> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    (nums.first().copied().unwrap_or(0), nums.get(1).copied().unwrap_or(0))
}

impl Cloud {
    /// The flows of `bridge` on `host`, as `ovs-ofctl dump-flows` prints them.
    pub fn flows(&self, host: &str, bridge: &str) -> String {
        let h = self.sandbox.host(host).expect("host");
        let out = std::process::Command::new("ovs-ofctl")
            .env("OVS_RUNDIR", h.run_dir())
            .args(["-O", "OpenFlow14", "--no-stats", "dump-flows", bridge])
            .output()
            .expect("ovs-ofctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The segmentation id of a network (admin view).
    pub fn segment(&self, network: &str) -> i64 {
        self.api("GET", &format!("/v2.0/networks/{network}"), None).1["network"]["provider:segmentation_id"]
            .as_i64()
            .expect("segmentation id")
    }
}
