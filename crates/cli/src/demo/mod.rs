//! `neutrino demo`: a 3-tier application on a whole cloud in network namespaces — a server
//! (child process, SQLite, builtin identity) in a fresh directory, a sandbox of two compute
//! hosts and a network node with the outside world, then through the public API: the external
//! network, networks web/app/db behind router `r1`, a security group per tier, four VMs
//! addressed by DHCP, floating IPs on the web VMs; then checks with real traffic, a summary
//! table, and the cloud left up for looking around until `neutrino demo down --dir DIR`.

mod build;
mod checks;
mod plan;
mod report;
mod server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use neutrino_client::Client;
use neutrino_sandbox::{AgentSettings, Sandbox, SandboxSpec};
use serde_json::Value;

use build::Built;
use plan::{CheckPlan, Plan};
use report::{CheckResult, Progress, step};

/// Prefix of the demo sandbox's namespaces.
const PREFIX: &str = "nt-demo-";

#[derive(Args)]
pub struct DemoArgs {
    /// Directory for the server's data, the sandbox and the logs (default: a new
    /// `/tmp/neutrino-demo.<pid>`).
    #[arg(long)]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<DemoCmd>,
}

#[derive(Subcommand)]
enum DemoCmd {
    /// Tear down a demo: stop its server (by its recorded pid) and its sandbox.
    Down {
        /// The demo's directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

pub fn run(rt: &tokio::runtime::Runtime, args: DemoArgs) -> anyhow::Result<()> {
    if let Some(DemoCmd::Down { dir }) = args.cmd {
        return down(&dir);
    }
    if !is_root() {
        bail!("the demo's sandbox needs root (network namespaces, Open vSwitch)");
    }
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("neutrino-demo.{}", std::process::id())),
    };
    if dir.join(server::PID_FILE).exists() || dir.join("sandbox").exists() {
        bail!("a demo already ran in {0}: `neutrino demo down --dir {0}` first", dir.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // dnsmasq reads the DHCP agent's files (under the sandbox) as nobody.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let dir = dir.canonicalize()?;
    let started = Instant::now();
    let exe = std::env::current_exe()?.display().to_string();
    let results = match rt.block_on(demo(&dir)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "The demo stopped; what it made is still up. Tear it down with:\n  {exe} demo down --dir {}",
                dir.display()
            );
            return Err(e);
        }
    };
    println!("\n{}", report::summary(&results));
    println!("(built and checked in {}s)\n", started.elapsed().as_secs());
    let qrouter = Sandbox::open(&dir.join("sandbox")).ok().and_then(|sb| qrouter_ns(&sb, &dir));
    println!("{}", report::look_around(&dir, &exe, qrouter.as_deref()));
    if !report::all_passed(&results) {
        bail!("{} of {} checks failed", results.iter().filter(|r| !r.ok).count(), results.len());
    }
    Ok(())
}

/// The router's namespace on the network node (its id recorded by the demo).
fn qrouter_ns(sb: &Sandbox, dir: &Path) -> Option<String> {
    let id = std::fs::read_to_string(dir.join("router.id")).ok().filter(|id| !id.trim().is_empty())?;
    Some(format!("{}qrouter-{}", sb.host(neutrino_sandbox::NETWORK_NODE).ok()?.namespace_prefix(), id.trim()))
}

async fn demo(dir: &Path) -> anyhow::Result<Vec<CheckResult>> {
    let plan = Plan::three_tier();
    let exe = std::env::current_exe()?.display().to_string();
    step(&format!("starting a server (SQLite and the builtin identity in {}/data)…", dir.display()));
    let srv = server::start(dir, &exe, plan.external.physnet).await?;
    step(&format!("server at {} (pid {}, log {}/server.log)", srv.url, srv.pid, dir.display()));
    let clouds = srv.data_dir.join("clouds.yaml");
    let admin = crate::connect::connect_cloud(&clouds, "neutrino-admin").await?;
    let demo = crate::connect::connect_cloud(&clouds, "neutrino-demo").await?;

    // The network node serves l2, dhcp and l3 (those this build's agent has drivers for).
    let settings = AgentSettings::new(&srv.url, &srv.agent_token)
        .with_roles_available(neutrino_agent::drivers::AVAILABLE.iter().map(|r| r.as_str()));
    step(&format!(
        "bringing up the sandbox: hosts h1, h2 (compute) and network ({}; br-ex to the outside world)…",
        settings.roles_of(neutrino_sandbox::HostRole::Network).join(", ")
    ));
    let mut spec = SandboxSpec::default(2);
    spec.name_prefix = PREFIX.into();
    spec.run_dir = dir.join("sandbox");
    spec.network_node = true;
    let mut sb = Sandbox::up(&spec).context("sandbox up")?;
    let hosts: Vec<String> = sb.hosts().iter().map(|h| h.name.clone()).collect();
    for h in &hosts {
        sb.start_agent(h, &exe, &settings, &[("NEUTRINO_LOG", "info")])?;
    }
    let rows: usize = spec.all_hosts().iter().map(|h| settings.roles_of(h.role).len()).sum();
    {
        let _p = Progress::start(&format!("waiting for the {rows} agents' first heartbeats"));
        build::wait_agents(&admin, rows).await?;
    }

    let mut built = Built::default();
    build::external(&admin, &plan, &mut built).await?;
    build::tenant(&demo, &plan, &mut built).await?;
    std::fs::write(dir.join("router.id"), &built.router_id)?;
    step(&format!("router {} has gateway address {}", plan.router, built.gateway_ip));
    for v in &plan.vms {
        build::vm(&demo, &admin, &mut sb, v, &mut built).await?;
    }
    let checks = plan.checks();
    let mut results = Vec::new();
    {
        let _p = Progress::start("waiting for the VMs' DHCP leases");
        results.extend(leases(&sb, &plan, &built));
    }
    build::floating_ips(&demo, &plan, &mut built).await?;
    {
        let _p = Progress::start("waiting for the floating IPs to become ACTIVE");
        for c in &checks {
            if let CheckPlan::FloatingActive { vm } = c {
                results.push(floating_active(&demo, &built, vm).await);
            }
        }
    }
    step(
        "starting the servers: HTTP on web-1/web-2 (and a listener on 22), app-1:8080, db-1:5432, public host:9000…",
    );
    checks::start_servers(&sb, &plan, dir).map_err(anyhow::Error::msg)?;
    let traffic: Vec<CheckPlan> = checks
        .iter()
        .filter(|c| !matches!(c, CheckPlan::Lease { .. } | CheckPlan::FloatingActive { .. }))
        .cloned()
        .collect();
    {
        let _p = Progress::start(&format!("running {} traffic checks", traffic.len()));
        results.extend(checks::run_all(&sb, &plan, &built, &traffic));
    }
    Ok(results)
}

/// Every VM's lease, waited for concurrently; each must carry its port's address.
fn leases(sb: &Sandbox, plan: &Plan, built: &Built) -> Vec<CheckResult> {
    std::thread::scope(|s| {
        let handles: Vec<_> = plan
            .vms
            .iter()
            .map(|v| (v, s.spawn(move || sb.wait_vm_lease(&v.sandbox_name(), None, Duration::from_secs(60)))))
            .collect();
        handles
            .into_iter()
            .map(|(v, h)| {
                let want = built.vms.get(v.name).map(|b| b.ip.clone()).unwrap_or_default();
                let (ok, detail) = match h.join() {
                    Ok(Ok(lease)) => {
                        let got = lease.address.map(|a| a.addr().to_string()).unwrap_or_default();
                        (got == want, if got == want { got } else { format!("{got}, expected {want}") })
                    }
                    Ok(Err(e)) => (false, e.to_string()),
                    Err(_) => (false, "crashed".into()),
                };
                CheckResult { what: CheckPlan::Lease { vm: v.name }.describe(), ok, detail }
            })
            .collect()
    })
}

/// Waits up to 30 s for the VM's floating IP to be ACTIVE.
async fn floating_active(demo: &Client, built: &Built, vm: &'static str) -> CheckResult {
    let what = CheckPlan::FloatingActive { vm }.describe();
    let Some((id, address)) = built.vms.get(vm).and_then(|v| v.floating.clone()) else {
        return CheckResult { what, ok: false, detail: "no floating IP".into() };
    };
    let start = Instant::now();
    let mut status = String::new();
    while start.elapsed() < Duration::from_secs(30) {
        match demo.floating_ips().show(&id).await {
            Ok(f) => status = f.get("status").and_then(Value::as_str).unwrap_or_default().to_string(),
            Err(e) => status = e.to_string(),
        }
        if status == "ACTIVE" {
            return CheckResult { what, ok: true, detail: format!("{address} ACTIVE") };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    CheckResult { what, ok: false, detail: format!("{address} still {status}") }
}

/// `neutrino demo down`: the server by its pid, then the sandbox, then the directory.
fn down(dir: &Path) -> anyhow::Result<()> {
    if !dir.join(server::PID_FILE).exists() && !dir.join("sandbox").exists() {
        bail!("{} is not a demo directory (no {} and no sandbox)", dir.display(), server::PID_FILE);
    }
    let stopped = server::stop(dir)?;
    println!("server: {}", if stopped { "stopped" } else { "was not running" });
    let report = neutrino_sandbox::down(&dir.join("sandbox"))?;
    println!(
        "sandbox: {} processes stopped, {} namespaces deleted",
        report.processes.len(),
        report.namespaces_deleted.len()
    );
    if !report.leftovers.is_empty() {
        bail!("left over: {}", report.leftovers.join(", "));
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    println!("removed {}", dir.display());
    Ok(())
}
