//! The fake's state after sequences of calls, and its refusals (each next to a positive
//! control on the same path): the same rules the kernel and the tools apply.

use std::time::Duration;

use serde_json::json;

use crate::error::Error;
use crate::fake::FakeHost;
use crate::links::{LinkKind, Links, Route};
use crate::netns::Netns;
use crate::nft::Nftables;
use crate::process::{Process, Processes, Signal, Spawn};
use crate::{Cmd, CmdOutput};

fn net(s: &str) -> ipnet::IpNet {
    s.parse().unwrap()
}

fn host_with(namespaces: &[&str]) -> FakeHost {
    let host = FakeHost::new();
    for ns in namespaces {
        host.add_netns(ns).unwrap();
    }
    host
}

#[test]
fn namespaces_are_added_listed_and_deleted_once() {
    let host = host_with(&["a", "b"]);
    assert_eq!(host.list_netns().unwrap(), ["a", "b"]);
    assert!(host.netns_exists("a").unwrap());
    assert!(matches!(host.add_netns("a"), Err(Error::NetnsExists(n)) if n == "a"));
    let lo = host.link(Some("a"), "lo").unwrap();
    assert_eq!((lo.kind, lo.up), (LinkKind::Loopback, false), "a new namespace's lo is down");
    host.delete_netns("a").unwrap();
    assert!(!host.netns_exists("a").unwrap());
    assert!(matches!(host.delete_netns("a"), Err(Error::NoSuchNetns(n)) if n == "a"));
    assert!(matches!(host.add_netns("x/y"), Err(Error::InvalidName { .. })));
    assert_eq!(host.list_netns().unwrap(), ["b"]);
}

#[test]
fn a_veth_pair_spans_two_namespaces() {
    let host = host_with(&["h1", "fab"]);
    host.add_bridge(Some("fab"), "fabric").unwrap();
    host.add_veth(Some("h1"), "ul-h1", Some("fab"), "fab-h1").unwrap();
    host.set_master(Some("fab"), "fab-h1", "fabric").unwrap();
    host.set_link_up(Some("h1"), "ul-h1", true).unwrap();
    host.set_mtu(Some("h1"), "ul-h1", 1450).unwrap();
    host.set_mac(Some("h1"), "ul-h1", "FA:16:3E:00:00:01").unwrap();
    host.set_tx_offload(Some("h1"), "ul-h1", false).unwrap();

    let ul = host.link(Some("h1"), "ul-h1").unwrap();
    assert_eq!((ul.peer_name(), ul.peer_netns()), (Some("fab-h1"), Some(Some("fab"))));
    assert_eq!((ul.up, ul.mtu, ul.mac.as_str(), ul.tx_offload), (true, 1450, "fa:16:3e:00:00:01", false));
    assert!(!host.tx_offload(Some("h1"), "ul-h1").unwrap());
    let fab = host.link(Some("fab"), "fab-h1").unwrap();
    assert_eq!((fab.peer_name(), fab.peer_netns()), (Some("ul-h1"), Some(Some("h1"))));
    assert_eq!((fab.master.as_deref(), fab.up, fab.tx_offload), (Some("fabric"), false, true));
    let names: Vec<_> = host.links(Some("fab")).unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["fab-h1", "fabric", "lo"]);
    assert!(host.netns(None).unwrap().is_pristine(), "nothing in the root namespace");
}

#[test]
fn veth_refusals_change_nothing() {
    let host = host_with(&["h1", "fab"]);
    let before = host.state();
    assert_eq!("tap11111111-22x".len(), 15);
    let too_long = host.add_veth(Some("h1"), "tap11111111-22xy", Some("fab"), "p");
    assert!(matches!(too_long, Err(Error::InvalidName { .. })), "{too_long:?}");
    assert!(matches!(
        host.add_veth(Some("h1"), "a", Some("fab"), "peer-name-too-long"),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(host.add_veth(Some("h1"), "a", Some("nowhere"), "b"), Err(Error::NoSuchNetns(_))));
    assert!(matches!(host.add_veth(Some("h1"), "lo", Some("fab"), "b"), Err(Error::LinkExists { .. })));
    assert!(matches!(host.add_veth(Some("h1"), "a", Some("h1"), "a"), Err(Error::LinkExists { .. })));
    assert_eq!(host.state(), before);
    // Positive control: 15 characters is fine.
    host.add_veth(Some("h1"), "tap11111111-22x", Some("fab"), "p").unwrap();
    assert!(host.link(Some("fab"), "p").is_some());
}

#[test]
fn addresses_need_their_link_and_are_unique() {
    let host = host_with(&["vm"]);
    host.add_veth(Some("vm"), "eth0", None, "tap0").unwrap();
    let missing = host.add_address(Some("vm"), "eth1", net("10.0.0.5/24"));
    assert!(matches!(missing, Err(Error::NoSuchLink { link, .. }) if link == "eth1"));
    host.add_address(Some("vm"), "eth0", net("10.0.0.5/24")).unwrap();
    assert!(matches!(
        host.add_address(Some("vm"), "eth0", net("10.0.0.5/24")),
        Err(Error::AddressExists { .. })
    ));
    host.replace_address(Some("vm"), "eth0", net("10.0.0.5/24")).unwrap();
    host.replace_address(Some("vm"), "eth0", net("10.0.0.6/24")).unwrap();
    assert_eq!(host.link(Some("vm"), "eth0").unwrap().addresses, [net("10.0.0.5/24"), net("10.0.0.6/24")]);
    host.delete_address(Some("vm"), "eth0", net("10.0.0.6/24")).unwrap();
    assert!(matches!(
        host.delete_address(Some("vm"), "eth0", net("10.0.0.6/24")),
        Err(Error::NoSuchAddress { .. })
    ));
    assert_eq!(
        host.links(Some("vm")).unwrap().iter().find(|l| l.name == "eth0").unwrap().addresses,
        [net("10.0.0.5/24")]
    );
}

#[test]
fn routes_need_a_connected_gateway_and_go_with_their_link() {
    let host = host_with(&["r"]);
    host.add_veth(Some("r"), "qg-1", None, "ext-1").unwrap();
    let default = Route::default_via("203.0.113.1".parse().unwrap(), None);
    assert!(matches!(host.add_route(Some("r"), &default), Err(Error::GatewayUnreachable { .. })));
    host.add_address(Some("r"), "qg-1", net("203.0.113.2/24")).unwrap();
    host.set_link_up(Some("r"), "qg-1", true).unwrap();
    host.add_route(Some("r"), &default).unwrap();
    let routes = host.routes(Some("r")).unwrap();
    assert_eq!(
        routes,
        [Route::default_via("203.0.113.1".parse().unwrap(), Some("qg-1"))],
        "the device is resolved"
    );
    assert!(matches!(host.add_route(Some("r"), &default), Err(Error::RouteExists { .. })));
    host.replace_route(Some("r"), &Route::default_via("203.0.113.9".parse().unwrap(), Some("qg-1"))).unwrap();
    assert_eq!(host.routes(Some("r")).unwrap()[0].via, Some("203.0.113.9".parse().unwrap()));
    let host_route = Route { dst: net("198.51.100.7/32"), via: None, dev: Some("qg-1".into()) };
    host.add_route(Some("r"), &host_route).unwrap();
    host.delete_route(Some("r"), &host_route).unwrap();
    assert!(matches!(host.delete_route(Some("r"), &host_route), Err(Error::NoSuchRoute { .. })));
    // A link set down loses its routes, as with the kernel.
    host.set_link_up(Some("r"), "qg-1", false).unwrap();
    assert_eq!(host.routes(Some("r")).unwrap(), []);
}

#[test]
fn moving_a_link_and_deleting_namespaces() {
    let host = host_with(&["h1", "qdhcp-1"]);
    host.add_veth(Some("h1"), "tap1", Some("h1"), "ns-1").unwrap();
    host.add_address(Some("h1"), "ns-1", net("10.0.0.2/24")).unwrap();
    host.set_link_up(Some("h1"), "ns-1", true).unwrap();
    host.move_link(Some("h1"), "ns-1", Some("qdhcp-1")).unwrap();
    let moved = host.link(Some("qdhcp-1"), "ns-1").unwrap();
    assert!(!moved.up && moved.addresses.is_empty(), "it arrives down, without addresses: {moved:?}");
    assert!(host.link(Some("h1"), "ns-1").is_none());
    assert_eq!(host.link(Some("h1"), "tap1").unwrap().peer_netns(), Some(Some("qdhcp-1")));
    assert!(matches!(host.move_link(Some("h1"), "ns-1", Some("qdhcp-1")), Err(Error::NoSuchLink { .. })));
    // Deleting the namespace destroys its end and, with it, the peer.
    host.delete_netns("qdhcp-1").unwrap();
    assert!(host.link(Some("h1"), "tap1").is_none());
    // A bridge port needs a bridge.
    host.add_veth(Some("h1"), "a", Some("h1"), "b").unwrap();
    assert!(matches!(host.set_master(Some("h1"), "a", "b"), Err(Error::Invalid { .. })));
    assert!(matches!(host.set_master(Some("h1"), "a", "br0"), Err(Error::NoSuchLink { .. })));
    host.add_bridge(Some("h1"), "br0").unwrap();
    host.set_master(Some("h1"), "a", "br0").unwrap();
    host.delete_link(Some("h1"), "br0").unwrap();
    assert_eq!(host.link(Some("h1"), "a").unwrap().master, None);
    host.delete_link(Some("h1"), "b").unwrap();
    assert!(host.link(Some("h1"), "a").is_none(), "a veth's ends die together");
}

#[test]
fn sysctls_of_a_namespace() {
    let host = host_with(&["r"]);
    assert_eq!(host.sysctl(Some("r"), "net.ipv4.ip_forward").unwrap(), "0");
    host.set_sysctl(Some("r"), "net.ipv4.ip_forward", "1").unwrap();
    assert_eq!(host.sysctl(Some("r"), "net.ipv4.ip_forward").unwrap(), "1");
    assert_eq!(host.netns(Some("r")).unwrap().sysctls["net.ipv4.ip_forward"], "1");
    assert_eq!(host.sysctl(None, "net.ipv4.ip_forward").unwrap(), "0", "namespaces do not share sysctls");
    assert!(matches!(
        host.set_sysctl(Some("r"), "net.ipv4.no_such_key", "1"),
        Err(Error::NoSuchSysctl { .. })
    ));
    assert!(matches!(
        host.set_sysctl(Some("r"), "net.ipv4.conf.qg-1.proxy_arp", "1"),
        Err(Error::NoSuchSysctl { .. })
    ));
    host.add_veth(Some("r"), "qg-1", None, "x").unwrap();
    host.set_sysctl(Some("r"), "net.ipv4.conf.qg-1.proxy_arp", "1").unwrap();
    assert!(matches!(host.set_sysctl(Some("r"), "kernel.panic", "1"), Err(Error::InvalidName { .. })));
}

fn l3_batch() -> serde_json::Value {
    json!({"nftables": [
        {"add": {"table": {"family": "ip", "name": "neutrino-l3"}}},
        {"add": {"chain": {"family": "ip", "table": "neutrino-l3", "name": "prerouting",
                           "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}},
        {"add": {"map": {"family": "ip", "table": "neutrino-l3", "name": "fip", "type": "ipv4_addr", "map": "ipv4_addr"}}},
        {"add": {"element": {"family": "ip", "table": "neutrino-l3", "name": "fip", "elem": [["203.0.113.10", "10.0.0.5"]]}}},
        {"add": {"rule": {"family": "ip", "table": "neutrino-l3", "chain": "prerouting", "expr": [
            {"dnat": {"addr": {"map": {"key": {"payload": {"protocol": "ip", "field": "daddr"}}, "data": "@fip"}}}}]}}}
    ]})
}

#[test]
fn nft_batches_become_tables() {
    let host = host_with(&["r"]);
    host.nft_apply(Some("r"), &l3_batch()).unwrap();
    let t = host.nft_table(Some("r"), "ip", "neutrino-l3").unwrap().unwrap();
    assert_eq!(t.chains["prerouting"].base.as_ref().map(|b| b.hook.as_str()), Some("prerouting"));
    assert_eq!(t.chains["prerouting"].rules.len(), 1);
    assert_eq!(t.sets["fip"].elements, [json!(["203.0.113.10", "10.0.0.5"])]);
    assert_eq!(host.nft_tables(Some("r")).unwrap(), [("ip".to_string(), "neutrino-l3".to_string())]);
    assert_eq!(host.nft_table(None, "ip", "neutrino-l3").unwrap(), None, "tables are per namespace");

    // Associating a floating IP changes map elements, not rules; `add` again is idempotent.
    let fip = |verb: &str, elem: serde_json::Value| json!({"nftables": [{verb: {"element": {"family": "ip", "table": "neutrino-l3", "name": "fip", "elem": [elem]}}}]});
    host.nft_apply(Some("r"), &fip("add", json!(["203.0.113.11", "10.0.0.6"]))).unwrap();
    host.nft_apply(Some("r"), &fip("add", json!(["203.0.113.11", "10.0.0.6"]))).unwrap();
    host.nft_apply(Some("r"), &fip("delete", json!(["203.0.113.10", "10.0.0.5"]))).unwrap();
    let t = host.nft_table(Some("r"), "ip", "neutrino-l3").unwrap().unwrap();
    assert_eq!(t.sets["fip"].elements, [json!(["203.0.113.11", "10.0.0.6"])]);
    assert_eq!(t.chains["prerouting"].rules.len(), 1);
    // `flush table` empties the chains and keeps the maps, as nft 1.0.6 does.
    host.nft_apply(
        Some("r"),
        &json!({"nftables": [{"flush": {"table": {"family": "ip", "name": "neutrino-l3"}}}]}),
    )
    .unwrap();
    let t = host.nft_table(Some("r"), "ip", "neutrino-l3").unwrap().unwrap();
    assert!(t.chains["prerouting"].rules.is_empty());
    assert_eq!(t.sets["fip"].elements.len(), 1);
}

#[test]
fn an_invalid_nft_batch_changes_nothing() {
    let host = host_with(&["r"]);
    host.nft_apply(Some("r"), &l3_batch()).unwrap();
    let before = host.state();
    let table = |name: &str| json!({"add": {"table": {"family": "ip", "name": name}}});
    let refused = [
        // The first command is fine, the second refers to a chain that does not exist.
        json!({"nftables": [table("t2"), {"add": {"rule": {"family": "ip", "table": "t2", "chain": "nope", "expr": [{"accept": null}]}}}]}),
        json!({"nftables": [{"create": {"table": {"family": "ip", "name": "neutrino-l3"}}}]}),
        json!({"nftables": [{"delete": {"element": {"family": "ip", "table": "neutrino-l3", "name": "fip", "elem": [["203.0.113.99", "10.0.0.9"]]}}}]}),
        json!({"nftables": [{"add": {"rule": {"family": "ip", "table": "neutrino-l3", "chain": "prerouting", "expr": [{"frobnicate": {}}]}}}]}),
        json!({"nftables": [{"add": {"rule": {"family": "ip", "table": "neutrino-l3", "chain": "prerouting",
            "expr": [{"dnat": {"addr": {"map": {"key": {"payload": {"protocol": "ip", "field": "daddr"}}, "data": "@nope"}}}}]}}}]}),
        json!({"nftables": [{"add": {"rule": {"family": "ip", "table": "neutrino-l3", "chain": "prerouting", "expr": [{"jump": {"target": "nope"}}]}}}]}),
        json!({"nftables": [{"add": {"chain": {"family": "ip", "table": "neutrino-l3", "name": "c", "type": "nat", "hook": "input"}}}]}),
        json!({"nftables": [{"delete": {"map": {"family": "ip", "table": "neutrino-l3", "name": "fip"}}}]}),
        json!({"nftables": [{"add": {"table": {"family": "ipx", "name": "t"}}}]}),
        json!({"tables": []}),
    ];
    for batch in &refused {
        let err = host.nft_apply(Some("r"), batch).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidBatch { netns, .. } if netns == "namespace r"),
            "{batch}: {err}"
        );
        assert_eq!(host.state(), before, "{batch} changed the state");
    }
    assert!(matches!(host.nft_apply(Some("nowhere"), &l3_batch()), Err(Error::NoSuchNetns(_))));
    // Positive control: the same shapes with what they refer to in place.
    let ok = json!({"nftables": [
        table("t2"),
        {"add": {"chain": {"family": "ip", "table": "t2", "name": "nope"}}},
        {"add": {"rule": {"family": "ip", "table": "t2", "chain": "nope", "expr": [{"accept": null}]}}},
        {"add": {"rule": {"family": "ip", "table": "neutrino-l3", "chain": "prerouting", "expr": [{"counter": null}]}}}
    ]});
    host.nft_apply(Some("r"), &ok).unwrap();
    let t = host.nft_table(Some("r"), "ip", "neutrino-l3").unwrap().unwrap();
    let handle = t.chains["prerouting"].rules[1].handle;
    let delete = json!({"nftables": [{"delete": {"rule": {"family": "ip", "table": "neutrino-l3", "chain": "prerouting", "handle": handle}}}]});
    host.nft_apply(Some("r"), &delete).unwrap();
    assert!(host.nft_apply(Some("r"), &delete).is_err(), "the rule is gone");
    host.nft_apply(Some("r"), &json!({"nftables": [{"delete": {"table": {"family": "ip", "name": "t2"}}}]}))
        .unwrap();
    assert_eq!(host.nft_tables(Some("r")).unwrap().len(), 1);
}

#[test]
fn processes_are_spawned_signalled_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(&["qdhcp-1"]);
    let spec = Spawn::new(["/usr/sbin/dnsmasq", "--no-hosts"], dir.path().join("pid"))
        .in_netns(Some("qdhcp-1"))
        .daemonizes();
    let p = host.spawn(&spec).unwrap();
    assert_eq!((p.program.as_deref(), p.netns.as_deref()), (Some("dnsmasq"), Some("qdhcp-1")));
    assert_eq!(crate::process::read_pid_file(&spec.pid_file), Some(p.pid));
    assert!(host.is_running(&p));
    let found = host.process_from_pid_file(&spec.pid_file, Some("dnsmasq"), Some("qdhcp-1")).unwrap();
    assert_eq!(found.as_ref(), Some(&p));
    assert_eq!(host.process_from_pid_file(&spec.pid_file, Some("ovsdb-server"), None).unwrap(), None);
    assert_eq!(
        host.processes_in_netns("qdhcp-1").unwrap().iter().map(|p| p.pid).collect::<Vec<_>>(),
        [p.pid]
    );

    host.signal(&p, Signal::Hup).unwrap();
    assert!(host.is_running(&p), "SIGHUP reloads");
    assert!(host.stop(&p, Duration::from_secs(5)).unwrap());
    let fp = host.process(p.pid).unwrap();
    assert_eq!((fp.running, fp.signals.as_slice()), (false, &[Signal::Hup, Signal::Term][..]));
    assert!(matches!(host.signal(&p, Signal::Term), Err(Error::NotOurs { .. })), "an ended process");

    // One that ignores SIGTERM gets SIGKILL.
    let stubborn = host.spawn(&Spawn::new(["agent"], dir.path().join("agent.pid"))).unwrap();
    host.set_ignores_term(stubborn.pid, true);
    assert!(host.stop(&stubborn, Duration::from_secs(5)).unwrap());
    assert_eq!(host.process(stubborn.pid).unwrap().signals, [Signal::Term, Signal::Kill]);

    assert!(matches!(host.spawn(&spec.clone().in_netns(Some("nowhere"))), Err(Error::NoSuchNetns(_))));
    assert!(matches!(
        host.spawn(&Spawn::new(Vec::<String>::new(), dir.path().join("x"))),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn a_process_that_is_not_the_one_described_is_never_signalled() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(&["ns"]);
    let foreign = host.plant_process(&["sshd"], None);
    // A stale pid file that now names someone else's process.
    std::fs::write(dir.path().join("dnsmasq.pid"), format!("{foreign}\n")).unwrap();
    assert_eq!(
        host.process_from_pid_file(&dir.path().join("dnsmasq.pid"), Some("dnsmasq"), None).unwrap(),
        None
    );
    let described = Process { pid: foreign, program: Some("dnsmasq".into()), netns: None };
    assert!(matches!(host.signal(&described, Signal::Term), Err(Error::NotOurs { .. })));
    let in_ns = Process { pid: foreign, program: None, netns: Some("ns".into()) };
    assert!(host.stop(&in_ns, Duration::from_secs(1)).unwrap(), "not ours counts as gone");
    assert_eq!(host.process(foreign).unwrap().signals, [], "never signalled");
    assert!(host.process(foreign).unwrap().running);
    // Positive control: described as what it is, it can be signalled.
    host.signal(&Process { pid: foreign, program: Some("sshd".into()), netns: None }, Signal::Hup).unwrap();
    assert_eq!(host.process(foreign).unwrap().signals, [Signal::Hup]);
}

#[test]
fn refused_spawns_and_run_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(&["h1"]);
    host.refuse_spawn("ovs-vswitchd", "boom");
    let err =
        host.spawn(&Spawn::new(["ovs-vswitchd"], dir.path().join("v.pid")).in_netns(Some("h1"))).unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    host.spawn(&Spawn::new(["ovsdb-server"], dir.path().join("d.pid")).in_netns(Some("h1"))).unwrap();
    assert_eq!(host.processes_named("ovsdb-server").len(), 1);
    assert!(host.processes_named("ovs-vswitchd").is_empty());

    assert!(matches!(host.run(&Cmd::in_netns("h1", "arping")), Err(Error::Unsupported(_))));
    host.on_run("arping", |cmd| CmdOutput {
        stdout: format!("sent from {:?}", cmd.netns),
        ..Default::default()
    });
    assert_eq!(host.run(&Cmd::in_netns("h1", "/usr/bin/arping")).unwrap().stdout, "sent from Some(\"h1\")");
    assert!(matches!(host.run(&Cmd::in_netns("h9", "arping")), Err(Error::NoSuchNetns(_))));
}
