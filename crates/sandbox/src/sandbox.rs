//! The [`Sandbox`] handle: a built sandbox's state and the [`Machine`] it lives on,
//! reopening one from its run directory, and access to its hosts and VMs.

use std::path::Path;
use std::process::{Child, Output};
use std::sync::Arc;

use neutrino_host::{FakeHost, Host, LinuxHost};

use crate::down::{DownReport, Status};
use crate::error::{Error, Result};
use crate::state::{HostHandle, SandboxState, VmHandle};
use crate::switch::{FakeSwitch, Switch, VsctlSwitch};

/// What a sandbox is built with: the machine's facilities (namespaces, links, processes) and
/// the hosts' Open vSwitch configuration.
#[derive(Clone, Debug)]
pub struct Machine {
    pub host: Arc<dyn Host>,
    pub switch: Arc<dyn Switch>,
}

impl Machine {
    /// This machine: iproute2, ethtool, processes, `ovs-vsctl`.
    pub fn real() -> Machine {
        Machine { host: Arc::new(LinuxHost::new()), switch: Arc::new(VsctlSwitch) }
    }

    /// A fake machine, with its two halves to inspect.
    pub fn fake() -> (Machine, Arc<FakeHost>, Arc<FakeSwitch>) {
        let host = Arc::new(FakeHost::new());
        let switch = Arc::new(FakeSwitch::new(host.clone()));
        (Machine { host: host.clone(), switch: switch.clone() }, host, switch)
    }
}

/// A running sandbox. Dropping it leaves everything up; call [`Sandbox::teardown`] or
/// [`Sandbox::down`] to remove it.
#[derive(Debug)]
pub struct Sandbox {
    pub(crate) state: SandboxState,
    machine: Machine,
}

impl Sandbox {
    pub(crate) fn from_parts(state: SandboxState, machine: Machine) -> Self {
        Sandbox { state, machine }
    }

    /// Reopens the sandbox recorded in `<run_dir>/sandbox.json` (e.g. from another process).
    pub fn open(run_dir: &Path) -> Result<Sandbox> {
        Self::open_with(run_dir, Machine::real())
    }

    pub fn open_with(run_dir: &Path, machine: Machine) -> Result<Sandbox> {
        let state = SandboxState::load(run_dir)?.ok_or_else(|| Error::State {
            path: SandboxState::path(run_dir),
            message: "no sandbox here".into(),
        })?;
        Ok(Sandbox { state, machine })
    }

    /// Tears down the sandbox at `run_dir` (see [`crate::down`]).
    pub fn down(run_dir: &Path) -> Result<DownReport> {
        crate::down::down(run_dir)
    }

    /// What is alive in the sandbox at `run_dir` (see [`crate::status`]).
    pub fn status(run_dir: &Path) -> Result<Status> {
        crate::down::status(run_dir)
    }

    /// Tears this sandbox down.
    pub fn teardown(self) -> Result<DownReport> {
        crate::down::down_with(&self.state.run_dir, Some(&self.state.name_prefix), self.machine.host.as_ref())
    }

    pub fn state(&self) -> &SandboxState {
        &self.state
    }

    /// The machine it is built on.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The machine's facilities.
    pub(crate) fn sys(&self) -> &dyn Host {
        self.machine.host.as_ref()
    }

    pub(crate) fn switch(&self) -> &dyn Switch {
        self.machine.switch.as_ref()
    }

    pub fn run_dir(&self) -> &Path {
        &self.state.run_dir
    }

    pub fn hosts(&self) -> &[HostHandle] {
        &self.state.hosts
    }

    pub fn host(&self, name: &str) -> Result<&HostHandle> {
        self.state.host(name)
    }

    pub fn vms(&self) -> &[VmHandle] {
        &self.state.vms
    }

    pub fn vm(&self, name: &str) -> Result<&VmHandle> {
        self.state.vms.iter().find(|v| v.name == name).ok_or_else(|| crate::state::not_found("vm", name))
    }

    /// Runs `argv` in a sandbox namespace and waits (see [`crate::exec`]).
    pub fn exec(&self, netns: &str, argv: &[&str]) -> Result<Output> {
        crate::process::exec(netns, argv)
    }

    /// Starts `argv` in a sandbox namespace (see [`crate::spawn`]).
    pub fn spawn(&self, netns: &str, argv: &[&str]) -> Result<Child> {
        crate::process::spawn(netns, argv)
    }

    /// The namespace of the outside world (`ext`, 203.0.113.1 on the external network).
    pub fn outside_netns(&self) -> Result<&str> {
        self.state.ext_netns.as_deref().ok_or_else(|| crate::state::not_found("outside world", "ext"))
    }

    /// The namespace of the public host behind `ext` (198.51.100.10).
    pub fn public_netns(&self) -> Result<&str> {
        self.state.public_netns.as_deref().ok_or_else(|| crate::state::not_found("public host", "public"))
    }

    /// Runs `argv` in `ext`, the external network's upstream router, and waits.
    pub fn exec_outside(&self, argv: &[&str]) -> Result<Output> {
        self.exec(self.outside_netns()?, argv)
    }

    /// Runs `argv` on the public host and waits.
    pub fn exec_public(&self, argv: &[&str]) -> Result<Output> {
        self.exec(self.public_netns()?, argv)
    }

    /// Starts `argv` on the public host (the caller kills and waits for the child; `down`
    /// stops whatever still runs there).
    pub fn spawn_public(&self, argv: &[&str]) -> Result<Child> {
        self.spawn(self.public_netns()?, argv)
    }
}
