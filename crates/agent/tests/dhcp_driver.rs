//! The `dhcp` driver on the stateful fakes (`FakeHost`, `FakeVswitch`): what the host ends up
//! with after a listing (namespace, veth, addresses, bridge port, dnsmasq and the metadata
//! proxy), a port added (files rewritten, SIGHUP, no restart), a port removed (its lease
//! released, SIGHUP), a subnet changed (restart), a network removed (nothing left), an agent
//! restart (the running dnsmasq adopted, not restarted) and the first sync's sweep (only this
//! agent's leftovers go).

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

mod common;

use common::SharedVswitch;
use common::dhcp::dhcp_port as port;
use neutrino_agent::config::{AgentConfig, DhcpConfig};
use neutrino_agent::dhcp::{DhcpDriver, NETWORK_KEY};
use neutrino_agent::driver::{Driver, Wake};
use neutrino_agent::metadata::Instances;
use neutrino_agent::reconcile::OWNER_KEY;
use neutrino_host::{CmdOutput, FakeHost, FakeProcess, Links, Netns, Signal};
use neutrino_model::agent::Role;
use neutrino_model::internal::{Delta, DhcpDelta, DhcpNetworkState, DhcpState, DhcpSubnetState, HostState};
use neutrino_ovs::vswitch::{FakeVswitch, PortSpec, StrMap, Vswitch};
use tokio::sync::mpsc;

const HOST: &str = "host-a";
/// Where ovs-vswitchd's ports live (the sandbox's host namespace).
const VSWITCH_NS: &str = "t-host-a";
const NET: &str = "net-1";
const DHCP_PORT: &str = "dhcp0000-1111-2222-3333-444455556666";
const NS: &str = "t-qdhcp-net-1";
const NSIF: &str = "ns-dhcp0000-11";
const TAP: &str = "tapdhcp0000-11";

/// The `dhcp_release` calls: namespace and arguments.
type Releases = Arc<Mutex<Vec<(Option<String>, Vec<String>)>>>;

/// One simulated host: its kernel, its Open vSwitch, the state directory, the calls of
/// `dhcp_release`.
struct World {
    host: Arc<FakeHost>,
    vs: Arc<FakeVswitch>,
    dir: tempfile::TempDir,
    releases: Releases,
    instances: Instances,
}

impl World {
    async fn new() -> World {
        let host = Arc::new(FakeHost::new());
        host.add_netns(VSWITCH_NS).expect("vswitch namespace");
        let vs = Arc::new(FakeVswitch::new());
        vs.ensure_bridge("br-int", "netdev", &StrMap::new(), Some("secure")).await.expect("br-int");
        let releases: Releases = Arc::default();
        let r = releases.clone();
        host.on_run("dhcp_release", move |cmd| {
            r.lock().expect("lock").push((cmd.netns.clone(), cmd.args.clone()));
            CmdOutput { status: 0, stdout: String::new(), stderr: String::new() }
        });
        let dir = tempfile::tempdir().expect("state dir");
        World { host, vs, dir, releases, instances: Instances::default() }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.path().join("dhcp")
    }

    fn config(&self) -> AgentConfig {
        AgentConfig {
            host: HOST.into(),
            roles: vec![Role::Dhcp],
            netns: Some(VSWITCH_NS.into()),
            namespace_prefix: "t-".into(),
            dhcp: DhcpConfig { state_path: self.state_path(), ..Default::default() },
            ..Default::default()
        }
    }

    /// A driver (a new agent) on this host, started.
    async fn driver(&self) -> DhcpDriver<SharedVswitch> {
        let mut d = DhcpDriver::new(
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

    fn dnsmasq(&self) -> FakeProcess {
        let mut r = self.running("dnsmasq");
        assert_eq!(r.len(), 1, "one dnsmasq runs: {r:?}");
        r.remove(0)
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.state_path().join(NET).join(name)).unwrap_or_default()
    }
}

fn network() -> DhcpNetworkState {
    let ports = vec![
        port(DHCP_PORT, "fa:16:3e:00:00:aa", "network:dhcp", "10.0.0.2"),
        port("vm-1", "fa:16:3e:00:00:01", "compute:nova", "10.0.0.5"),
    ];
    common::dhcp::dhcp_network(NET, DHCP_PORT, "10.0.0", 1450, ports)
}

fn listing(networks: Vec<DhcpNetworkState>) -> HostState {
    HostState { revision: 1, dhcp: DhcpState { networks }, ..Default::default() }
}

fn delta(networks: Vec<DhcpNetworkState>, removed: &[&str]) -> Delta {
    Delta {
        revision: 2,
        dhcp: Some(DhcpDelta { networks, removed_networks: removed.iter().map(|s| s.to_string()).collect() }),
        ..Default::default()
    }
}

async fn served(w: &World) -> DhcpDriver<SharedVswitch> {
    let mut d = w.driver().await;
    d.load(&mut listing(vec![network()]));
    d.sync().await.expect("sync");
    d
}

#[tokio::test]
async fn a_listing_builds_the_namespace_the_port_and_the_processes() {
    let w = World::new().await;
    let mut d = served(&w).await;

    // The namespace with lo up and the DHCP port's end: its MAC, the MTU, its address and the
    // metadata address (the network is isolated), TX offload off.
    let ns = w.host.netns(Some(NS)).expect("the qdhcp namespace");
    assert!(ns.links["lo"].up);
    let nsif = &ns.links[NSIF];
    assert_eq!(
        (nsif.mac.as_str(), nsif.mtu, nsif.up, nsif.tx_offload),
        ("fa:16:3e:00:00:aa", 1450, true, false)
    );
    let addrs: Vec<String> = nsif.addresses.iter().map(|a| a.to_string()).collect();
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    assert!(addrs.contains(&"10.0.0.2/24".into()) && addrs.contains(&"169.254.169.254/32".into()));
    assert_eq!(nsif.peer, Some((TAP.into(), Some(VSWITCH_NS.into()))));
    let tap = w.host.link(Some(VSWITCH_NS), TAP).expect("the host end");
    assert!(tap.up && tap.mtu == 1450);
    assert!(w.host.link(None, TAP).is_none(), "nothing in the root namespace");

    // Plugged into br-int as Nova plugs a VM, marked as ours.
    let (bridge, info) = w.vs.port(TAP).expect("the bridge port");
    assert_eq!(bridge, "br-int");
    let ids = &info.external_ids;
    assert_eq!(ids.get("iface-id").map(String::as_str), Some(DHCP_PORT));
    assert_eq!(ids.get("attached-mac").map(String::as_str), Some("fa:16:3e:00:00:aa"));
    assert_eq!(ids.get("iface-status").map(String::as_str), Some("active"));
    assert_eq!(ids.get(OWNER_KEY).map(String::as_str), Some(HOST));
    assert_eq!(ids.get(NETWORK_KEY).map(String::as_str), Some(NET));

    // dnsmasq and haproxy run in the namespace, each with its pid file.
    let dnsmasq = w.dnsmasq();
    assert_eq!(dnsmasq.netns.as_deref(), Some(NS));
    assert!(dnsmasq.argv.contains(&format!("--interface={NSIF}")), "{:?}", dnsmasq.argv);
    assert_eq!(w.file("pid").trim(), dnsmasq.pid.to_string());
    let haproxy = w.running("haproxy");
    assert_eq!(haproxy.len(), 1);
    assert_eq!(haproxy[0].netns.as_deref(), Some(NS));
    assert!(w.file("haproxy.conf").contains(&format!("X-Neutron-Network-ID {NET}")));
    assert!(w.file("host").contains("fa:16:3e:00:00:01,host-10-0-0-5.openstacklocal,10.0.0.5"));
    assert_eq!(w.file("leases"), "0 fa:16:3e:00:00:aa 10.0.0.2 * *\n0 fa:16:3e:00:00:01 10.0.0.5 * *\n");

    // The metadata service knows the network's callers.
    assert_eq!(w.instances.caller(NET, "10.0.0.5").map(|c| c.port.id), Some("vm-1".into()));
    let conf = d.configurations();
    assert_eq!(
        (conf["networks"].as_u64(), conf["subnets"].as_u64(), conf["ports"].as_u64()),
        (Some(1), Some(1), Some(2))
    );
    assert_eq!(conf["dhcp_driver"], "neutron.agent.linux.dhcp.Dnsmasq");
    assert_eq!(conf["dhcp_lease_duration"], 86400);

    // Nothing changed: nothing happens.
    let before = w.host.state();
    let writes = w.vs.writes();
    d.sync().await.expect("sync");
    d.load(&mut listing(vec![network()]));
    d.sync().await.expect("sync");
    assert_eq!(w.host.state(), before);
    assert_eq!(w.vs.writes(), writes);
}

#[tokio::test]
async fn a_port_added_rewrites_the_files_and_reloads_dnsmasq() {
    let w = World::new().await;
    let mut d = served(&w).await;
    let pid = w.dnsmasq().pid;
    let mut n = network();
    n.ports.push(port("vm-2", "fa:16:3e:00:00:02", "compute:nova", "10.0.0.6"));
    d.apply(&mut delta(vec![n], &[]));
    d.sync().await.expect("sync");
    let dnsmasq = w.dnsmasq();
    assert_eq!(dnsmasq.pid, pid, "not restarted");
    assert_eq!(dnsmasq.signals, vec![Signal::Hup]);
    assert!(w.file("host").contains("fa:16:3e:00:00:02,host-10-0-0-6.openstacklocal,10.0.0.6"));
    assert!(w.file("addn_hosts").contains("10.0.0.6\thost-10-0-0-6.openstacklocal host-10-0-0-6"));
    assert_eq!(w.host.processes_named("dnsmasq").len(), 1, "no second dnsmasq");
    assert!(w.releases.lock().expect("lock").is_empty(), "nothing to release");
    assert_eq!(w.instances.caller(NET, "10.0.0.6").map(|c| c.port.id), Some("vm-2".into()));
}

#[tokio::test]
async fn a_port_removed_releases_its_lease_and_reloads() {
    let w = World::new().await;
    let mut d = served(&w).await;
    // dnsmasq leased the VM its address.
    std::fs::write(
        w.state_path().join(NET).join("leases"),
        "1800000000 fa:16:3e:00:00:01 10.0.0.5 host-10-0-0-5 *\n",
    )
    .expect("lease file");
    let mut n = network();
    n.ports.truncate(1);
    d.apply(&mut delta(vec![n], &[]));
    d.sync().await.expect("sync");
    let releases = w.releases.lock().expect("lock").clone();
    assert_eq!(
        releases,
        vec![(Some(NS.to_string()), vec![NSIF.into(), "10.0.0.5".into(), "fa:16:3e:00:00:01".into()])]
    );
    assert_eq!(w.dnsmasq().signals, vec![Signal::Hup]);
    assert!(!w.file("host").contains("10.0.0.5"));
    assert_eq!(w.instances.caller(NET, "10.0.0.5"), None);
}

#[tokio::test]
async fn a_subnet_change_restarts_dnsmasq() {
    let w = World::new().await;
    let mut d = served(&w).await;
    let old = w.dnsmasq();
    let mut n = network();
    n.subnets[0].cidr = "10.0.0.0/16".into();
    d.apply(&mut delta(vec![n], &[]));
    d.sync().await.expect("sync");
    let new = w.dnsmasq();
    assert_ne!(new.pid, old.pid);
    assert_eq!(w.host.process(old.pid).expect("old").signals, vec![Signal::Term]);
    assert!(new.argv.contains(&"--dhcp-range=set:subnet-s4,10.0.0.0,static,255.255.0.0,86400s".into()));
    let nsif = w.host.link(Some(NS), NSIF).expect("ns end");
    assert_eq!(
        nsif.addresses.iter().map(|a| a.to_string()).filter(|a| a.starts_with("10.")).collect::<Vec<_>>(),
        ["10.0.0.2/16"]
    );
    // An IPv6 mode change is a restart too, though the command line is the same.
    let mut n = network();
    n.subnets[0].cidr = "10.0.0.0/16".into();
    n.subnets.push(DhcpSubnetState {
        id: "s6".into(),
        ip_version: 6,
        cidr: "2001:db8::/64".into(),
        enable_dhcp: true,
        ipv6_address_mode: Some("dhcpv6-stateful".into()),
        ..Default::default()
    });
    d.apply(&mut delta(vec![n.clone()], &[]));
    d.sync().await.expect("sync");
    let with_v6 = w.dnsmasq();
    n.subnets[1].ipv6_address_mode = Some("dhcpv6-stateless".into());
    d.apply(&mut delta(vec![n], &[]));
    d.sync().await.expect("sync");
    assert_ne!(w.dnsmasq().pid, with_v6.pid);
}

#[tokio::test]
async fn a_network_removed_leaves_nothing() {
    let w = World::new().await;
    let mut d = served(&w).await;
    let (dnsmasq, haproxy) = (w.dnsmasq(), w.running("haproxy").remove(0));
    d.apply(&mut delta(vec![], &[NET]));
    d.sync().await.expect("sync");
    assert!(w.host.netns(Some(NS)).is_none());
    assert!(w.host.link(Some(VSWITCH_NS), TAP).is_none());
    assert!(w.vs.port(TAP).is_none());
    assert!(w.running("dnsmasq").is_empty() && w.running("haproxy").is_empty());
    assert_eq!(w.host.process(dnsmasq.pid).expect("dnsmasq").signals, vec![Signal::Term]);
    assert_eq!(w.host.process(haproxy.pid).expect("haproxy").signals, vec![Signal::Term]);
    assert!(!w.state_path().join(NET).exists());
    assert_eq!(w.instances.caller(NET, "10.0.0.5"), None);
    assert_eq!(w.host.list_netns().expect("list"), [VSWITCH_NS]);
    assert_eq!(d.configurations()["networks"], 0);
}

#[tokio::test]
async fn a_network_taken_down_is_removed_and_one_never_served_is_not_built() {
    let w = World::new().await;
    let mut d = served(&w).await;
    let mut down = network();
    down.admin_state_up = false;
    d.apply(&mut delta(vec![down], &[]));
    d.sync().await.expect("sync");
    assert!(w.host.netns(Some(NS)).is_none() && w.running("dnsmasq").is_empty());
    // No DHCP port yet, or no DHCP subnet: nothing.
    let mut no_port = network();
    no_port.dhcp_port = None;
    let mut no_dhcp = network();
    no_dhcp.id = "net-2".into();
    no_dhcp.subnets[0].enable_dhcp = false;
    d.load(&mut listing(vec![no_port, no_dhcp]));
    d.sync().await.expect("sync");
    assert_eq!(w.host.list_netns().expect("list"), [VSWITCH_NS]);
    assert!(w.host.processes_named("dnsmasq").iter().all(|p| !p.running));
}

#[tokio::test]
async fn an_agent_restart_keeps_dnsmasq() {
    let w = World::new().await;
    let first = served(&w).await;
    let (dnsmasq, haproxy) = (w.dnsmasq(), w.running("haproxy").remove(0));
    drop(first);
    let before = w.host.state();

    // Same state: the new agent adopts everything as it is.
    let mut second = served(&w).await;
    assert_eq!(w.host.state(), before);
    assert!(w.dnsmasq().signals.is_empty());

    // A port added while the agent was away: a reload, still no restart.
    drop(second);
    let mut third = w.driver().await;
    let mut n = network();
    n.ports.push(port("vm-2", "fa:16:3e:00:00:02", "compute:nova", "10.0.0.6"));
    third.load(&mut listing(vec![n]));
    third.sync().await.expect("sync");
    let now = w.dnsmasq();
    assert_eq!(now.pid, dnsmasq.pid);
    assert_eq!(now.signals, vec![Signal::Hup]);
    assert_eq!(w.running("haproxy").remove(0).pid, haproxy.pid);
    assert_eq!(w.host.processes_named("dnsmasq").len(), 1);

    // A dnsmasq that died is started again on the next sync.
    w.host.crash(now.pid);
    second = third;
    second.sync().await.expect("sync");
    assert_ne!(w.dnsmasq().pid, now.pid);
}

#[tokio::test]
async fn the_first_sync_sweeps_only_this_agents_leftovers() {
    let w = World::new().await;
    // Leftovers of a network this agent served before: its namespace with a dnsmasq, its
    // directory, its bridge port and host end.
    let stale_ns = "t-qdhcp-gone";
    w.host.add_netns(stale_ns).expect("ns");
    let stale_dir = w.state_path().join("gone");
    std::fs::create_dir_all(&stale_dir).expect("dir");
    let pid = w.host.plant_process(&["dnsmasq", "--pid-file=x"], Some(stale_ns));
    std::fs::write(stale_dir.join("pid"), format!("{pid}\n")).expect("pid file");
    w.host.add_veth(Some(VSWITCH_NS), "tapgone", Some(stale_ns), "ns-gone").expect("veth");
    let mark = |net: &str, host: &str| PortSpec {
        iface_external_ids: StrMap::from([
            (OWNER_KEY.to_string(), host.to_string()),
            (NETWORK_KEY.to_string(), net.to_string()),
            ("iface-id".to_string(), "old-port".to_string()),
        ]),
        ..Default::default()
    };
    w.vs.ensure_port("br-int", "tapgone", &mark("gone", HOST)).await.expect("port");
    // Not ours: another prefix's namespace, another host's port, a VM's port, a process of
    // the machine.
    w.host.add_netns("u-qdhcp-gone").expect("ns");
    w.host.add_netns("qdhcp-gone").expect("ns");
    w.vs.ensure_port("br-int", "tapother", &mark("gone", "host-b")).await.expect("port");
    w.vs.plug_vm_interface("br-int", "tapvm", "vm-1", "fa:16:3e:00:00:01", "vm").expect("vm");
    let foreign = w.host.plant_process(&["dnsmasq"], None);

    let _d = served(&w).await;
    assert!(w.host.netns(Some(stale_ns)).is_none());
    assert!(!stale_dir.exists());
    assert!(w.vs.port("tapgone").is_none() && w.host.link(Some(VSWITCH_NS), "tapgone").is_none());
    assert_eq!(w.host.process(pid).expect("stale").signals, vec![Signal::Term]);

    let mut kept = w.host.list_netns().expect("list");
    kept.sort();
    assert_eq!(kept, ["qdhcp-gone", VSWITCH_NS, NS, "u-qdhcp-gone"]);
    assert!(w.vs.port("tapother").is_some() && w.vs.port("tapvm").is_some());
    assert!(w.host.process(foreign).expect("foreign").running);
    assert!(w.state_path().join(NET).exists());
}

#[tokio::test]
async fn a_new_dhcp_port_replaces_the_old_interface_and_bridge_port() {
    let w = World::new().await;
    let mut d = served(&w).await;
    let new_port = "dhcp9999-8888-7777-6666-555544443333";
    let mut n = network();
    n.dhcp_port = Some(new_port.into());
    n.ports[0] = port(new_port, "fa:16:3e:00:00:bb", "network:dhcp", "10.0.0.3");
    d.apply(&mut delta(vec![n], &[]));
    d.sync().await.expect("sync");
    let links: Vec<String> = w.host.netns(Some(NS)).expect("ns").links.keys().cloned().collect();
    assert_eq!(links, ["lo", "ns-dhcp9999-88"]);
    assert!(w.host.link(Some(VSWITCH_NS), TAP).is_none() && w.vs.port(TAP).is_none());
    assert!(w.vs.port("tapdhcp9999-88").is_some());
    // dnsmasq serves the new interface: a new command line, a restart.
    assert!(w.dnsmasq().argv.contains(&"--interface=ns-dhcp9999-88".into()));
}

#[tokio::test]
async fn a_program_that_fails_to_start_fails_only_its_part() {
    let w = World::new().await;
    w.host.refuse_spawn("haproxy", "cannot bind socket");
    let mut d = w.driver().await;
    d.load(&mut listing(vec![network()]));
    d.sync().await.expect("the agent goes on");
    assert_eq!(w.dnsmasq().netns.as_deref(), Some(NS), "DHCP is served");
    assert!(w.running("haproxy").is_empty());
}
