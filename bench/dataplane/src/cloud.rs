//! The cloud under test: a Neutrino server in this process (its own runtime, a SQLite file in
//! a tempdir, noauth, an agent token), a sandbox of hosts in `nt-bd-…` namespaces, one
//! `neutrino agent` process per host, and blocking helpers for the API, `ovs-vsctl` and
//! `ovs-ofctl`. Dropping it stops the agents and tears the sandbox down.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use neutrino_sandbox::{HostHandle, Sandbox, SandboxSpec, VmSpec};
use serde_json::{Value, json};

const AGENT_TOKEN: &str = "bench-dataplane-agent";
/// Namespace prefix of everything this benchmark creates.
pub const PREFIX: &str = "nt-bd-";

pub struct Cloud {
    pub sandbox: Sandbox,
    rt: tokio::runtime::Runtime,
    /// The noauth admin's client.
    api: neutrino_client::Client,
    neutrino: PathBuf,
    /// Holds the server's database and the sandbox; removed on drop.
    _dir: tempfile::TempDir,
}

/// Starts the server on its own 2-thread runtime so that it does not share a scheduler with
/// the client; returns its URL.
fn start_server(dir: &Path) -> Result<String> {
    let mut config = neutrino_server::config::Config::default();
    config.auth.mode = neutrino_server::auth::AuthMode::Noauth;
    config.agents.token = Some(AGENT_TOKEN.into());
    config.server.data_dir = dir.join("server");
    // The benchmarks make thousands of ports in one project.
    config.quotas = neutrino_server::config::QuotaConfig::unlimited();
    let store = neutrino_server::store::Store::open(&format!("sqlite:{}", dir.join("bench.db").display()))?;
    Ok(neutrino_server::run::spawn_local(config, store)?)
}

impl Cloud {
    /// The server, a sandbox of `hosts` hosts and their agents, all alive.
    pub fn up(neutrino: &Path, hosts: usize) -> Result<Cloud> {
        Cloud::up_with(neutrino, hosts, false)
    }

    /// [`Cloud::up`], with a network node (its agent also serves the `dhcp` role) when asked.
    pub fn up_with(neutrino: &Path, hosts: usize, network_node: bool) -> Result<Cloud> {
        let dir = tempfile::tempdir()?;
        // dnsmasq reads its files as `nobody`: the DHCP agent's state path must be open to it.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        let url = start_server(dir.path())?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let mut spec = SandboxSpec::default(hosts);
        spec.name_prefix = PREFIX.into();
        spec.run_dir = dir.path().join("sandbox");
        spec.network_node = network_node;
        // A sandbox left by an earlier, crashed run of this benchmark has the same prefix.
        let _ = neutrino_sandbox::down_with(&spec.run_dir, Some(PREFIX), &neutrino_sandbox::LinuxHost::new());
        let sandbox = Sandbox::up(&spec).context("sandbox up")?;
        let api = neutrino_client::Client::new(&url, neutrino_client::Auth::None)?;
        let mut cloud = Cloud { sandbox, rt, api, neutrino: neutrino.to_path_buf(), _dir: dir };
        let names: Vec<String> = cloud.sandbox.hosts().iter().map(|h| h.name.clone()).collect();
        for h in &names {
            cloud.start_agent(h)?;
        }
        // One agent row per role.
        let settings = cloud.agent_settings();
        let rows: usize = spec.all_hosts().iter().map(|h| settings.roles_of(h.role).len()).sum();
        cloud.wait(Duration::from_secs(30), "agents alive", |c| {
            let agents = c.api("GET", "/v2.0/agents", None)?;
            Ok(agents["agents"]
                .as_array()
                .is_some_and(|a| a.len() == rows && a.iter().all(|x| x["alive"] == true)))
        })?;
        Ok(cloud)
    }

    /// The agents' settings: heartbeats every 2 s, the roles this build's agent has drivers for.
    fn agent_settings(&self) -> neutrino_sandbox::AgentSettings {
        neutrino_sandbox::AgentSettings {
            report_interval: Some(2),
            ..neutrino_sandbox::AgentSettings::new(
                self.api.base_url().as_str().trim_end_matches('/'),
                AGENT_TOKEN,
            )
        }
        .with_roles_available(neutrino_agent::drivers::AVAILABLE.iter().map(|r| r.as_str()))
    }

    pub fn start_agent(&mut self, host: &str) -> Result<()> {
        let settings = self.agent_settings();
        let bin = self.neutrino.display().to_string();
        // The reconciler's debug lines time each bundle (`bundle_times`).
        let env = [("NEUTRINO_LOG", "info,neutrino_agent::reconcile=debug")];
        self.sandbox.start_agent(host, &bin, &settings, &env)?;
        Ok(())
    }

    /// The agent's own timing of its last `n` bundles on `bridge` (from its debug log): per
    /// bundle, milliseconds from the start of its sync until the bundle was sent (desired state,
    /// flow generation and diff) and for `ovs-ofctl` to apply it.
    pub fn bundle_times(&self, host: &str, bridge: &str, n: usize) -> Result<Vec<(f64, f64)>> {
        let text = std::fs::read_to_string(self.agent_log(host)?)?;
        let field = |line: &str, name: &str| -> Option<f64> {
            let v = line.split_whitespace().find_map(|w| w.strip_prefix(name)?.strip_prefix('='))?;
            v.parse::<f64>().ok().map(|us| us / 1e3)
        };
        let bridge_field = format!("bridge={bridge}");
        let mut times: Vec<(f64, f64)> = text
            .lines()
            .filter(|l| l.contains("applied a bundle") && l.split_whitespace().any(|w| w == bridge_field))
            .filter_map(|l| Some((field(l, "since_sync_start_us")?, field(l, "apply_us")?)))
            .collect();
        let keep = times.len().saturating_sub(n);
        Ok(times.split_off(keep))
    }

    pub fn stop_agent(&mut self, host: &str) -> Result<()> {
        Ok(self.sandbox.stop_process(host, "agent")?)
    }

    /// The agent log of `host`.
    pub fn agent_log(&self, host: &str) -> Result<PathBuf> {
        Ok(self.sandbox.host(host)?.run_dir().join("agent.log"))
    }

    pub fn host(&self, name: &str) -> Result<&HostHandle> {
        Ok(self.sandbox.host(name)?)
    }

    /// One API call as the noauth admin; non-2xx answers are errors.
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let m = neutrino_client::Method::from_bytes(method.as_bytes())?;
        let (status, v) = self.rt.block_on(self.api.call(m, path, body.as_ref()))?;
        if !(200..300).contains(&status) {
            bail!("{path}: {status}: {v}");
        }
        Ok(v)
    }

    /// Polls `ok` every 100 ms until it holds or `timeout` passes.
    pub fn wait(
        &self,
        timeout: Duration,
        what: &str,
        mut ok: impl FnMut(&Self) -> Result<bool>,
    ) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if ok(self)? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("timed out after {timeout:?} waiting for {what}")
    }

    /// A VXLAN network with a subnet of `cidr` (no gateway); returns (network id, MTU).
    pub fn vxlan_network(&self, cidr: &str) -> Result<(String, u32)> {
        let n = self.api(
            "POST",
            "/v2.0/networks",
            Some(json!({"network": {"name": "bench", "provider:network_type": "vxlan"}})),
        )?;
        let id = n["network"]["id"].as_str().context("network id")?.to_string();
        self.api(
            "POST",
            "/v2.0/subnets",
            Some(json!({"subnet": {"network_id": id, "ip_version": 4, "cidr": cidr, "gateway_ip": null}})),
        )?;
        let mtu = n["network"]["mtu"].as_u64().context("mtu")?;
        Ok((id, u32::try_from(mtu)?))
    }

    /// Creates a port on `network`, bound to `host` when given; returns the port object.
    pub fn port(&self, network: &str, host: Option<&str>, name: &str) -> Result<Value> {
        self.port_with(network, host, name, json!({}))
    }

    /// [`Cloud::port`] with `extra` merged into the request (security groups, port security).
    pub fn port_with(&self, network: &str, host: Option<&str>, name: &str, extra: Value) -> Result<Value> {
        let mut port = json!({"network_id": network, "device_owner": "compute:nova", "device_id": format!("vm-{name}"),
            "name": name});
        if let Some(h) = host {
            port["binding:host_id"] = json!(h);
        }
        if let (Some(p), Value::Object(e)) = (port.as_object_mut(), extra) {
            p.extend(e);
        }
        let p = self.api("POST", "/v2.0/ports", Some(json!({"port": port})))?;
        Ok(p["port"].clone())
    }

    /// How many ports of `network` are ACTIVE.
    pub fn active_ports(&self, network: &str) -> Result<usize> {
        let l =
            self.api("GET", &format!("/v2.0/ports?network_id={network}&status=ACTIVE&fields=id"), None)?;
        Ok(l["ports"].as_array().map_or(0, Vec::len))
    }

    /// Plugs a real VM (a veth into its own namespace) for a port bound to `host`, with the
    /// port's address and `mtu`; waits until the port is ACTIVE. Returns the VM's address.
    pub fn vm(&mut self, host: &str, name: &str, network: &str, mtu: u32) -> Result<String> {
        self.vm_with(host, name, network, mtu, json!({}))
    }

    /// [`Cloud::vm`] with `extra` merged into the port request.
    pub fn vm_with(
        &mut self,
        host: &str,
        name: &str,
        network: &str,
        mtu: u32,
        extra: Value,
    ) -> Result<String> {
        let p = self.port_with(network, Some(host), name, extra)?;
        let id = p["id"].as_str().context("id")?.to_string();
        let ip = p["fixed_ips"][0]["ip_address"].as_str().context("ip")?.to_string();
        let mut spec = VmSpec::new(name, &id, p["mac_address"].as_str().context("mac")?);
        spec.ip_cidr = Some(format!("{ip}/20"));
        spec.mtu = mtu;
        self.sandbox.plug_vm(host, &spec)?;
        let path = format!("/v2.0/ports/{id}");
        self.wait(Duration::from_secs(30), &format!("port of VM {name} ACTIVE"), |c| {
            Ok(c.api("GET", &path, None)?["port"]["status"] == "ACTIVE")
        })?;
        Ok(ip)
    }

    pub fn vm_netns(&self, name: &str) -> Result<String> {
        Ok(self.sandbox.vm(name)?.netns.clone())
    }

    /// `ovs-vsctl` against `host`'s database with `args`; fails on a non-zero exit.
    pub fn vsctl<S: AsRef<std::ffi::OsStr>>(&self, host: &str, args: &[S]) -> Result<String> {
        let h = self.host(host)?;
        let out = Command::new("ovs-vsctl")
            .arg(format!("--db={}", h.db_target()))
            .arg("--timeout=60")
            .args(args)
            .output()
            .context("ovs-vsctl")?;
        if !out.status.success() {
            bail!("ovs-vsctl: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Number of OpenFlow rules on `bridge` of `host` (all cookies).
    pub fn flow_count(&self, host: &str, bridge: &str) -> Result<usize> {
        let mgmt = self.host(host)?.run_dir().join(format!("{bridge}.mgmt"));
        let out = Command::new("ovs-ofctl")
            .args(["-O", "OpenFlow14", "dump-flows"])
            .arg(format!("unix:{}", mgmt.display()))
            .output()
            .context("ovs-ofctl")?;
        if !out.status.success() {
            bail!("ovs-ofctl dump-flows {bridge}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains("cookie=")).count())
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let names: Vec<String> = self.sandbox.hosts().iter().map(|h| h.name.clone()).collect();
        for h in names {
            let _ = self.sandbox.stop_process(&h, "agent");
        }
        match neutrino_sandbox::down(self.sandbox.run_dir()) {
            Ok(r) if !r.leftovers.is_empty() => eprintln!("sandbox down left: {:?}", r.leftovers),
            Ok(_) => {}
            Err(e) => eprintln!("sandbox down failed: {e}"),
        }
    }
}
