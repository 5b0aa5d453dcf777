//! The `dhcp` driver on the real machine (root, dnsmasq, busybox's udhcpc): it starts dnsmasq
//! in a `qdhcp-` namespace and a client in another namespace gets its port's address; a port
//! added is served after the reload, a restarted agent keeps the same dnsmasq, a removed
//! network leaves nothing. Without Open vSwitch: the OVSDB side is the fake, and the test
//! plugs the DHCP port's host end into a Linux bridge in a namespace of its own (the
//! "vswitch" namespace). Everything lives in namespaces the test creates and removes.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::SharedVswitch;
use neutrino_agent::config::{AgentConfig, DhcpConfig};
use neutrino_agent::dhcp::DhcpDriver;
use neutrino_agent::driver::{Driver, Wake};
use neutrino_agent::metadata::Instances;
use neutrino_host::testing::Prerequisites;
use neutrino_host::{Cmd, Links, LinuxHost, Netns, Processes};
use neutrino_model::agent::Role;
use neutrino_model::internal::{
    Delta, DhcpDelta, DhcpNetworkState, DhcpPortState, DhcpState, DhcpSubnetState, FixedIpState, HostState,
};
use neutrino_ovs::vswitch::{FakeVswitch, StrMap, Vswitch};
use tokio::sync::mpsc;

const NET: &str = "net-real";
const DHCP_PORT: &str = "dhcp1111-2222-3333-4444-555566667777";

/// The test's namespaces, removed (with whatever runs in them) even when it fails.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        let host = LinuxHost::new();
        for ns in &self.0 {
            if host.netns_exists(ns).unwrap_or(false) {
                for p in host.processes_in_netns(ns).unwrap_or_default() {
                    let _ = host.stop(&p, Duration::from_secs(5));
                }
                let _ = host.delete_netns(ns);
            }
        }
    }
}

fn port(id: &str, mac: &str, owner: &str, ip: &str) -> DhcpPortState {
    DhcpPortState {
        id: id.into(),
        mac_address: mac.into(),
        device_owner: owner.into(),
        admin_state_up: true,
        fixed_ips: vec![FixedIpState { subnet_id: "s4".into(), ip_address: ip.into() }],
        ..Default::default()
    }
}

fn network(vms: &[(&str, &str, &str)]) -> DhcpNetworkState {
    let mut ports = vec![port(DHCP_PORT, "fa:16:3e:10:00:aa", "network:dhcp", "10.77.0.2")];
    ports.extend(vms.iter().map(|(id, mac, ip)| port(id, mac, "compute:nova", ip)));
    DhcpNetworkState {
        id: NET.into(),
        project_id: "p".into(),
        mtu: 1500,
        admin_state_up: true,
        dhcp_port: Some(DHCP_PORT.into()),
        subnets: vec![DhcpSubnetState {
            id: "s4".into(),
            ip_version: 4,
            cidr: "10.77.0.0/24".into(),
            gateway_ip: Some("10.77.0.1".into()),
            enable_dhcp: true,
            ..Default::default()
        }],
        ports,
        routed_subnets: vec![],
        dns_domain: "openstacklocal".into(),
    }
}

async fn driver(cfg: &AgentConfig, vs: &Arc<FakeVswitch>) -> DhcpDriver<SharedVswitch> {
    let mut d = DhcpDriver::new(
        cfg.clone(),
        Arc::new(LinuxHost::new()),
        SharedVswitch(vs.clone()),
        Instances::default(),
    );
    let (tx, rx) = mpsc::unbounded_channel();
    std::mem::forget(rx);
    d.start(Wake::new(0, tx)).await.expect("start");
    d
}

/// A client VM: a namespace whose `eth0` (with the port's MAC) is on the test's bridge; asks
/// for a lease with udhcpc (its script does nothing: no file of the machine is written).
fn client(host: &LinuxHost, sw: &str, vm: &str, side: &str, mac: &str) -> String {
    host.add_netns(vm).expect("vm ns");
    host.set_link_up(Some(vm), "lo", true).expect("lo");
    host.add_veth(Some(sw), side, Some(vm), "eth0").expect("veth");
    host.set_master(Some(sw), side, "br0").expect("bridge port");
    host.set_link_up(Some(sw), side, true).expect("up");
    host.set_mac(Some(vm), "eth0", mac).expect("mac");
    host.set_link_up(Some(vm), "eth0", true).expect("up");
    let cmd = Cmd::in_netns(vm, "busybox").args([
        "udhcpc",
        "-i",
        "eth0",
        "-n",
        "-q",
        "-t",
        "10",
        "-T",
        "1",
        "-s",
        "/bin/true",
    ]);
    let out = host.run(&cmd).expect("udhcpc runs");
    format!("{}{}", out.stdout, out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_its_lease_from_the_drivers_dnsmasq() {
    if !Prerequisites::new().root().programs(&["ip", "ethtool", "dnsmasq", "busybox"]).met() {
        return;
    }
    let prefix = format!("nt-dr{}-", std::process::id());
    let (sw, vm1, vm2) = (format!("{prefix}sw"), format!("{prefix}vm1"), format!("{prefix}vm2"));
    let qdhcp = format!("{prefix}qdhcp-{NET}");
    let _cleanup = Namespaces(vec![qdhcp.clone(), vm1.clone(), vm2.clone(), sw.clone()]);
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
            // haproxy is not a prerequisite here.
            enable_isolated_metadata: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let vs = Arc::new(FakeVswitch::new());
    vs.ensure_bridge("br-int", "netdev", &StrMap::new(), None).await.expect("br-int");

    let mut d = driver(&cfg, &vs).await;
    let mut st = HostState {
        revision: 1,
        dhcp: DhcpState { networks: vec![network(&[("vm-1", "fa:16:3e:10:00:01", "10.77.0.5")])] },
        ..Default::default()
    };
    d.load(&mut st);
    d.sync().await.expect("sync");
    let pid = std::fs::read_to_string(dir.path().join("dhcp").join(NET).join("pid")).expect("pid file");
    let tap = neutrino_agent::dhcp::tap_name(DHCP_PORT);
    host.set_master(Some(&sw), &tap, "br0").expect("plug the DHCP port");

    let out = client(&host, &sw, &vm1, "c1", "fa:16:3e:10:00:01");
    assert!(out.contains("lease of 10.77.0.5 obtained"), "{out}");

    // A port added: served after the reload, by the same dnsmasq.
    let mut delta = Delta {
        revision: 2,
        dhcp: Some(DhcpDelta {
            networks: vec![network(&[
                ("vm-1", "fa:16:3e:10:00:01", "10.77.0.5"),
                ("vm-2", "fa:16:3e:10:00:02", "10.77.0.6"),
            ])],
            removed_networks: vec![],
        }),
        ..Default::default()
    };
    d.apply(&mut delta);
    d.sync().await.expect("sync");
    let out = client(&host, &sw, &vm2, "c2", "fa:16:3e:10:00:02");
    assert!(out.contains("lease of 10.77.0.6 obtained"), "{out}");

    // A restarted agent keeps it.
    drop(d);
    let mut d = driver(&cfg, &vs).await;
    let mut st = HostState {
        revision: 2,
        dhcp: DhcpState {
            networks: vec![network(&[
                ("vm-1", "fa:16:3e:10:00:01", "10.77.0.5"),
                ("vm-2", "fa:16:3e:10:00:02", "10.77.0.6"),
            ])],
        },
        ..Default::default()
    };
    d.load(&mut st);
    d.sync().await.expect("sync");
    let again = std::fs::read_to_string(dir.path().join("dhcp").join(NET).join("pid")).expect("pid file");
    assert_eq!(again, pid, "the same dnsmasq");
    let dnsmasq_pid: u32 = pid.trim().parse().expect("a pid");
    assert!(std::path::Path::new(&format!("/proc/{dnsmasq_pid}")).exists());

    // The network removed: nothing of it is left.
    let mut gone = Delta {
        revision: 3,
        dhcp: Some(DhcpDelta { networks: vec![], removed_networks: vec![NET.into()] }),
        ..Default::default()
    };
    d.apply(&mut gone);
    d.sync().await.expect("sync");
    assert!(!host.netns_exists(&qdhcp).expect("list"));
    assert!(!host.links(Some(&sw)).expect("links").iter().any(|l| l.name == tap));
    assert!(!dir.path().join("dhcp").join(NET).exists());
    assert!(neutrino_host::process::proc_program(dnsmasq_pid).is_none_or(|p| p != "dnsmasq"));
}
