//! Unit tests of DHCP VMs against the fake machine: the client runs in the VM's namespace
//! with the sandbox's script and lease file, its pid is recorded, renew and release signal it,
//! the lease file is read back, and unplug and `down` stop it by pid — never a process that
//! took its pid.

use std::time::Duration;

use neutrino_host::Signal;

use crate::tests::{spec, up};
use crate::{Error, LeaseEvent, SandboxState, UDHCPC_SCRIPT, VmSpec, down_with};

fn dhcp_vm(name: &str) -> VmSpec {
    VmSpec::new(name, "11111111-2222-3333", "fa:16:3e:00:00:01").with_dhcp()
}

#[test]
fn a_dhcp_vm_runs_its_client_in_its_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (host, _switch, mut sb) = up(&spec);
    let vm = sb.plug_vm("h1", &dhcp_vm("a")).unwrap();
    let vm_dir = spec.run_dir.join("vms/a");
    let client = vm.dhcp.clone().expect("a DHCP client");
    let [p] = host.processes_named("busybox").try_into().unwrap();
    assert_eq!((p.pid, p.netns.as_deref(), p.running), (client.pid, Some("nt-vm-a"), true));
    let script = vm_dir.join("udhcpc.script").display().to_string();
    assert_eq!(
        p.argv,
        [
            "busybox",
            "udhcpc",
            "-f",
            "-i",
            "eth0",
            "-s",
            &script,
            "-t",
            "5",
            "-T",
            "1",
            "-A",
            "5",
            "-O",
            "mtu",
            "-O",
            "staticroutes"
        ]
    );
    assert_eq!(p.env, [("NEUTRINO_LEASE_FILE".to_string(), vm_dir.join("lease").display().to_string())]);
    assert_eq!(std::fs::read_to_string(&script).unwrap(), UDHCPC_SCRIPT);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&script).unwrap().permissions().mode() & 0o111, 0o111, "executable");
    assert_eq!(neutrino_host::process::read_pid_file(&client.pidfile), Some(p.pid));
    assert_eq!(SandboxState::load(&spec.run_dir).unwrap().unwrap().vms[0].dhcp.as_ref(), Some(&client));
    // The address is the lease's to set: none yet.
    assert!(host.link(Some("nt-vm-a"), "eth0").unwrap().addresses.is_empty());
    assert!(host.netns(None).unwrap().is_pristine());

    // A static VM on the same host runs no client, and has no lease to ask about.
    let fixed = VmSpec {
        ip_cidr: Some("10.0.0.6/24".into()),
        ..VmSpec::new("b", "22222222-3333", "fa:16:3e:00:00:02")
    };
    assert_eq!(sb.plug_vm("h1", &fixed).unwrap().dhcp, None);
    assert_eq!(host.processes_named("busybox").len(), 1);
    assert!(matches!(sb.vm_lease("b"), Err(Error::NotFound { .. })));
    // DHCP and a static address together are refused.
    let both = VmSpec { ip_cidr: Some("10.0.0.7/24".into()), ..dhcp_vm("c") };
    assert!(matches!(sb.plug_vm("h1", &both), Err(Error::InvalidSpec(_))));
}

#[test]
fn the_lease_is_read_waited_for_renewed_and_released() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (host, _switch, mut sb) = up(&spec);
    sb.plug_vm("h1", &dhcp_vm("a")).unwrap();
    let pid = sb.vm_dhcp("a").unwrap().pid;
    assert_eq!(sb.vm_lease("a").unwrap(), None);
    let short = Duration::from_millis(200);
    let err = sb.wait_vm_lease("a", None, short).unwrap_err();
    assert!(err.to_string().contains("last event none"), "{err}");

    // What the script writes on `bound`.
    let lease_file = spec.run_dir.join("vms/a/lease");
    std::fs::write(
        &lease_file,
        "event=bound\nseq=1\ninterface=eth0\nip=10.0.0.5\nmask=24\nrouter=10.0.0.1\n",
    )
    .unwrap();
    let first = sb.wait_vm_lease("a", None, short).unwrap();
    assert_eq!((first.event, first.address), (LeaseEvent::Bound, Some("10.0.0.5/24".parse().unwrap())));
    assert_eq!(sb.vm_lease("a").unwrap(), Some(first.clone()));
    // Nothing newer yet: waiting for a lease after it times out.
    assert!(matches!(sb.wait_vm_lease("a", Some(&first), short), Err(Error::NoLease { .. })));

    sb.renew_vm_lease("a").unwrap();
    sb.release_vm_lease("a").unwrap();
    assert_eq!(host.process(pid).unwrap().signals, [Signal::Usr1, Signal::Usr2]);
    assert!(host.process(pid).unwrap().running, "renew and release keep the client running");
    std::fs::write(&lease_file, "event=renew\nseq=2\ninterface=eth0\nip=10.0.0.9\nmask=24\n").unwrap();
    let second = sb.wait_vm_lease("a", Some(&first), short).unwrap();
    assert_eq!((second.seq, second.ip()), (2, Some("10.0.0.9".parse().unwrap())));

    // A client that ended is reported at once, not after the timeout.
    host.crash(pid);
    let err = sb.wait_vm_lease("a", Some(&second), Duration::from_secs(60)).unwrap_err();
    assert!(err.to_string().contains("the client ended"), "{err}");
}

#[test]
fn unplug_and_down_stop_the_client_by_pid() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (host, _switch, mut sb) = up(&spec);
    sb.plug_vm("h1", &dhcp_vm("a")).unwrap();
    let first = sb.vm_dhcp("a").unwrap().pid;
    sb.unplug_vm("a").unwrap();
    assert_eq!(host.process(first).unwrap().signals, [Signal::Term]);
    assert!(host.netns(Some("nt-vm-a")).is_none());

    sb.plug_vm("h1", &VmSpec::new("b", "22222222-3333", "fa:16:3e:00:00:02").with_dhcp()).unwrap();
    sb.plug_vm("h1", &VmSpec::new("c", "33333333-4444", "fa:16:3e:00:00:03").with_dhcp()).unwrap();
    let (b, c) = (sb.vm_dhcp("b").unwrap().pid, sb.vm_dhcp("c").unwrap().pid);
    // c's client died and its pid now belongs to someone else's udhcpc outside the sandbox.
    host.crash(c);
    let stranger = host.plant_process(&["busybox", "udhcpc"], None);
    let record = SandboxState::load(&spec.run_dir).unwrap().unwrap();
    let mut forged = record.clone();
    forged.vms[1].dhcp.as_mut().unwrap().pid = stranger;
    forged.save().unwrap();

    let report = down_with(&spec.run_dir, None, host.as_ref()).unwrap();
    assert_eq!(host.process(b).unwrap().signals, [Signal::Term]);
    assert!(report.processes.contains(&format!("b/udhcpc ({b})")), "{report:?}");
    let p = host.process(stranger).unwrap();
    assert!(p.running && p.signals.is_empty(), "not in the VM's namespace: {p:?}");
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert!(host.netns(Some("nt-vm-b")).is_none() && host.netns(Some("nt-vm-c")).is_none());
}
