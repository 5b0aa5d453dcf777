//! The `dhcp` driver on the real machine (root, dnsmasq, dhcp_release, busybox's udhcpc,
//! haproxy, curl): it starts dnsmasq in a `qdhcp-` namespace and a client in another namespace
//! gets its port's address; a port added is served after the reload, a port removed has its
//! lease released, a restarted agent keeps the same dnsmasq, a removed network leaves
//! nothing; on an isolated network a VM's metadata request reaches the metadata socket with
//! the network and the VM's address in its headers, and nothing of what the VM claimed.
//! Without Open vSwitch: the OVSDB side is the fake, and the test plugs the DHCP port's host
//! end into a Linux bridge in a namespace of its own (the "vswitch" namespace). Everything
//! lives in namespaces the test creates and removes.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::SharedVswitch;
use common::dhcp::{Namespaces, dhcp_port as port};
use neutrino_agent::config::{AgentConfig, DhcpConfig};
use neutrino_agent::dhcp::DhcpDriver;
use neutrino_agent::driver::{Driver, Wake};
use neutrino_agent::metadata::Instances;
use neutrino_host::testing::Prerequisites;
use neutrino_host::{Cmd, Links, LinuxHost, Netns, Route};
use neutrino_model::agent::Role;
use neutrino_model::internal::{Delta, DhcpDelta, DhcpNetworkState, DhcpState, HostState};
use neutrino_ovs::vswitch::{FakeVswitch, StrMap, Vswitch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const NET: &str = "net-real";
const DHCP_PORT: &str = "dhcp1111-2222-3333-4444-555566667777";
const VM1: (&str, &str, &str) = ("vm-1", "fa:16:3e:10:00:01", "10.77.0.5");
const VM2: (&str, &str, &str) = ("vm-2", "fa:16:3e:10:00:02", "10.77.0.6");

fn network(vms: &[(&str, &str, &str)]) -> DhcpNetworkState {
    let mut ports = vec![port(DHCP_PORT, "fa:16:3e:10:00:aa", "network:dhcp", "10.77.0.2")];
    ports.extend(vms.iter().map(|(id, mac, ip)| port(id, mac, "compute:nova", ip)));
    common::dhcp::dhcp_network(NET, DHCP_PORT, "10.77.0", 1500, ports)
}

fn listing(vms: &[(&str, &str, &str)]) -> HostState {
    HostState { revision: 1, dhcp: DhcpState { networks: vec![network(vms)] }, ..Default::default() }
}

fn delta(networks: Vec<DhcpNetworkState>, removed: &[&str]) -> Delta {
    let removed_networks = removed.iter().map(|s| s.to_string()).collect();
    Delta { revision: 2, dhcp: Some(DhcpDelta { networks, removed_networks }), ..Default::default() }
}

/// A "vswitch" namespace with a Linux bridge, the driver's configuration and state directory.
struct Bench {
    host: LinuxHost,
    prefix: String,
    sw: String,
    cfg: AgentConfig,
    vs: Arc<FakeVswitch>,
    dir: tempfile::TempDir,
    _cleanup: Namespaces,
}

impl Bench {
    async fn new(tag: &str, metadata: bool) -> Bench {
        let prefix = format!("nt-d{tag}{}-", std::process::id());
        let sw = format!("{prefix}sw");
        let names = ["qdhcp-net-real", "vm-1", "vm-2", "sw"];
        let cleanup = Namespaces(names.iter().map(|n| format!("{prefix}{n}")).collect());
        let host = LinuxHost::new();
        host.add_netns(&sw).expect("switch ns");
        host.set_link_up(Some(&sw), "lo", true).expect("lo");
        host.add_bridge(Some(&sw), "br0").expect("bridge");
        host.set_link_up(Some(&sw), "br0", true).expect("bridge up");
        // dnsmasq drops to an unprivileged user and rereads its files as that user.
        let dir = tempfile::tempdir().expect("dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let cfg = AgentConfig {
            host: "real-host".into(),
            roles: vec![Role::Dhcp],
            netns: Some(sw.clone()),
            namespace_prefix: prefix.clone(),
            dhcp: DhcpConfig {
                state_path: dir.path().join("dhcp"),
                enable_isolated_metadata: metadata,
                ..Default::default()
            },
            ..Default::default()
        };
        let vs = Arc::new(FakeVswitch::new());
        vs.ensure_bridge("br-int", "netdev", &StrMap::new(), None).await.expect("br-int");
        Bench { host, prefix, sw, cfg, vs, dir, _cleanup: cleanup }
    }

    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.cfg.dhcp.state_path.join(NET).join(name)
    }

    async fn driver(&self) -> DhcpDriver<SharedVswitch> {
        let host = Arc::new(LinuxHost::new());
        let mut d =
            DhcpDriver::new(self.cfg.clone(), host, SharedVswitch(self.vs.clone()), Instances::default());
        let (tx, rx) = mpsc::unbounded_channel();
        std::mem::forget(rx);
        d.start(Wake::new(0, tx)).await.expect("start");
        d
    }

    /// Plugs the DHCP port's host end into the bridge (what Open vSwitch does in production).
    fn plug_dhcp_port(&self) {
        let tap = neutrino_agent::dhcp::tap_name(DHCP_PORT);
        self.host.set_master(Some(&self.sw), &tap, "br0").expect("plug the DHCP port");
    }

    /// A VM: a namespace whose `eth0` (with the port's MAC) is on the bridge.
    fn vm(&self, (id, mac, _): (&str, &str, &str), side: &str) -> String {
        let (h, sw, vm) = (&self.host, Some(self.sw.as_str()), self.ns(id));
        h.add_netns(&vm).expect("vm ns");
        h.set_link_up(Some(&vm), "lo", true).expect("lo");
        h.add_veth(sw, side, Some(&vm), "eth0").expect("veth");
        h.set_master(sw, side, "br0").expect("bridge port");
        h.set_link_up(sw, side, true).expect("up");
        h.set_mac(Some(&vm), "eth0", mac).expect("mac");
        h.set_link_up(Some(&vm), "eth0", true).expect("up");
        vm
    }

    /// Asks for a lease with udhcpc (also for the static routes and the MTU), whose script only
    /// prints what it got (no file of the machine is written); its output.
    fn lease(&self, vm: &str) -> String {
        let script = self.dir.path().join("udhcpc.sh");
        let print = "#!/bin/sh\n[ \"$1\" = bound ] && echo \"got ip=$ip router=$router dns=$dns \
                     mtu=$mtu domain=$domain staticroutes=$staticroutes\"\nexit 0\n";
        std::fs::write(&script, print).expect("script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let script = script.display().to_string();
        let args = [
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-t",
            "10",
            "-T",
            "1",
            "-O",
            "staticroutes",
            "-O",
            "mtu",
            "-s",
            &script,
        ];
        let out = self.host.run(&Cmd::in_netns(vm, "busybox").args(args)).expect("udhcpc runs");
        format!("{}{}", out.stdout, out.stderr)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_its_lease_from_the_drivers_dnsmasq() {
    let needs = ["ip", "ethtool", "dnsmasq", "dhcp_release", "busybox"];
    if !Prerequisites::new().root().programs(&needs).met() {
        return;
    }
    // haproxy is the other test's.
    let b = Bench::new("l", false).await;
    let mut d = b.driver().await;
    d.load(&mut listing(&[VM1]));
    d.sync().await.expect("sync");
    let pid = std::fs::read_to_string(b.file("pid")).expect("pid file");
    b.plug_dhcp_port();
    let vm1 = b.vm(VM1, "c1");
    let out = b.lease(&vm1);
    assert!(out.contains("lease of 10.77.0.5 obtained from 10.77.0.2"), "{out}");
    // The options on the wire: router, dnsmasq itself as DNS server, the domain, the MTU, and
    // (metadata off) no static routes.
    assert!(
        out.contains("got ip=10.77.0.5 router=10.77.0.1 dns=10.77.0.2 mtu=1500 domain=openstacklocal"),
        "{out}"
    );

    // A port added: served after the reload, by the same dnsmasq.
    d.apply(&mut delta(vec![network(&[VM1, VM2])], &[]));
    d.sync().await.expect("sync");
    let vm2 = b.vm(VM2, "c2");
    let out = b.lease(&vm2);
    assert!(out.contains("lease of 10.77.0.6 obtained"), "{out}");
    assert_eq!(std::fs::read_to_string(b.file("pid")).expect("pid file"), pid, "the same dnsmasq");

    // A restarted agent keeps it.
    drop(d);
    let mut d = b.driver().await;
    d.load(&mut listing(&[VM1, VM2]));
    d.sync().await.expect("sync");
    assert_eq!(std::fs::read_to_string(b.file("pid")).expect("pid file"), pid, "the same dnsmasq");
    let dnsmasq_pid: u32 = pid.trim().parse().expect("a pid");
    assert_eq!(neutrino_host::process::proc_program(dnsmasq_pid).as_deref(), Some("dnsmasq"));

    // A port removed: dnsmasq forgets its lease (dhcp_release), the other stays.
    let leases = std::fs::read_to_string(b.file("leases")).expect("leases");
    assert!(leases.contains(" 10.77.0.5 ") && leases.contains(" 10.77.0.6 "), "{leases}");
    d.apply(&mut delta(vec![network(&[VM2])], &[]));
    d.sync().await.expect("sync");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let leases = loop {
        let l = std::fs::read_to_string(b.file("leases")).expect("leases");
        if !l.contains(" 10.77.0.5 ") || std::time::Instant::now() > deadline {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!leases.contains(" 10.77.0.5 ") && leases.contains(" 10.77.0.6 "), "{leases}");

    // The network removed: nothing of it is left.
    d.apply(&mut delta(vec![], &[NET]));
    d.sync().await.expect("sync");
    assert!(!b.host.netns_exists(&b.ns("qdhcp-net-real")).expect("list"));
    let tap = neutrino_agent::dhcp::tap_name(DHCP_PORT);
    assert!(!b.host.links(Some(&b.sw)).expect("links").iter().any(|l| l.name == tap));
    assert!(!b.cfg.dhcp.state_path.join(NET).exists());
    assert!(neutrino_host::process::proc_program(dnsmasq_pid).is_none_or(|p| p != "dnsmasq"));
}

/// Answers every request on the metadata socket with the request's headers.
async fn echo_headers(socket: PathBuf) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::UnixListener::bind(&socket).expect("bind the metadata socket");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let body = String::from_utf8_lossy(&req).to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(resp.as_bytes()).await;
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_reaches_the_metadata_socket_through_the_proxy() {
    if !Prerequisites::new().root().programs(&["ip", "ethtool", "dnsmasq", "haproxy", "curl"]).met() {
        return;
    }
    let b = Bench::new("m", true).await;
    std::fs::create_dir_all(&b.cfg.dhcp.state_path).expect("state dir");
    let server = echo_headers(b.cfg.dhcp.metadata_socket()).await;
    let mut d = b.driver().await;
    d.load(&mut listing(&[VM1]));
    d.sync().await.expect("sync");
    b.plug_dhcp_port();
    let vm = b.vm(VM1, "c1");
    let out = b.lease(&vm);
    assert!(out.contains("staticroutes=169.254.169.254/32 10.77.0.2 0.0.0.0/0 10.77.0.1"), "{out}");
    // What the lease's option 121 installs (udhcpc's script here only prints it).
    let addr = "10.77.0.5/24".parse().expect("address");
    b.host.add_address(Some(&vm), "eth0", addr).expect("address");
    let to_metadata = Route {
        dst: "169.254.169.254/32".parse().expect("cidr"),
        via: Some("10.77.0.2".parse().expect("ip")),
        dev: None,
    };
    b.host.add_route(Some(&vm), &to_metadata).expect("route");

    let curl = |extra: &[&str]| {
        let mut cmd = Cmd::in_netns(&vm, "curl").args(["-sS", "-m", "5"]);
        cmd = cmd.args(extra.iter().copied()).arg("http://169.254.169.254/latest/meta-data/");
        b.host.run(&cmd).expect("curl runs")
    };
    // haproxy may still be binding right after it was started.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let out = loop {
        let out = curl(&[
            "-H",
            "X-Neutron-Network-ID: spoofed",
            "-H",
            "X-Neutron-Router-ID: r",
            "-H",
            "X-Forwarded-For: 10.77.0.9",
        ]);
        if out.success() || std::time::Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(out.success(), "{}", out.stderr);
    let seen = out.stdout.to_ascii_lowercase();
    assert!(seen.contains(&format!("x-neutron-network-id: {NET}")), "{seen}");
    assert!(seen.contains("x-forwarded-for: 10.77.0.5"), "{seen}");
    assert!(!seen.contains("spoofed") && !seen.contains("x-neutron-router-id"), "{seen}");
    assert!(!seen.contains("10.77.0.9"), "{seen}");
    assert_eq!(seen.matches("x-forwarded-for").count(), 1, "{seen}");

    d.apply(&mut delta(vec![], &[NET]));
    d.sync().await.expect("sync");
    assert!(!b.host.netns_exists(&b.ns("qdhcp-net-real")).expect("list"));
    server.abort();
}
