//! The sandbox's processes: stopping a recorded one (by pid file, checked against its
//! program), starting and stopping long-running processes of a host (`start_process`), and
//! the `exec`/`spawn` helpers tests use to run commands inside sandbox namespaces.

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use neutrino_host::{Cmd, Host, Process, Spawn};

use crate::error::{Error, Result};
use crate::sandbox::Sandbox;
use crate::spec::REQUIRED_PREFIX;
use crate::state::{ProcessRecord, not_found};

/// How long a process gets to end after SIGTERM (and again after SIGKILL).
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The running process of a record: by its pid file, else by the recorded pid, and only
/// while it runs the recorded program (when one is recorded).
pub(crate) fn record_process(host: &dyn Host, record: &ProcessRecord) -> Result<Option<Process>> {
    let program = Some(record.program.as_str()).filter(|p| !p.is_empty());
    if let Some(p) = host.process_from_pid_file(&record.pidfile, program, None)? {
        return Ok(Some(p));
    }
    let recorded = record.pid.map(|pid| Process { pid, program: program.map(str::to_string), netns: None });
    Ok(recorded.filter(|p| host.is_running(p)))
}

/// Stops the process of a record and removes its pid file; whether it is gone.
pub(crate) fn stop_record(host: &dyn Host, record: &ProcessRecord) -> bool {
    let stopped = match record_process(host, record) {
        Ok(Some(p)) => host.stop(&p, STOP_TIMEOUT).unwrap_or(false),
        Ok(None) => true,
        Err(_) => false,
    };
    let _ = std::fs::remove_file(&record.pidfile);
    stopped
}

fn check_netns(netns: &str, argv: &[&str]) -> Result<()> {
    if !netns.starts_with(REQUIRED_PREFIX) {
        return Err(Error::InvalidSpec(format!("namespace `{netns}` is not a sandbox namespace")));
    }
    if argv.is_empty() {
        return Err(Error::InvalidSpec("empty command".into()));
    }
    Ok(())
}

fn netns_command(netns: &str, argv: &[&str]) -> Command {
    let mut c = Cmd::in_netns(netns, argv[0]).args(argv[1..].iter().copied()).to_command();
    c.stdin(Stdio::null());
    c
}

/// Runs `argv` inside sandbox namespace `netns` and waits for it (any exit status).
pub fn exec(netns: &str, argv: &[&str]) -> Result<Output> {
    check_netns(netns, argv)?;
    netns_command(netns, argv)
        .output()
        .map_err(|source| Error::Spawn { cmd: format!("[{netns}] {}", argv.join(" ")), source })
}

/// Starts `argv` inside sandbox namespace `netns` (stdout and stderr piped). The caller
/// owns the child: kill and wait for it before tearing the sandbox down.
pub fn spawn(netns: &str, argv: &[&str]) -> Result<Child> {
    check_netns(netns, argv)?;
    netns_command(netns, argv)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn { cmd: format!("[{netns}] {}", argv.join(" ")), source })
}

impl Sandbox {
    /// Starts a long-running process for `host` in the ROOT namespace (e.g. `neutrino agent
    /// --host h1`), output to `<run_dir>/<host>/<name>.log`, pid in `<name>.pid`.
    pub fn start_process(
        &mut self,
        host: &str,
        name: &str,
        argv: &[&str],
        env: &[(&str, &str)],
    ) -> Result<u32> {
        let dir = self.state.host(host)?.dir.clone();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(Error::InvalidSpec(format!("process name `{name}`")));
        }
        if ["ovsdb-server", "ovs-vswitchd"].contains(&name) {
            return Err(Error::InvalidSpec(format!("process name `{name}` is reserved")));
        }
        if argv.is_empty() {
            return Err(Error::InvalidSpec("empty command".into()));
        }
        if let Some(r) = self.process(host, name)
            && record_process(self.sys(), r)?.is_some()
        {
            return Err(Error::Process { name: name.into(), message: "already running".into() });
        }
        let pidfile = dir.join(format!("{name}.pid"));
        let log = dir.join(format!("{name}.log"));
        let spec = env
            .iter()
            .fold(Spawn::new(argv.iter().copied(), &pidfile).log(&log), |spec, (k, v)| spec.env(*k, *v));
        let process = self.sys().spawn(&spec)?;
        self.state.processes.retain(|r| !(r.host == host && r.name == name));
        self.state.processes.push(ProcessRecord {
            host: host.into(),
            name: name.into(),
            pidfile,
            pid: Some(process.pid),
            program: spec.program(),
            log,
        });
        self.state.save()?;
        Ok(process.pid)
    }

    /// Stops a process started with [`Sandbox::start_process`] and forgets it.
    pub fn stop_process(&mut self, host: &str, name: &str) -> Result<()> {
        let record = self.process(host, name).cloned().ok_or_else(|| not_found("process", name))?;
        let stopped = stop_record(self.sys(), &record);
        self.state.processes.retain(|r| !(r.host == host && r.name == name));
        self.state.save()?;
        if stopped {
            Ok(())
        } else {
            Err(Error::Process { name: name.into(), message: "did not stop".into() })
        }
    }

    /// The record of a process of `host` (OVS daemons included).
    pub fn process(&self, host: &str, name: &str) -> Option<&ProcessRecord> {
        self.state.processes.iter().find(|r| r.host == host && r.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_refuses_foreign_namespaces() {
        assert!(exec("default", &["true"]).is_err());
        assert!(exec("nt-h1", &[]).is_err());
    }
}
