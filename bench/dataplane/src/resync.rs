//! Agent restart: while VM `a` (h1) pings VM `b` (h2) every 50 ms, the h1 agent is stopped
//! and started again; the resync time runs from the start of the new process to its
//! `agent in sync` log line. Reports that time, the time the stop took, and packets lost.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::binding::HOST;
use crate::cloud::Cloud;

/// Pings sent over the whole measurement (50 ms apart: 15 s).
const PINGS: u32 = 300;

pub struct Resync {
    pub ports: usize,
    pub stop: Duration,
    pub resync: Duration,
    pub sent: u32,
    pub received: u32,
    /// The new agent's log up to `agent in sync`.
    pub log: String,
}

/// Packets sent and received by a `busybox ping` summary.
fn ping_counts(out: &str) -> (u32, u32) {
    let line = out.lines().find(|l| l.contains("packets transmitted")).unwrap_or_default();
    let nums: Vec<u32> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    (nums.first().copied().unwrap_or(0), nums.get(1).copied().unwrap_or(0))
}

pub fn measure(cloud: &mut Cloud, from_vm: &str, to_ip: &str, ports: usize) -> Result<Resync> {
    let ns = cloud.vm_netns(from_vm)?;
    let count = PINGS.to_string();
    let ping =
        cloud.sandbox.spawn(&ns, &["busybox", "ping", "-i", "0.05", "-W", "1", "-c", &count, to_ip])?;
    let result = restart(cloud);
    let out = ping.wait_with_output()?;
    let (sent, received) = ping_counts(&String::from_utf8_lossy(&out.stdout));
    let (stop, resync, log) = result?;
    if sent == 0 {
        bail!("ping printed no summary: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(Resync { ports, stop, resync, sent, received, log })
}

fn restart(cloud: &mut Cloud) -> Result<(Duration, Duration, String)> {
    std::thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    cloud.stop_agent(HOST)?;
    let stop = t.elapsed();
    let log = cloud.agent_log(HOST)?;
    let t = Instant::now();
    cloud.start_agent(HOST)?;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("agent in sync") {
            return Ok((stop, t.elapsed(), text));
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("h1 agent not in sync 60 s after its start; log:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `iperf3 -t 5 -J` from namespace `client` to `ip` (server in namespace `server`), in bits/s.
pub fn iperf(cloud: &Cloud, client: &str, server: &str, ip: &str) -> Result<f64> {
    for _ in 0..3 {
        let mut srv = cloud.sandbox.spawn(server, &["iperf3", "-s", "-1"])?;
        std::thread::sleep(Duration::from_millis(300));
        let out = cloud.sandbox.exec(client, &["iperf3", "-c", ip, "-t", "5", "-J"]);
        let _ = srv.kill();
        let _ = srv.wait();
        let v: serde_json::Value = serde_json::from_slice(&out?.stdout).unwrap_or_default();
        if v.get("error").is_none()
            && let Some(bps) = v["end"]["sum_received"]["bits_per_second"].as_f64()
        {
            return Ok(bps);
        }
    }
    bail!("iperf3 from {client} to {ip} failed three times")
}

/// Runs a command in the root namespace that only touches `nt-bd-…` namespaces.
fn ip(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("ip").args(args).output().context("ip")?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The baseline: two namespaces joined by a plain veth pair, MTU `mtu`, TX checksum
/// offload off on both ends (as on the VMs' veths). Removed on drop.
pub struct VethPair {
    pub ns: [String; 2],
}

impl VethPair {
    pub fn up(prefix: &str, mtu: u32) -> Result<VethPair> {
        let ns = [format!("{prefix}v1"), format!("{prefix}v2")];
        let pair = VethPair { ns: ns.clone() };
        for n in &ns {
            let _ = ip(&["netns", "del", n]);
            ip(&["netns", "add", n])?;
        }
        let mtu = mtu.to_string();
        ip(&[
            "-n", &ns[0], "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", &ns[1],
        ])?;
        for (n, addr) in ns.iter().zip(["192.0.2.1/24", "192.0.2.2/24"]) {
            ip(&["-n", n, "link", "set", "lo", "up"])?;
            ip(&["-n", n, "link", "set", "veth0", "mtu", &mtu, "up"])?;
            ip(&["-n", n, "addr", "add", addr, "dev", "veth0"])?;
            let out = neutrino_sandbox::exec(n, &["ethtool", "-K", "veth0", "tx", "off"])?;
            if !out.status.success() {
                bail!("ethtool in {n}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        Ok(pair)
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for n in &self.ns {
            let _ = ip(&["netns", "del", n]);
        }
    }
}
