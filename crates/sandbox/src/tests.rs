//! Unit tests of the command plans of `up`, `plug_vm`, `unplug_vm` and `down` against the
//! recording [`FakeRunner`].

use std::sync::Arc;

use crate::runner::{Cmd, CmdOutput, FakeRunner};
use crate::spec::{MAX_IFNAME, SandboxSpec, VmSpec};
use crate::state::SandboxState;
use crate::{Sandbox, down_with, status_with};

fn spec(dir: &std::path::Path, hosts: usize, ext: bool) -> SandboxSpec {
    SandboxSpec { run_dir: dir.join("run"), ext, ..SandboxSpec::default(hosts) }
}

fn lines(fake: &FakeRunner, run: &std::path::Path) -> Vec<String> {
    fake.lines().iter().map(|l| l.replace(&run.display().to_string(), "$RUN")).collect()
}

fn up(spec: &SandboxSpec) -> (Arc<FakeRunner>, Sandbox) {
    let fake = Arc::new(FakeRunner::new());
    let sb = Sandbox::up_with(spec, fake.clone()).unwrap();
    (fake, sb)
}

#[test]
fn up_plan_for_one_host() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, true);
    let (fake, _sb) = up(&spec);
    let schema = crate::up::vswitch_schema().display().to_string();
    let env = "OVS_RUNDIR=$RUN/h1 OVS_LOGDIR=$RUN/h1 OVS_DBDIR=$RUN/h1";
    let vsctl = "ovs-vsctl --db=unix:$RUN/h1/db.sock --timeout=30";
    let expected = [
        "ip netns add nt-fab".to_string(),
        "[nt-fab] ip link set lo up".into(),
        "[nt-fab] ip link add fabric type bridge".into(),
        "[nt-fab] ip link set fabric up".into(),
        "ip netns add nt-phys".into(),
        "[nt-phys] ip link set lo up".into(),
        "[nt-phys] ip link add physnet type bridge".into(),
        "[nt-phys] ip link set physnet up".into(),
        "ip netns add nt-ext".into(),
        "[nt-ext] ip link set lo up".into(),
        "[nt-ext] ip link add extnet type bridge".into(),
        "[nt-ext] ip addr add 203.0.113.1/24 dev extnet".into(),
        "[nt-ext] ip link set extnet up".into(),
        "ip netns add nt-h1".into(),
        "[nt-h1] ip link set lo up".into(),
        format!("ovsdb-tool create $RUN/h1/conf.db {schema}"),
        format!(
            "[nt-h1] {env} ovsdb-server $RUN/h1/conf.db --remote=punix:$RUN/h1/db.sock \
             --pidfile=$RUN/h1/ovsdb-server.pid --unixctl=$RUN/h1/ovsdb-server.ctl \
             --log-file=$RUN/h1/ovsdb-server.log --detach"
        ),
        format!("{vsctl} --no-wait init"),
        format!(
            "[nt-h1] {env} ovs-vswitchd unix:$RUN/h1/db.sock --pidfile=$RUN/h1/ovs-vswitchd.pid \
             --unixctl=$RUN/h1/ovs-vswitchd.ctl --log-file=$RUN/h1/ovs-vswitchd.log --detach"
        ),
        "[nt-h1] ip link add ul-h1 type veth peer name fab-h1 netns nt-fab".into(),
        "[nt-fab] ip link set fab-h1 master fabric".into(),
        "[nt-fab] ip link set fab-h1 up".into(),
        "[nt-fab] ethtool -K fab-h1 tx off".into(),
        "[nt-h1] ip link set ul-h1 up".into(),
        "[nt-h1] ethtool -K ul-h1 tx off".into(),
        format!(
            "{vsctl} --may-exist add-br br-phy -- set bridge br-phy datapath_type=netdev \
             -- --may-exist add-port br-phy ul-h1"
        ),
        "[nt-h1] ip addr replace 172.31.0.1/24 dev br-phy".into(),
        "[nt-h1] ip link set br-phy up".into(),
        "[nt-h1] ip link add ph1-h1 type veth peer name p1-h1 netns nt-phys".into(),
        "[nt-phys] ip link set p1-h1 master physnet".into(),
        "[nt-phys] ip link set p1-h1 up".into(),
        "[nt-phys] ethtool -K p1-h1 tx off".into(),
        "[nt-h1] ip link set ph1-h1 up".into(),
        "[nt-h1] ethtool -K ph1-h1 tx off".into(),
        format!(
            "{vsctl} --may-exist add-br br-eth1 -- set bridge br-eth1 datapath_type=netdev \
             -- --may-exist add-port br-eth1 ph1-h1"
        ),
        "[nt-h1] ip link add ex-h1 type veth peer name x-h1 netns nt-ext".into(),
        "[nt-ext] ip link set x-h1 master extnet".into(),
        "[nt-ext] ip link set x-h1 up".into(),
        "[nt-ext] ethtool -K x-h1 tx off".into(),
        "[nt-h1] ip link set ex-h1 up".into(),
        "[nt-h1] ethtool -K ex-h1 tx off".into(),
        format!(
            "{vsctl} --may-exist add-br br-ex -- set bridge br-ex datapath_type=netdev \
             -- --may-exist add-port br-ex ex-h1"
        ),
    ];
    assert_eq!(lines(&fake, &spec.run_dir), expected);
}

/// Root-namespace commands are limited to creating/deleting namespaces, OVSDB over its unix
/// socket, `ovsdb-tool` on files and `kill`; every interface name fits IFNAMSIZ; every veth
/// end gets `tx off` in its own namespace.
fn check_plan(cmds: &[Cmd]) {
    for c in cmds.iter().filter(|c| c.netns.is_none()) {
        let ok = match c.program.as_str() {
            "ip" => c.args.first().is_some_and(|a| a == "netns"),
            "ovs-vsctl" => c.args.first().is_some_and(|a| a.starts_with("--db=unix:")),
            "ovsdb-tool" | "kill" => true,
            _ => false,
        };
        assert!(ok, "root-namespace command: {c}");
    }
    for c in
        cmds.iter().filter(|c| c.program == "ip" && c.args.get(..2) == Some(&["link".into(), "add".into()]))
    {
        let ns = c.netns.clone().expect("links are created inside a namespace");
        let local = &c.args[2];
        assert!(local.len() <= MAX_IFNAME, "{local}");
        if let Some(i) = c.args.iter().position(|a| a == "peer") {
            let peer = &c.args[i + 2];
            let peer_ns = &c.args[i + 4];
            assert!(peer.len() <= MAX_IFNAME, "{peer}");
            for (ns, dev) in [(&ns, local), (peer_ns, peer)] {
                let off = Cmd::in_netns(ns.as_str(), "ethtool").args(["-K", dev.as_str(), "tx", "off"]);
                assert!(cmds.contains(&off), "no `{off}`");
            }
        }
    }
}

#[test]
fn up_and_plug_plans_stay_out_of_the_root_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), 3, true);
    spec.hosts[2].physnets.push("physnet2".into());
    let (fake, mut sb) = up(&spec);
    sb.plug_vm("h2", &VmSpec::new("web", "aaaaaaaa-bbbb-cccc", "fa:16:3e:00:00:02")).unwrap();
    check_plan(&fake.commands());
    assert_eq!(sb.host("h3").unwrap().physnet_bridge("physnet2"), Some("br-eth2"));
    assert_eq!(sb.host("h3").unwrap().bridge_mappings(), "physnet1:br-eth1,physnet2:br-eth2");
    assert_eq!(sb.host("h1").unwrap().physnet_bridge("physnet2"), None);
}

#[test]
fn state_records_everything() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 2, false);
    let (_fake, sb) = up(&spec);
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
    assert!(matches!(Sandbox::up_with(&spec, Arc::new(FakeRunner::new())), Err(crate::Error::AlreadyUp(_))));
}

#[test]
fn plug_plan_follows_os_vif() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (fake, mut sb) = up(&spec);
    fake.clear();
    fake.respond("br-exists", CmdOutput { status: 2, ..Default::default() });
    let vm = VmSpec {
        ip_cidr: Some("10.0.0.5/24".into()),
        gateway: Some("10.0.0.1".into()),
        mtu: 1450,
        device_id: "vm-uuid-1".into(),
        ..VmSpec::new("a", "11111111-2222-3333", "fa:16:3e:00:00:01")
    };
    let handle = sb.plug_vm("h1", &vm).unwrap();
    assert_eq!((handle.netns.as_str(), handle.tap.as_str()), ("nt-vm-a", "tap11111111-22"));
    let vsctl = "ovs-vsctl --db=unix:$RUN/h1/db.sock --timeout=30";
    let expected = [
        "ip netns add nt-vm-a".to_string(),
        "[nt-vm-a] ip link set lo up".into(),
        "[nt-h1] ip link add tap11111111-22 type veth peer name eth0 netns nt-vm-a".into(),
        "[nt-h1] ip link set tap11111111-22 mtu 1450 up".into(),
        "[nt-h1] ethtool -K tap11111111-22 tx off".into(),
        "[nt-vm-a] ip link set eth0 address fa:16:3e:00:00:01 mtu 1450".into(),
        "[nt-vm-a] ip link set eth0 up".into(),
        "[nt-vm-a] ethtool -K eth0 tx off".into(),
        "[nt-vm-a] ip addr add 10.0.0.5/24 dev eth0".into(),
        "[nt-vm-a] ip route replace default via 10.0.0.1 dev eth0".into(),
        format!("{vsctl} br-exists br-int"),
        format!("{vsctl} --may-exist add-br br-int -- set bridge br-int datapath_type=netdev"),
        format!(
            "{vsctl} --may-exist add-port br-int tap11111111-22 -- set interface tap11111111-22 \
             external_ids:iface-id=11111111-2222-3333 external_ids:attached-mac=fa:16:3e:00:00:01 \
             external_ids:iface-status=active external_ids:vm-uuid=vm-uuid-1"
        ),
    ];
    assert_eq!(lines(&fake, &spec.run_dir), expected);
    assert!(matches!(sb.plug_vm("h1", &vm), Err(crate::Error::AlreadyPlugged(_))));
    assert!(sb.plug_vm("h9", &VmSpec::new("b", "22222222-3333", "fa:16:3e:00:00:02")).is_err());
    assert_eq!(SandboxState::load(&spec.run_dir).unwrap().unwrap().vms, [handle]);

    fake.clear();
    fake.respond("netns list", CmdOutput { stdout: "nt-vm-a (id: 3)\nnt-h1\n".into(), ..Default::default() });
    sb.unplug_vm("a").unwrap();
    let expected = [
        format!("{vsctl} --if-exists del-port tap11111111-22"),
        "ip netns pids nt-vm-a".into(),
        "ip netns list".into(),
        "ip netns del nt-vm-a".into(),
    ];
    assert_eq!(lines(&fake, &spec.run_dir), expected);
    assert!(sb.vms().is_empty());
    assert!(!sb.state().namespaces.contains(&"nt-vm-a".to_string()));
}

#[test]
fn down_stops_agents_then_ovs_and_deletes_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (fake, mut sb) = up(&spec);
    sb.plug_vm("h1", &VmSpec::new("a", "11111111-2222-3333", "fa:16:3e:00:00:01")).unwrap();
    let h1 = spec.run_dir.join("h1");
    std::fs::write(h1.join("ovsdb-server.pid"), "101\n").unwrap();
    std::fs::write(h1.join("ovs-vswitchd.pid"), "102\n").unwrap();
    std::fs::write(h1.join("agent.pid"), "103\n").unwrap();
    fake.add_process(101, "ovsdb-server");
    fake.add_process(102, "ovs-vswitchd");
    fake.add_process(103, "neutrino");
    fake.respond(
        "netns list",
        CmdOutput {
            stdout: "nt-fab\nnt-h1 (id: 0)\nnt-vm-a\nnt-stray\nother\n".into(),
            ..Default::default()
        },
    );
    fake.respond("netns pids nt-vm-a", CmdOutput { stdout: "104\n".into(), ..Default::default() });
    fake.add_process(104, "iperf3");
    fake.clear();
    let report = down_with(&spec.run_dir, None, fake.as_ref()).unwrap();
    let kills: Vec<_> = fake.lines().into_iter().filter(|l| l.starts_with("kill")).collect();
    assert_eq!(kills, ["kill -s TERM 103", "kill -s TERM 102", "kill -s TERM 101", "kill -s TERM 104"]);
    let dels: Vec<_> = fake.lines().into_iter().filter(|l| l.starts_with("ip netns del")).collect();
    // nt-phys is recorded but not present; nt-stray is swept by prefix; `other` is not ours.
    assert_eq!(
        dels,
        ["ip netns del nt-vm-a", "ip netns del nt-h1", "ip netns del nt-fab", "ip netns del nt-stray"]
    );
    assert_eq!(report.namespaces_deleted.len(), 4);
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert!(!spec.run_dir.exists());
    // Idempotent.
    fake.clear();
    let again = down_with(&spec.run_dir, None, fake.as_ref()).unwrap();
    assert!(again.processes.is_empty());
    assert!(!fake.lines().iter().any(|l| l.starts_with("kill")));
}

#[test]
fn down_after_a_crash_uses_pidfiles_and_the_salvaged_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), 1, false);
    spec.name_prefix = "nt-q-".into();
    let (fake, _sb) = up(&spec);
    std::fs::write(spec.run_dir.join("h1/ovs-vswitchd.pid"), "202\n").unwrap();
    fake.add_process(202, "ovs-vswitchd");
    let json = std::fs::read_to_string(spec.run_dir.join("sandbox.json")).unwrap();
    std::fs::write(spec.run_dir.join("sandbox.json"), &json[..json.len() / 3]).unwrap();
    fake.respond(
        "netns list",
        CmdOutput { stdout: "nt-q-h1\nnt-q-fab\nnt-h1\n".into(), ..Default::default() },
    );
    fake.clear();
    let status = status_with(&spec.run_dir, fake.as_ref()).unwrap();
    assert_eq!((status.recorded, status.name_prefix.as_str()), (false, "nt-q-"));
    assert_eq!(status.namespaces, ["nt-q-h1", "nt-q-fab"]);
    down_with(&spec.run_dir, None, fake.as_ref()).unwrap();
    let lines = fake.lines();
    assert!(lines.contains(&"kill -s TERM 202".to_string()), "{lines:?}");
    assert!(lines.contains(&"ip netns del nt-q-h1".to_string()));
    assert!(lines.contains(&"ip netns del nt-q-fab".to_string()));
    assert!(!lines.contains(&"ip netns del nt-h1".to_string()), "another sandbox's namespace");
    assert!(!spec.run_dir.exists());
}

#[test]
fn failed_up_tears_down_what_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 2, false);
    let fake = Arc::new(FakeRunner::new());
    fake.respond("ovs-vswitchd unix", CmdOutput { status: 1, stderr: "boom".into(), ..Default::default() });
    fake.respond("netns list", CmdOutput { stdout: "nt-fab\nnt-phys\nnt-h1\n".into(), ..Default::default() });
    let err = Sandbox::up_with(&spec, fake.clone()).unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    let lines = fake.lines();
    for ns in ["nt-h1", "nt-phys", "nt-fab"] {
        assert!(lines.contains(&format!("ip netns del {ns}")), "{ns}: {lines:?}");
    }
    assert!(!lines.iter().any(|l| l.contains("nt-h2")), "h2 was never started");
    assert!(!spec.run_dir.exists());
}

#[test]
fn down_refuses_foreign_prefixes_and_dirs() {
    let fake = FakeRunner::new();
    assert!(down_with(std::path::Path::new("/tmp/x"), Some("qdhcp-"), &fake).is_err());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious.txt"), "keep").unwrap();
    let report = down_with(dir.path(), None, &fake).unwrap();
    assert!(dir.path().join("precious.txt").exists());
    assert_eq!(report.leftovers.len(), 1);
}

#[test]
fn down_without_a_known_prefix_sweeps_nothing_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeRunner::new();
    fake.respond("netns list", CmdOutput { stdout: "nt-other\nnt-exp\n".into(), ..Default::default() });
    down_with(dir.path(), None, &fake).unwrap();
    assert!(!fake.lines().iter().any(|l| l.starts_with("ip netns del")), "{:?}", fake.lines());

    // With sandbox.json gone entirely, `name_prefix` still names the sandbox's namespaces.
    let spec = spec(dir.path(), 1, false);
    let (fake, _sb) = up(&spec);
    std::fs::remove_file(spec.run_dir.join("sandbox.json")).unwrap();
    fake.respond(
        "netns list",
        CmdOutput { stdout: "nt-h1\nnt-fab\nnt-exp-x\n".into(), ..Default::default() },
    );
    fake.clear();
    down_with(&spec.run_dir, None, fake.as_ref()).unwrap();
    let dels: Vec<_> = fake.lines().into_iter().filter(|l| l.starts_with("ip netns del")).collect();
    assert_eq!(dels, ["ip netns del nt-h1", "ip netns del nt-fab", "ip netns del nt-exp-x"]);
}
