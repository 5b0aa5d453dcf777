//! The `l3` and `l2` drivers on a real Open vSwitch (userspace `netdev`, private, in its own
//! namespace): the `l3` driver plugs the router's `qr-` and `qg-` veths into `br-int`, the `l2`
//! reconciler wires them like any port — the interface on the tenant VXLAN network, the gateway
//! on the flat external network, which leaves through `br-eth1` (`bridge_mappings`) — and real
//! packets cross: a VM behind the router reaches "ext" on the external side as the gateway
//! address, and ext reaches the VM on its floating IP. Everything lives in namespaces the test
//! creates and removes.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use std::sync::Arc;

use common::dhcp::Namespaces;
use common::l3::{fip, gateway, subnet};
use common::{config, net_flat, net_vxlan, port, state};
use neutrino_agent::config::{AgentConfig, L3Config};
use neutrino_agent::driver::{Driver, Wake};
use neutrino_agent::l3::L3Driver;
use neutrino_agent::metadata::Instances;
use neutrino_agent::reconcile::Reconciler;
use neutrino_host::testing::Prerequisites;
use neutrino_host::{Cmd, Links, LinuxHost, Netns, Route};
use neutrino_model::NetworkType;
use neutrino_model::internal::{Delta, HostState, L3Delta, L3State, PortState, RouterPortState, RouterState};
use neutrino_ovs::ofctl::OvsOfctl;
use neutrino_ovs::testing::OvsSandbox;
use neutrino_ovs::vswitch::OvsVswitch;
use tokio::sync::mpsc;

const PROBE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/probe.py");
const ROUTER: &str = "rt-ovs";
const IFACE: &str = "int0000ovs1";
const IFACE_MAC: &str = "fa:16:3e:30:00:0a";
const GW: &str = "ext0000ovs1";
const GW_MAC: &str = "fa:16:3e:30:00:01";
const VM_PORT: &str = "vm-port-l3";
const VM_MAC: &str = "fa:16:3e:30:00:05";

fn router(floating: bool) -> RouterState {
    let mut gw = gateway("203.0.113.5", true);
    gw.port.id = GW.into();
    gw.port.mac_address = GW_MAC.into();
    gw.physical_network = Some("physnet1".into());
    gw.network_type = NetworkType::Flat;
    RouterState {
        id: ROUTER.into(),
        project_id: "p".into(),
        admin_state_up: true,
        gateway: Some(gw),
        interfaces: vec![RouterPortState {
            id: IFACE.into(),
            network_id: "net".into(),
            mac_address: IFACE_MAC.into(),
            mtu: 1450,
            subnets: vec![subnet("s4", "10.0.0.1", "10.0.0.0/24", "10.0.0.1", 4)],
        }],
        routes: vec![],
        floating_ips: if floating { vec![fip("f1", "203.0.113.10", "10.0.0.5")] } else { vec![] },
    }
}

/// The `l2` section: the VM's port and both router ports, bound to this host.
fn l2_state() -> HostState {
    let with = |id: &str, net: &str, mac: &str, owner: &str| PortState {
        mac_address: mac.into(),
        device_owner: owner.into(),
        device_id: ROUTER.into(),
        ..port(id, net)
    };
    state(
        1,
        vec![
            with(VM_PORT, "net", VM_MAC, "compute:nova"),
            with(IFACE, "net", IFACE_MAC, "network:router_interface"),
            with(GW, "public", GW_MAC, "network:router_gateway"),
        ],
        vec![net_vxlan("net", 300), net_flat("public")],
        &[],
    )
}

/// A namespace whose `eth0` (its peer `side` in the switch's namespace, TX offload off on
/// both) is at `address`, routed through `gateway` when given.
fn endpoint(
    host: &LinuxHost,
    sw: &str,
    ns: &str,
    side: &str,
    mac: &str,
    address: &str,
    gateway: Option<&str>,
) {
    host.add_netns(ns).expect("ns");
    host.set_link_up(Some(ns), "lo", true).expect("lo");
    host.add_veth(Some(sw), side, Some(ns), "eth0").expect("veth");
    host.set_link_up(Some(sw), side, true).expect("up");
    host.set_tx_offload(Some(sw), side, false).expect("tx off");
    host.set_mac(Some(ns), "eth0", mac).expect("mac");
    host.set_link_up(Some(ns), "eth0", true).expect("up");
    host.set_tx_offload(Some(ns), "eth0", false).expect("tx off");
    host.add_address(Some(ns), "eth0", address.parse().expect("address")).expect("address");
    if let Some(gw) = gateway {
        host.add_route(Some(ns), &Route::default_via(gw.parse().expect("gw"), None)).expect("route");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_reaches_the_outside_through_the_router_on_open_vswitch() {
    let Some(sb) = OvsSandbox::start() else { return };
    let needs = ["ip", "ethtool", "nft", "conntrack", "arping", "haproxy", "python3"];
    if !Prerequisites::new().root().programs(&needs).met() {
        return;
    }
    let prefix = format!("nt-lo{}-", std::process::id());
    let (vm, ext) = (format!("{prefix}vm"), format!("{prefix}ext"));
    let cleanup = Namespaces(vec![vm.clone(), ext.clone(), format!("{prefix}qrouter-{ROUTER}")]);
    let host = LinuxHost::new();
    let dir = tempfile::tempdir().expect("dir");
    let cfg = AgentConfig {
        ovsdb: sb.db_sock(),
        ovs_rundir: sb.rundir().to_path_buf(),
        netns: Some(sb.netns.clone()),
        namespace_prefix: prefix.clone(),
        l3: L3Config { state_path: dir.path().join("l3"), ..Default::default() },
        ..config()
    };

    // The l2 agent's bridges, then the router's devices plugged by the l3 driver.
    let vs = OvsVswitch::connect(sb.db_sock()).await.expect("ovsdb");
    let mut l2 = Reconciler::new(cfg.clone(), vs, OvsOfctl::new(sb.rundir()));
    l2.setup().await.expect("setup");
    let vs = OvsVswitch::connect(sb.db_sock()).await.expect("ovsdb");
    let mut l3 = L3Driver::new(cfg.clone(), Arc::new(LinuxHost::new()), vs, Instances::default());
    let (tx, rx) = mpsc::unbounded_channel();
    std::mem::forget(rx);
    l3.start(Wake::new(0, tx)).await.expect("start");
    l3.load(&mut HostState { l3: L3State { routers: vec![router(false)] }, ..Default::default() });
    l3.sync().await.expect("l3 sync");

    // The VM plugged as Nova plugs a tap; ext on the physical bridge's uplink.
    let pid = std::process::id() % 100_000;
    let (tap, uplink) = (format!("vmt{pid}"), format!("upl{pid}"));
    endpoint(&host, &sb.netns, &vm, &tap, VM_MAC, "10.0.0.5/24", Some("10.0.0.1"));
    endpoint(&host, &sb.netns, &ext, &uplink, "fa:16:3e:30:00:e1", "203.0.113.1/24", None);
    let id = format!("external_ids:iface-id={VM_PORT}");
    sb.vsctl(&["add-port", "br-int", &tap, "--", "set", "interface", &tap, &id]).expect("plug the VM");
    sb.vsctl(&["add-port", "br-eth1", &uplink]).expect("plug the uplink");

    // The l2 agent sees the three interfaces and wires the three ports.
    l2.setup().await.expect("setup: the plugged interfaces");
    l2.load(l2_state());
    let mut up = l2.sync().await.expect("l2 sync").up;
    up.sort();
    assert_eq!(up, [GW, IFACE, VM_PORT]);

    let whoami = |ns: &str| {
        std::process::Command::new("ip")
            .args(["netns", "exec", ns, "python3", PROBE, "whoami", "8080"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the probe starts")
    };
    let ask = |ns: &str, ip: &str| {
        let out = host.run(&Cmd::in_netns(ns, "python3").args([PROBE, "ask", ip, "8080"])).expect("probe");
        out.success().then(|| out.stdout.trim().to_string())
    };
    let mut servers = vec![whoami(&ext), whoami(&vm)];
    for s in &mut servers {
        let mut line = String::new();
        let out = s.stdout.take().expect("stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).expect("ready");
        assert_eq!(line.trim(), "ready");
    }
    // Through br-int, the router, br-int again and br-eth1: SNAT to the gateway address.
    assert_eq!(ask(&vm, "203.0.113.1").as_deref(), Some("203.0.113.5"));
    assert_eq!(ask(&ext, "203.0.113.10"), None, "no floating IP yet");
    // A floating IP: ext reaches the VM on it.
    let mut add = Delta {
        revision: 2,
        l3: Some(L3Delta { routers: vec![router(true)], removed_routers: vec![] }),
        ..Default::default()
    };
    l3.apply(&mut add);
    l3.sync().await.expect("l3 sync");
    assert_eq!(ask(&ext, "203.0.113.10").as_deref(), Some("203.0.113.1"));
    assert_eq!(ask(&vm, "203.0.113.1").as_deref(), Some("203.0.113.10"));

    for mut s in servers {
        let _ = s.kill();
        let _ = s.wait();
    }
    let _ = sb.vsctl(&["del-port", "br-int", &tap]);
    let _ = sb.vsctl(&["del-port", "br-eth1", &uplink]);
    drop(cleanup);
    drop(sb);
}
