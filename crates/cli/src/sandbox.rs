//! `neutrino sandbox up|down|status|vm|outside`: a simulated cloud of hosts in network
//! namespaces, each with its own Open vSwitch and `neutrino agent`, VMs plugged the way os-vif
//! plugs them, and the outside world of a network node (docs/design.md "Sandbox"). Needs root. VMs are created through the API (their port is
//! bound to the host, so this needs admin credentials).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use neutrino_client::Client;
use neutrino_sandbox::{
    AgentSettings, EXT_GATEWAY_CIDR, EXT_PHYSNET, HostRole, LEASE_TIMEOUT, PUBLIC_GATEWAY_CIDR,
    PUBLIC_HOST_CIDR, Sandbox, SandboxSpec, VmSpec,
};
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
    /// The outside world of a network node: `ext` (203.0.113.1, the external network's
    /// upstream router) and the public host behind it (198.51.100.10).
    #[command(subcommand)]
    Outside(OutsideCmd),
}

#[derive(Subcommand)]
pub enum OutsideCmd {
    /// Run a command in `ext`, or with --public on the public host.
    Exec {
        /// On the public host (198.51.100.10) instead of `ext`.
        #[arg(long)]
        public: bool,
        #[command(flatten)]
        dir: RunDir,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
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
    /// Also bring up a network node (host `network`, agent roles l2, dhcp and l3) with a
    /// `br-ex` onto the outside world.
    #[arg(long)]
    network_node: bool,
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
        /// Set the port's address on eth0 directly instead of running a DHCP client in the
        /// VM (for networks no DHCP agent serves).
        #[arg(long = "static")]
        static_address: bool,
        #[command(flatten)]
        dir: RunDir,
    },
    /// Show the DHCP lease a VM's client last recorded (as JSON).
    Lease {
        name: String,
        /// Ask the client to renew first (SIGUSR1) and wait for the new record.
        #[arg(long)]
        renew: bool,
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
            exec_in(&s, &ns, command).map(|_| true)
        }
        SandboxCmd::Outside(OutsideCmd::Exec { public, dir, command }) => {
            let s = Sandbox::open(&dir.run_dir).map_err(sb)?;
            let ns = if *public { s.public_netns() } else { s.outside_netns() }.map_err(sb)?.to_string();
            exec_in(&s, &ns, command).map(|_| true)
        }
        SandboxCmd::Vm(VmCmd::Lease { name, renew, dir }) => {
            let s = Sandbox::open(&dir.run_dir).map_err(sb)?;
            let mut lease = s.vm_lease(name).map_err(sb)?;
            if *renew {
                s.renew_vm_lease(name).map_err(sb)?;
                let client = s.vm_dhcp(name).map_err(sb)?;
                let seq = lease.as_ref().map_or(0, |l| l.seq);
                let new = client
                    .wait_for(s.machine().host.as_ref(), LEASE_TIMEOUT, "a record after the renewal", |l| {
                        l.seq > seq
                    })
                    .map_err(sb)?;
                lease = Some(new);
            }
            let lease =
                lease.ok_or_else(|| CliError::Config(format!("VM {name} has recorded no lease yet")))?;
            println!("{}", serde_json::to_string_pretty(&lease).unwrap_or_default());
            Ok(true)
        }
        SandboxCmd::Vm(_) => Ok(false),
    }
}

/// Runs `command` in `ns`, passing its output through; fails when it fails.
fn exec_in(s: &Sandbox, ns: &str, command: &[String]) -> Result<(), CliError> {
    let argv: Vec<&str> = command.iter().map(String::as_str).collect();
    let out = s.exec(ns, &argv).map_err(sb)?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(CliError::Config(format!("command exited with {}", out.status)));
    }
    Ok(())
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
    spec.network_node = a.network_node;
    let mut s = Sandbox::up(&spec).map_err(sb)?;
    let exe = std::env::current_exe().map_err(|e| CliError::Config(e.to_string()))?.display().to_string();
    let settings = AgentSettings::new(&a.server, token)
        .with_roles_available(neutrino_agent::drivers::AVAILABLE.iter().map(|r| r.as_str()));
    let hosts: Vec<_> = s.hosts().to_vec();
    for h in &hosts {
        s.start_agent(&h.name, &exe, &settings, &[]).map_err(sb)?;
        println!(
            "host {} up ({}): netns {}, tunnel endpoint {}, agent roles {}, agent log {}",
            h.name,
            match h.role {
                HostRole::Compute => "compute",
                HostRole::Network => "network node",
            },
            h.netns(),
            h.tunnel_ip(),
            settings.roles_of(h.role).join(","),
            h.run_dir().join("agent.log").display()
        );
    }
    if let (Ok(ext), Ok(public)) = (s.outside_netns(), s.public_netns()) {
        println!(
            "outside world: netns {ext} at {} (external network {EXT_PHYSNET}, flat, gateway of 203.0.113.0/24) \
             and {} (towards the public host); public host: netns {public} at {}, default via {}",
            addr(EXT_GATEWAY_CIDR),
            addr(PUBLIC_GATEWAY_CIDR),
            addr(PUBLIC_HOST_CIDR),
            addr(PUBLIC_GATEWAY_CIDR),
        );
    }
    Ok(())
}

fn addr(cidr: &str) -> &str {
    cidr.split('/').next().unwrap_or(cidr)
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// The VM commands that need the API.
pub async fn run_api(client: &Client, cmd: SandboxCmd) -> Result<(), CliError> {
    match cmd {
        SandboxCmd::Vm(VmCmd::Create { name, host, network, ip, static_address, dir }) => {
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
            spec.mtu = u32::try_from(mtu).unwrap_or(1500);
            if static_address {
                spec.ip_cidr = ip_cidr.clone();
            } else {
                spec = spec.with_dhcp();
            }
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
            let active_ms = start.elapsed().as_millis();
            if static_address {
                println!(
                    "vm {name} on {host}: port {port_id}, address {} (static), ACTIVE after {active_ms} ms",
                    ip_cidr.unwrap_or_else(|| "none".into()),
                );
                return Ok(());
            }
            let lease = s.wait_vm_lease(&name, None, LEASE_TIMEOUT).map_err(|e| {
                CliError::Config(format!(
                    "sandbox: {e} (does a dhcp agent serve network {network}? `--static` sets the port's address \
                     directly; the VM stays plugged, `neutrino sandbox vm delete {name}` removes it)"
                ))
            })?;
            let address = lease.address.map_or("none".into(), |a| a.to_string());
            println!(
                "vm {name} on {host}: port {port_id}, address {address} (DHCP, port {}), ACTIVE after {active_ms} ms, \
                 lease after {} ms",
                ip_cidr.unwrap_or_else(|| "without an address".into()),
                start.elapsed().as_millis()
            );
            println!("{}", serde_json::to_string_pretty(&lease).unwrap_or_default());
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
