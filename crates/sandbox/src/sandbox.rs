//! The [`Sandbox`] handle: a built sandbox's state and runner, reopening one from its run
//! directory, and access to its hosts and VMs.

use std::path::Path;
use std::process::{Child, Output};
use std::sync::Arc;

use crate::down::{DownReport, Status};
use crate::error::{Error, Result};
use crate::runner::{HostRunner, Runner};
use crate::state::{HostHandle, SandboxState, VmHandle};

/// A running sandbox. Dropping it leaves everything up; call [`Sandbox::teardown`] or
/// [`Sandbox::down`] to remove it.
#[derive(Debug)]
pub struct Sandbox {
    pub(crate) state: SandboxState,
    runner: Arc<dyn Runner>,
}

impl Sandbox {
    pub(crate) fn from_parts(state: SandboxState, runner: Arc<dyn Runner>) -> Self {
        Sandbox { state, runner }
    }

    /// Reopens the sandbox recorded in `<run_dir>/sandbox.json` (e.g. from another process).
    pub fn open(run_dir: &Path) -> Result<Sandbox> {
        Self::open_with(run_dir, Arc::new(HostRunner))
    }

    pub fn open_with(run_dir: &Path, runner: Arc<dyn Runner>) -> Result<Sandbox> {
        let state = SandboxState::load(run_dir)?.ok_or_else(|| Error::State {
            path: SandboxState::path(run_dir),
            message: "no sandbox here".into(),
        })?;
        Ok(Sandbox { state, runner })
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
        crate::down::down_with(&self.state.run_dir, Some(&self.state.name_prefix), self.runner.as_ref())
    }

    pub fn state(&self) -> &SandboxState {
        &self.state
    }

    pub fn runner(&self) -> &Arc<dyn Runner> {
        &self.runner
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
}
