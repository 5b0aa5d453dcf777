//! A DHCP VM on this machine (root, busybox and dnsmasq needed; no Open vSwitch): the test
//! serves the VM from dnsmasq in a namespace of its own, on the host end of the VM's veth.
//! The lease arrives, is recorded and applied inside the VM's namespace only (address, MTU,
//! default and classless static routes), the machine's `/etc/resolv.conf` stays byte for byte
//! the same, a renewal after the server changed its mind brings the new address, a release
//! removes it, and without a server the client records its failure. Without the
//! prerequisites the tests print "skipped: …"; with `CI=true` they fail.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use neutrino_host::testing::Prerequisites;
use neutrino_host::{Links, LinuxHost, Netns, Process, Processes, Route};
use neutrino_sandbox::{DhcpClient, LeaseEvent, StaticRoute, VmSpec, wire_vm};

static LOCK: Mutex<()> = Mutex::new(());
const MAC: &str = "fa:16:3e:00:77:05";

fn prerequisites_met() -> bool {
    Prerequisites::new().root().programs(&["ip", "ethtool", "busybox", "dnsmasq"]).met()
}

/// Stops the test's processes by pid and deletes its namespaces, also when it panics.
struct Cleanup {
    host: LinuxHost,
    processes: Vec<Process>,
    namespaces: Vec<String>,
}

impl Cleanup {
    fn new(namespaces: &[&str]) -> Cleanup {
        let host = LinuxHost::new();
        for ns in namespaces {
            // Left over by an earlier run that was killed.
            if host.netns_exists(ns).unwrap() {
                host.delete_netns(ns).unwrap();
            }
            host.add_netns(ns).unwrap();
            host.set_link_up(Some(ns), "lo", true).unwrap();
        }
        Cleanup {
            host,
            processes: Vec::new(),
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn clean(&mut self) {
        for p in self.processes.drain(..) {
            let _ = self.host.stop(&p, Duration::from_secs(5));
        }
        for ns in self.namespaces.drain(..) {
            let _ = self.host.delete_netns(&ns);
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.clean();
    }
}

fn resolv_conf() -> Option<Vec<u8>> {
    std::fs::read("/etc/resolv.conf").ok()
}

fn ipv4(host: &LinuxHost, ns: Option<&str>, dev: &str) -> (Vec<String>, u32) {
    let link =
        host.links(ns).unwrap().into_iter().find(|l| l.name == dev).unwrap_or_else(|| panic!("no {dev}"));
    let v4 = link.addresses.iter().filter(|a| a.addr().is_ipv4()).map(|a| a.to_string()).collect();
    (v4, link.mtu)
}

fn write_hosts(dir: &Path, ip: &str) {
    std::fs::write(dir.join("host"), format!("{MAC},host-{},{ip}\n", ip.replace('.', "-"))).unwrap();
}

fn route(dst: &str, via: &str) -> Route {
    Route { dst: dst.parse().unwrap(), via: Some(via.parse().unwrap()), dev: Some("eth0".into()) }
}

#[test]
fn a_vm_gets_applies_records_and_renews_its_lease() {
    if !prerequisites_met() {
        return;
    }
    let _serial = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let resolv_before = resolv_conf();
    let root_routes_before = LinuxHost::new().routes(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (srv, vm_ns) = ("nt-dt-srv", "nt-dt-vm-a");
    let mut cleanup = Cleanup::new(&[srv, vm_ns]);
    let host = LinuxHost::new();

    // The VM, wired by the sandbox's own code, its host end in the server's namespace.
    let vm = VmSpec::new("a", "77777777-0000-0005", MAC).with_dhcp();
    wire_vm(&host, srv, vm_ns, &vm).unwrap();
    let tap = vm.tap_name();
    host.add_address(Some(srv), &tap, "10.77.0.2/24".parse().unwrap()).unwrap();

    // dnsmasq as the recipe runs it, one static host entry, the options a subnet's would be.
    let dns_dir = dir.path().join("dnsmasq");
    std::fs::create_dir_all(&dns_dir).unwrap();
    write_hosts(&dns_dir, "10.77.0.5");
    std::fs::write(
        dns_dir.join("opts"),
        "option:router,10.77.0.1\noption:dns-server,10.77.0.2,10.77.0.3\noption:domain-name,sandbox.test\n\
         option:mtu,1400\noption:classless-static-route,192.0.2.0/24,10.77.0.254\n",
    )
    .unwrap();
    let spawn = neutrino_sandbox::test_dhcp_server(srv, &tap, "10.77.0.0", 86400, &dns_dir);
    let dnsmasq = host.spawn(&spawn).unwrap();
    cleanup.processes.push(dnsmasq.clone());

    let vm_dir = dir.path().join("vm-a");
    let client = DhcpClient::start(&host, vm_ns, "eth0", &vm_dir).unwrap();
    cleanup.processes.push(client.process());
    let dnsmasq_log = || std::fs::read_to_string(dns_dir.join("log")).unwrap_or_default();
    let lease = client
        .wait_lease(&host, None, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\ndnsmasq: {}", dnsmasq_log()));

    // Recorded: everything the server sent.
    assert_eq!(lease.event, LeaseEvent::Bound);
    assert_eq!(lease.address, Some("10.77.0.5/24".parse().unwrap()));
    assert_eq!(lease.routers, [Ipv4Addr::new(10, 77, 0, 1)]);
    assert_eq!(lease.dns, [Ipv4Addr::new(10, 77, 0, 2), Ipv4Addr::new(10, 77, 0, 3)]);
    assert_eq!(lease.domain.as_deref(), Some("sandbox.test"));
    assert_eq!(lease.mtu, Some(1400));
    let static_route =
        StaticRoute { destination: "192.0.2.0/24".parse().unwrap(), gateway: Ipv4Addr::new(10, 77, 0, 254) };
    assert_eq!(lease.routes, [static_route]);
    assert_eq!(lease.lease_seconds, Some(86400));
    assert_eq!(lease.server_id, Some(Ipv4Addr::new(10, 77, 0, 2)));
    assert_eq!(lease.interface, "eth0");

    // Applied inside the VM's namespace, and only there.
    assert_eq!(ipv4(&host, Some(vm_ns), "eth0"), (vec!["10.77.0.5/24".to_string()], 1400));
    let routes = host.routes(Some(vm_ns)).unwrap();
    for want in [route("0.0.0.0/0", "10.77.0.1"), route("192.0.2.0/24", "10.77.0.254")] {
        assert!(routes.contains(&want), "{want} in {routes:?}");
    }
    assert_eq!(host.routes(None).unwrap(), root_routes_before, "the root namespace's routes");
    let root_v4: Vec<String> = host
        .links(None)
        .unwrap()
        .iter()
        .flat_map(|l| l.addresses.iter().map(|a| a.to_string()))
        .filter(|a| a.starts_with("10.77."))
        .collect();
    assert!(root_v4.is_empty(), "{root_v4:?}");
    assert_eq!(resolv_conf(), resolv_before, "the machine's /etc/resolv.conf is unchanged");

    // The server now hands out another address: a renewal brings it, the old one is gone.
    write_hosts(&dns_dir, "10.77.0.6");
    neutrino_sandbox::reload_test_dhcp_server(&host, &dnsmasq, &dns_dir, Duration::from_secs(10)).unwrap();
    client.renew(&host).unwrap();
    let renewed = client
        .wait_lease(&host, Some(&lease), Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\ndnsmasq: {}", dnsmasq_log()));
    assert_eq!(renewed.address, Some("10.77.0.6/24".parse().unwrap()));
    assert!(renewed.seq > lease.seq);
    assert_eq!(ipv4(&host, Some(vm_ns), "eth0"), (vec!["10.77.0.6/24".to_string()], 1400));
    assert!(host.routes(Some(vm_ns)).unwrap().contains(&route("0.0.0.0/0", "10.77.0.1")));
    assert_eq!(resolv_conf(), resolv_before, "the machine's /etc/resolv.conf is unchanged");

    // A release removes the address and says so.
    client.release(&host).unwrap();
    let released =
        client.wait_for(&host, Duration::from_secs(10), "the release", |l| l.seq > renewed.seq).unwrap();
    assert_eq!(released.event, LeaseEvent::Deconfig);
    assert_eq!(ipv4(&host, Some(vm_ns), "eth0").0, Vec::<String>::new());

    // Cleanup by pid: both processes end, the namespaces go.
    assert!(client.stop(&host).unwrap());
    assert!(!client.is_running(&host));
    assert!(host.stop(&dnsmasq, Duration::from_secs(5)).unwrap());
    cleanup.clean();
    assert!(!host.netns_exists(vm_ns).unwrap() && !host.netns_exists(srv).unwrap());
    assert_eq!(resolv_conf(), resolv_before);
}

#[test]
fn without_a_server_the_client_records_its_failure() {
    if !prerequisites_met() {
        return;
    }
    let _serial = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (quiet, vm_ns) = ("nt-df-host", "nt-df-vm-a");
    let mut cleanup = Cleanup::new(&[quiet, vm_ns]);
    let host = LinuxHost::new();
    let vm = VmSpec::new("a", "77777777-0000-0006", MAC).with_dhcp();
    wire_vm(&host, quiet, vm_ns, &vm).unwrap();
    let client = DhcpClient::start(&host, vm_ns, "eth0", dir.path()).unwrap();
    cleanup.processes.push(client.process());
    let failed = client
        .wait_for(&host, Duration::from_secs(30), "leasefail", |l| l.event == LeaseEvent::Leasefail)
        .unwrap();
    assert_eq!((failed.address, failed.interface.as_str()), (None, "eth0"));
    let err = client.wait_lease(&host, None, Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("Leasefail"), "{err}");
    assert_eq!(ipv4(&host, Some(vm_ns), "eth0").0, Vec::<String>::new());
    assert!(client.is_running(&host), "the client keeps trying");
    assert!(client.stop(&host).unwrap());
    cleanup.clean();
}
