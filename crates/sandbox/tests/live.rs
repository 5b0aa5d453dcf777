//! End-to-end tests of the sandbox on this machine (root and Open vSwitch needed): tunnel
//! endpoints across the fabric, two VMs on one `br-int` (ping and TCP), `down`, and `down`
//! after a crash. Without the prerequisites they print "skipped: …"; with `CI=true` they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use neutrino_host::process::proc_alive;
use neutrino_host::testing::Prerequisites;
use neutrino_host::{LinuxHost, resolve_program};
use neutrino_sandbox::{Sandbox, SandboxSpec, VmSpec, down_with, exec, spawn, vswitch_schema};

/// One sandbox at a time: a 2-core machine and two userspace switches per test.
static LOCK: Mutex<()> = Mutex::new(());

/// Whether to run: root, the tools and the OVSDB schema (see `neutrino_host::testing`).
fn prerequisites_met() -> bool {
    Prerequisites::new()
        .root()
        .programs(&[
            "ip",
            "ovsdb-tool",
            "ovsdb-server",
            "ovs-vswitchd",
            "ovs-vsctl",
            "ethtool",
            "iperf3",
            "busybox",
        ])
        .file(vswitch_schema())
        .met()
}

/// Tears the sandbox down even when the test panics.
struct Guard {
    run_dir: PathBuf,
    prefix: &'static str,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = down_with(&self.run_dir, Some(self.prefix), &LinuxHost::new());
    }
}

fn spec(prefix: &'static str, hosts: usize, dir: &Path) -> (SandboxSpec, Guard) {
    let run_dir = dir.join("run");
    let spec = SandboxSpec {
        name_prefix: prefix.into(),
        run_dir: run_dir.clone(),
        ext: true,
        ..SandboxSpec::default(hosts)
    };
    (spec, Guard { run_dir, prefix })
}

fn namespaces_with(prefix: &str) -> Vec<String> {
    let out = Command::new(resolve_program("ip")).args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Runs `argv` in `netns` until it succeeds (ARP, MAC learning and OVS reconfiguration take a
/// moment) or `tries` runs failed.
fn eventually(netns: &str, argv: &[&str], tries: usize) -> std::process::Output {
    let mut last = None;
    for _ in 0..tries {
        let out = exec(netns, argv).unwrap();
        if out.status.success() {
            return out;
        }
        last = Some(out);
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = last.unwrap();
    panic!(
        "[{netns}] {} failed: {}{}",
        argv.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One second of iperf3 from `client_ns` to `server_ip` in `server_ns`; asserts that at least
/// 1 MB arrived and returns the bytes received (a count, never a timing).
fn tcp_transfer(client_ns: &str, server_ns: &str, server_ip: &str) -> u64 {
    let mut server = spawn(server_ns, &["iperf3", "-s", "-1", "-B", server_ip]).unwrap();
    // With -J iperf3 may exit 0 and report the failure in the JSON: retry until the server listens.
    let mut report = serde_json::Value::Null;
    for _ in 0..20 {
        let out = exec(client_ns, &["iperf3", "-c", server_ip, "-t", "1", "-J", "--connect-timeout", "2000"])
            .unwrap();
        report = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if out.status.success() && report.get("error").is_none() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    let received = report["end"]["sum_received"]["bytes"].as_u64().unwrap_or_default();
    assert!(received >= 1_000_000, "only {received} bytes arrived: {report}");
    received
}

fn vsctl(sb: &Sandbox, host: &str, args: &[&str]) {
    let h = sb.host(host).unwrap();
    let out = Command::new("ovs-vsctl").arg(format!("--db={}", h.db_target())).args(args).output().unwrap();
    assert!(out.status.success(), "ovs-vsctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn two_hosts_tunnel_endpoints_and_two_vms() {
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !prerequisites_met() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("nt-sb").tempdir_in("/tmp").unwrap();
    let (spec, guard) = spec("nt-a-", 2, dir.path());
    let mut sb = Sandbox::up(&spec).unwrap();

    let status = Sandbox::status(&spec.run_dir).unwrap();
    assert!(status.hosts.iter().all(|h| h.netns_present && h.ovsdb_server && h.ovs_vswitchd), "{status:?}");
    let daemon_pids: Vec<u32> = status.processes.iter().filter_map(|p| p.pid).collect();
    assert_eq!(daemon_pids.len(), 4);

    // Tunnel endpoints (on br-phy) reach each other across the fabric, both ways.
    let (h1, h2) = (sb.host("h1").unwrap().clone(), sb.host("h2").unwrap().clone());
    eventually(h1.netns(), &["busybox", "ping", "-c1", "-W1", &h2.tunnel_addr().to_string()], 10);
    eventually(h2.netns(), &["busybox", "ping", "-c1", "-W1", &h1.tunnel_addr().to_string()], 10);
    // The outside world answers through br-ex (an address on br-ex inside the host namespace,
    // removed again: routing towards ext is the L3 agent's job).
    let ip_h1 =
        |args: &[&str]| assert!(exec(h1.netns(), &[&["ip"], args].concat()).unwrap().status.success());
    ip_h1(&["addr", "add", "203.0.113.254/24", "dev", "br-ex"]);
    ip_h1(&["link", "set", "br-ex", "up"]);
    eventually(h1.netns(), &["busybox", "ping", "-c1", "-W1", "203.0.113.1"], 10);
    ip_h1(&["addr", "del", "203.0.113.254/24", "dev", "br-ex"]);

    // Two VMs on h1's br-int, same VLAN tag, NORMAL forwarding.
    let vm = |name: &str, port: &str, mac: &str, ip: &str| VmSpec {
        ip_cidr: Some(ip.into()),
        ..VmSpec::new(name, port, mac)
    };
    let a = sb
        .plug_vm("h1", &vm("a", "aaaaaaaa-0000-0000-0000-000000000001", "fa:16:3e:00:00:0a", "10.0.0.5/24"))
        .unwrap();
    let b = sb
        .plug_vm("h1", &vm("b", "bbbbbbbb-0000-0000-0000-000000000002", "fa:16:3e:00:00:0b", "10.0.0.6/24"))
        .unwrap();
    vsctl(&sb, "h1", &["set", "port", &a.tap, "tag=5"]);
    vsctl(&sb, "h1", &["set", "port", &b.tap, "tag=5"]);
    eventually(&a.netns, &["busybox", "ping", "-c1", "-W1", "10.0.0.6"], 10);

    // A real TCP transfer through userspace OVS.
    println!("iperf3 a→b: {} bytes received", tcp_transfer(&a.netns, &b.netns, "10.0.0.6"));

    // VLAN 5 across the physical network: br-int ↔ br-eth1 patch ports on both hosts (what the
    // agent will do, minus the VLAN translation flows), tagged frames through nt-a-phys.
    let c = sb
        .plug_vm("h2", &vm("c", "cccccccc-0000-0000-0000-000000000003", "fa:16:3e:00:00:0c", "10.0.0.7/24"))
        .unwrap();
    vsctl(&sb, "h2", &["set", "port", &c.tap, "tag=5"]);
    for host in ["h1", "h2"] {
        let patch = |br: &str, name: &str, peer: &str| {
            let peer = format!("options:peer={peer}");
            vsctl(&sb, host, &["add-port", br, name, "--", "set", "interface", name, "type=patch", &peer]);
        };
        patch("br-int", "int-br-eth1", "phy-br-eth1");
        patch("br-eth1", "phy-br-eth1", "int-br-eth1");
    }
    eventually(&a.netns, &["busybox", "ping", "-c1", "-W1", "10.0.0.7"], 10);
    println!("iperf3 a→c over VLAN 5: {} bytes received", tcp_transfer(&a.netns, &c.netns, "10.0.0.7"));

    // Unplug one VM, then tear everything down.
    sb.unplug_vm("b").unwrap();
    assert!(!namespaces_with("nt-a-").contains(&b.netns));
    let report = sb.teardown().unwrap();
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert_eq!(namespaces_with("nt-a-"), Vec::<String>::new());
    for pid in daemon_pids {
        assert!(!proc_alive(pid), "daemon {pid} still alive");
    }
    assert!(!spec.run_dir.exists());
    // Idempotent.
    Sandbox::down(&spec.run_dir).unwrap();
    drop(guard);
}

#[test]
fn down_cleans_up_after_a_crash() {
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !prerequisites_met() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("nt-sb").tempdir_in("/tmp").unwrap();
    let (spec, guard) = spec("nt-b-", 1, dir.path());
    let mut sb = Sandbox::up(&spec).unwrap();
    sb.plug_vm("h1", &VmSpec::new("c", "cccccccc-0000-0000-0000-000000000003", "fa:16:3e:00:00:0c")).unwrap();
    let agent = sb.start_process("h1", "agent", &["sleep", "300"], &[("RUST_LOG", "info")]).unwrap();
    let mut stray = spawn("nt-b-vm-c", &["sleep", "300"]).unwrap();
    // Wait until `ip netns exec` has entered the namespace and become `sleep`.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let out = Command::new("ip").args(["netns", "pids", "nt-b-vm-c"]).output().unwrap();
        if String::from_utf8_lossy(&out.stdout).split_whitespace().any(|p| p == stray.id().to_string()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut pids: Vec<u32> = sb.state().processes.iter().filter_map(|p| p.pid).collect();
    assert_eq!(pids.len(), 3, "two daemons and the agent");
    assert!(pids.iter().all(|p| proc_alive(*p)));

    // The crash: the daemons die hard and sandbox.json is cut short.
    for p in sb.state().processes.iter().filter(|p| p.program.starts_with("ovs")) {
        Command::new("kill").args(["-s", "KILL", &p.pid.unwrap().to_string()]).status().unwrap();
    }
    let json_path = spec.run_dir.join("sandbox.json");
    let json = std::fs::read_to_string(&json_path).unwrap();
    std::fs::write(&json_path, &json[..json.len() / 4]).unwrap();
    // The sweep by name must only ever see this sandbox's prefix.
    assert_eq!(neutrino_sandbox::salvage_prefix(&json[..json.len() / 4]).as_deref(), Some("nt-b-"));
    drop(sb);

    let report = Sandbox::down(&spec.run_dir).unwrap();
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert_eq!(namespaces_with("nt-b-"), Vec::<String>::new());
    pids.push(stray.id());
    std::thread::sleep(Duration::from_millis(100));
    for pid in pids {
        assert!(!proc_alive(pid), "{pid} still alive");
    }
    assert!(!proc_alive(agent));
    let _ = stray.kill();
    let _ = stray.wait();
    assert!(!spec.run_dir.exists());
    drop(guard);
}

#[test]
fn the_network_node_reaches_the_outside_world_and_the_public_host() {
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !prerequisites_met() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("nt-sb").tempdir_in("/tmp").unwrap();
    let (mut spec, guard) = spec("nt-c-", 1, dir.path());
    spec.ext = false;
    spec.network_node = true;
    let sb = Sandbox::up(&spec).unwrap();
    let network = sb.host("network").unwrap().clone();

    // br-ex on the network node, with its uplink into ext; none on the compute host.
    let ports = |host: &str| {
        let h = sb.host(host).unwrap();
        let out = Command::new("ovs-vsctl")
            .arg(format!("--db={}", h.db_target()))
            .args(["list-ports", "br-ex"])
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    assert_eq!(ports("network"), (true, "ex-network".to_string()));
    assert!(!ports("h1").0, "h1 has no br-ex");

    // The public host reaches ext on both of ext's sides.
    let public = sb.public_netns().unwrap().to_string();
    eventually(&public, &["busybox", "ping", "-c1", "-W1", "198.51.100.1"], 10);
    eventually(&public, &["busybox", "ping", "-c1", "-W1", "203.0.113.1"], 10);
    assert!(sb.exec_outside(&["busybox", "ping", "-c1", "-W1", "198.51.100.10"]).unwrap().status.success());

    // Through ext's forwarding to an address on the external network behind br-ex (what a
    // router's gateway port will be), and back.
    let ip = |args: &[&str]| {
        let out = exec(network.netns(), &[&["ip"], args].concat()).unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    ip(&["addr", "add", "203.0.113.250/24", "dev", "br-ex"]);
    ip(&["link", "set", "br-ex", "up"]);
    ip(&["route", "add", "198.51.100.0/24", "via", "203.0.113.1"]);
    let to_gateway_port = ["busybox", "ping", "-c1", "-W1", "203.0.113.250"];
    eventually(&public, &to_gateway_port, 10);
    // Without forwarding in ext the same ping does not get through; ext itself still answers.
    let forward = |on: &str| {
        let out = sb.exec_outside(&["sysctl", "-qw", &format!("net.ipv4.ip_forward={on}")]).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    forward("0");
    assert!(!sb.exec_public(&to_gateway_port).unwrap().status.success(), "forwarded with ip_forward=0");
    eventually(&public, &["busybox", "ping", "-c1", "-W1", "203.0.113.1"], 10);
    forward("1");
    eventually(&public, &to_gateway_port, 10);

    let report = sb.teardown().unwrap();
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert_eq!(namespaces_with("nt-c-"), Vec::<String>::new());
    drop(guard);
}
