//! Each simulated host's Open vSwitch configuration behind the [`Switch`] trait: the OVSDB
//! file, `init`, `netdev` bridges and their ports. [`VsctlSwitch`] runs `ovsdb-tool` and
//! `ovs-vsctl --db=unix:<host>/db.sock` from the root namespace; [`FakeSwitch`] keeps the
//! bridges and ports as state and, like a userspace `ovs-vswitchd`, makes each bridge's
//! internal port appear as a link in the host's namespace of a [`FakeHost`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use neutrino_host::{Cmd, FakeHost, Processes};

use crate::error::{Error, Result};
use crate::state::HostHandle;
use crate::up::vswitch_schema;

/// One host's Open vSwitch, configured through its database.
pub trait Switch: Send + Sync + fmt::Debug {
    /// Creates the host's `conf.db` from the vswitch schema.
    fn create_db(&self, host: &HostHandle) -> Result<()>;
    /// `ovs-vsctl --no-wait init` (needs `ovsdb-server`).
    fn init(&self, host: &HostHandle) -> Result<()>;
    /// `bridge` with `datapath_type=netdev` unless it exists, and `port` on it unless there.
    fn add_bridge(&self, host: &HostHandle, bridge: &str, port: Option<&str>) -> Result<()>;
    fn bridge_exists(&self, host: &HostHandle, bridge: &str) -> Result<bool>;
    /// `port` on `bridge` unless there, with these `external_ids` set.
    fn add_port(
        &self,
        host: &HostHandle,
        bridge: &str,
        port: &str,
        external_ids: &[(&str, &str)],
    ) -> Result<()>;
    /// Removes `port` from whichever bridge has it, if any does.
    fn del_port(&self, host: &HostHandle, port: &str) -> Result<()>;
}

/// The real thing: `ovsdb-tool` and `ovs-vsctl`.
#[derive(Clone, Copy, Debug, Default)]
pub struct VsctlSwitch;

/// `ovs-vsctl --db=unix:<host>/db.sock --timeout=30 <args…>`, run from the root namespace.
pub(crate) fn vsctl(host: &HostHandle) -> Cmd {
    Cmd::new("ovs-vsctl").arg(format!("--db={}", host.db_target())).arg("--timeout=30")
}

fn run_ok(cmd: &Cmd) -> Result<neutrino_host::CmdOutput> {
    Ok(neutrino_host::command::run_ok(cmd)?)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

impl Switch for VsctlSwitch {
    fn create_db(&self, host: &HostHandle) -> Result<()> {
        let conf = host.dir.join("conf.db");
        run_ok(&Cmd::new("ovsdb-tool").arg("create").arg(path(&conf)).arg(path(&vswitch_schema()))).map(drop)
    }

    fn init(&self, host: &HostHandle) -> Result<()> {
        run_ok(&vsctl(host).args(["--no-wait", "init"])).map(drop)
    }

    fn add_bridge(&self, host: &HostHandle, bridge: &str, port: Option<&str>) -> Result<()> {
        let mut cmd = vsctl(host).args([
            "--may-exist",
            "add-br",
            bridge,
            "--",
            "set",
            "bridge",
            bridge,
            "datapath_type=netdev",
        ]);
        if let Some(port) = port {
            cmd = cmd.args(["--", "--may-exist", "add-port", bridge, port]);
        }
        run_ok(&cmd).map(drop)
    }

    fn bridge_exists(&self, host: &HostHandle, bridge: &str) -> Result<bool> {
        let cmd = vsctl(host).args(["br-exists", bridge]);
        let out = neutrino_host::command::run(&cmd)?;
        match out.status {
            0 => Ok(true),
            2 => Ok(false),
            status => Err(neutrino_host::Error::Command {
                cmd: cmd.to_string(),
                status,
                stderr: out.stderr.trim().into(),
            }
            .into()),
        }
    }

    fn add_port(
        &self,
        host: &HostHandle,
        bridge: &str,
        port: &str,
        external_ids: &[(&str, &str)],
    ) -> Result<()> {
        let cmd = vsctl(host)
            .args(["--may-exist", "add-port", bridge, port, "--", "set", "interface", port])
            .args(external_ids.iter().map(|(k, v)| format!("external_ids:{k}={v}")));
        run_ok(&cmd).map(drop)
    }

    fn del_port(&self, host: &HostHandle, port: &str) -> Result<()> {
        run_ok(&vsctl(host).args(["--if-exists", "del-port", port])).map(drop)
    }
}

/// One host's switch in the fake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeOvs {
    pub db_created: bool,
    pub initialized: bool,
    pub bridges: BTreeMap<String, FakeBridge>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeBridge {
    pub datapath_type: String,
    /// Port name → its interface's `external_ids`.
    pub ports: BTreeMap<String, BTreeMap<String, String>>,
}

/// A stateful fake of every host's Open vSwitch (by host name). Like the real one it answers
/// only while the host's `ovsdb-server` runs, and changes bridges only while `ovs-vswitchd`
/// runs (in the [`FakeHost`], found by their pid files).
#[derive(Debug)]
pub struct FakeSwitch {
    host: Arc<FakeHost>,
    hosts: Mutex<BTreeMap<String, FakeOvs>>,
}

impl FakeSwitch {
    pub fn new(host: Arc<FakeHost>) -> Self {
        FakeSwitch { host, hosts: Mutex::new(BTreeMap::new()) }
    }

    /// A snapshot of host `name`'s switch.
    pub fn ovs(&self, name: &str) -> Option<FakeOvs> {
        self.lock().get(name).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, FakeOvs>> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn daemon_running(&self, host: &HostHandle, program: &str) -> Result<()> {
        let pid_file = host.dir.join(format!("{program}.pid"));
        if self.host.process_from_pid_file(&pid_file, Some(program), Some(&host.netns))?.is_some() {
            Ok(())
        } else {
            Err(Error::Host(neutrino_host::Error::Command {
                cmd: format!("ovs-vsctl --db={}", host.db_target()),
                status: 1,
                stderr: format!("{program} of {} is not running", host.name),
            }))
        }
    }

    /// The host's switch, once its database answers.
    fn with<T>(&self, host: &HostHandle, f: impl FnOnce(&mut FakeOvs) -> Result<T>) -> Result<T> {
        self.daemon_running(host, "ovsdb-server")?;
        let mut hosts = self.lock();
        let ovs = hosts.entry(host.name.clone()).or_default();
        if !ovs.db_created {
            return Err(Error::NotFound { kind: "OVS database of host", name: host.name.clone() });
        }
        f(ovs)
    }
}

impl Switch for FakeSwitch {
    fn create_db(&self, host: &HostHandle) -> Result<()> {
        let conf = host.dir.join("conf.db");
        // The file exists on the real machine too; `down` recognises host directories by it.
        std::fs::write(&conf, "").map_err(|e| Error::io(&conf, e))?;
        self.lock().entry(host.name.clone()).or_default().db_created = true;
        Ok(())
    }

    fn init(&self, host: &HostHandle) -> Result<()> {
        self.with(host, |ovs| {
            ovs.initialized = true;
            Ok(())
        })
    }

    fn add_bridge(&self, host: &HostHandle, bridge: &str, port: Option<&str>) -> Result<()> {
        self.daemon_running(host, "ovs-vswitchd")?;
        let created = self.with(host, |ovs| {
            let created = !ovs.bridges.contains_key(bridge);
            let br = ovs.bridges.entry(bridge.into()).or_default();
            br.datapath_type = "netdev".into();
            if let Some(port) = port {
                br.ports.entry(port.into()).or_default();
            }
            Ok(created)
        })?;
        if created {
            self.host.add_external_link(Some(&host.netns), bridge, "tun")?;
        }
        Ok(())
    }

    fn bridge_exists(&self, host: &HostHandle, bridge: &str) -> Result<bool> {
        self.with(host, |ovs| Ok(ovs.bridges.contains_key(bridge)))
    }

    fn add_port(
        &self,
        host: &HostHandle,
        bridge: &str,
        port: &str,
        external_ids: &[(&str, &str)],
    ) -> Result<()> {
        self.daemon_running(host, "ovs-vswitchd")?;
        self.with(host, |ovs| {
            let br = ovs.bridges.get_mut(bridge).ok_or_else(|| Error::NotFound {
                kind: "bridge",
                name: format!("{bridge} on {}", host.name),
            })?;
            let ids = br.ports.entry(port.into()).or_default();
            ids.extend(external_ids.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Ok(())
        })
    }

    fn del_port(&self, host: &HostHandle, port: &str) -> Result<()> {
        self.with(host, |ovs| {
            ovs.bridges.values_mut().for_each(|b| {
                b.ports.remove(port);
            });
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vsctl_talks_to_the_hosts_own_database_only() {
        let host = HostHandle {
            name: "h1".into(),
            netns: "nt-h1".into(),
            dir: "/tmp/run/h1".into(),
            tunnel_ip: "172.31.0.1/24".into(),
            role: crate::spec::HostRole::Compute,
            underlay_dev: "ul-h1".into(),
            physnet_bridges: BTreeMap::new(),
            physnet_devs: BTreeMap::new(),
            ext_bridge: None,
            ext_dev: None,
        };
        // Never the machine's own Open vSwitch (its default socket): always the host's.
        let cmd = vsctl(&host);
        assert_eq!(cmd.netns, None);
        assert_eq!(cmd.args, ["--db=unix:/tmp/run/h1/db.sock", "--timeout=30"]);
    }
}
