//! A DHCP VM in a real sandbox with a network node (root, Open vSwitch, busybox and dnsmasq
//! needed): the network node is built with its own switch, a VM on its `br-int` gets its lease
//! through userspace Open vSwitch (UDP, so TX checksum offload off matters) from dnsmasq in
//! another VM, and `down` stops the client by pid and removes a namespace made under the
//! network node's prefix as the dhcp agent will. Without the prerequisites the test prints
//! "skipped: …"; with `CI=true` it fails.

use std::time::{Duration, Instant};

use neutrino_host::process::proc_alive;
use neutrino_host::testing::Prerequisites;
use neutrino_host::{LinuxHost, Netns, Spawn};
use neutrino_sandbox::{HostRole, Sandbox, SandboxSpec, VmSpec, down_with, exec, vswitch_schema};

const PREFIX: &str = "nt-dv-";

/// Tears the sandbox down even when the test panics.
struct Guard(std::path::PathBuf);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = down_with(&self.0, Some(PREFIX), &LinuxHost::new());
    }
}

fn namespaces() -> Vec<String> {
    let host = LinuxHost::new();
    host.list_netns().unwrap().into_iter().filter(|n| n.starts_with(PREFIX)).collect()
}

#[test]
fn a_dhcp_vm_on_the_network_node_gets_its_lease_through_userspace_ovs() {
    let met = Prerequisites::new()
        .root()
        .programs(&[
            "ip",
            "ovsdb-tool",
            "ovsdb-server",
            "ovs-vswitchd",
            "ovs-vsctl",
            "ethtool",
            "busybox",
            "dnsmasq",
        ])
        .file(vswitch_schema())
        .met();
    if !met {
        return;
    }
    let resolv_before = std::fs::read("/etc/resolv.conf").ok();
    let dir = tempfile::Builder::new().prefix("nt-dv").tempdir_in("/tmp").unwrap();
    let run_dir = dir.path().join("run");
    let _guard = Guard(run_dir.clone());
    let spec = SandboxSpec {
        name_prefix: PREFIX.into(),
        run_dir: run_dir.clone(),
        network_node: true,
        ..SandboxSpec::default(1)
    };
    let mut sb = Sandbox::up(&spec).unwrap();
    let roles: Vec<_> = sb.hosts().iter().map(|h| (h.name.clone(), h.role)).collect();
    assert_eq!(roles, [("h1".to_string(), HostRole::Compute), ("network".to_string(), HostRole::Network)]);
    let status = Sandbox::status(&run_dir).unwrap();
    assert!(status.hosts.iter().all(|h| h.netns_present && h.ovsdb_server && h.ovs_vswitchd), "{status:?}");

    // The server: dnsmasq in a static VM on the network node's br-int.
    let srv = sb
        .plug_vm(
            "network",
            &VmSpec {
                ip_cidr: Some("10.78.0.2/24".into()),
                ..VmSpec::new("srv", "dddddddd-0000-0000-0000-000000000002", "fa:16:3e:00:78:02")
            },
        )
        .unwrap();
    let dns_dir = dir.path().join("dnsmasq");
    std::fs::create_dir_all(&dns_dir).unwrap();
    std::fs::write(dns_dir.join("host"), "fa:16:3e:00:78:05,host-10-78-0-5,10.78.0.5\n").unwrap();
    std::fs::write(dns_dir.join("opts"), "option:router,10.78.0.1\noption:mtu,1400\n").unwrap();
    let host = sb.machine().host.clone();
    let spawn = neutrino_sandbox::test_dhcp_server(&srv.netns, "eth0", "10.78.0.0", 3600, &dns_dir);
    let dnsmasq = host.spawn(&spawn).unwrap();

    // The DHCP VM on the same br-int (no agent: the switch forwards NORMAL).
    let vm = sb
        .plug_vm(
            "network",
            &VmSpec::new("a", "aaaaaaaa-0000-0000-0000-000000000005", "fa:16:3e:00:78:05").with_dhcp(),
        )
        .unwrap();
    let client = vm.dhcp.clone().unwrap();
    assert!(proc_alive(client.pid));
    let lease = sb.wait_vm_lease("a", None, Duration::from_secs(30)).unwrap_or_else(|e| {
        panic!("{e}\ndnsmasq: {}", std::fs::read_to_string(dns_dir.join("log")).unwrap_or_default())
    });
    assert_eq!((lease.address, lease.mtu), (Some("10.78.0.5/24".parse().unwrap()), Some(1400)));
    let addr = exec(&vm.netns, &["ip", "-o", "-4", "addr", "show", "eth0"]).unwrap();
    assert!(String::from_utf8_lossy(&addr.stdout).contains("inet 10.78.0.5/24"), "{addr:?}");
    let ping = exec(&vm.netns, &["busybox", "ping", "-c1", "-W2", "10.78.0.2"]).unwrap();
    assert!(ping.status.success(), "the leased address works: {ping:?}");

    // What the network node's dhcp agent will make: a namespace under its host's prefix.
    let qdhcp = format!("{}qdhcp-net1", sb.host("network").unwrap().namespace_prefix());
    assert_eq!(qdhcp, "nt-dv-network-qdhcp-net1");
    host.add_netns(&qdhcp).unwrap();
    let inside = host
        .spawn(&Spawn::new(["sleep", "300"], dir.path().join("sleep.pid")).in_netns(Some(&qdhcp)))
        .unwrap();

    assert!(host.stop(&dnsmasq, Duration::from_secs(5)).unwrap(), "dnsmasq stopped by its pid");
    let report = sb.teardown().unwrap();
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert!(report.processes.contains(&format!("a/udhcpc ({})", client.pid)), "{report:?}");
    assert!(report.namespaces_deleted.contains(&qdhcp), "{report:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while (proc_alive(client.pid) || proc_alive(inside.pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!proc_alive(client.pid) && !proc_alive(inside.pid));
    assert_eq!(namespaces(), Vec::<String>::new());
    assert!(!run_dir.exists());
    assert_eq!(std::fs::read("/etc/resolv.conf").ok(), resolv_before, "/etc/resolv.conf unchanged");
}
