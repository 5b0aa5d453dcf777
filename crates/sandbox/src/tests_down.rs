//! Unit tests of `down`, `status`, the host processes and `restart_vswitchd` against the fake
//! machine: which processes received which signals in which order, which namespaces are left.

use neutrino_host::{FakeHost, Netns, Processes, Signal, Spawn};

use crate::tests::{spec, up};
use crate::{down_with, status_with};

fn ended_order(host: &FakeHost, pids: &[(&str, u32)]) -> Vec<String> {
    let mut ended: Vec<_> = pids
        .iter()
        .map(|(name, pid)| (host.process(*pid).unwrap().ended_at.unwrap_or(u64::MAX), name.to_string()))
        .collect();
    ended.sort();
    ended.into_iter().map(|(_, n)| n).collect()
}

#[test]
fn down_stops_agents_then_ovs_and_deletes_only_its_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (host, _switch, mut sb) = up(&spec);
    sb.plug_vm("h1", &crate::VmSpec::new("a", "11111111-2222-3333", "fa:16:3e:00:00:01")).unwrap();
    let agent = sb.start_process("h1", "agent", &["neutrino", "agent"], &[]).unwrap();
    let iperf = host
        .spawn(&Spawn::new(["iperf3", "-s"], dir.path().join("iperf.pid")).in_netns(Some("nt-vm-a")))
        .unwrap();
    // A stray namespace with the sandbox's prefix, and things that are not the sandbox's.
    host.add_netns("nt-stray").unwrap();
    host.add_netns("other").unwrap();
    let foreign = [host.plant_process(&["sshd"], None), host.plant_process(&["dnsmasq"], Some("other"))];
    let ovsdb = sb.process("h1", "ovsdb-server").unwrap().pid.unwrap();
    let vswitchd = sb.process("h1", "ovs-vswitchd").unwrap().pid.unwrap();

    let report = down_with(&spec.run_dir, None, host.as_ref()).unwrap();
    let order = ended_order(
        &host,
        &[("agent", agent), ("vswitchd", vswitchd), ("ovsdb", ovsdb), ("iperf3", iperf.pid)],
    );
    assert_eq!(order, ["agent", "vswitchd", "ovsdb", "iperf3"]);
    for pid in [agent, vswitchd, ovsdb, iperf.pid] {
        assert_eq!(host.process(pid).unwrap().signals, [Signal::Term], "{pid}");
    }
    for pid in foreign {
        let p = host.process(pid).unwrap();
        assert!(p.running && p.signals.is_empty(), "{p:?} is not the sandbox's");
    }
    assert_eq!(report.namespaces_deleted, ["nt-vm-a", "nt-h1", "nt-phys", "nt-fab", "nt-stray"]);
    assert_eq!(host.list_netns().unwrap(), ["other"]);
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert_eq!(report.processes.len(), 3);
    assert!(!spec.run_dir.exists());
    // Idempotent.
    let again = down_with(&spec.run_dir, None, host.as_ref()).unwrap();
    assert!(again.processes.is_empty() && again.namespaces_deleted.is_empty());
    assert_eq!(host.process(agent).unwrap().signals, [Signal::Term]);
}

#[test]
fn down_after_a_crash_uses_pidfiles_and_the_salvaged_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), 1, false);
    spec.name_prefix = "nt-q-".into();
    let (host, _switch, sb) = up(&spec);
    // Another sandbox shares the machine.
    host.add_netns("nt-h1").unwrap();
    let theirs = host.plant_process(&["ovs-vswitchd"], Some("nt-h1"));
    let vswitchd = sb.process("h1", "ovs-vswitchd").unwrap().pid.unwrap();
    let ovsdb = sb.process("h1", "ovsdb-server").unwrap().pid.unwrap();
    let json = std::fs::read_to_string(spec.run_dir.join("sandbox.json")).unwrap();
    std::fs::write(spec.run_dir.join("sandbox.json"), &json[..json.len() / 3]).unwrap();

    let status = status_with(&spec.run_dir, host.as_ref()).unwrap();
    assert_eq!((status.recorded, status.name_prefix.as_str()), (false, "nt-q-"));
    assert_eq!(status.namespaces, ["nt-q-fab", "nt-q-h1", "nt-q-phys"]);
    down_with(&spec.run_dir, None, host.as_ref()).unwrap();
    // Found by their pid files (no record survived) and checked against their names.
    assert_eq!(host.process(vswitchd).unwrap().signals, [Signal::Term]);
    assert_eq!(host.process(ovsdb).unwrap().signals, [Signal::Term]);
    assert_eq!(host.list_netns().unwrap(), ["nt-h1"], "another sandbox's namespace stays");
    assert!(host.process(theirs).unwrap().signals.is_empty());
    assert!(!spec.run_dir.exists());
}

#[test]
fn a_pid_file_naming_another_program_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (host, _switch, _sb) = up(&spec);
    // The daemon died and its pid now belongs to someone else.
    let pid_file = spec.run_dir.join("h1/ovs-vswitchd.pid");
    let old = neutrino_host::process::read_pid_file(&pid_file).unwrap();
    host.crash(old);
    let reused = host.plant_process(&["postgres"], None);
    std::fs::write(&pid_file, format!("{reused}\n")).unwrap();
    let status = status_with(&spec.run_dir, host.as_ref()).unwrap();
    let vswitchd = status.processes.iter().find(|p| p.name == "ovs-vswitchd").unwrap();
    assert!(!vswitchd.alive, "{vswitchd:?}");
    assert!(status.processes.iter().find(|p| p.name == "ovsdb-server").unwrap().alive, "positive control");
    let report = down_with(&spec.run_dir, None, host.as_ref()).unwrap();
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert!(host.process(reused).unwrap().signals.is_empty() && host.process(reused).unwrap().running);
}

#[test]
fn failed_up_tears_down_what_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 2, false);
    let (machine, host, _switch) = crate::Machine::fake();
    host.refuse_spawn("ovs-vswitchd", "boom");
    let err = crate::Sandbox::up_with(&spec, machine).unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(host.list_netns().unwrap(), Vec::<String>::new());
    let [ovsdb] = host.processes_named("ovsdb-server").try_into().unwrap();
    assert_eq!(
        (ovsdb.netns.as_deref(), ovsdb.running, ovsdb.signals.as_slice()),
        (Some("nt-h1"), false, &[Signal::Term][..])
    );
    assert!(
        host.state().processes.values().all(|p| p.netns.as_deref() != Some("nt-h2")),
        "h2 was never started"
    );
    assert!(!spec.run_dir.exists());
}

#[test]
fn down_refuses_foreign_prefixes_and_dirs() {
    let host = FakeHost::new();
    assert!(down_with(std::path::Path::new("/tmp/x"), Some("qdhcp-"), &host).is_err());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious.txt"), "keep").unwrap();
    let report = down_with(dir.path(), None, &host).unwrap();
    assert!(dir.path().join("precious.txt").exists());
    assert_eq!(report.leftovers.len(), 1);
}

#[test]
fn down_without_a_known_prefix_sweeps_nothing_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let host = FakeHost::new();
    host.add_netns("nt-other").unwrap();
    host.add_netns("nt-exp").unwrap();
    down_with(dir.path(), None, &host).unwrap();
    assert_eq!(host.list_netns().unwrap(), ["nt-exp", "nt-other"]);

    // With sandbox.json gone entirely, `name_prefix` still names the sandbox's namespaces.
    let spec = spec(dir.path(), 1, false);
    let (host, _switch, _sb) = up(&spec);
    host.add_netns("nt-exp-x").unwrap();
    host.add_netns("elsewhere").unwrap();
    std::fs::remove_file(spec.run_dir.join("sandbox.json")).unwrap();
    let report = down_with(&spec.run_dir, None, host.as_ref()).unwrap();
    assert_eq!(report.namespaces_deleted, ["nt-exp-x", "nt-fab", "nt-h1", "nt-phys"]);
    assert_eq!(host.list_netns().unwrap(), ["elsewhere"]);
    assert!(host.processes_named("ovsdb-server")[0].signals == [Signal::Term]);
}

#[test]
fn host_processes_start_once_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (host, _switch, mut sb) = up(&spec);
    let pid = sb
        .start_process(
            "h1",
            "agent",
            &["/usr/bin/neutrino", "agent", "--host", "h1"],
            &[("RUST_LOG", "info")],
        )
        .unwrap();
    let p = host.process(pid).unwrap();
    assert_eq!(
        (p.netns.as_deref(), p.env.as_slice()),
        (None, &[("RUST_LOG".to_string(), "info".to_string())][..])
    );
    let record = sb.process("h1", "agent").unwrap().clone();
    assert_eq!((record.program.as_str(), record.pid), ("neutrino", Some(pid)));
    assert_eq!(record.pidfile, spec.run_dir.join("h1/agent.pid"));
    assert!(matches!(sb.start_process("h1", "agent", &["neutrino"], &[]), Err(crate::Error::Process { .. })));
    assert!(matches!(sb.start_process("h1", "ovs-vswitchd", &["x"], &[]), Err(crate::Error::InvalidSpec(_))));
    assert!(matches!(sb.start_process("h1", "a b", &["x"], &[]), Err(crate::Error::InvalidSpec(_))));
    assert!(host.is_running(&neutrino_host::Process { pid, program: Some("neutrino".into()), netns: None }));
    sb.stop_process("h1", "agent").unwrap();
    assert_eq!(host.process(pid).unwrap().signals, [Signal::Term]);
    assert!(sb.process("h1", "agent").is_none());
    assert!(!record.pidfile.exists());
    // Stopped, it can start again.
    sb.start_process("h1", "agent", &["neutrino"], &[]).unwrap();
}

#[test]
fn restart_vswitchd_kills_it_and_starts_another() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (host, switch, mut sb) = up(&spec);
    let old = sb.process("h1", "ovs-vswitchd").unwrap().pid.unwrap();
    sb.restart_vswitchd("h1").unwrap();
    assert_eq!(host.process(old).unwrap().signals, [Signal::Kill], "as a crash would");
    let new = sb.process("h1", "ovs-vswitchd").unwrap().pid.unwrap();
    assert_ne!(new, old);
    assert!(host.process(new).unwrap().running);
    assert_eq!(sb.state().processes.iter().filter(|p| p.name == "ovs-vswitchd").count(), 1);
    // The database (ovsdb-server) kept running: the bridges are still configured.
    assert!(host.processes_named("ovsdb-server")[0].signals.is_empty());
    assert!(switch.ovs("h1").unwrap().bridges.contains_key("br-phy"));
}
