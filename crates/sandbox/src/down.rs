//! Tearing a sandbox down — also after a crash, from a partial or missing `sandbox.json` —
//! and reporting what of it is alive ([`status`]).

use std::collections::BTreeSet;
use std::path::{Component, Path};

use neutrino_host::process::read_pid_file;
use neutrino_host::{Host, LinuxHost};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::process::{STOP_TIMEOUT, record_process, stop_record};
use crate::spec::{REQUIRED_PREFIX, validate_prefix};
use crate::state::{PREFIX_FILE, ProcessRecord, STATE_FILE, SandboxState, VmHandle, salvage_prefix};

/// What `down` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DownReport {
    /// `host/name (pid)` of every process stopped or found gone.
    pub processes: Vec<String>,
    pub namespaces_deleted: Vec<String>,
    /// Whatever could not be removed.
    pub leftovers: Vec<String>,
}

/// Tears down the sandbox at `run_dir` on this machine.
pub fn down(run_dir: &Path) -> Result<DownReport> {
    down_with(run_dir, None, &LinuxHost::new())
}

/// Tears down the sandbox at `run_dir`: stops its processes by pidfile (agents, then
/// `ovs-vswitchd`, then `ovsdb-server`), deletes its namespaces — those recorded and, as a
/// safety net, any whose name starts with the prefix — and removes the run directory.
/// `prefix` defaults to the recorded one (salvaged from a truncated file, else read from
/// `<run_dir>/name_prefix`); when none is known nothing is swept by name. Idempotent.
pub fn down_with(run_dir: &Path, prefix: Option<&str>, host: &dyn Host) -> Result<DownReport> {
    let (state, salvaged) = load_lenient(run_dir);
    let prefix = prefix
        .map(str::to_string)
        .or_else(|| state.as_ref().map(|s| s.name_prefix.clone()))
        .or(salvaged)
        .or_else(|| read_prefix_file(run_dir));
    // Without a known prefix there is no sweep: other sandboxes (`nt-…`) may share the machine.
    if let Some(p) = &prefix {
        validate_prefix(p)?;
    }
    let mut report = DownReport::default();

    let mut records = state.as_ref().map(|s| s.processes.clone()).unwrap_or_default();
    for pidfile in pidfiles(run_dir) {
        if !records.iter().any(|r| r.pidfile == pidfile) {
            let name = pidfile.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let host = pidfile.parent().and_then(Path::file_name).map(|s| s.to_string_lossy().into_owned());
            // Without a record only the OVS daemons' names can be checked against the pid.
            let program = if name.starts_with("ovs") { name.clone() } else { String::new() };
            let log = pidfile.with_extension("log");
            records.push(ProcessRecord {
                host: host.unwrap_or_default(),
                name,
                pidfile,
                pid: None,
                program,
                log,
            });
        }
    }
    records.sort_by_key(|r| match r.name.as_str() {
        "ovsdb-server" => 2,
        "ovs-vswitchd" => 1,
        _ => 0,
    });
    for r in &records {
        let record = stop_record(host, r);
        let label = format!("{}/{} ({})", r.host, r.name, read_pid(r).map_or("-".into(), |p| p.to_string()));
        if record { report.processes.push(label) } else { report.leftovers.push(label) }
    }

    // The VMs' DHCP clients, by pid, checked against program and namespace.
    for vm in state.iter().flat_map(|s| &s.vms) {
        if let Some(client) = &vm.dhcp {
            let label = format!("{}/udhcpc ({})", vm.name, client.pid);
            if client.stop(host).unwrap_or(false) {
                report.processes.push(label)
            } else {
                report.leftovers.push(label)
            }
        }
    }

    let present = host.list_netns()?;
    let mut targets: Vec<String> =
        state.as_ref().map(|s| s.namespaces.iter().rev().cloned().collect()).unwrap_or_default();
    targets.extend(state.iter().flat_map(|s| s.vms.iter().map(|v| v.netns.clone())));
    if let Some(prefix) = &prefix {
        targets.extend(present.iter().filter(|n| n.starts_with(prefix.as_str())).cloned());
    }
    let mut seen = BTreeSet::new();
    targets.retain(|n| seen.insert(n.clone()) && present.contains(n) && n.starts_with(REQUIRED_PREFIX));
    // VM namespaces first, then those the hosts' agents made (`<host netns>-qdhcp-…`), then
    // hosts, then the fabric ones.
    let vm_prefix = format!("{}vm-", prefix.as_deref().unwrap_or(REQUIRED_PREFIX));
    let all = targets.clone();
    let agents_made = |n: &str| all.iter().any(|h| n.starts_with(&format!("{h}-")));
    targets.sort_by_key(|n| match () {
        _ if n.starts_with(&vm_prefix) => 0,
        _ if agents_made(n) => 1,
        _ => 2,
    });
    for ns in &targets {
        // Whatever still runs inside a sandbox namespace was started by the sandbox or its tests.
        for p in host.processes_in_netns(ns).unwrap_or_default() {
            let _ = host.stop(&p, STOP_TIMEOUT);
        }
        match host.delete_netns(ns) {
            Ok(_) => report.namespaces_deleted.push(ns.clone()),
            Err(e) => report.leftovers.push(format!("namespace {ns}: {e}")),
        }
    }

    if run_dir.exists() {
        if looks_like_run_dir(run_dir) {
            std::fs::remove_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
        } else {
            report.leftovers.push(format!("{} (not a sandbox run dir, left alone)", run_dir.display()));
        }
    }
    Ok(report)
}

fn read_pid(r: &ProcessRecord) -> Option<u32> {
    r.pid.or_else(|| read_pid_file(&r.pidfile))
}

/// The state (if it parses) and, failing that, the prefix salvaged from a truncated file.
fn load_lenient(run_dir: &Path) -> (Option<SandboxState>, Option<String>) {
    match SandboxState::load(run_dir) {
        Ok(state) => (state, None),
        Err(_) => {
            let text = std::fs::read_to_string(SandboxState::path(run_dir)).unwrap_or_default();
            (None, salvage_prefix(&text))
        }
    }
}

/// The prefix `up` wrote to `<run_dir>/name_prefix` before anything else.
fn read_prefix_file(run_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(run_dir.join(PREFIX_FILE)).ok()?;
    Some(text.trim().to_string()).filter(|p| validate_prefix(p).is_ok())
}

/// `*.pid` files in `run_dir` and its immediate subdirectories.
fn pidfiles(run_dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![run_dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(run_dir) {
        dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for dir in dirs {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            out.extend(
                entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "pid")),
            );
        }
    }
    out.sort();
    out
}

/// Only directories the sandbox made are removed recursively: absolute, not near `/`,
/// holding `sandbox.json`, a host directory, or nothing.
fn looks_like_run_dir(dir: &Path) -> bool {
    let deep =
        dir.is_absolute() && dir.components().filter(|c| matches!(c, Component::Normal(_))).count() >= 2;
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    let entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    let ours = entries.is_empty()
        || entries.iter().any(|p| {
            p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(STATE_FILE) || n == PREFIX_FILE)
                || p.join("conf.db").exists()
        });
    deep && ours
}

/// What of a sandbox is alive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Whether `sandbox.json` exists and parses.
    pub recorded: bool,
    pub name_prefix: String,
    pub hosts: Vec<HostStatus>,
    /// Namespaces present on the machine with the sandbox's prefix.
    pub namespaces: Vec<String>,
    pub vms: Vec<VmHandle>,
    pub processes: Vec<ProcessStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostStatus {
    pub name: String,
    pub netns: String,
    pub netns_present: bool,
    pub ovsdb_server: bool,
    pub ovs_vswitchd: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessStatus {
    pub host: String,
    pub name: String,
    pub pid: Option<u32>,
    pub alive: bool,
}

/// What of the sandbox at `run_dir` is alive on this machine.
pub fn status(run_dir: &Path) -> Result<Status> {
    status_with(run_dir, &LinuxHost::new())
}

pub fn status_with(run_dir: &Path, host: &dyn Host) -> Result<Status> {
    let (state, salvaged) = load_lenient(run_dir);
    let prefix = state
        .as_ref()
        .map(|s| s.name_prefix.clone())
        .or(salvaged)
        .or_else(|| read_prefix_file(run_dir))
        .unwrap_or_else(|| REQUIRED_PREFIX.into());
    let present = host.list_netns()?;
    let state = state.unwrap_or_default();
    let processes: Vec<ProcessStatus> = state
        .processes
        .iter()
        .map(|r| {
            let running = record_process(host, r).ok().flatten();
            ProcessStatus {
                host: r.host.clone(),
                name: r.name.clone(),
                pid: running.as_ref().map(|p| p.pid).or_else(|| read_pid_file(&r.pidfile)).or(r.pid),
                alive: running.is_some(),
            }
        })
        .collect();
    let alive =
        |host: &str, name: &str| processes.iter().any(|p| p.host == host && p.name == name && p.alive);
    Ok(Status {
        recorded: !state.name_prefix.is_empty(),
        hosts: state
            .hosts
            .iter()
            .map(|h| HostStatus {
                name: h.name.clone(),
                netns: h.netns.clone(),
                netns_present: present.contains(&h.netns),
                ovsdb_server: alive(&h.name, "ovsdb-server"),
                ovs_vswitchd: alive(&h.name, "ovs-vswitchd"),
            })
            .collect(),
        namespaces: present.into_iter().filter(|n| n.starts_with(&prefix)).collect(),
        vms: state.vms.clone(),
        name_prefix: prefix,
        processes,
    })
}
