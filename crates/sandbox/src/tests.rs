//! Unit tests of `up`, `plug_vm` and `unplug_vm` against the fake machine: what exists
//! afterwards (namespaces, links with their peers, addresses, offload, routes, processes,
//! bridges and ports), not which commands ran.

use std::sync::Arc;

use neutrino_host::{FakeHost, LinkKind, Links, Processes, Route, Signal, Spawn};

use crate::spec::{SandboxSpec, VmSpec};
use crate::state::SandboxState;
use crate::switch::FakeSwitch;
use crate::{Machine, Sandbox};

pub(crate) fn spec(dir: &std::path::Path, hosts: usize, ext: bool) -> SandboxSpec {
    SandboxSpec { run_dir: dir.join("run"), ext, ..SandboxSpec::default(hosts) }
}

pub(crate) fn up(spec: &SandboxSpec) -> (Arc<FakeHost>, Arc<FakeSwitch>, Sandbox) {
    let (machine, host, switch) = Machine::fake();
    let sb = Sandbox::up_with(spec, machine).unwrap();
    (host, switch, sb)
}

pub(crate) fn net(s: &str) -> ipnet::IpNet {
    s.parse().unwrap()
}

/// `dev` in `ns` is one end of a veth whose other end is `peer` in `peer_ns`, both up with TX
/// checksum offload off.
#[track_caller]
fn assert_veth(host: &FakeHost, ns: &str, dev: &str, peer_ns: &str, peer: &str) {
    let a = host.link(Some(ns), dev).unwrap_or_else(|| panic!("no {dev} in {ns}"));
    let b = host.link(Some(peer_ns), peer).unwrap_or_else(|| panic!("no {peer} in {peer_ns}"));
    assert_eq!((a.peer_name(), a.peer_netns()), (Some(peer), Some(Some(peer_ns))), "{dev}");
    assert_eq!((b.peer_name(), b.peer_netns()), (Some(dev), Some(Some(ns))), "{peer}");
    for (name, link) in [(dev, &a), (peer, &b)] {
        assert!(link.up, "{name} is down");
        assert!(!link.tx_offload, "{name} has TX checksum offload on");
    }
}

#[test]
fn up_builds_the_fabric_and_one_host() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, true);
    let (host, switch, sb) = up(&spec);
    let run = spec.run_dir.display().to_string();

    let state = host.state();
    assert_eq!(
        state.namespaces.keys().collect::<Vec<_>>(),
        ["nt-ext", "nt-fab", "nt-h1", "nt-phys", "nt-public"]
    );
    for (name, ns) in &state.namespaces {
        assert!(ns.links["lo"].up, "lo of {name}");
    }
    for (ns, bridge) in [("nt-fab", "fabric"), ("nt-phys", "physnet"), ("nt-ext", "extnet")] {
        let br = host.link(Some(ns), bridge).unwrap();
        assert_eq!((br.kind, br.up), (LinkKind::Bridge, true), "{bridge}");
    }
    assert_eq!(host.link(Some("nt-ext"), "extnet").unwrap().addresses, [net("203.0.113.1/24")]);

    // Underlay, physical network and outside world, each a veth onto its namespace's bridge.
    assert_veth(&host, "nt-h1", "ul-h1", "nt-fab", "fab-h1");
    assert_veth(&host, "nt-h1", "ph1-h1", "nt-phys", "p1-h1");
    assert_veth(&host, "nt-h1", "ex-h1", "nt-ext", "x-h1");
    for (ns, peer, bridge) in
        [("nt-fab", "fab-h1", "fabric"), ("nt-phys", "p1-h1", "physnet"), ("nt-ext", "x-h1", "extnet")]
    {
        assert_eq!(host.link(Some(ns), peer).unwrap().master.as_deref(), Some(bridge), "{peer}");
    }
    // The tunnel endpoint sits on br-phy's internal port, up.
    let br_phy = host.link(Some("nt-h1"), "br-phy").unwrap();
    assert_eq!((br_phy.up, br_phy.addresses.as_slice()), (true, &[net("172.31.0.1/24")][..]));

    // The host's own Open vSwitch: daemons inside its namespace, files in its run directory.
    for (program, args) in [
        ("ovsdb-server", vec![format!("{run}/h1/conf.db"), format!("--remote=punix:{run}/h1/db.sock")]),
        ("ovs-vswitchd", vec![format!("unix:{run}/h1/db.sock")]),
    ] {
        let [p] = host.processes_named(program).try_into().unwrap();
        assert!(p.running && p.signals.is_empty(), "{p:?}");
        assert_eq!(p.netns.as_deref(), Some("nt-h1"));
        assert_eq!(p.argv[1..=args.len()], args[..], "{program}");
        for flag in ["pidfile=", "unixctl=", "log-file="] {
            let ext = &flag[..flag.len() - 1]
                .replace("pidfile", "pid")
                .replace("unixctl", "ctl")
                .replace("log-file", "log");
            assert!(p.argv.contains(&format!("--{flag}{run}/h1/{program}.{ext}")), "{program}: {:?}", p.argv);
        }
        assert!(p.argv.ends_with(&["--detach".to_string()]));
        for key in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR"] {
            assert!(p.env.contains(&(key.to_string(), format!("{run}/h1"))), "{program}: {key}");
        }
        assert_eq!(sb.process("h1", program).and_then(|r| r.pid), Some(p.pid));
        assert_eq!(
            neutrino_host::process::read_pid_file(&sb.process("h1", program).unwrap().pidfile),
            Some(p.pid)
        );
    }
    let ovs = switch.ovs("h1").unwrap();
    assert!(ovs.db_created && ovs.initialized);
    let bridges: Vec<_> = ovs
        .bridges
        .iter()
        .map(|(name, b)| {
            (name.as_str(), b.datapath_type.as_str(), b.ports.keys().cloned().collect::<Vec<_>>())
        })
        .collect();
    assert_eq!(
        bridges,
        [
            ("br-eth1", "netdev", vec!["ph1-h1".to_string()]),
            ("br-ex", "netdev", vec!["ex-h1".to_string()]),
            ("br-phy", "netdev", vec!["ul-h1".to_string()]),
        ]
    );
    assert!(
        host.netns(None).unwrap().is_pristine(),
        "the root namespace is untouched: {:?}",
        host.netns(None)
    );
}

#[test]
fn up_and_plug_stay_out_of_the_root_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), 3, true);
    spec.hosts[2].physnets.push("physnet2".into());
    let (host, _switch, mut sb) = up(&spec);
    let root_before = host.netns(None).unwrap();
    sb.plug_vm("h2", &VmSpec::new("web", "aaaaaaaa-bbbb-cccc", "fa:16:3e:00:00:02")).unwrap();
    assert_eq!(host.netns(None).unwrap(), root_before);
    assert!(root_before.is_pristine(), "{root_before:?}");
    // Every veth end crosses userspace OVS or a fabric bridge: offload off everywhere.
    let state = host.state();
    let veths: Vec<_> = state
        .namespaces
        .iter()
        .flat_map(|(ns, n)| n.links.iter().map(move |(name, l)| (ns, name, l)))
        .filter(|(_, _, l)| l.kind == LinkKind::Veth)
        .collect();
    assert_eq!(veths.len(), 2 * (3 + 4 + 3 + 1 + 1), "underlay, physnets, ext, the public host and the VM");
    for (ns, name, link) in veths {
        assert!(!link.tx_offload && link.up, "{ns}/{name}: {link:?}");
        assert!(
            link.peer_netns().is_some_and(|p| p.is_some()),
            "{ns}/{name}'s peer is in a sandbox namespace"
        );
    }
    assert_veth(&host, "nt-h3", "ph2-h3", "nt-phys", "p2-h3");
    assert_eq!(sb.host("h3").unwrap().physnet_bridge("physnet2"), Some("br-eth2"));
    assert_eq!(sb.host("h3").unwrap().bridge_mappings(), "physnet1:br-eth1,physnet2:br-eth2");
    assert_eq!(sb.host("h1").unwrap().physnet_bridge("physnet2"), None);
}

#[test]
fn state_records_everything() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 2, false);
    let (_host, _switch, sb) = up(&spec);
    let state = SandboxState::load(&spec.run_dir).unwrap().unwrap();
    assert_eq!(&state, sb.state());
    assert_eq!(state.namespaces, ["nt-fab", "nt-phys", "nt-h1", "nt-h2"]);
    let h2 = &state.hosts[1];
    assert_eq!((h2.netns.as_str(), h2.tunnel_ip.as_str()), ("nt-h2", "172.31.0.2/24"));
    assert_eq!(h2.db_socket(), spec.run_dir.join("h2/db.sock"));
    assert_eq!(h2.run_dir(), spec.run_dir.join("h2"));
    assert_eq!(h2.physnet_bridge("physnet1"), Some("br-eth1"));
    assert_eq!(h2.ext_bridge, None);
    let daemons: Vec<_> = state.processes.iter().map(|p| format!("{}/{}", p.host, p.name)).collect();
    assert_eq!(daemons, ["h1/ovsdb-server", "h1/ovs-vswitchd", "h2/ovsdb-server", "h2/ovs-vswitchd"]);
    assert!(state.processes.iter().all(|p| p.pid.is_some()));
    assert!(matches!(Sandbox::up_with(&spec, Machine::fake().0), Err(crate::Error::AlreadyUp(_))));
}

#[test]
fn plug_follows_os_vif_and_unplug_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (host, switch, mut sb) = up(&spec);
    assert!(!switch.ovs("h1").unwrap().bridges.contains_key("br-int"));
    let vm = VmSpec {
        ip_cidr: Some("10.0.0.5/24".into()),
        gateway: Some("10.0.0.1".into()),
        mtu: 1450,
        device_id: "vm-uuid-1".into(),
        ..VmSpec::new("a", "11111111-2222-3333", "fa:16:3e:00:00:01")
    };
    let handle = sb.plug_vm("h1", &vm).unwrap();
    assert_eq!((handle.netns.as_str(), handle.tap.as_str()), ("nt-vm-a", "tap11111111-22"));
    assert_veth(&host, "nt-h1", "tap11111111-22", "nt-vm-a", "eth0");
    let eth0 = host.link(Some("nt-vm-a"), "eth0").unwrap();
    assert_eq!((eth0.mac.as_str(), eth0.mtu), ("fa:16:3e:00:00:01", 1450));
    assert_eq!(eth0.addresses, [net("10.0.0.5/24")]);
    assert_eq!(host.link(Some("nt-h1"), "tap11111111-22").unwrap().mtu, 1450);
    assert_eq!(
        host.routes(Some("nt-vm-a")).unwrap(),
        [Route::default_via("10.0.0.1".parse().unwrap(), Some("eth0"))]
    );
    assert!(host.link(Some("nt-vm-a"), "lo").unwrap().up);
    // br-int did not exist: plug made it (netdev), with the port as os-vif sets it.
    let br_int = &switch.ovs("h1").unwrap().bridges["br-int"];
    assert_eq!(br_int.datapath_type, "netdev");
    let ids: Vec<_> = br_int.ports["tap11111111-22"].iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(
        ids,
        [
            "attached-mac=fa:16:3e:00:00:01",
            "iface-id=11111111-2222-3333",
            "iface-status=active",
            "vm-uuid=vm-uuid-1"
        ]
    );
    assert!(matches!(sb.plug_vm("h1", &vm), Err(crate::Error::AlreadyPlugged(_))));
    assert!(sb.plug_vm("h9", &VmSpec::new("b", "22222222-3333", "fa:16:3e:00:00:02")).is_err());
    assert_eq!(SandboxState::load(&spec.run_dir).unwrap().unwrap().vms, [handle]);

    // Something a test left running inside the VM is stopped, then the namespace goes.
    let pid_file = dir.path().join("iperf.pid");
    let inside = host.spawn(&Spawn::new(["iperf3", "-s"], &pid_file).in_netns(Some("nt-vm-a"))).unwrap();
    sb.unplug_vm("a").unwrap();
    assert_eq!(host.process(inside.pid).unwrap().signals, [Signal::Term]);
    assert!(!switch.ovs("h1").unwrap().bridges["br-int"].ports.contains_key("tap11111111-22"));
    assert!(host.netns(Some("nt-vm-a")).is_none());
    assert!(host.link(Some("nt-h1"), "tap11111111-22").is_none(), "the tap went with its peer");
    assert!(sb.vms().is_empty());
    assert!(!sb.state().namespaces.contains(&"nt-vm-a".to_string()));
}

#[test]
fn a_second_vm_reuses_the_agents_br_int() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (host, switch, mut sb) = up(&spec);
    let h1 = sb.host("h1").unwrap().clone();
    use crate::switch::Switch;
    switch.add_bridge(&h1, "br-int", Some("patch-tun")).unwrap();
    sb.plug_vm("h1", &VmSpec::new("a", "11111111-2222-3333", "fa:16:3e:00:00:01")).unwrap();
    let ports: Vec<_> = switch.ovs("h1").unwrap().bridges["br-int"].ports.keys().cloned().collect();
    assert_eq!(ports, ["patch-tun", "tap11111111-22"]);
    assert!(host.link(Some("nt-h1"), "br-int").is_some());
}
