//! The fake's processes ([`crate::Processes`]): spawn gives a new pid, records the process in
//! its namespace and writes its pid file (the file system is real, as the caller's run
//! directory is); signals are recorded per process — SIGHUP, SIGUSR1 and SIGUSR2 leave it running, SIGTERM ends it
//! unless it ignores SIGTERM, SIGKILL always does — and, as on the real machine, a process that
//! is not the one described (ended, another program, another namespace) is never signalled.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::fake::{FakeHost, FakeProcess, FakeState};
use crate::process::{Process, Processes, Signal, Spawn};

fn matches(s: &FakeState, p: &Process) -> Option<u32> {
    let fp = s.processes.get(&p.pid).filter(|fp| fp.running)?;
    let program_ok = p.program.as_deref().is_none_or(|want| {
        let have = fp.program();
        have == want || have.starts_with(want)
    });
    let netns_ok =
        p.netns.as_deref().is_none_or(|ns| fp.netns.as_deref() == Some(ns) && s.namespaces.contains_key(ns));
    (program_ok && netns_ok).then_some(fp.pid)
}

impl Processes for FakeHost {
    fn spawn(&self, spec: &Spawn) -> Result<Process> {
        spec.validate()?;
        let program = spec.program();
        let refusal = self
            .spawn_refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(p, _)| *p == program)
            .map(|(_, stderr)| stderr.clone());
        let mut s = self.lock();
        if let Some(ns) = &spec.netns {
            s.ns(Some(ns))?;
        }
        if let Some(stderr) = refusal {
            return Err(Error::Command { cmd: spec.argv.join(" "), status: 1, stderr });
        }
        let pid = s.next_pid;
        std::fs::write(&spec.pid_file, format!("{pid}\n")).map_err(|e| Error::io(&spec.pid_file, e))?;
        s.next_pid += 1;
        s.processes.insert(
            pid,
            FakeProcess {
                pid,
                argv: spec.argv.clone(),
                env: spec.env.clone(),
                netns: spec.netns.clone(),
                pid_file: Some(spec.pid_file.clone()),
                running: true,
                signals: Vec::new(),
                ended_at: None,
                spawned: true,
                ignores_term: false,
            },
        );
        Ok(Process { pid, program: Some(program), netns: spec.netns.clone() })
    }

    fn processes_in_netns(&self, netns: &str) -> Result<Vec<Process>> {
        crate::names::validate_netns(netns)?;
        let s = self.lock();
        s.ns(Some(netns))?;
        Ok(s.processes
            .values()
            .filter(|p| p.running && p.netns.as_deref() == Some(netns))
            .map(|p| Process { pid: p.pid, program: None, netns: Some(netns.into()) })
            .collect())
    }

    fn is_running(&self, p: &Process) -> bool {
        matches(&self.lock(), p).is_some()
    }

    fn signal(&self, p: &Process, signal: Signal) -> Result<()> {
        let mut s = self.lock();
        let pid = matches(&s, p).ok_or_else(|| Error::NotOurs {
            pid: p.pid,
            reason: "not running, or not the process described".into(),
        })?;
        s.clock += 1;
        let now = s.clock;
        if let Some(fp) = s.processes.get_mut(&pid) {
            fp.signals.push(signal);
            let ends = match signal {
                Signal::Hup | Signal::Usr1 | Signal::Usr2 => false,
                Signal::Term => !fp.ignores_term,
                Signal::Kill => true,
            };
            if ends {
                fp.running = false;
                fp.ended_at = Some(now);
            }
        }
        Ok(())
    }

    /// The fake's processes end only by signal or [`FakeHost::crash`], so there is nothing to
    /// wait for: whether it has ended now.
    fn wait_exit(&self, p: &Process, _timeout: Duration) -> Result<bool> {
        Ok(!self.is_running(p))
    }
}
