//! The real implementations on this machine (root, iproute2, nftables, ethtool): each scenario
//! runs against [`LinuxHost`] inside namespaces of its own, and the ones the fake models run
//! against [`FakeHost`] too, which must observe the same. Without root or the tools the tests
//! print "skipped: …"; with `CI=true` they fail.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use neutrino_host::testing::Prerequisites;
use neutrino_host::{
    Error, FakeHost, Host, LinkInfo, Links, LinuxHost, Netns, NftTable, Process, Processes, Route, Spawn,
};
use serde_json::json;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn ready() -> bool {
    Prerequisites::new().root().programs(&["ip", "nft", "ethtool", "sysctl", "sleep"]).met()
}

/// Namespaces named for this test run, deleted at the end even when the test panics.
struct Names(Vec<String>);

impl Names {
    fn new(n: usize) -> Names {
        let run = COUNTER.fetch_add(1, Ordering::SeqCst);
        Names((0..n).map(|i| format!("nt-ht{}-{run}-{i}", std::process::id())).collect())
    }
    fn get(&self, i: usize) -> &str {
        &self.0[i]
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        let host = LinuxHost::new();
        for ns in &self.0 {
            if host.netns_exists(ns).unwrap_or(false) {
                let _ = host.delete_netns(ns);
            }
        }
    }
}

fn net(s: &str) -> ipnet::IpNet {
    s.parse().unwrap()
}

/// Links without what differs by nature between machines (MACs the kernel picks, order).
fn observed(host: &dyn Host, ns: &str) -> Vec<LinkInfo> {
    let mut links = host.links(Some(ns)).unwrap();
    links.sort_by(|a, b| a.name.cmp(&b.name));
    for l in &mut links {
        if l.name != "eth0" {
            l.mac = None;
        }
    }
    links
}

/// A DHCP-style namespace wired to a host namespace's bridge; what both hosts must show.
fn links_scenario(host: &dyn Host, a: &str, b: &str) -> (Vec<LinkInfo>, Vec<LinkInfo>, Vec<Route>, bool) {
    host.add_netns(a).unwrap();
    host.add_netns(b).unwrap();
    assert!(matches!(host.add_netns(a), Err(Error::NetnsExists(_))));
    host.set_link_up(Some(a), "lo", true).unwrap();
    host.add_bridge(Some(b), "br0").unwrap();
    host.add_veth(Some(a), "eth0", Some(b), "tap0").unwrap();
    assert!(matches!(host.add_veth(Some(a), "eth0", Some(b), "tap1"), Err(Error::LinkExists { .. })));
    assert!(matches!(
        host.add_veth(Some(a), "tap11111111-22xy", Some(b), "t"),
        Err(Error::InvalidName { .. })
    ));
    host.set_master(Some(b), "tap0", "br0").unwrap();
    host.set_link_up(Some(b), "tap0", true).unwrap();
    host.set_mac(Some(a), "eth0", "fa:16:3e:00:00:01").unwrap();
    host.set_mtu(Some(a), "eth0", 1450).unwrap();
    host.set_link_up(Some(a), "eth0", true).unwrap();
    host.set_tx_offload(Some(a), "eth0", false).unwrap();
    host.add_address(Some(a), "eth0", net("10.0.0.5/24")).unwrap();
    assert!(matches!(
        host.add_address(Some(a), "eth0", net("10.0.0.5/24")),
        Err(Error::AddressExists { .. })
    ));
    assert!(matches!(host.add_address(Some(a), "eth9", net("10.0.0.5/24")), Err(Error::NoSuchLink { .. })));
    host.replace_address(Some(a), "eth0", net("10.0.0.5/24")).unwrap();
    let far = Route::default_via("192.0.2.1".parse().unwrap(), None);
    assert!(matches!(host.add_route(Some(a), &far), Err(Error::GatewayUnreachable { .. })));
    host.add_route(Some(a), &Route::default_via("10.0.0.1".parse().unwrap(), None)).unwrap();
    assert!(matches!(
        host.add_route(Some(a), &Route::default_via("10.0.0.1".parse().unwrap(), None)),
        Err(Error::RouteExists { .. })
    ));
    host.set_sysctl(Some(a), "net.ipv4.ip_forward", "1").unwrap();
    assert_eq!(host.sysctl(Some(a), "net.ipv4.ip_forward").unwrap(), "1");
    assert!(matches!(host.set_sysctl(Some(a), "net.ipv4.no_such_key", "1"), Err(Error::NoSuchSysctl { .. })));
    let offload = host.tx_offload(Some(a), "eth0").unwrap();
    (observed(host, a), observed(host, b), host.routes(Some(a)).unwrap(), offload)
}

#[test]
fn links_addresses_routes_and_sysctls_match_the_fake() {
    if !ready() {
        return;
    }
    let names = Names::new(2);
    let (a, b) = (names.get(0), names.get(1));
    let real = links_scenario(&LinuxHost::new(), a, b);
    let fake = links_scenario(&FakeHost::new(), a, b);
    assert_eq!(real, fake);
    let (in_a, in_b, routes, offload) = real;
    let eth0 = in_a.iter().find(|l| l.name == "eth0").unwrap();
    assert_eq!((eth0.mtu, eth0.up, eth0.mac.as_deref()), (1450, true, Some("fa:16:3e:00:00:01")));
    assert_eq!(eth0.addresses, [net("10.0.0.5/24")]);
    assert_eq!(in_b.iter().find(|l| l.name == "tap0").unwrap().master.as_deref(), Some("br0"));
    assert_eq!(routes, [Route::default_via("10.0.0.1".parse().unwrap(), Some("eth0"))]);
    assert!(!offload);
    // The root namespace does not share the namespace's sysctls.
    assert_eq!(LinuxHost::new().sysctl(Some(b), "net.ipv4.ip_forward").unwrap(), "0");
}

fn move_and_delete(host: &dyn Host, a: &str, b: &str) -> (Option<LinkInfo>, bool, Vec<LinkInfo>) {
    host.add_netns(a).unwrap();
    host.add_netns(b).unwrap();
    host.add_veth(Some(a), "tap1", Some(a), "ns-1").unwrap();
    host.add_address(Some(a), "ns-1", net("10.0.0.2/24")).unwrap();
    host.set_link_up(Some(a), "ns-1", true).unwrap();
    host.move_link(Some(a), "ns-1", Some(b)).unwrap();
    let moved = observed(host, b).into_iter().find(|l| l.name == "ns-1");
    let gone_from_a = !observed(host, a).iter().any(|l| l.name == "ns-1");
    host.delete_netns(b).unwrap();
    assert!(matches!(host.delete_netns(b), Err(Error::NoSuchNetns(_))));
    // The kernel destroys a deleted namespace's links (and their peers) in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    while observed(host, a).iter().any(|l| l.name == "tap1") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    (moved, gone_from_a, observed(host, a))
}

#[test]
fn moving_a_link_and_deleting_a_namespace_match_the_fake() {
    if !ready() {
        return;
    }
    let names = Names::new(2);
    let real = move_and_delete(&LinuxHost::new(), names.get(0), names.get(1));
    let fake = move_and_delete(&FakeHost::new(), names.get(0), names.get(1));
    assert_eq!(real, fake);
    let (moved, gone, left) = real;
    let moved = moved.unwrap();
    assert!(!moved.up && moved.addresses.is_empty(), "{moved:?}");
    assert!(gone);
    assert_eq!(
        left.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["lo"],
        "the peer died with the namespace"
    );
}

fn without_handles(mut t: NftTable) -> NftTable {
    t.chains.values_mut().flat_map(|c| c.rules.iter_mut()).for_each(|r| r.handle = 0);
    t
}

fn nft_scenario(host: &dyn Host, ns: &str) -> (NftTable, NftTable) {
    host.add_netns(ns).unwrap();
    let batch = json!({"nftables": [
        {"add": {"table": {"family": "ip", "name": "neutrino-l3"}}},
        {"add": {"chain": {"family": "ip", "table": "neutrino-l3", "name": "prerouting",
                           "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}},
        {"add": {"map": {"family": "ip", "table": "neutrino-l3", "name": "fip", "type": "ipv4_addr", "map": "ipv4_addr"}}},
        {"add": {"element": {"family": "ip", "table": "neutrino-l3", "name": "fip", "elem": [["203.0.113.10", "10.0.0.5"]]}}},
        {"add": {"rule": {"family": "ip", "table": "neutrino-l3", "chain": "prerouting", "expr": [
            {"dnat": {"addr": {"map": {"key": {"payload": {"protocol": "ip", "field": "daddr"}}, "data": "@fip"}}}}]}}}
    ]});
    host.nft_apply(Some(ns), &batch).unwrap();
    let first = host.nft_table(Some(ns), "ip", "neutrino-l3").unwrap().unwrap();
    let invalid = json!({"nftables": [
        {"add": {"element": {"family": "ip", "table": "neutrino-l3", "name": "fip", "elem": [["203.0.113.11", "10.0.0.6"]]}}},
        {"add": {"rule": {"family": "ip", "table": "neutrino-l3", "chain": "no-such-chain", "expr": [{"accept": null}]}}}
    ]});
    assert!(matches!(host.nft_apply(Some(ns), &invalid), Err(Error::InvalidBatch { .. })));
    assert_eq!(host.nft_table(Some(ns), "ip", "absent").unwrap(), None);
    assert_eq!(host.nft_tables(Some(ns)).unwrap(), [("ip".to_string(), "neutrino-l3".to_string())]);
    let after = host.nft_table(Some(ns), "ip", "neutrino-l3").unwrap().unwrap();
    (without_handles(first), without_handles(after))
}

#[test]
fn nft_batches_match_the_fake_and_an_invalid_one_changes_nothing() {
    if !ready() {
        return;
    }
    let names = Names::new(1);
    let real = nft_scenario(&LinuxHost::new(), names.get(0));
    let fake = nft_scenario(&FakeHost::new(), names.get(0));
    assert_eq!(real, fake);
    let (first, after) = real;
    assert_eq!(first, after, "the refused batch left the table as it was");
    assert_eq!(first.sets["fip"].elements.len(), 1);
    assert_eq!(first.chains["prerouting"].rules.len(), 1);
}

#[test]
fn processes_inside_a_namespace() {
    if !ready() {
        return;
    }
    let names = Names::new(2);
    let (a, b) = (names.get(0), names.get(1));
    let host = LinuxHost::new();
    host.add_netns(a).unwrap();
    host.add_netns(b).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = Spawn::new(["sleep", "300"], dir.path().join("sleep.pid"))
        .in_netns(Some(a))
        .log(dir.path().join("log"));
    let p = host.spawn(&spec).unwrap();
    assert!(host.is_running(&p));
    // Inside `a` and only there (once `ip netns exec` has become `sleep`).
    let in_a = Process { program: Some("sleep".into()), ..p.clone() };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !LinuxHost::new().is_running(&in_a) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let other = LinuxHost::new();
    assert!(other.is_running(&in_a), "found by program and namespace from another instance");
    assert!(!other.is_running(&Process { netns: Some(b.to_string()), ..in_a.clone() }), "not in {b}");
    assert!(host.processes_in_netns(a).unwrap().iter().any(|q| q.pid == p.pid));
    assert!(host.processes_in_netns(b).unwrap().is_empty());
    assert!(host.stop(&p, Duration::from_secs(10)).unwrap());
    assert!(!host.is_running(&p));

    // A program that detaches: the pid file it writes names the daemon.
    let pid_file = dir.path().join("daemon.pid");
    let script = format!("sleep 300 >/dev/null 2>&1 & echo $! > {}", pid_file.display());
    host.spawn(&Spawn::new(["sh", "-c", &script], &pid_file).in_netns(Some(a)).daemonizes()).unwrap();
    let daemon =
        host.process_from_pid_file(&pid_file, Some("sleep"), Some(a)).unwrap().expect("the daemon runs");
    assert_eq!(host.process_from_pid_file(&pid_file, Some("sleep"), Some(b)).unwrap(), None);
    assert!(host.stop(&daemon, Duration::from_secs(10)).unwrap());
    assert!(!host.is_running(&daemon));
}
