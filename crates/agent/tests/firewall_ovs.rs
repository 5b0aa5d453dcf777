//! The firewall on a real Open vSwitch (userspace `netdev`, private, in its own namespace) with
//! four "VMs" (namespaces with a veth whose other end is plugged into `br-int` as Nova plugs a
//! tap), fed a host state with a firewall section through the `l2` reconciler: a and b in a
//! default-like group (ingress from its members, all egress), c in a group with egress only,
//! d without port security, b also admitting TCP 22 from c's address. Every negative check has
//! a positive control on the same path: members talk, c cannot reach a but reaches d, reaches a
//! while it is a member of the group and no more once it left; TCP 22
//! from c's CIDR is admitted, 23 is not (while a member reaches 23); removing the rule cuts
//! c's established connection, whose entry stays marked (so that neither side revives it); frames with another
//! IP or MAC, or ARP for another address, never reach d while c's own do. A restarted agent
//! on the same switch changes nothing (every firewall flow is written as Open vSwitch prints
//! it back). Probes are `tests/probe.py`; a missing program fails the test.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Counting, config, net_vxlan, port, rule, state};
use neutrino_agent::config::AgentConfig;
use neutrino_agent::reconcile::Reconciler;
use neutrino_model::internal::{
    FirewallState, FixedIpState, HostState, PortState, RuleState, SecurityGroupState,
};
use neutrino_ovs::conntrack::{Conntrack, OvsConntrack};
use neutrino_ovs::ofctl::OvsOfctl;
use neutrino_ovs::testing::OvsSandbox;
use neutrino_ovs::vswitch::OvsVswitch;

const PROBE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/probe.py");
const NET: &str = "net-fw";
const DEFAULT: &str = "sg-default";
const OTHER: &str = "sg-other";
const SSH: &str = "sg-ssh";
/// The network's local VLAN, which is its conntrack zone (the only network of the host).
const ZONE: u16 = 1;

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A program this test needs: its absence fails the test.
fn require(program: &str) {
    let found = Command::new("sh").args(["-c", &format!("command -v {program}")]).output();
    assert!(found.is_ok_and(|o| o.status.success()), "this test needs `{program}`");
}

struct Vm {
    ns: String,
    mac: String,
    ip: String,
}

/// The VMs and the processes started in them, removed (by pid and by name) on drop, before
/// the switch.
struct World {
    python: String,
    vms: Vec<Vm>,
    children: Vec<Child>,
    sb: OvsSandbox,
}

impl Drop for World {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for vm in &self.vms {
            let _ = Command::new("ip").args(["netns", "del", &vm.ns]).status();
        }
    }
}

impl World {
    fn vm(&self, n: usize) -> &Vm {
        &self.vms[n]
    }

    /// Plugs VM `n` (`10.50.0.<n+1>`) into `br-int` for port `port-<n>`.
    fn plug(&mut self, n: usize) {
        let ns = format!("nt-fwvm-{}-{n}", std::process::id());
        let tap = format!("fwt{}{n}", std::process::id() % 10000);
        let mac = format!("fa:16:3e:50:00:{:02x}", n + 1);
        let ip = format!("10.50.0.{}", n + 1);
        sh(&["ip", "netns", "add", &ns]);
        self.vms.push(Vm { ns: ns.clone(), mac: mac.clone(), ip: ip.clone() });
        sh(&[
            "ip",
            "link",
            "add",
            &tap,
            "netns",
            &self.sb.netns,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns,
        ]);
        let host = |args: &[&str]| self.sb.netns_exec(args).expect("host side of the veth");
        host(&["ip", "link", "set", &tap, "up"]);
        // Without this TCP and UDP checksums are wrong after userspace Open vSwitch.
        host(&["ethtool", "-K", &tap, "tx", "off"]);
        let vm = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", ns.as_str()];
            all.extend_from_slice(args);
            sh(&all)
        };
        vm(&["ip", "link", "set", "lo", "up"]);
        vm(&["ip", "link", "set", "eth0", "address", &mac]);
        vm(&["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        vm(&["ip", "link", "set", "eth0", "up"]);
        vm(&["ethtool", "-K", "eth0", "tx", "off"]);
        let id = format!("external_ids:iface-id=port-{n}");
        self.sb.vsctl(&["add-port", "br-int", &tap, "--", "set", "interface", &tap, &id]).expect("plug");
    }

    fn cmd(&self, n: usize, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.vm(n).ns]).args(args);
        c
    }

    fn probe(&self, n: usize, args: &[&str]) -> Command {
        let mut all = vec![self.python.as_str(), PROBE];
        all.extend_from_slice(args);
        self.cmd(n, &all)
    }

    /// Whether VM `from` gets an answer to a ping of `to` (three tries).
    fn ping(&self, from: usize, to: usize) -> bool {
        let to = self.vm(to).ip.clone();
        self.cmd(from, &["busybox", "ping", "-c", "3", "-W", "1", &to])
            .stdout(Stdio::null())
            .status()
            .expect("ping")
            .success()
    }

    /// Whether VM `from` opens a TCP connection to `to`'s `port` and gets its echo.
    fn tcp(&self, from: usize, to: usize, port: u16) -> bool {
        let to = self.vm(to).ip.clone();
        self.probe(from, &["connect", &to, &port.to_string()])
            .stderr(Stdio::null())
            .status()
            .expect("connect")
            .success()
    }

    /// Starts a probe in VM `n` and waits for its first line (`ready`, `connected`).
    fn start(&mut self, n: usize, args: &[&str]) -> (ChildStdin, BufReader<ChildStdout>, String) {
        let mut child =
            self.probe(n, args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("probe");
        let stdin = child.stdin.take().expect("stdin");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        self.children.push(child);
        let mut first = String::new();
        out.read_line(&mut first).expect("the probe's first line");
        (stdin, out, first.trim().to_string())
    }
}

fn firewall(with_ssh: bool, c_member: bool) -> FirewallState {
    let ssh = RuleState {
        protocol: Some(6),
        port_range_min: Some(22),
        port_range_max: Some(22),
        remote_ip_prefix: Some("10.50.0.3/32".into()),
        ..rule("r-ssh", "ingress", None)
    };
    let members = rule("r-members", "ingress", Some(DEFAULT));
    let group = |id: &str, rules: Vec<RuleState>| SecurityGroupState { id: id.into(), stateful: true, rules };
    FirewallState {
        groups: vec![
            group(DEFAULT, vec![rule("r-egress", "egress", None), members]),
            group(OTHER, vec![rule("r-other-egress", "egress", None)]),
            group(SSH, if with_ssh { vec![ssh] } else { vec![] }),
        ],
        members: [(
            DEFAULT.to_string(),
            ["10.50.0.1", "10.50.0.2", "10.50.0.3"][..2 + usize::from(c_member)]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )]
        .into(),
    }
}

/// The host: b admits TCP 22 from c while `with_ssh`; c is in the default group too while
/// `c_member`.
fn desired(w: &World, with_ssh: bool, c_member: bool) -> HostState {
    let c_groups: &[&str] = if c_member { &[OTHER, DEFAULT] } else { &[OTHER] };
    let groups: [&[&str]; 4] = [&[DEFAULT], &[DEFAULT, SSH], c_groups, &[]];
    let ports: Vec<PortState> = (0..4)
        .map(|n| PortState {
            mac_address: w.vm(n).mac.clone(),
            fixed_ips: vec![FixedIpState { subnet_id: "subnet".into(), ip_address: w.vm(n).ip.clone() }],
            port_security_enabled: n != 3,
            security_groups: groups[n].iter().map(|s| s.to_string()).collect(),
            ..port(&format!("port-{n}"), NET)
        })
        .collect();
    HostState { firewall: firewall(with_ssh, c_member), ..state(1, ports, vec![net_vxlan(NET, 100)], &[]) }
}

async fn reconciler(
    sb: &OvsSandbox,
    cfg: &AgentConfig,
    count: &Arc<AtomicUsize>,
) -> Reconciler<OvsVswitch, Counting> {
    let vs = OvsVswitch::connect(sb.db_sock()).await.expect("ovsdb");
    Reconciler::new(cfg.clone(), vs, Counting(OvsOfctl::new(sb.rundir()), count.clone()))
        .with_conntrack(Arc::new(OvsConntrack::new(sb.rundir())))
}

/// The source ports of the conntrack entries of c's connections to b's port 22.
async fn ssh_entries(ct: &OvsConntrack) -> Vec<String> {
    let all = ct.dump(ZONE).await.expect("dump-conntrack");
    all.iter()
        .filter(|e| {
            e.orig.get("src").is_some_and(|s| s == "10.50.0.3")
                && e.orig.get("dport").is_some_and(|p| p == "22")
        })
        .filter_map(|e| e.orig.get("sport").cloned())
        .collect()
}

#[tokio::test]
async fn security_groups_hold_on_a_real_open_vswitch() {
    let Some(sb) = OvsSandbox::start() else { return };
    for program in ["python3", "busybox", "ethtool", "ovs-appctl"] {
        require(program);
    }
    let python = sh(&["python3", "-c", "import sys; print(sys.executable)"]).trim().to_string();
    let mut w = World { python, vms: vec![], children: vec![], sb };
    let cfg = AgentConfig { ovsdb: w.sb.db_sock(), ovs_rundir: w.sb.rundir().to_path_buf(), ..config() };
    let count = Arc::new(AtomicUsize::new(0));
    let mut r = reconciler(&w.sb, &cfg, &count).await;
    r.setup().await.expect("setup");
    for n in 0..4 {
        w.plug(n);
    }
    r.setup().await.expect("setup: the plugged VMs");
    r.load(desired(&w, true, false));
    let mut up = r.sync().await.expect("sync").up;
    up.sort();
    assert_eq!(up, vec!["port-0", "port-1", "port-2", "port-3"]);

    // A restarted agent on the same switch finds every flow as it wants it.
    let before = count.load(Ordering::SeqCst);
    let mut again = reconciler(&w.sb, &cfg, &count).await;
    again.setup().await.expect("setup after restart");
    again.load(desired(&w, true, false));
    again.sync().await.expect("sync after restart");
    assert_eq!(count.load(Ordering::SeqCst), before, "the restarted agent changed flows");
    drop(again);

    // The default group: members talk; c (not a member) cannot reach a, but reaches d.
    assert!(w.ping(0, 1), "a → b (members)");
    assert!(w.ping(1, 0), "b → a (members)");
    assert!(w.ping(2, 3), "c → d (no port security): the positive control of c → a");
    assert!(!w.ping(2, 0), "c → a: c is not a member");

    // The remote group follows membership: c joins (a delta of its flows), reaches a, leaves.
    r.load(desired(&w, true, true));
    r.sync().await.expect("sync: c joins the default group");
    assert!(w.ping(2, 0), "c → a once c is a member");
    r.load(desired(&w, true, false));
    r.sync().await.expect("sync: c leaves");
    assert!(!w.ping(2, 0), "c → a after c left");
    assert!(w.ping(2, 3), "c → d still (positive control)");

    // TCP 22 from c's CIDR, and nothing else from c; a member reaches 23 (the server is up).
    let (_, _, ready) = w.start(1, &["serve", "22", "23"]);
    assert_eq!(ready, "ready");
    assert!(w.tcp(0, 1, 23), "a → b:23 (a member)");
    assert!(w.tcp(2, 1, 22), "c → b:22 (the rule)");
    assert!(!w.tcp(2, 1, 23), "c → b:23 (no rule)");

    // Removing the rule cuts c's established connection, and its conntrack entry goes.
    let ct = OvsConntrack::new(w.sb.rundir());
    let b = w.vm(1).ip.clone();
    let earlier = ssh_entries(&ct).await;
    // A member's session that stays allowed, across the change (no window of drops).
    let (mut to_kept, mut from_kept, connected) = w.start(0, &["session", &b, "23"]);
    assert_eq!(connected, "connected");
    let mut kept = |line: &str| {
        writeln!(to_kept, "{line}").expect("to the session");
        let mut answer = String::new();
        from_kept.read_line(&mut answer).expect("from the session");
        answer.trim().to_string()
    };
    assert_eq!(kept("one"), "ok");
    let (mut to_session, mut from_session, connected) = w.start(2, &["session", &b, "22"]);
    assert_eq!(connected, "connected");
    let mut say = |line: &str| {
        writeln!(to_session, "{line}").expect("to the session");
        let mut answer = String::new();
        from_session.read_line(&mut answer).expect("from the session");
        answer.trim().to_string()
    };
    assert_eq!(say("one"), "ok", "the established session works");
    let session: Vec<String> = ssh_entries(&ct).await.into_iter().filter(|p| !earlier.contains(p)).collect();
    assert_eq!(session.len(), 1, "its conntrack entry (zone {ZONE}): {:?}", ct.dump(ZONE).await);
    let live = || async { ssh_entries(&ct).await.contains(&session[0]) };
    r.load(desired(&w, false, false));
    r.sync().await.expect("sync without the rule");
    assert_eq!(say("two"), "timeout", "the session is cut");
    assert_eq!(kept("two"), "ok", "a's session (still allowed) is not");
    // The packet that was dropped marked the connection (ct_mark=1). While it lives the sweep
    // keeps its entry (deleting it would let b start it again the other way); the sweep deletes
    // ended ones only (the fakes' tests show which).
    let marked = ct.dump(ZONE).await.expect("dump-conntrack");
    let is_session = |e: &&neutrino_ovs::conntrack::CtEntry| e.orig.get("sport") == Some(&session[0]);
    assert_eq!(marked.iter().find(is_session).map(|e| e.mark), Some(1), "marked: {marked:?}");
    r.sync().await.expect("sync: the sweep");
    assert!(live().await, "the live marked entry stays: {:?}", ct.dump(ZONE).await);
    assert_eq!(say("three"), "timeout", "still cut");
    // Closing it from c changes nothing: its FIN is dropped like the rest.
    drop(to_session);
    drop(from_session);
    r.sync().await.expect("sync: the sweep");
    let after = ct.dump(ZONE).await.expect("dump-conntrack");
    assert_eq!(after.iter().find(is_session).map(|e| e.mark), Some(1), "still marked: {after:?}");
    assert!(!w.tcp(2, 1, 22), "c → b:22 after the rule went");
    assert!(w.tcp(0, 1, 23), "a → b:23 still (positive control)");

    // Anti-spoofing: d sees c's own frames, never those with another IP or MAC or ARP for
    // another address.
    let (_, mut sniffed, ready) = w.start(3, &["sniff", "eth0", "3"]);
    assert_eq!(ready, "ready");
    let (c, d) = (w.vm(2), w.vm(3));
    let (c_mac, c_ip, d_mac, d_ip) = (c.mac.clone(), c.ip.clone(), d.mac.clone(), d.ip.clone());
    for frame in [
        ["udp", c_mac.as_str(), c_ip.as_str(), d_mac.as_str(), d_ip.as_str(), "7001"],
        ["udp", c_mac.as_str(), "10.50.0.9", d_mac.as_str(), d_ip.as_str(), "7002"],
        ["udp", "fa:16:3e:50:00:99", c_ip.as_str(), d_mac.as_str(), d_ip.as_str(), "7003"],
        ["arp", c_mac.as_str(), c_ip.as_str(), "ff:ff:ff:ff:ff:ff", d_ip.as_str(), "0"],
        ["arp", c_mac.as_str(), "10.50.0.2", "ff:ff:ff:ff:ff:ff", "10.50.0.44", "0"],
    ] {
        let mut args = vec!["send", "eth0"];
        args.extend_from_slice(&frame);
        let ok = w.probe(2, &args).status().expect("send");
        assert!(ok.success(), "sending {frame:?}");
    }
    let mut seen = vec![];
    let mut line = String::new();
    while sniffed.read_line(&mut line).expect("sniffer") > 0 {
        seen.push(line.trim().to_string());
        line.clear();
    }
    let has = |l: &str| seen.iter().any(|s| s == l);
    assert!(has(&format!("ip {c_ip} {d_ip} 17 7001")), "c's own frame reached d: {seen:?}");
    assert!(
        !seen.iter().any(|s| s.ends_with(" 7002") || s.ends_with(" 7003")),
        "a spoofed frame reached d: {seen:?}"
    );
    assert!(has(&format!("arp {c_ip} {d_ip}")), "c's own ARP reached d: {seen:?}");
    assert!(!has("arp 10.50.0.2 10.50.0.44"), "ARP for b's address reached d: {seen:?}");
}
