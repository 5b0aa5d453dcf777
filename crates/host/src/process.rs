//! Processes: the [`Processes`] trait (spawn in a namespace with a pid file, find one again
//! by its pid file, is-running, signal, wait, stop) and its real implementation. Only
//! processes this code may call its own are signalled: a [`Process`] carries what identifies
//! it (the program it runs, the namespace it is in) and every signal re-checks that first, so
//! a pid reused by something else is left alone.

use std::fmt;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::command::{Cmd, failed, run};
use crate::error::{Error, Result};
use crate::linux::{LinuxHost, run_checked};
use crate::names::validate_netns;

/// The signals this code sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Signal {
    /// Reload (dnsmasq rereads its hosts and options files).
    Hup,
    Term,
    Kill,
    /// User signal 1 (busybox `udhcpc` renews its lease).
    Usr1,
    /// User signal 2 (busybox `udhcpc` releases its lease).
    Usr2,
}

/// What to start: `argv` inside `netns`, its pid in `pid_file`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spawn {
    pub netns: Option<String>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub pid_file: PathBuf,
    /// Standard output and error of a foreground program (else `/dev/null`).
    pub log: Option<PathBuf>,
    /// The program detaches by itself and writes `pid_file` (its own `--pidfile` option, as
    /// Open vSwitch's `--detach` and dnsmasq do): spawn waits for the launcher to finish and
    /// reads the pid from the file (the daemon must close its standard output and error, as
    /// those do). Otherwise spawn writes the file with the child's pid.
    pub daemonizes: bool,
}

impl Spawn {
    pub fn new<I, S>(argv: I, pid_file: impl Into<PathBuf>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Spawn {
            argv: argv.into_iter().map(Into::into).collect(),
            pid_file: pid_file.into(),
            ..Spawn::default()
        }
    }

    pub fn in_netns(mut self, netns: Option<&str>) -> Self {
        self.netns = netns.map(str::to_string);
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn log(mut self, log: impl Into<PathBuf>) -> Self {
        self.log = Some(log.into());
        self
    }

    pub fn daemonizes(mut self) -> Self {
        self.daemonizes = true;
        self
    }

    /// The base name of the program (`argv[0]`).
    pub fn program(&self) -> String {
        self.argv.first().map(|p| program_name(p)).unwrap_or_default()
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.argv.first().is_none_or(String::is_empty) {
            return Err(Error::Invalid { what: "command", reason: "empty".into() });
        }
        if let Some(ns) = &self.netns {
            validate_netns(ns)?;
        }
        Ok(())
    }
}

/// A process this code started or found by its own pid file or inside its own namespace,
/// with what must still hold before it is signalled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    /// Base name its `argv[0]` must have (or start with); unchecked when `None`.
    pub program: Option<String>,
    /// Namespace it must be in; unchecked when `None`.
    pub netns: Option<String>,
}

/// The base name of a program path.
pub fn program_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// The pid in a pid file (`<pid>\n`), if the file exists and holds one above 1.
pub fn read_pid_file(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok().filter(|p| *p > 1)
}

/// Starting, finding and signalling processes.
pub trait Processes: Send + Sync + fmt::Debug {
    /// Starts `spec`; its pid is in `spec.pid_file` when this returns.
    fn spawn(&self, spec: &Spawn) -> Result<Process>;
    /// The running process `pid_file` names, if it still runs `program` (and is inside
    /// `netns`, when given).
    fn process_from_pid_file(
        &self,
        pid_file: &Path,
        program: Option<&str>,
        netns: Option<&str>,
    ) -> Result<Option<Process>> {
        let Some(pid) = read_pid_file(pid_file) else { return Ok(None) };
        let p = Process { pid, program: program.map(str::to_string), netns: netns.map(str::to_string) };
        Ok(self.is_running(&p).then_some(p))
    }

    /// The processes inside namespace `netns` (which must be this code's own).
    fn processes_in_netns(&self, netns: &str) -> Result<Vec<Process>>;
    /// Whether `process` runs and is still the one described.
    fn is_running(&self, process: &Process) -> bool;
    /// Sends `signal`; [`Error::NotOurs`] when the process is gone or is not the one described.
    fn signal(&self, process: &Process, signal: Signal) -> Result<()>;
    /// Waits up to `timeout` for the process to end; whether it did.
    fn wait_exit(&self, process: &Process, timeout: Duration) -> Result<bool>;
    /// SIGTERM, up to `timeout`, then SIGKILL and up to `timeout` again; whether it is gone.
    /// A process that is not running (or not the one described) counts as gone, unsignalled.
    fn stop(&self, process: &Process, timeout: Duration) -> Result<bool> {
        for signal in [Signal::Term, Signal::Kill] {
            if !self.is_running(process) {
                return Ok(true);
            }
            match self.signal(process, signal) {
                Ok(()) => {}
                Err(Error::NotOurs { .. }) => return Ok(true),
                Err(e) => return Err(e),
            }
            if self.wait_exit(process, timeout)? {
                return Ok(true);
            }
        }
        Ok(!self.is_running(process))
    }
}

impl LinuxHost {
    fn children(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u32, std::process::Child>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(running)` for a child of this instance (reaping it once it ended), else `None`.
    fn child_running(&self, pid: u32) -> Option<bool> {
        let mut children = self.children();
        let child = children.get_mut(&pid)?;
        let running = matches!(child.try_wait(), Ok(None));
        if !running {
            children.remove(&pid);
        }
        Some(running)
    }

    fn reap(&self) {
        self.children().retain(|_, c| matches!(c.try_wait(), Ok(None)));
    }
}

impl Processes for LinuxHost {
    fn spawn(&self, spec: &Spawn) -> Result<Process> {
        spec.validate()?;
        self.reap();
        let cmd = Cmd {
            netns: spec.netns.clone(),
            program: spec.argv[0].clone(),
            args: spec.argv[1..].to_vec(),
            env: spec.env.clone(),
            stdin: None,
        };
        let process = |pid| Process { pid, program: Some(spec.program()), netns: spec.netns.clone() };
        if spec.daemonizes {
            let out = run(&cmd)?;
            if !out.success() {
                return Err(failed(&cmd, &out));
            }
            let pid = read_pid_file(&spec.pid_file)
                .ok_or_else(|| Error::io(&spec.pid_file, std::io::Error::other("the daemon wrote no pid")))?;
            return Ok(process(pid));
        }
        let (out, err) = match &spec.log {
            Some(log) => {
                let out = File::create(log).map_err(|e| Error::io(log, e))?;
                let err = out.try_clone().map_err(|e| Error::io(log, e))?;
                (Stdio::from(out), Stdio::from(err))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let child = cmd
            .to_command()
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group: a Ctrl-C meant for the caller does not reach it.
            .process_group(0)
            .spawn()
            .map_err(|source| Error::Spawn { cmd: cmd.to_string(), source })?;
        let pid = child.id();
        self.children().insert(pid, child);
        std::fs::write(&spec.pid_file, format!("{pid}\n")).map_err(|e| Error::io(&spec.pid_file, e))?;
        Ok(process(pid))
    }

    fn processes_in_netns(&self, netns: &str) -> Result<Vec<Process>> {
        validate_netns(netns)?;
        let cmd = Cmd::new("ip").args(["netns", "pids", netns]);
        let out = run_checked(&cmd, None, |e| {
            e.contains("No such file or directory").then(|| Error::NoSuchNetns(netns.into()))
        })?;
        Ok(out
            .stdout
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .filter(|p| *p != std::process::id())
            .map(|pid| Process { pid, program: None, netns: Some(netns.into()) })
            .collect())
    }

    fn is_running(&self, p: &Process) -> bool {
        if p.pid <= 1 || p.pid == std::process::id() {
            return false;
        }
        if let Some(running) = self.child_running(p.pid) {
            return running;
        }
        proc_alive(p.pid)
            && p.program.as_deref().is_none_or(|want| {
                proc_program(p.pid).is_some_and(|have| have == want || have.starts_with(want))
            })
            && p.netns.as_deref().is_none_or(|ns| in_netns(p.pid, ns))
    }

    fn signal(&self, p: &Process, signal: Signal) -> Result<()> {
        if !self.is_running(p) {
            return Err(Error::NotOurs {
                pid: p.pid,
                reason: "not running, or not the process described".into(),
            });
        }
        let pid = rustix::process::Pid::from_raw(p.pid as i32)
            .ok_or_else(|| Error::NotOurs { pid: p.pid, reason: "not a pid".into() })?;
        let sig = match signal {
            Signal::Hup => rustix::process::Signal::HUP,
            Signal::Term => rustix::process::Signal::TERM,
            Signal::Kill => rustix::process::Signal::KILL,
            Signal::Usr1 => rustix::process::Signal::USR1,
            Signal::Usr2 => rustix::process::Signal::USR2,
        };
        rustix::process::kill_process(pid, sig)
            .map_err(|e| Error::NotOurs { pid: p.pid, reason: format!("kill: {e}") })
    }

    fn wait_exit(&self, p: &Process, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        if !self.is_running(p) {
            return Ok(true);
        }
        // Once it is known to be ours, the process is followed by its start time: an exiting
        // process loses its command line and its namespace (the kernel releases them early in
        // the exit) while it still runs, and the description would call it gone too soon.
        let started = proc_start_time(p.pid);
        loop {
            let gone = match self.child_running(p.pid) {
                Some(running) => !running,
                None => !proc_alive(p.pid) || started.is_none() || proc_start_time(p.pid) != started,
            };
            if gone {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether `/proc/<pid>` is a live process (zombies count as dead).
pub fn proc_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself hold spaces.
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// When `pid` started (field 22 of `/proc/<pid>/stat`, in clock ticks since boot): with the
/// pid, what tells one process from a later one given the same pid.
fn proc_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields 3 onwards follow the parenthesised command name; the start time is field 22.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The base name of `pid`'s `argv[0]`.
pub fn proc_program(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline.split(|b| *b == 0).next()?;
    Some(program_name(&String::from_utf8_lossy(argv0)))
}

/// Whether `pid` is inside named namespace `netns` (the same namespace inode).
fn in_netns(pid: u32, netns: &str) -> bool {
    let id = |p: &str| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let named = id(&format!("/run/netns/{netns}"));
    named.is_some() && named == id(&format!("/proc/{pid}/ns/net"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_but_never_ours() {
        assert!(proc_alive(std::process::id()));
        assert!(proc_program(std::process::id()).is_some());
        let me = Process { pid: std::process::id(), program: None, netns: None };
        let host = LinuxHost::new();
        assert!(!host.is_running(&me));
        assert!(matches!(host.signal(&me, Signal::Term), Err(Error::NotOurs { .. })));
        let init = Process { pid: 1, program: None, netns: None };
        assert!(matches!(host.signal(&init, Signal::Hup), Err(Error::NotOurs { .. })));
    }

    #[test]
    fn pid_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        assert_eq!(read_pid_file(&p), None);
        std::fs::write(&p, "1234\n").unwrap();
        assert_eq!(read_pid_file(&p), Some(1234));
        std::fs::write(&p, "1\n").unwrap();
        assert_eq!(read_pid_file(&p), None);
        assert_eq!(program_name("/usr/sbin/dnsmasq"), "dnsmasq");
    }

    #[test]
    fn spawn_signal_and_stop_a_child() {
        let dir = tempfile::tempdir().unwrap();
        let host = LinuxHost::new();
        let marker = dir.path().join("hup");
        let ready = dir.path().join("ready");
        // The shell says when its trap is set: a SIGHUP before that would end it (the default action).
        let script = format!(
            "trap 'echo hup >> {}' HUP; : > {}; while :; do sleep 0.05; done",
            marker.display(),
            ready.display()
        );
        let spec =
            Spawn::new(["sh", "-c", &script], dir.path().join("sh.pid")).log(dir.path().join("sh.log"));
        let p = host.spawn(&spec).unwrap();
        assert_eq!(read_pid_file(&spec.pid_file), Some(p.pid));
        assert!(host.is_running(&p));
        // The pid file finds it again, for its program only.
        let found = host.process_from_pid_file(&spec.pid_file, Some("sh"), None).unwrap();
        assert_eq!(found.map(|f| f.pid), Some(p.pid));
        let stranger = Process { pid: p.pid, program: Some("dnsmasq".into()), netns: None };
        let other = LinuxHost::new();
        assert!(!other.is_running(&stranger), "another program's name is not this process");
        assert!(matches!(other.signal(&stranger, Signal::Hup), Err(Error::NotOurs { .. })));
        // SIGHUP is trapped (the shell keeps running); SIGTERM ends it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(ready.exists(), "the shell set its trap");
        host.signal(&p, Signal::Hup).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !marker.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(marker.exists(), "the trap ran");
        assert!(host.is_running(&p));
        assert!(host.stop(&p, Duration::from_secs(10)).unwrap());
        assert!(!host.is_running(&p));
        assert!(matches!(host.signal(&p, Signal::Term), Err(Error::NotOurs { .. })));
    }

    #[test]
    fn stop_waits_for_the_process_itself_not_its_description() {
        let dir = tempfile::tempdir().unwrap();
        let host = LinuxHost::new();
        let ready = dir.path().join("ready");
        // On SIGTERM the shell becomes `sleep`: no longer the program described, still the
        // process signalled (as an exiting process loses its command line before it is gone).
        let script =
            format!("trap 'exec sleep 0.5' TERM; : > {}; while :; do sleep 0.05; done", ready.display());
        let spec = Spawn::new(["sh", "-c", &script], dir.path().join("sh.pid"));
        let child = host.spawn(&spec).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(ready.exists(), "the shell set its trap");
        // Another instance: not its parent, so it sees the process only through /proc.
        let other = LinuxHost::new();
        let p = Process { pid: child.pid, program: Some("sh".into()), netns: None };
        assert!(proc_start_time(p.pid).is_some());
        assert!(other.stop(&p, Duration::from_secs(10)).unwrap());
        assert!(!proc_alive(p.pid), "stop returned while the process signalled still ran");
        assert!(host.stop(&child, Duration::from_secs(1)).unwrap(), "the parent reaps it");
    }

    #[test]
    fn a_failing_daemon_launcher_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let host = LinuxHost::new();
        let spec = Spawn::new(["sh", "-c", "echo no >&2; exit 2"], dir.path().join("d.pid")).daemonizes();
        assert!(matches!(host.spawn(&spec), Err(Error::Command { status: 2, .. })));
        let spec = Spawn::new(["true"], dir.path().join("d.pid")).daemonizes();
        assert!(matches!(host.spawn(&spec), Err(Error::Io { .. })), "no pid file written");
        let pid_file = dir.path().join("d.pid");
        let script = format!("sleep 30 >/dev/null 2>&1 & echo $! > {}", pid_file.display());
        let p = host.spawn(&Spawn::new(["sh", "-c", &script], &pid_file).daemonizes()).unwrap();
        assert_eq!(p.program.as_deref(), Some("sh"));
        // The daemon is `sleep`, not `sh`: the described process is not running.
        assert!(!host.is_running(&p));
        // The forked child may not have exec'd `sleep` yet when `sh` returns: wait for it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let sleep = loop {
            if let Some(p) = host.process_from_pid_file(&pid_file, Some("sleep"), None).unwrap() {
                break p;
            }
            assert!(std::time::Instant::now() < deadline, "the daemon never became `sleep`");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(host.stop(&sleep, Duration::from_secs(10)).unwrap());
    }
}
