//! `bench-dataplane dhcp-reload`: what a change of ports costs the `dhcp` driver at 1,000,
//! 10,000 and 65,000 hosts on one network — generating dnsmasq's files from the desired state
//! (the driver's own generators) and dnsmasq re-reading them after SIGHUP — side by side with a
//! restart of dnsmasq on the same files (what a reload avoids; upstream reported minutes per
//! reload at 65k hosts). dnsmasq runs in a namespace of its own, bound to a veth there; the
//! end of a read is the log line dnsmasq writes after the last file (`read …/opts`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, Result, bail};
use neutrino_agent::dhcp::argv::{DnsmasqSettings, Paths, dnsmasq_argv};
use neutrino_agent::dhcp::hosts::{addn_hosts_file, hosts_file};
use neutrino_agent::dhcp::network::write_atomic;
use neutrino_agent::dhcp::opts::opts_file;
use neutrino_model::internal::{DhcpNetworkState, DhcpPortState, DhcpSubnetState, FixedIpState};

const NS: &str = "nt-bdr-dhcp";
const IFACE: &str = "ns-bench";
const SIZES: [usize; 3] = [1_000, 10_000, 65_000];

/// A /16 network with `n` VM ports and the DHCP port at 10.0.0.2.
fn network(n: usize) -> DhcpNetworkState {
    let port = |i: usize, owner: &str| {
        let (hi, lo) = ((i + 2) / 256, (i + 2) % 256);
        DhcpPortState {
            id: format!("{i:08x}-0000-4000-8000-000000000000"),
            project_id: "p".into(),
            name: format!("vm-{i}"),
            mac_address: format!("fa:16:3e:{:02x}:{hi:02x}:{lo:02x}", i >> 16),
            fixed_ips: vec![FixedIpState { subnet_id: "s".into(), ip_address: format!("10.0.{hi}.{lo}") }],
            admin_state_up: true,
            device_owner: owner.into(),
            device_id: format!("vm-{i}"),
            ..Default::default()
        }
    };
    let mut ports = vec![port(0, "network:dhcp")];
    ports.extend((1..=n).map(|i| port(i, "compute:nova")));
    DhcpNetworkState {
        id: "bench-net".into(),
        project_id: "p".into(),
        mtu: 1450,
        admin_state_up: true,
        dhcp_port: Some(ports[0].id.clone()),
        subnets: vec![DhcpSubnetState {
            id: "s".into(),
            ip_version: 4,
            cidr: "10.0.0.0/16".into(),
            gateway_ip: Some("10.0.0.1".into()),
            enable_dhcp: true,
            dns_nameservers: vec!["10.0.0.53".into()],
            ..Default::default()
        }],
        ports,
        routed_subnets: vec![],
        dns_domain: "openstacklocal".into(),
    }
}

/// Writes the three files the driver writes for `net`; the time it took.
fn write_files(net: &DhcpNetworkState, paths: &Paths) -> Result<Duration> {
    let t = Instant::now();
    let files = [
        (paths.host(), hosts_file(net)),
        (paths.addn_hosts(), addn_hosts_file(net)),
        (paths.opts(), opts_file(net, false)),
    ];
    for (path, text) in files {
        write_atomic(&path, &text)?;
    }
    Ok(t.elapsed())
}

fn ip(args: &[&str]) -> Result<()> {
    let st = Command::new("ip").args(args).status()?;
    if !st.success() {
        bail!("ip {} failed", args.join(" "));
    }
    Ok(())
}

/// The namespace with a veth whose end dnsmasq binds to; removed on drop.
struct Namespace;

impl Namespace {
    fn up() -> Result<Namespace> {
        let _ = Command::new("ip").args(["netns", "del", NS]).stderr(Stdio::null()).status();
        ip(&["netns", "add", NS])?;
        let ns = Namespace;
        ip(&["-n", NS, "link", "add", IFACE, "type", "veth", "peer", "name", "ns-peer"])?;
        ip(&["-n", NS, "addr", "add", "10.0.0.2/16", "dev", IFACE])?;
        ip(&["-n", NS, "link", "set", IFACE, "up"])?;
        ip(&["-n", NS, "link", "set", "ns-peer", "up"])?;
        Ok(ns)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", NS]).status();
    }
}

/// Lines of the log that end a read of the files.
fn reads(log: &Path, opts: &str) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter(|l| l.contains("read ") && l.ends_with(opts)).count()
}

fn wait_reads(log: &Path, opts: &str, want: usize, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    while reads(log, opts) < want {
        if start.elapsed() > timeout {
            bail!("dnsmasq did not read its files within {timeout:?} (log {})", log.display());
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    Ok(())
}

struct Dnsmasq {
    child: Child,
}

impl Dnsmasq {
    fn start(net: &DhcpNetworkState, paths: &Paths, log: &Path) -> Result<Dnsmasq> {
        let settings = DnsmasqSettings {
            program: "dnsmasq".into(),
            interface: IFACE.into(),
            lease_duration: 86400,
            dns_servers: vec![],
        };
        let mut argv = dnsmasq_argv(net, paths, &settings);
        argv.push("--keep-in-foreground".into());
        argv.push(format!("--log-facility={}", log.display()));
        let child = Command::new("ip")
            .args(["netns", "exec", NS])
            .args(&argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("dnsmasq")?;
        Ok(Dnsmasq { child })
    }

    fn signal(&self, sig: &str) -> Result<()> {
        let st = Command::new("kill").args([sig, &self.child.id().to_string()]).status()?;
        if !st.success() {
            bail!("kill {sig} dnsmasq failed");
        }
        Ok(())
    }

    fn stop(mut self) -> Result<()> {
        self.signal("-TERM")?;
        self.child.wait()?;
        Ok(())
    }
}

/// One size: `samples` reloads (one port more each time) and `samples` restarts.
struct Size {
    hosts: usize,
    generate: Vec<Duration>,
    reload: Vec<Duration>,
    restart: Vec<Duration>,
}

fn measure(dir: &Path, n: usize, samples: usize) -> Result<Size> {
    let mut net = network(n);
    let paths = Paths::new(dir, &net.id);
    std::fs::create_dir_all(&paths.dir)?;
    let opts = paths.opts().display().to_string();
    let log = dir.join(format!("dnsmasq-{n}.log"));
    let mut out = Size { hosts: n, generate: vec![], reload: vec![], restart: vec![] };
    write_files(&net, &paths)?;
    let mut d = Dnsmasq::start(&net, &paths, &log)?;
    wait_reads(&log, &opts, 1, Duration::from_secs(600))?;
    for i in 0..samples {
        // A port is added: the files are generated again and dnsmasq told to re-read them.
        let mut extra = net.ports[1].clone();
        extra.id = format!("extra-{i}");
        extra.mac_address = format!("fa:16:3f:00:00:{:02x}", i % 256);
        extra.fixed_ips[0].ip_address = format!("10.0.255.{}", 100 + i % 100);
        net.ports.push(extra);
        out.generate.push(write_files(&net, &paths)?);
        let before = reads(&log, &opts);
        let t = Instant::now();
        d.signal("-HUP")?;
        wait_reads(&log, &opts, before + 1, Duration::from_secs(600))?;
        out.reload.push(t.elapsed());
    }
    for _ in 0..samples {
        let t = Instant::now();
        d.stop()?;
        let _ = std::fs::remove_file(&log);
        d = Dnsmasq::start(&net, &paths, &log)?;
        wait_reads(&log, &opts, 1, Duration::from_secs(600))?;
        out.restart.push(t.elapsed());
    }
    d.stop()?;
    Ok(out)
}

fn ms(v: &[Duration], p: f64) -> f64 {
    crate::report::pct(v, p)
}

pub fn run(samples: usize) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    // dnsmasq reads its files as `nobody` after dropping privileges.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    let dir: PathBuf = tmp.path().to_path_buf();
    let _ns = Namespace::up()?;
    let mut rows = vec![];
    for n in SIZES {
        let s = measure(&dir, n, samples)?;
        eprintln!(
            "  {n} hosts: reload p50 {:.1} ms, restart p50 {:.1} ms, files p50 {:.1} ms",
            ms(&s.reload, 0.5),
            ms(&s.restart, 0.5),
            ms(&s.generate, 0.5)
        );
        rows.push(s);
    }
    println!("## dnsmasq: one port more (files written, SIGHUP, files re-read) against a restart");
    println!(
        "{:>8} {:>4} {:>12} {:>12} {:>13} {:>13} {:>15}",
        "hosts", "n", "files p50 ms", "reload p50", "reload p99", "restart p50", "restart/reload"
    );
    for s in &rows {
        let (reload, restart) = (ms(&s.reload, 0.5), ms(&s.restart, 0.5));
        println!(
            "{:>8} {:>4} {:>12.1} {:>12.1} {:>13.1} {:>13.1} {:>15.1}",
            s.hosts,
            s.reload.len(),
            ms(&s.generate, 0.5),
            reload,
            ms(&s.reload, 0.99),
            restart,
            restart / reload.max(1e-3)
        );
    }
    println!(
        "(files: the driver's generators and atomic writes of host, addn_hosts and opts; reload: SIGHUP until dnsmasq logs the read of opts; restart: SIGTERM, start, until the same line)"
    );
    Ok(())
}
