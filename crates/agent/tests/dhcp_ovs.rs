//! Both drivers on a real Open vSwitch (userspace `netdev`, private, in its own namespace): the
//! `dhcp` driver plugs the network's DHCP port into `br-int`, the `l2` reconciler wires it and
//! a VM's port like any other, and the VM (a namespace whose veth is plugged as Nova plugs a
//! tap) gets its lease from dnsmasq through the switch — the path where TX offload must be off.
//! Everything lives in namespaces the test creates and removes.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use common::dhcp::{Namespaces, dhcp_port};
use common::{config, net_vxlan, port, state};
use neutrino_agent::config::{AgentConfig, DhcpConfig};
use neutrino_agent::dhcp::{DhcpDriver, tap_name};
use neutrino_agent::driver::{Driver, Wake};
use neutrino_agent::metadata::Instances;
use neutrino_agent::reconcile::Reconciler;
use neutrino_host::testing::Prerequisites;
use neutrino_host::{Cmd, Links, LinuxHost, Netns};
use neutrino_model::internal::{
    Delta, DhcpDelta, DhcpNetworkState, DhcpState, FixedIpState, HostState, PortState,
};
use neutrino_ovs::ofctl::OvsOfctl;
use neutrino_ovs::testing::OvsSandbox;
use neutrino_ovs::vswitch::OvsVswitch;
use tokio::sync::mpsc;

const NET: &str = "net-ovs";
const DHCP_PORT: &str = "dhcp2222-3333-4444-5555-666677778888";
const DHCP_MAC: &str = "fa:16:3e:20:00:aa";
const VM_PORT: &str = "vm-port-1";
const VM_MAC: &str = "fa:16:3e:20:00:01";

fn dhcp_network() -> DhcpNetworkState {
    let ports = vec![
        dhcp_port(DHCP_PORT, DHCP_MAC, "network:dhcp", "10.88.0.2"),
        dhcp_port(VM_PORT, VM_MAC, "compute:nova", "10.88.0.5"),
    ];
    common::dhcp::dhcp_network(NET, DHCP_PORT, "10.88.0", 1450, ports)
}

/// The `l2` section: both ports (the DHCP port is wired like a VM's).
fn l2_state() -> HostState {
    let with = |id: &str, mac: &str, ip: &str, owner: &str| PortState {
        mac_address: mac.into(),
        fixed_ips: vec![FixedIpState { subnet_id: "s4".into(), ip_address: ip.into() }],
        device_owner: owner.into(),
        ..port(id, NET)
    };
    state(
        1,
        vec![
            with(DHCP_PORT, DHCP_MAC, "10.88.0.2", "network:dhcp"),
            with(VM_PORT, VM_MAC, "10.88.0.5", "compute:nova"),
        ],
        vec![net_vxlan(NET, 300)],
        &[],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_gets_its_lease_through_open_vswitch() {
    let Some(sb) = OvsSandbox::start() else { return };
    if !Prerequisites::new().root().programs(&["ip", "ethtool", "dnsmasq", "busybox"]).met() {
        return;
    }
    let prefix = format!("nt-do{}-", std::process::id());
    let vm = format!("{prefix}vm");
    let cleanup = Namespaces(vec![vm.clone(), format!("{prefix}qdhcp-{NET}")]);
    let host = LinuxHost::new();
    let dir = tempfile::tempdir().expect("dir");
    // dnsmasq drops to an unprivileged user and rereads its files as that user.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cfg = AgentConfig {
        ovsdb: sb.db_sock(),
        ovs_rundir: sb.rundir().to_path_buf(),
        netns: Some(sb.netns.clone()),
        namespace_prefix: prefix.clone(),
        dhcp: DhcpConfig {
            state_path: dir.path().join("dhcp"),
            enable_isolated_metadata: false,
            ..Default::default()
        },
        ..config()
    };

    // The l2 agent's bridges, then the DHCP port plugged by the dhcp driver.
    let vs = OvsVswitch::connect(sb.db_sock()).await.expect("ovsdb");
    let mut l2 = Reconciler::new(cfg.clone(), vs, OvsOfctl::new(sb.rundir()));
    l2.setup().await.expect("setup");
    let vs = OvsVswitch::connect(sb.db_sock()).await.expect("ovsdb");
    let mut dhcp = DhcpDriver::new(cfg.clone(), Arc::new(LinuxHost::new()), vs, Instances::default());
    let (tx, rx) = mpsc::unbounded_channel();
    std::mem::forget(rx);
    dhcp.start(Wake::new(0, tx)).await.expect("start");
    dhcp.load(&mut HostState { dhcp: DhcpState { networks: vec![dhcp_network()] }, ..Default::default() });
    dhcp.sync().await.expect("dhcp sync");

    // The VM, plugged as Nova plugs a tap.
    let tap = format!("vmt{}", std::process::id() % 100_000);
    host.add_netns(&vm).expect("vm ns");
    host.set_link_up(Some(&vm), "lo", true).expect("lo");
    host.add_veth(Some(&sb.netns), &tap, Some(&vm), "eth0").expect("veth");
    host.set_link_up(Some(&sb.netns), &tap, true).expect("up");
    host.set_tx_offload(Some(&sb.netns), &tap, false).expect("tx off");
    host.set_mac(Some(&vm), "eth0", VM_MAC).expect("mac");
    host.set_link_up(Some(&vm), "eth0", true).expect("up");
    host.set_tx_offload(Some(&vm), "eth0", false).expect("tx off");
    let id = format!("external_ids:iface-id={VM_PORT}");
    sb.vsctl(&["add-port", "br-int", &tap, "--", "set", "interface", &tap, &id]).expect("plug");

    // The l2 agent sees both interfaces and wires both ports.
    l2.setup().await.expect("setup: the plugged interfaces");
    l2.load(l2_state());
    let mut up = l2.sync().await.expect("l2 sync").up;
    up.sort();
    assert_eq!(up, [DHCP_PORT, VM_PORT]);

    let args = ["udhcpc", "-i", "eth0", "-n", "-q", "-t", "10", "-T", "1", "-s", "/bin/true"];
    let out = host.run(&Cmd::in_netns(&vm, "busybox").args(args)).expect("udhcpc runs");
    let out = format!("{}{}", out.stdout, out.stderr);
    assert!(out.contains("lease of 10.88.0.5 obtained from 10.88.0.2"), "{out}");

    // The network goes: so do its port on br-int and its namespace.
    let mut gone = Delta {
        revision: 2,
        dhcp: Some(DhcpDelta { networks: vec![], removed_networks: vec![NET.into()] }),
        ..Default::default()
    };
    dhcp.apply(&mut gone);
    dhcp.sync().await.expect("dhcp sync");
    let ports = sb.vsctl(&["list-ports", "br-int"]).expect("list-ports");
    assert!(!ports.lines().any(|p| p == tap_name(DHCP_PORT)), "{ports}");
    assert!(!host.netns_exists(&format!("{prefix}qdhcp-{NET}")).expect("list"));
    let _ = sb.vsctl(&["del-port", "br-int", &tap]);
    drop(cleanup);
    drop(sb);
}
