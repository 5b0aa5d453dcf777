//! `bench-dataplane`: measures the dataplane side of Neutrino on a sandbox of two hosts with
//! real agents and userspace Open vSwitch — time from `binding:host_id` to ACTIVE at 1, 100
//! and 1,000 ports on a host, resync time and packet loss of a restarted agent with 1,000
//! ports, OpenFlow rules per port, and VM-to-VM TCP throughput over VXLAN against a plain veth
//! pair; with `security`, the security group figures ([`security`]). Needs root and Open
//! vSwitch; with `dhcp`, port create to the VM's lease ([`dhcp_lease`]); with `dhcp-reload`, dnsmasq's reload against a restart at 1,000 to 65,000 hosts
//! ([`dhcp_reload`], needs root and dnsmasq only); with `l3`, the router figures ([`l3`]). Build both binaries first:
//! `cargo build --release -p neutrino-cli -p neutrino-bench-dataplane`.

mod binding;
mod cloud;
mod dhcp_lease;
mod dhcp_reload;
mod l3;
mod report;
mod resync;
mod security;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::binding::{Filler, HOST};
use crate::cloud::{Cloud, PREFIX};
use crate::report::Figures;

struct Args {
    /// `l2` (binding, resync, throughput) or `security` (security group figures).
    what: String,
    neutrino: PathBuf,
    samples: usize,
    ports: usize,
}

fn usage() -> &'static str {
    "usage: bench-dataplane [l2 | security | dhcp | dhcp-reload | l3] [--neutrino PATH] [--samples N (30)] [--ports N (1000)]\n\
     needs root and Open vSwitch; the `neutrino` binary defaults to the one next to this one\n\
     (cargo build --release -p neutrino-cli -p neutrino-bench-dataplane)"
}

fn args() -> Result<Args> {
    let mut a = Args {
        what: "l2".into(),
        neutrino: std::env::current_exe()?.with_file_name("neutrino"),
        samples: 30,
        ports: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value\n{}", usage()));
        match arg.as_str() {
            "--neutrino" => a.neutrino = value()?.into(),
            "--samples" => a.samples = value()?.parse()?,
            "--ports" => a.ports = value()?.parse()?,
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            "l2" | "security" | "dhcp" | "dhcp-reload" | "l3" => a.what = arg.clone(),
            other => bail!("unknown argument {other}\n{}", usage()),
        }
    }
    if !a.neutrino.exists() {
        bail!("no neutrino binary at {} (--neutrino PATH)\n{}", a.neutrino.display(), usage());
    }
    Ok(a)
}

fn prerequisites() -> Result<()> {
    let root = std::fs::read_to_string("/proc/self/status")?
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"));
    let mut missing: Vec<&str> = if root { vec![] } else { vec!["root"] };
    for prog in [
        "ovs-vswitchd",
        "ovsdb-server",
        "ovs-vsctl",
        "ovs-ofctl",
        "ip",
        "busybox",
        "iperf3",
        "ethtool",
        "python3",
    ] {
        let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(prog).exists());
        if !found {
            missing.push(prog);
        }
    }
    if missing.is_empty() { Ok(()) } else { bail!("missing: {}", missing.join(", ")) }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn run(a: &Args) -> Result<Figures> {
    let mut cloud = Cloud::up(&a.neutrino, 2)?;
    eprintln!("sandbox and agents up");
    let (net, mtu) = cloud.vxlan_network("10.10.0.0/20")?;
    let ip_a = cloud.vm(HOST, "a", &net, mtu)?;
    let ip_b = cloud.vm("h2", "b", &net, mtu)?;
    let (ns_a, ns_b) = (cloud.vm_netns("a")?, cloud.vm_netns("b")?);
    cloud.wait(std::time::Duration::from_secs(30), "a pings b", |c| {
        Ok(c.sandbox.exec(&ns_a, &["busybox", "ping", "-c", "1", "-W", "1", &ip_b])?.status.success())
    })?;
    eprintln!("VMs a ({ip_a}, h1) and b ({ip_b}, h2) up, MTU {mtu}");

    let mut levels = vec![];
    {
        // VM a is the one port already on h1; VM b is on h2.
        let mut filler = Filler::new(&cloud, &net, 1, 1);
        for target in [1, 100, a.ports] {
            let l = filler.level(target, a.samples)?;
            eprintln!("  level {}: {}", l.ports_before, report::ms_summary(&l.samples));
            let order: Vec<String> =
                l.samples.iter().map(|d| format!("{:.1}", d.as_secs_f64() * 1e3)).collect();
            eprintln!("    in order (ms): {}", order.join(" "));
            let times = cloud.bundle_times(HOST, "br-int", l.samples.len())?;
            let compute = median(times.iter().map(|t| t.0).collect());
            let apply = median(times.iter().map(|t| t.1).collect());
            eprintln!(
                "    h1 agent, its last {} br-int bundles: sync start to bundle p50 {compute:.1} ms, ovs-ofctl apply p50 {apply:.1} ms",
                times.len()
            );
            levels.push(l);
        }
    }
    let on_host = levels.last().map_or(0, |l| l.ports_before + l.samples.len());

    let mut vm_bps = vec![];
    for _ in 0..3 {
        vm_bps.push(resync::iperf(&cloud, &ns_a, &ns_b, &ip_b)?);
    }
    eprintln!("VM to VM: {:.2} Gbit/s", median(vm_bps.clone()) / 1e9);

    let rs = resync::measure(&mut cloud, "a", &ip_b, on_host)?;
    eprintln!("resync {:.0} ms, lost {}/{}", rs.resync.as_secs_f64() * 1e3, rs.sent - rs.received, rs.sent);

    let mut veth_bps = vec![];
    {
        let pair = resync::VethPair::up(PREFIX, mtu)?;
        for _ in 0..3 {
            veth_bps.push(resync::iperf(&cloud, &pair.ns[0], &pair.ns[1], "192.0.2.2")?);
        }
    }
    eprintln!("veth: {:.2} Gbit/s", median(veth_bps.clone()) / 1e9);
    Ok(Figures { levels, resync: rs, vm_bps: median(vm_bps), veth_bps: median(veth_bps), mtu })
}

fn main() -> Result<()> {
    let a = args()?;
    if a.what == "dhcp-reload" {
        return dhcp_reload::run(a.samples.min(10));
    }
    prerequisites()?;
    if a.what == "dhcp" {
        let mut cloud = Cloud::up_with(&a.neutrino, 1, true)?;
        eprintln!("sandbox with a network node and agents up");
        return dhcp_lease::run(&mut cloud, a.samples.min(20));
    }
    if a.what == "l3" {
        let mut cloud = Cloud::up_with(&a.neutrino, 2, true)?;
        eprintln!("sandbox with a network node (l2, dhcp, l3) and agents up");
        return l3::run(&mut cloud, a.samples.min(20));
    }
    if a.what == "security" {
        let mut cloud = Cloud::up(&a.neutrino, 2)?;
        eprintln!("sandbox and agents up");
        return security::run(&mut cloud, a.samples.min(20));
    }
    let figures = run(&a)?;
    report::print(&figures);
    Ok(())
}
