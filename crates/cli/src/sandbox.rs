//! `neutrino sandbox up|down|status|vm`: a simulated cloud of hosts in network namespaces,
//! each with its own Open vSwitch and `neutrino agent`, and VMs plugged the way os-vif plugs
//! them (docs/design.md "Sandbox"). Needs root. VMs are created through the API (their port is
//! bound to the host, so this needs admin credentials).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use neutrino_client::Client;
use neutrino_sandbox::{Sandbox, SandboxSpec, VmSpec};
use serde_json::{Map, Value, json};

use crate::error::CliError;

fn default_run_dir() -> PathBuf {
    std::env::temp_dir().join("neutrino-sandbox")
}

#[derive(Args)]
pub struct RunDir {
    /// Where the sandbox keeps its state, daemons' sockets and logs.
    #[arg(long, default_value_os_t = default_run_dir())]
    run_dir: PathBuf,
}

#[derive(Subcommand)]
pub enum SandboxCmd {
    /// Bring up hosts (namespaces, Open vSwitch, underlay, physical network) and their agents.
    Up(UpArgs),
    /// Remove everything the sandbox made, also after a crash.
    Down(RunDir),
    /// Show hosts, daemons, agents, namespaces and VMs.
    Status(RunDir),
    /// Manage VMs.
    #[command(subcommand)]
    Vm(VmCmd),
}

#[derive(Args)]
pub struct UpArgs {
    #[command(flatten)]
    dir: RunDir,
    /// Number of hosts (h1, h2, …).
    #[arg(long, default_value_t = 2)]
    hosts: usize,
    /// Prefix of the namespaces the sandbox creates (several sandboxes need different ones).
    #[arg(long, default_value = "nt-")]
    prefix: String,
    /// The server agents report to.
    #[arg(long, default_value = "http://127.0.0.1:9696")]
    server: String,
    /// The agent credential, or (below) the file holding it (the server's `<data_dir>/agent.token`).
    #[arg(long)]
    agent_token: Option<String>,
    #[arg(long)]
    agent_token_file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum VmCmd {
    /// Create a port bound to HOST on NETWORK and plug a VM for it; waits until ACTIVE.
    Create {
        name: String,
        #[arg(long)]
        host: String,
        #[arg(long)]
        network: String,
        /// A fixed IP address to ask for.
        #[arg(long)]
        ip: Option<String>,
        #[command(flatten)]
        dir: RunDir,
    },
    /// Unplug the VM and delete its port.
    Delete {
        name: String,
        #[command(flatten)]
        dir: RunDir,
    },
    /// Run a command inside the VM.
    Exec {
        name: String,
        #[command(flatten)]
        dir: RunDir,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
}

fn sb(e: neutrino_sandbox::Error) -> CliError {
    CliError::Config(format!("sandbox: {e}"))
}

/// Runs the commands that need no API.
pub fn run_local(cmd: &SandboxCmd) -> Result<bool, CliError> {
    match cmd {
        SandboxCmd::Up(a) => up(a).map(|_| true),
        SandboxCmd::Down(d) => {
            let r = neutrino_sandbox::down(&d.run_dir).map_err(sb)?;
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            Ok(true)
        }
        SandboxCmd::Status(d) => {
            let s = neutrino_sandbox::status(&d.run_dir).map_err(sb)?;
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            Ok(true)
        }
        SandboxCmd::Vm(VmCmd::Exec { name, dir, command }) => {
            let s = Sandbox::open(&dir.run_dir).map_err(sb)?;
            let ns = s.vm(name).map_err(sb)?.netns.clone();
            let argv: Vec<&str> = command.iter().map(String::as_str).collect();
            let out = s.exec(&ns, &argv).map_err(sb)?;
            print!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            if !out.status.success() {
                return Err(CliError::Config(format!("command exited with {}", out.status)));
            }
            Ok(true)
        }
        SandboxCmd::Vm(_) => Ok(false),
    }
}

fn up(a: &UpArgs) -> Result<(), CliError> {
    let token = match (&a.agent_token, &a.agent_token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| CliError::Config(format!("{}: {e}", f.display())))?
            .trim()
            .to_string(),
        (None, None) => {
            return Err(CliError::Config("--agent-token or --agent-token-file is required".into()));
        }
    };
    let mut spec = SandboxSpec::default(a.hosts);
    spec.run_dir = a.dir.run_dir.clone();
    spec.name_prefix = a.prefix.clone();
    let mut s = Sandbox::up(&spec).map_err(sb)?;
    let exe = std::env::current_exe().map_err(|e| CliError::Config(e.to_string()))?.display().to_string();
    let hosts: Vec<_> = s.hosts().to_vec();
    for h in &hosts {
        let mut mappings = String::new();
        for (p, br) in &h.physnet_bridges {
            mappings.push_str(&format!("{p} = \"{br}\"\n"));
        }
        let cfg = format!(
            "host = \"{name}\"\nserver = \"{server}\"\ntoken = \"{token}\"\ntunnel_types = [\"vxlan\", \"gre\"]\n\
             local_ip = \"{ip}\"\ndatapath_type = \"netdev\"\novsdb = \"{db}\"\novs_rundir = \"{rd}\"\nnetns = \"{ns}\"\n\
             [bridge_mappings]\n{mappings}",
            name = h.name,
            server = a.server,
            ip = h.tunnel_addr(),
            db = h.db_socket().display(),
            rd = h.run_dir().display(),
            ns = h.netns(),
        );
        let path = h.run_dir().join("agent.toml");
        std::fs::write(&path, cfg).map_err(|e| CliError::Config(format!("{}: {e}", path.display())))?;
        let p = path.display().to_string();
        s.start_process(&h.name, "agent", &[&exe, "agent", "--config", &p], &[]).map_err(sb)?;
        println!(
            "host {} up: netns {}, tunnel endpoint {}, agent log {}",
            h.name,
            h.netns(),
            h.tunnel_ip(),
            h.run_dir().join("agent.log").display()
        );
    }
    Ok(())
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// The VM commands that need the API.
pub async fn run_api(client: &Client, cmd: SandboxCmd) -> Result<(), CliError> {
    match cmd {
        SandboxCmd::Vm(VmCmd::Create { name, host, network, ip, dir }) => {
            let net = client.networks().find(&network).await?;
            let net_id = net["id"].as_str().unwrap_or_default().to_string();
            let mtu = net.get("mtu").and_then(Value::as_u64).unwrap_or(1500);
            let mut body = json!({"network_id": net_id, "binding:host_id": host, "device_owner": "compute:nova",
                "device_id": format!("sandbox-vm-{name}"), "name": format!("vm-{name}")});
            if let Some(ip) = ip {
                body["fixed_ips"] = json!([{"ip_address": ip}]);
            }
            let port = client.ports().create(obj(body)).await?;
            let port_id = port["id"].as_str().unwrap_or_default().to_string();
            let fixed = &port["fixed_ips"][0];
            let ip_cidr = match (fixed["ip_address"].as_str(), fixed["subnet_id"].as_str()) {
                (Some(ip), Some(sub)) => {
                    let s = client.subnets().show(sub).await?;
                    let prefix =
                        s["cidr"].as_str().and_then(|c| c.split('/').nth(1)).unwrap_or("24").to_string();
                    Some(format!("{ip}/{prefix}"))
                }
                _ => None,
            };
            let mut spec = VmSpec::new(&name, &port_id, port["mac_address"].as_str().unwrap_or_default());
            spec.ip_cidr = ip_cidr.clone();
            spec.mtu = u32::try_from(mtu).unwrap_or(1500);
            let mut s = Sandbox::open(&dir.run_dir).map_err(sb)?;
            s.plug_vm(&host, &spec).map_err(sb)?;
            let start = Instant::now();
            loop {
                let p = client.ports().show(&port_id).await?;
                if p["status"] == "ACTIVE" {
                    break;
                }
                if p["binding:vif_type"] == "binding_failed" {
                    return Err(CliError::Config(format!(
                        "port {port_id} could not bind to {host}: no live agent there reaches the network's segment \
                         (the VM stays plugged; `neutrino sandbox vm delete {name}` removes it)"
                    )));
                }
                if start.elapsed() > Duration::from_secs(30) {
                    return Err(CliError::Config(format!(
                        "port {port_id} did not become ACTIVE (binding: {})",
                        p["binding:vif_type"]
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            println!(
                "vm {name} on {host}: port {port_id}, address {}, ACTIVE after {} ms",
                ip_cidr.unwrap_or_else(|| "none".into()),
                start.elapsed().as_millis()
            );
            Ok(())
        }
        SandboxCmd::Vm(VmCmd::Delete { name, dir }) => {
            let mut s = Sandbox::open(&dir.run_dir).map_err(sb)?;
            let port = s.vm(&name).map_err(sb)?.port_id.clone();
            s.unplug_vm(&name).map_err(sb)?;
            client.ports().delete(&port).await?;
            Ok(())
        }
        _ => Ok(()),
    }
}
