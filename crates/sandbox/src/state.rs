//! What a sandbox is made of, as recorded in `<run_dir>/sandbox.json` ([`SandboxState`]), and
//! the handles tests use to reach a host ([`HostHandle`]), a VM ([`VmHandle`]) or a process.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dhcp_client::DhcpClient;
use crate::error::{Error, Result};
use crate::spec::{HostRole, parse_cidr};

/// File name of the record inside the run directory.
pub const STATE_FILE: &str = "sandbox.json";
/// The namespace prefix alone, written first, so `down` can sweep even without `sandbox.json`.
pub const PREFIX_FILE: &str = "name_prefix";

/// Everything the sandbox created, written before and after each step so `down` can undo a
/// sandbox that crashed half-way. `name_prefix` comes first so a truncated file still names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxState {
    pub name_prefix: String,
    pub run_dir: PathBuf,
    /// Every namespace created (or about to be), in creation order.
    pub namespaces: Vec<String>,
    pub hosts: Vec<HostHandle>,
    /// Namespace of the outside world (`ext`), when built.
    pub ext_netns: Option<String>,
    /// Namespace of the public host behind `ext`, when built.
    #[serde(default)]
    pub public_netns: Option<String>,
    pub vms: Vec<VmHandle>,
    /// OVS daemons and processes started with `start_process`.
    pub processes: Vec<ProcessRecord>,
}

/// One simulated host: its namespace, its Open vSwitch and its bridges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostHandle {
    pub name: String,
    pub netns: String,
    /// Private run directory (`OVS_RUNDIR`): `conf.db`, `db.sock`, `*.ctl`, `*.pid`, `*.log`,
    /// and the bridges' `<bridge>.mgmt` OpenFlow sockets.
    pub dir: PathBuf,
    /// Tunnel endpoint with prefix length (on `br-phy`).
    pub tunnel_ip: String,
    /// Compute host or network node (sets the agent's roles).
    #[serde(default)]
    pub role: HostRole,
    /// Underlay veth inside the host (a port of `br-phy`).
    pub underlay_dev: String,
    /// physnet → OVS bridge (`physnet1` → `br-eth1`).
    pub physnet_bridges: BTreeMap<String, String>,
    /// OVS bridge → veth into the physical network.
    pub physnet_devs: BTreeMap<String, String>,
    /// `br-ex` and its veth to the `ext` namespace, when built.
    pub ext_bridge: Option<String>,
    pub ext_dev: Option<String>,
}

impl HostHandle {
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Path of the host's OVSDB socket.
    pub fn db_socket(&self) -> PathBuf {
        self.dir.join("db.sock")
    }
    /// `unix:<db socket>`, for `ovs-vsctl --db=` and OVSDB clients.
    pub fn db_target(&self) -> String {
        format!("unix:{}", self.db_socket().display())
    }
    /// The host's run directory, to pass as `OVS_RUNDIR` to `ovs-ofctl`/`ovs-appctl`.
    pub fn run_dir(&self) -> &Path {
        &self.dir
    }
    pub fn netns(&self) -> &str {
        &self.netns
    }
    /// Tunnel endpoint with prefix length, e.g. `172.31.0.1/24`.
    pub fn tunnel_ip(&self) -> &str {
        &self.tunnel_ip
    }
    /// The prefix of every namespace this host's agent creates (`qdhcp-<network>` becomes
    /// `<prefix><host>-qdhcp-<network>`): all hosts share one kernel, and the sandbox's
    /// `down` removes them by its own prefix.
    pub fn namespace_prefix(&self) -> String {
        format!("{}-", self.netns)
    }
    /// Where this host's `dhcp` role keeps its files (`[dhcp] state_path`).
    pub fn dhcp_state_path(&self) -> PathBuf {
        self.dir.join("dhcp")
    }
    /// Where a network node's `l3` role keeps its routers' files (`<host dir>/l3`).
    pub fn l3_state_path(&self) -> PathBuf {
        self.dir.join("l3")
    }
    /// Tunnel endpoint address alone.
    pub fn tunnel_addr(&self) -> Ipv4Addr {
        parse_cidr(&self.tunnel_ip).map(|(a, _)| a).unwrap_or(Ipv4Addr::UNSPECIFIED)
    }
    /// The OVS bridge for `physnet`, as named in the agent's `bridge_mappings`.
    pub fn physnet_bridge(&self, physnet: &str) -> Option<&str> {
        self.physnet_bridges.get(physnet).map(String::as_str)
    }
    /// `physnet1:br-eth1,physnet2:br-eth2`, the agent's `bridge_mappings`.
    pub fn bridge_mappings(&self) -> String {
        self.physnet_bridges.iter().map(|(p, b)| format!("{p}:{b}")).collect::<Vec<_>>().join(",")
    }
}

/// A plugged VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmHandle {
    pub name: String,
    pub host: String,
    pub netns: String,
    /// Host end of the veth, a port of `br-int`.
    pub tap: String,
    pub port_id: String,
    pub mac: String,
    pub ip_cidr: Option<String>,
    /// The VM's DHCP client, when it gets its address by DHCP.
    #[serde(default)]
    pub dhcp: Option<DhcpClient>,
}

/// A process the sandbox started and must stop: by pidfile, checked against `program`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    pub host: String,
    pub name: String,
    pub pidfile: PathBuf,
    pub pid: Option<u32>,
    /// Base name of the executable, checked before signalling a pid read from a pidfile.
    pub program: String,
    pub log: PathBuf,
}

impl SandboxState {
    pub fn path(run_dir: &Path) -> PathBuf {
        run_dir.join(STATE_FILE)
    }

    /// Writes `sandbox.json` atomically (temp file + rename).
    pub fn save(&self) -> Result<()> {
        let path = Self::path(&self.run_dir);
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::State { path: path.clone(), message: e.to_string() })?;
        let tmp = self.run_dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    /// Reads `sandbox.json`; `Ok(None)` when it does not exist.
    pub fn load(run_dir: &Path) -> Result<Option<Self>> {
        let path = Self::path(run_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| Error::State { path, message: e.to_string() })
    }

    pub fn host(&self, name: &str) -> Result<&HostHandle> {
        self.hosts.iter().find(|h| h.name == name).ok_or_else(|| not_found("host", name))
    }

    pub(crate) fn add_namespace(&mut self, ns: &str) {
        if !self.namespaces.iter().any(|n| n == ns) {
            self.namespaces.push(ns.into());
        }
    }
}

pub(crate) fn not_found(kind: &'static str, name: &str) -> Error {
    Error::NotFound { kind, name: name.into() }
}

/// The `name_prefix` of a possibly truncated `sandbox.json`.
pub fn salvage_prefix(text: &str) -> Option<String> {
    let rest = &text[text.find("\"name_prefix\"")? + "\"name_prefix\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_survives_truncation() {
        let state =
            SandboxState { name_prefix: "nt-x-".into(), run_dir: "/tmp/x".into(), ..Default::default() };
        let json = serde_json::to_string_pretty(&state).unwrap();
        assert_eq!(salvage_prefix(&json[..40]).as_deref(), Some("nt-x-"));
        assert_eq!(salvage_prefix("{\"name_prefix\":\"nt-"), None);
        assert_eq!(salvage_prefix(""), None);
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(SandboxState::load(dir.path()).unwrap(), None);
        let mut state =
            SandboxState { name_prefix: "nt-".into(), run_dir: dir.path().into(), ..Default::default() };
        state.add_namespace("nt-h1");
        state.add_namespace("nt-h1");
        state.save().unwrap();
        assert_eq!(SandboxState::load(dir.path()).unwrap(), Some(state));
    }
}
