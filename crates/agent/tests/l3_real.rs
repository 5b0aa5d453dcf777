//! The `l3` driver on the real machine (root, iproute2, ethtool, nft, conntrack, arping,
//! haproxy, radvd, python3 for the probes, curl): a router namespace built from a `RouterState` routes a
//! "VM" to an "ext" upstream with real packets — the VM's connections leave as the gateway
//! address (SNAT), then, with a floating IP, as the floating address, and ext reaches the VM on
//! the floating address (DNAT); once the floating IP is disassociated ext no longer does (the
//! same probe worked a moment before), while the VM still reaches ext as the gateway address.
//! The VM gets an IPv6 address from the router's advertisements. The VM's metadata request is redirected to the router's haproxy and answered by the agent's
//! metadata service for that VM (found by the router's networks). The table's counters count
//! the traffic; a restarted agent keeps the table and haproxy; removing the router removes its
//! namespace.
//! Without Open vSwitch: the OVSDB side is the fake, and the test plugs the router's outer
//! ends into Linux bridges in a namespace of its own (the "vswitch" namespace). Everything
//! lives in namespaces the test creates and removes; nothing touches the root namespace.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::SharedVswitch;
use common::dhcp::Namespaces;
use common::l3::{fip, gateway, subnet};
use neutrino_agent::config::{AgentConfig, L3Config};
use neutrino_agent::driver::{Driver, Wake};
use neutrino_agent::l3::{L3Driver, namespace, qg_name, qr_name, tg_name, tr_name};
use neutrino_agent::metadata::{Instances, MetadataConfig};
use neutrino_host::testing::Prerequisites;
use neutrino_host::{Cmd, Links, LinuxHost, Netns, Nftables, Route};
use neutrino_model::agent::Role;
use neutrino_model::internal::{Delta, HostState, L3Delta, L3State, RouterPortState, RouterState};
use neutrino_ovs::vswitch::{FakeVswitch, StrMap, Vswitch};
use serde_json::Value;
use tokio::sync::mpsc;

const PROBE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/probe.py");
const ROUTER: &str = "rt-real";
const PORT: &str = "int0000real";
const GW: &str = "ext0000real";
const VM_ID: &str = "6f1e8d3a-0005-4000-8000-000000000005";

/// The router: one interface on 10.0.0.0/24 and 2001:db8:1::/64 (SLAAC), the gateway
/// 203.0.113.5 with SNAT, and the floating IP 203.0.113.10 → 10.0.0.5 when `floating`.
fn router(floating: bool) -> RouterState {
    let mut v6 = subnet("s6", "2001:db8:1::1", "2001:db8:1::/64", "2001:db8:1::1", 6);
    v6.ipv6_ra_mode = Some("slaac".into());
    v6.ipv6_address_mode = Some("slaac".into());
    let mut gw = gateway("203.0.113.5", true);
    gw.port.id = GW.into();
    gw.port.mac_address = "fa:16:3e:20:00:01".into();
    RouterState {
        id: ROUTER.into(),
        project_id: "p".into(),
        admin_state_up: true,
        gateway: Some(gw),
        interfaces: vec![RouterPortState {
            id: PORT.into(),
            network_id: "net".into(),
            mac_address: "fa:16:3e:20:00:0a".into(),
            mtu: 1500,
            subnets: vec![subnet("s4", "10.0.0.1", "10.0.0.0/24", "10.0.0.1", 4), v6],
        }],
        routes: vec![],
        floating_ips: if floating { vec![fip("f1", "203.0.113.10", "10.0.0.5")] } else { vec![] },
    }
}

fn delta(routers: Vec<RouterState>, removed: &[&str]) -> Delta {
    let removed_routers = removed.iter().map(|s| s.to_string()).collect();
    Delta { revision: 2, l3: Some(L3Delta { routers, removed_routers }), ..Default::default() }
}

/// A probe running in a namespace until dropped (`tests/probe.py`): a server that said
/// `ready`, or a session that said `connected`.
struct Probe {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Probe {
    fn start(ns: &str, args: &[&str], first: &str) -> Probe {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", PROBE])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the probe starts");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("the probe says it is up");
        assert_eq!(line.trim(), first);
        Probe { child, out }
    }

    /// The whoami server on port 8080.
    fn whoami(ns: &str) -> Probe {
        Probe::start(ns, &["whoami", "8080"], "ready")
    }

    /// Sends one line through a session: `ok` when it came back within 2 s, else `timeout`.
    fn exchange(&mut self) -> String {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"ping\n").and_then(|()| stdin.flush()).expect("to the session");
        let mut line = String::new();
        self.out.read_line(&mut line).expect("the session answers");
        line.trim().to_string()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Bench {
    host: LinuxHost,
    prefix: String,
    sw: String,
    cfg: AgentConfig,
    vs: Arc<FakeVswitch>,
    instances: Instances,
    _dir: tempfile::TempDir,
    _cleanup: Namespaces,
}

impl Bench {
    async fn new() -> Bench {
        let prefix = format!("nt-l{}-", std::process::id());
        let sw = format!("{prefix}sw");
        let names = [format!("qrouter-{ROUTER}"), "vm".into(), "ext".into(), "sw".into()];
        let cleanup = Namespaces(names.iter().map(|n| format!("{prefix}{n}")).collect());
        let host = LinuxHost::new();
        host.add_netns(&sw).expect("switch ns");
        for br in ["br-t", "br-e"] {
            host.add_bridge(Some(&sw), br).expect("bridge");
            host.set_link_up(Some(&sw), br, true).expect("bridge up");
        }
        let dir = tempfile::tempdir().expect("dir");
        let cfg = AgentConfig {
            host: "real-host".into(),
            roles: vec![Role::L3],
            netns: Some(sw.clone()),
            namespace_prefix: prefix.clone(),
            l3: L3Config { state_path: dir.path().join("l3"), ..Default::default() },
            dhcp: neutrino_agent::config::DhcpConfig {
                state_path: dir.path().join("dhcp"),
                ..Default::default()
            },
            ..Default::default()
        };
        let vs = Arc::new(FakeVswitch::new());
        vs.ensure_bridge("br-int", "netdev", &StrMap::new(), None).await.expect("br-int");
        // The VM's port, as the dhcp driver would have it (on the network node both run).
        let mut vm = common::dhcp::dhcp_port("vm-port", "fa:16:3e:20:00:05", "compute:nova", "10.0.0.5");
        vm.device_id = VM_ID.into();
        vm.project_id = "p".into();
        let instances = Instances::default();
        instances.set(common::dhcp::dhcp_network("net", "dhcp-port", "10.0.0", 1500, vec![vm]));
        Bench { host, prefix, sw, cfg, vs, instances, _dir: dir, _cleanup: cleanup }
    }

    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn driver(&self) -> L3Driver<SharedVswitch> {
        let host = Arc::new(LinuxHost::new());
        let mut d =
            L3Driver::new(self.cfg.clone(), host, SharedVswitch(self.vs.clone()), self.instances.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        std::mem::forget(rx);
        d.start(Wake::new(0, tx)).await.expect("start");
        d
    }

    /// A namespace `name` whose `eth0` at `address` is on bridge `br` (and, with `gateway`,
    /// routes through it).
    fn endpoint(&self, name: &str, br: &str, address: &str, gateway: Option<&str>) -> String {
        let (h, sw, ns) = (&self.host, Some(self.sw.as_str()), self.ns(name));
        h.add_netns(&ns).expect("ns");
        h.set_link_up(Some(&ns), "lo", true).expect("lo");
        let side = format!("v-{name}");
        h.add_veth(sw, &side, Some(&ns), "eth0").expect("veth");
        h.set_master(sw, &side, br).expect("bridge port");
        h.set_link_up(sw, &side, true).expect("up");
        h.set_link_up(Some(&ns), "eth0", true).expect("up");
        h.add_address(Some(&ns), "eth0", address.parse().expect("address")).expect("address");
        if let Some(gw) = gateway {
            let route = Route::default_via(gw.parse().expect("gateway"), None);
            h.add_route(Some(&ns), &route).expect("default route");
        }
        ns
    }

    /// Asks the whoami server at `ip` from `ns`: the address it saw, or `None`.
    fn ask(&self, ns: &str, ip: &str) -> Option<String> {
        let out =
            self.host.run(&Cmd::in_netns(ns, "python3").args([PROBE, "ask", ip, "8080"])).expect("probe");
        out.success().then(|| out.stdout.trim().to_string())
    }
}

/// The pid in the router's pid file `name`.
fn pid(cfg: &AgentConfig, name: &str) -> u32 {
    let text = std::fs::read_to_string(cfg.l3.state_path.join(ROUTER).join(name)).expect("pid file");
    text.trim().parse().expect("a pid")
}

/// The handles of the table's rules, haproxy's and radvd's pids: what a restart must keep.
fn kept(host: &LinuxHost, ns: &str, cfg: &AgentConfig) -> (Vec<u64>, u32, u32) {
    let t = host.nft_table(Some(ns), "ip", "neutrino-l3").expect("list").expect("the table");
    let handles = t.chains.values().flat_map(|c| &c.rules).map(|r| r.handle).collect();
    (handles, pid(cfg, "haproxy.pid"), pid(cfg, "radvd.pid"))
}

/// The packets the table's rules counted.
fn counted(host: &LinuxHost, ns: &str) -> u64 {
    let t = host.nft_table(Some(ns), "ip", "neutrino-l3").expect("list").expect("the table");
    t.chains
        .values()
        .flat_map(|c| &c.rules)
        .flat_map(|r| &r.expr)
        .filter_map(|e| e.pointer("/counter/packets").and_then(Value::as_u64))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_namespace_routes_snats_and_floats_real_packets() {
    let needs = ["ip", "ethtool", "nft", "conntrack", "arping", "haproxy", "radvd", "python3", "curl"];
    if !Prerequisites::new().root().programs(&needs).met() {
        return;
    }
    let b = Bench::new().await;
    let mut d = b.driver().await;
    d.load(&mut HostState {
        revision: 1,
        l3: L3State { routers: vec![router(false)] },
        ..Default::default()
    });
    d.sync().await.expect("sync");
    let rns = namespace(&b.prefix, ROUTER);
    let links: Vec<String> = b.host.links(Some(&rns)).expect("links").into_iter().map(|l| l.name).collect();
    assert!(links.contains(&qr_name(PORT)) && links.contains(&qg_name(GW)), "{links:?}");
    // What Open vSwitch would do: the outer ends on the tenant and the external "bridges".
    b.host.set_master(Some(&b.sw), &tr_name(PORT), "br-t").expect("plug qr");
    b.host.set_master(Some(&b.sw), &tg_name(GW), "br-e").expect("plug qg");
    let vm = b.endpoint("vm", "br-t", "10.0.0.5/24", Some("10.0.0.1"));
    let ext = b.endpoint("ext", "br-e", "203.0.113.1/24", None);
    let _ext_server = Probe::whoami(&ext);
    let _vm_server = Probe::whoami(&vm);
    let _vm_echo = Probe::start(&vm, &["serve", "9000"], "ready");

    // Router advertisements: the router's radvd gives the VM a SLAAC address on the prefix
    // (derived from its MAC), which the VM asks for by router solicitation when its link comes up.
    let slaac = "2001:db8:1:0:".to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let v6 = loop {
        let eth0 = b.host.links(Some(&vm)).expect("links").into_iter().find(|l| l.name == "eth0");
        let found = eth0
            .into_iter()
            .flat_map(|l| l.addresses)
            .map(|a| a.addr().to_string())
            .find(|a| a.starts_with(&slaac));
        if found.is_some() || std::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(v6.is_some(), "the VM got no address from the router's advertisements");

    // Metadata: the VM's request goes to the router, is redirected to its haproxy and reaches
    // the agent's service, which knows the VM by the router's network and its address.
    std::fs::create_dir_all(&b.cfg.dhcp.state_path).expect("state dir");
    let listener = neutrino_agent::metadata::bind(&b.cfg.dhcp.metadata_socket()).expect("bind");
    let server = neutrino_agent::metadata::spawn(listener, b.instances.clone(), MetadataConfig::default())
        .expect("serve");
    let md = Cmd::in_netns(&vm, "curl")
        .args(["-sS", "-m", "5", "-H", "X-Neutron-Router-ID: spoofed"])
        .arg("http://169.254.169.254/openstack/latest/meta_data.json");
    // haproxy may still be binding right after it was started.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let out = loop {
        let out = b.host.run(&md).expect("curl runs");
        if out.success() || std::time::Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(out.success(), "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!(doc["uuid"], VM_ID, "{doc}");
    // The proxy's port is not open to anything but the redirect (positive control just above).
    let direct = Cmd::in_netns(&vm, "curl").args(["-sS", "-m", "2", "http://10.0.0.1:9697/openstack"]);
    assert!(!b.host.run(&direct).expect("curl runs").success(), "port 9697 is not reachable directly");

    // The VM reaches ext, which sees the gateway address (SNAT); ext cannot reach the VM.
    assert_eq!(b.ask(&vm, "203.0.113.1").as_deref(), Some("203.0.113.5"));
    assert_eq!(b.ask(&ext, "203.0.113.10"), None);

    // A floating IP: ext reaches the VM on it (seen as itself), the VM leaves as it.
    d.apply(&mut delta(vec![router(true)], &[]));
    let ch = d.sync().await.expect("sync");
    assert_eq!(ch.floatingips.get("f1").map(String::as_str), Some("ACTIVE"));
    assert_eq!(b.ask(&ext, "203.0.113.10").as_deref(), Some("203.0.113.1"));
    assert_eq!(b.ask(&vm, "203.0.113.1").as_deref(), Some("203.0.113.10"));
    assert!(counted(&b.host, &rns) > 0, "the rules count the traffic");
    let mut session = Probe::start(&ext, &["session", "203.0.113.10", "9000"], "connected");
    assert_eq!(session.exchange(), "ok");

    // Disassociated: the same probe that worked a moment ago no longer gets through, nor does
    // the connection established through it (its conntrack entries went); the VM leaves as
    // the gateway address again.
    d.apply(&mut delta(vec![router(false)], &[]));
    let ch = d.sync().await.expect("sync");
    assert_eq!(ch.floatingips.get("f1").map(String::as_str), Some("DOWN"));
    assert_eq!(session.exchange(), "timeout");
    drop(session);
    assert_eq!(b.ask(&ext, "203.0.113.10"), None);
    assert_eq!(b.ask(&vm, "203.0.113.1").as_deref(), Some("203.0.113.5"));

    // A restarted agent keeps the table and haproxy, and everything works as before.
    let before = kept(&b.host, &rns, &b.cfg);
    drop(d);
    let mut d = b.driver().await;
    d.load(&mut HostState {
        revision: 1,
        l3: L3State { routers: vec![router(false)] },
        ..Default::default()
    });
    d.sync().await.expect("sync");
    assert_eq!(kept(&b.host, &rns, &b.cfg), before);
    assert_eq!(b.ask(&vm, "203.0.113.1").as_deref(), Some("203.0.113.5"));
    let again = b.host.run(&md).expect("curl runs").stdout;
    assert!(again.contains(VM_ID), "{again}");
    // The router removed leaves no namespace and no process.
    let (_, haproxy, radvd) = before;
    d.apply(&mut delta(vec![], &[ROUTER]));
    d.sync().await.expect("sync");
    assert!(!b.host.netns_exists(&rns).expect("list"), "the router namespace went");
    for (pid, program) in [(haproxy, "haproxy"), (radvd, "radvd")] {
        assert!(neutrino_host::process::proc_program(pid).is_none_or(|p| p != program), "{program} stopped");
    }
    server.stop().await;
}
