//! The `l3` driver on the stateful fakes (`FakeHost`, `FakeVswitch`): what the host ends up
//! with after a listing (namespace, sysctls, veths with MAC, MTU, offload and addresses,
//! routes, bridge ports, the nftables table, haproxy and radvd), a second sync that changes
//! nothing, floating IPs associated, moved and disassociated (map elements only, the /32s,
//! gratuitous ARP, conntrack flushed, status reported), an interface removed, a router
//! removed, an agent restart (everything adopted, nothing redone) and the first sync's sweep
//! (only this agent's leftovers go).

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

mod common;

use common::SharedVswitch;
use common::l3::*;
use neutrino_agent::config::{AgentConfig, DhcpConfig, L3Config};
use neutrino_agent::driver::{Driver, StatusChanges, Wake};
use neutrino_agent::l3::{L3Driver, ROUTER_KEY};
use neutrino_agent::metadata::Instances;
use neutrino_agent::reconcile::OWNER_KEY;
use neutrino_host::{CmdOutput, FakeHost, FakeProcess, Links, Netns, NftTable, Nftables};
use neutrino_model::agent::Role;
use neutrino_model::internal::{Delta, HostState, L3Delta, L3State, RouterState};
use neutrino_ovs::vswitch::{FakeVswitch, PortSpec, StrMap, Vswitch};
use serde_json::json;
use tokio::sync::mpsc;

const HOST: &str = "host-a";
/// Where ovs-vswitchd's ports live (the sandbox's host namespace).
const VSWITCH_NS: &str = "t-host-a";
const NS: &str = "t-qrouter-r0000000-0000-4000-8000-000000000001";

/// The `conntrack` calls: namespace and arguments.
type Calls = Arc<Mutex<Vec<(Option<String>, Vec<String>)>>>;

struct World {
    host: Arc<FakeHost>,
    vs: Arc<FakeVswitch>,
    dir: tempfile::TempDir,
    conntrack: Calls,
    instances: Instances,
}

impl World {
    async fn new() -> World {
        let host = Arc::new(FakeHost::new());
        host.add_netns(VSWITCH_NS).expect("vswitch namespace");
        let vs = Arc::new(FakeVswitch::new());
        vs.ensure_bridge("br-int", "netdev", &StrMap::new(), Some("secure")).await.expect("br-int");
        let conntrack: Calls = Arc::default();
        let c = conntrack.clone();
        host.on_run("conntrack", move |cmd| {
            c.lock().expect("lock").push((cmd.netns.clone(), cmd.args.clone()));
            CmdOutput { status: 0, stdout: String::new(), stderr: String::new() }
        });
        let dir = tempfile::tempdir().expect("state dir");
        World { host, vs, dir, conntrack, instances: Instances::default() }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.path().join("l3")
    }

    fn config(&self) -> AgentConfig {
        AgentConfig {
            host: HOST.into(),
            roles: vec![Role::L3],
            netns: Some(VSWITCH_NS.into()),
            namespace_prefix: "t-".into(),
            dhcp: DhcpConfig { state_path: self.dir.path().join("dhcp"), ..Default::default() },
            l3: L3Config { state_path: self.state_path(), ..Default::default() },
            ..Default::default()
        }
    }

    /// A driver (a new agent) on this host, started.
    async fn driver(&self) -> L3Driver<SharedVswitch> {
        let mut d = L3Driver::new(
            self.config(),
            self.host.clone(),
            SharedVswitch(self.vs.clone()),
            self.instances.clone(),
        );
        let (tx, rx) = mpsc::unbounded_channel();
        std::mem::forget(rx);
        d.start(Wake::new(0, tx)).await.expect("start");
        d
    }

    fn running(&self, program: &str) -> Vec<FakeProcess> {
        self.host.processes_named(program).into_iter().filter(|p| p.running).collect()
    }

    fn table(&self) -> NftTable {
        let ns = self.host.netns(Some(NS)).expect("the router namespace");
        ns.table("ip", "neutrino-l3").cloned().expect("the router's table")
    }

    /// The addresses of `dev`, in order.
    fn addresses(&self, dev: &str) -> Vec<String> {
        let link = self.host.link(Some(NS), dev).unwrap_or_else(|| panic!("{dev} in the namespace"));
        let mut out: Vec<ipnet::IpNet> = link.addresses.clone();
        out.sort();
        out.iter().map(ToString::to_string).collect()
    }

    /// Every conntrack call so far, as `-D -d <address>` strings.
    fn flushed(&self) -> Vec<String> {
        self.conntrack.lock().expect("lock").iter().map(|(_, a)| a.join(" ")).collect()
    }
}

fn listing(routers: Vec<RouterState>) -> HostState {
    HostState { revision: 1, l3: L3State { routers }, ..Default::default() }
}

fn delta(routers: Vec<RouterState>, removed: &[&str]) -> Delta {
    Delta {
        revision: 2,
        l3: Some(L3Delta { routers, removed_routers: removed.iter().map(|s| s.to_string()).collect() }),
        ..Default::default()
    }
}

fn statuses(ch: &StatusChanges) -> Vec<(&str, &str)> {
    ch.floatingips.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The map elements of the table, as `key value` strings.
fn elements(t: &NftTable, map: &str) -> Vec<String> {
    let mut out: Vec<String> = t.sets[map]
        .elements
        .iter()
        .map(|e| format!("{} {}", e[0].as_str().unwrap_or_default(), e[1].as_str().unwrap_or_default()))
        .collect();
    out.sort();
    out
}

/// The handles of every rule, per chain: a table applied again gets new ones.
fn handles(t: &NftTable) -> BTreeMap<String, Vec<u64>> {
    t.chains.iter().map(|(n, c)| (n.clone(), c.rules.iter().map(|r| r.handle).collect())).collect()
}

async fn routed(w: &World) -> (L3Driver<SharedVswitch>, StatusChanges) {
    let mut d = w.driver().await;
    d.load(&mut listing(vec![router()]));
    let ch = d.sync().await.expect("sync");
    (d, ch)
}

#[tokio::test]
async fn a_listing_builds_the_router_namespace() {
    let w = World::new().await;
    let (mut d, ch) = routed(&w).await;

    // The floating IPs are reported active once their NAT is in place; no port status (the
    // l2 driver reports the router's ports).
    assert_eq!(statuses(&ch), [("f1", "ACTIVE"), ("f2", "ACTIVE")]);
    assert!(ch.up.is_empty() && ch.down.is_empty());

    let ns = w.host.netns(Some(NS)).expect("the qrouter namespace");
    assert!(ns.links["lo"].up);
    for (key, value) in [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv6.conf.all.forwarding", "1"),
        ("net.ipv4.conf.all.arp_ignore", "1"),
        ("net.ipv4.conf.all.arp_announce", "2"),
        ("net.ipv4.conf.all.rp_filter", "0"),
    ] {
        assert_eq!(w.host.sysctl(Some(NS), key).expect("sysctl"), value, "{key}");
    }
    // Each device: the port's MAC and MTU, up, offload off on both ends, its peer on br-int.
    for (inner, outer, mac, mtu) in [
        (QR_A, TR_A, "fa:16:3e:00:00:0a", 1450),
        (QR_B, TR_B, "fa:16:3e:00:00:0b", 1450),
        (QG, TG, "fa:16:3e:00:00:01", 1500),
    ] {
        let l = &ns.links[inner];
        assert_eq!((l.mac.as_str(), l.mtu, l.up, l.tx_offload), (mac, mtu, true, false), "{inner}");
        assert_eq!(l.peer, Some((outer.into(), Some(VSWITCH_NS.into()))), "{inner}");
        let o = w.host.link(Some(VSWITCH_NS), outer).expect("the outer end");
        assert_eq!((o.mtu, o.up, o.tx_offload), (mtu, true, false), "{outer}");
        assert!(w.host.link(None, outer).is_none(), "nothing in the root namespace");
    }
    assert_eq!(w.addresses(QR_A), ["10.0.0.1/24", "2001:db8:1::1/64"]);
    assert_eq!(w.addresses(QR_B), ["10.0.1.1/24"]);
    // The gateway holds the floating addresses as /32s (ARP for them).
    assert_eq!(w.addresses(QG), ["203.0.113.5/24", "203.0.113.10/32", "203.0.113.11/32"]);
    let mut routes: Vec<String> = ns.routes.iter().map(ToString::to_string).collect();
    routes.sort();
    assert_eq!(
        routes,
        [
            "172.16.0.0/16 via 10.0.1.254 dev qr-b0000000-00",
            "192.168.0.0/24 via 10.0.0.254 dev qr-a0000000-00",
            "default via 203.0.113.1 dev qg-g0000000-00",
        ]
    );

    // Plugged into br-int as Nova plugs a VM, marked as this agent's and this router's.
    for (outer, port, mac) in [
        (TR_A, PORT_A, "fa:16:3e:00:00:0a"),
        (TR_B, PORT_B, "fa:16:3e:00:00:0b"),
        (TG, GW_PORT, "fa:16:3e:00:00:01"),
    ] {
        let (bridge, info) = w.vs.port(outer).expect("the bridge port");
        assert_eq!(bridge, "br-int");
        let id = |k: &str| info.external_ids.get(k).map(String::as_str);
        assert_eq!(
            (id("iface-id"), id("attached-mac"), id("iface-status"), id(OWNER_KEY), id(ROUTER_KEY)),
            (Some(port), Some(mac), Some("active"), Some(HOST), Some(ROUTER)),
            "{outer}"
        );
    }

    // The NAT table with both floating IPs in its maps, counters on every rule.
    let t = w.table();
    assert_eq!(elements(&t, "fip_dnat"), ["203.0.113.10 10.0.0.5", "203.0.113.11 10.0.1.7"]);
    assert_eq!(elements(&t, "fip_snat"), ["10.0.0.5 203.0.113.10", "10.0.1.7 203.0.113.11"]);
    let snat = &t.chains["post_nat"].rules;
    assert!(
        snat.iter()
            .any(|r| r.expr.contains(&json!({"snat": {"addr": "203.0.113.5", "flags": "fully-random"}})))
    );
    assert!(t.chains.values().flat_map(|c| &c.rules).all(|r| r.expr.contains(&json!({"counter": null}))));

    // haproxy and radvd run in the namespace; the metadata service knows the router's networks.
    let haproxy = w.running("haproxy");
    assert_eq!(haproxy.len(), 1);
    assert_eq!(haproxy[0].netns.as_deref(), Some(NS));
    let conf = std::fs::read_to_string(w.state_path().join(ROUTER).join("haproxy.cfg")).expect("haproxy.cfg");
    assert!(conf.contains(&format!("X-Neutron-Router-ID {ROUTER}")) && conf.contains("bind 0.0.0.0:9697"));
    let radvd = w.running("radvd");
    assert_eq!((radvd.len(), radvd[0].netns.as_deref()), (1, Some(NS)));
    assert_eq!(w.instances.router_networks(ROUTER), ["net-a", "net-b"]);
    // Gratuitous ARP for each new floating address, from qg-.
    let mut garps: Vec<String> =
        w.host.processes_named("arping").iter().map(|p| p.argv[1..].join(" ")).collect();
    garps.sort();
    assert_eq!(garps, [format!("-U -c 3 -I {QG} 203.0.113.10"), format!("-U -c 3 -I {QG} 203.0.113.11")]);
    assert_eq!(d.configurations()["routers"], 1);

    // Nothing changed: nothing happens, nothing is reported.
    let before = w.host.state();
    let writes = w.vs.writes();
    assert!(d.sync().await.expect("sync").is_empty());
    d.load(&mut listing(vec![router()]));
    assert!(d.sync().await.expect("sync").is_empty());
    assert_eq!(w.host.state(), before);
    assert_eq!(w.vs.writes(), writes);
}

#[tokio::test]
async fn floating_ip_changes_touch_only_the_map_elements() {
    let w = World::new().await;
    let (mut d, _) = routed(&w).await;
    let rules = handles(&w.table());
    let garps = w.host.processes_named("arping").len();

    // f1 moves to 10.0.0.6, f2 is disassociated, f3 is associated.
    let mut r = router();
    r.floating_ips = vec![fip("f1", "203.0.113.10", "10.0.0.6"), fip("f3", "203.0.113.12", "10.0.1.8")];
    d.apply(&mut delta(vec![r.clone()], &[]));
    let ch = d.sync().await.expect("sync");
    // The moved f1 is reported again: the server set it DOWN when it moved.
    assert_eq!(statuses(&ch), [("f1", "ACTIVE"), ("f2", "DOWN"), ("f3", "ACTIVE")]);

    let t = w.table();
    assert_eq!(elements(&t, "fip_dnat"), ["203.0.113.10 10.0.0.6", "203.0.113.12 10.0.1.8"]);
    assert_eq!(elements(&t, "fip_snat"), ["10.0.0.6 203.0.113.10", "10.0.1.8 203.0.113.12"]);
    assert_eq!(handles(&t), rules, "the rules were not sent again");
    assert_eq!(w.addresses(QG), ["203.0.113.5/24", "203.0.113.10/32", "203.0.113.12/32"]);
    // Announced: the moved one and the new one; flushed: the moved one and the gone one.
    let mut new_garps: Vec<String> = w.host.processes_named("arping")[garps..]
        .iter()
        .map(|p| p.argv.last().cloned().unwrap_or_default())
        .collect();
    new_garps.sort();
    assert_eq!(new_garps, ["203.0.113.10", "203.0.113.12"]);
    assert_eq!(
        w.flushed(),
        ["-D -d 203.0.113.10", "-D -q 203.0.113.10", "-D -d 203.0.113.11", "-D -q 203.0.113.11"]
    );
    assert!(w.conntrack.lock().expect("lock").iter().all(|(ns, _)| ns.as_deref() == Some(NS)));

    // Any other change applies the table whole (new handles): here the gateway address.
    let mut gw = r.clone();
    gw.gateway = Some(gateway("203.0.113.6", true));
    d.apply(&mut delta(vec![gw], &[]));
    assert!(d.sync().await.expect("sync").is_empty(), "the floating IPs stay active");
    let t = w.table();
    assert_ne!(handles(&t), rules);
    assert!(
        t.chains["post_nat"]
            .rules
            .iter()
            .any(|r| r.expr.contains(&json!({"snat": {"addr": "203.0.113.6", "flags": "fully-random"}})))
    );
    assert_eq!(w.addresses(QG), ["203.0.113.6/24", "203.0.113.10/32", "203.0.113.12/32"]);
}

#[tokio::test]
async fn maps_changed_under_the_agent_are_applied_whole() {
    let w = World::new().await;
    let (mut d, _) = routed(&w).await;
    let rules = handles(&w.table());
    // Someone swapped f2's elements for others (the same count, so the table looks intact).
    let elem = |verb: &str, map: &str, k: &str, v: &str| json!({verb: {"element": {"family": "ip", "table": "neutrino-l3", "name": map, "elem": [[k, v]]}}});
    let swap = json!({"nftables": [
        elem("delete", "fip_dnat", "203.0.113.11", "10.0.1.7"),
        elem("delete", "fip_snat", "10.0.1.7", "203.0.113.11"),
        elem("add", "fip_dnat", "203.0.113.99", "10.0.1.99"),
        elem("add", "fip_snat", "10.0.1.99", "203.0.113.99"),
    ]});
    w.host.nft_apply(Some(NS), &swap).expect("swap elements");
    // f2 disassociated: deleting its elements fails, so the table is applied whole.
    let mut r = router();
    r.floating_ips.retain(|f| f.id != "f2");
    d.apply(&mut delta(vec![r], &[]));
    assert_eq!(statuses(&d.sync().await.expect("sync")), [("f2", "DOWN")]);
    let t = w.table();
    assert_eq!(elements(&t, "fip_dnat"), ["203.0.113.10 10.0.0.5"]);
    assert_eq!(elements(&t, "fip_snat"), ["10.0.0.5 203.0.113.10"]);
    assert_ne!(handles(&t), rules);
}

#[tokio::test]
async fn an_interface_removed_takes_its_devices() {
    let w = World::new().await;
    let (mut d, _) = routed(&w).await;
    let mut r = router();
    r.interfaces.retain(|p| p.id != PORT_B);
    r.routes.retain(|x| x.nexthop != "10.0.1.254");
    r.floating_ips.retain(|f| f.id != "f2");
    d.apply(&mut delta(vec![r], &[]));
    assert_eq!(statuses(&d.sync().await.expect("sync")), [("f2", "DOWN")]);

    let ns = w.host.netns(Some(NS)).expect("the namespace stays");
    assert!(!ns.links.contains_key(QR_B) && w.host.link(Some(VSWITCH_NS), TR_B).is_none());
    assert!(w.vs.port(TR_B).is_none(), "its bridge port went");
    // The other interface stays as it was.
    assert_eq!(w.addresses(QR_A), ["10.0.0.1/24", "2001:db8:1::1/64"]);
    assert!(w.vs.port(TR_A).is_some() && w.vs.port(TG).is_some());
    let routes: Vec<String> = ns.routes.iter().map(ToString::to_string).collect();
    assert!(!routes.iter().any(|r| r.contains("172.16.0.0")), "{routes:?}");
    assert!(routes.iter().any(|r| r.contains("192.168.0.0")), "{routes:?}");
    assert_eq!(w.instances.router_networks(ROUTER), ["net-a"]);
}

#[tokio::test]
async fn a_gateway_removed_takes_qg_and_the_nat() {
    let w = World::new().await;
    let (mut d, _) = routed(&w).await;
    let mut r = router();
    r.gateway = None;
    d.apply(&mut delta(vec![r], &[]));
    // Without a gateway a floating IP cannot be reached: it goes down.
    assert_eq!(statuses(&d.sync().await.expect("sync")), [("f1", "DOWN"), ("f2", "DOWN")]);
    let ns = w.host.netns(Some(NS)).expect("the namespace stays");
    assert!(
        !ns.links.contains_key(QG) && w.vs.port(TG).is_none() && w.host.link(Some(VSWITCH_NS), TG).is_none()
    );
    assert!(!ns.routes.iter().any(|r| r.is_default()), "{:?}", ns.routes);
    let t = w.table();
    assert!(t.sets["fip_dnat"].elements.is_empty() && t.chains["post_nat"].rules.is_empty());
    // The interfaces and the metadata redirect stay.
    assert_eq!(w.addresses(QR_A), ["10.0.0.1/24", "2001:db8:1::1/64"]);
    assert_eq!(t.chains["pre_nat"].rules.len(), 1);
    assert_eq!(w.running("haproxy").len(), 1);
}

#[tokio::test]
async fn a_router_removed_leaves_nothing() {
    let w = World::new().await;
    let (mut d, _) = routed(&w).await;
    assert!(w.host.netns_exists(NS).expect("list"));
    d.apply(&mut delta(vec![], &[ROUTER]));
    let ch = d.sync().await.expect("sync");
    assert_eq!(statuses(&ch), [("f1", "DOWN"), ("f2", "DOWN")]);
    assert!(!w.host.netns_exists(NS).expect("list"), "the namespace went");
    for outer in [TR_A, TR_B, TG] {
        assert!(w.vs.port(outer).is_none() && w.host.link(Some(VSWITCH_NS), outer).is_none(), "{outer}");
    }
    assert!(w.running("haproxy").is_empty() && w.running("radvd").is_empty());
    assert!(!w.state_path().join(ROUTER).exists());
    assert!(w.instances.router_networks(ROUTER).is_empty());
    // The vswitch's own namespace and bridge are untouched.
    assert!(w.host.netns_exists(VSWITCH_NS).expect("list") && w.vs.bridge("br-int").is_some());
}

#[tokio::test]
async fn a_restarted_agent_adopts_the_router() {
    let w = World::new().await;
    let (first, _) = routed(&w).await;
    drop(first);
    let before = w.host.state();
    let writes = w.vs.writes();
    let (_, ch) = routed(&w).await;
    // The new agent reports what it found in place, and changed nothing: no process
    // restarted or signalled, no link, address, route or rule made again.
    assert_eq!(statuses(&ch), [("f1", "ACTIVE"), ("f2", "ACTIVE")]);
    assert_eq!(w.host.state(), before);
    assert_eq!(w.vs.writes(), writes);
    assert!(w.flushed().is_empty());

    // A table changed under the agent is applied again (and only then).
    let rules = handles(&w.table());
    w.host
        .nft_apply(Some(NS), &json!({"nftables": [{"flush": {"chain": {"family": "ip", "table": "neutrino-l3", "name": "post_nat"}}}]}))
        .expect("flush a chain");
    let (_, _) = routed(&w).await;
    let t = w.table();
    assert_ne!(handles(&t), rules);
    assert_eq!(t.chains["post_nat"].rules.len(), 4);
}

#[tokio::test]
async fn the_first_sync_sweeps_only_this_agents_leftovers() {
    let w = World::new().await;
    // Leftovers of this agent: a router namespace with a process, its bridge port and veth,
    // its directory.
    let stale_ns = "t-qrouter-stale";
    w.host.add_netns(stale_ns).expect("ns");
    let stale_pid = w.host.plant_process(&["haproxy", "-f", "x"], Some(stale_ns));
    w.host.add_veth(Some(VSWITCH_NS), "tr-stale", Some(stale_ns), "qr-stale").expect("veth");
    let ours = |router: &str| PortSpec {
        iface_external_ids: [
            (OWNER_KEY.to_string(), HOST.to_string()),
            (ROUTER_KEY.to_string(), router.to_string()),
        ]
        .into(),
        ..Default::default()
    };
    w.vs.ensure_port("br-int", "tr-stale", &ours("stale")).await.expect("port");
    std::fs::create_dir_all(w.state_path().join("stale")).expect("dir");
    // Not this agent's: another prefix, a DHCP namespace, another host's port, a VM's port.
    for ns in ["u-qrouter-other", "t-qdhcp-net"] {
        w.host.add_netns(ns).expect("ns");
    }
    let theirs = PortSpec {
        iface_external_ids: [
            (OWNER_KEY.to_string(), "host-b".to_string()),
            (ROUTER_KEY.to_string(), "x".to_string()),
        ]
        .into(),
        ..Default::default()
    };
    w.vs.ensure_port("br-int", "tr-other", &theirs).await.expect("port");
    w.vs.ensure_port("br-int", "tapvm", &PortSpec::default()).await.expect("port");

    routed(&w).await;
    assert!(!w.host.netns_exists(stale_ns).expect("list"));
    assert!(!w.host.process(stale_pid).expect("the process").running);
    assert!(w.vs.port("tr-stale").is_none() && w.host.link(Some(VSWITCH_NS), "tr-stale").is_none());
    assert!(!w.state_path().join("stale").exists());
    // Positive control on the same sweep: the wanted router is there, the others untouched.
    assert!(w.host.netns_exists(NS).expect("list"));
    for ns in ["u-qrouter-other", "t-qdhcp-net", VSWITCH_NS] {
        assert!(w.host.netns_exists(ns).expect("list"), "{ns}");
    }
    assert!(w.vs.port("tr-other").is_some() && w.vs.port("tapvm").is_some());
}

#[tokio::test]
async fn a_failed_report_is_sent_again() {
    let w = World::new().await;
    let (mut d, ch) = routed(&w).await;
    d.retry_status(&ch);
    let again = d.sync().await.expect("sync");
    assert_eq!(statuses(&again), [("f1", "ACTIVE"), ("f2", "ACTIVE")]);
    assert!(d.sync().await.expect("sync").is_empty(), "once");
}

#[tokio::test]
async fn a_router_that_fails_reports_its_floating_ips_in_error() {
    let w = World::new().await;
    // The router's proxy cannot start: the router fails to converge.
    w.host.refuse_spawn("haproxy", "cannot bind");
    let (mut d, ch) = routed(&w).await;
    assert_eq!(statuses(&ch), [("f1", "ERROR"), ("f2", "ERROR")]);
    // Reported once; still failing, nothing new to report.
    assert!(d.sync().await.expect("sync").is_empty());
    // Without interfaces the router needs no proxy: it converges, its floating IPs go active.
    let mut r = router();
    r.interfaces.clear();
    r.routes.clear();
    d.apply(&mut delta(vec![r], &[]));
    assert_eq!(statuses(&d.sync().await.expect("sync")), [("f1", "ACTIVE"), ("f2", "ACTIVE")]);
}
