//! Processes: reading pidfiles, stopping a recorded pid (TERM, then KILL), starting and
//! stopping long-running processes of a host (`start_process`), and the `exec`/`spawn`
//! helpers tests use to run commands inside sandbox namespaces.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::runner::{Cmd, Runner, resolve_program};
use crate::sandbox::Sandbox;
use crate::spec::REQUIRED_PREFIX;
use crate::state::{ProcessRecord, not_found};

/// The pid in an OVS-style pidfile (`<pid>\n`), if the file exists and holds one.
pub fn read_pidfile(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok().filter(|p| *p > 1)
}

/// Stops `pid` if it is alive and (when `program` is given) still runs that program: SIGTERM,
/// up to 5 s, then SIGKILL. Returns whether it is gone.
pub fn stop_pid(runner: &dyn Runner, pid: u32, program: Option<&str>) -> bool {
    if pid <= 1 || pid == std::process::id() || !runner.alive(pid) {
        return true;
    }
    if let Some(expected) = program
        && !runner.program_of(pid).is_some_and(|p| p == expected || p.starts_with(expected))
    {
        // The pid was reused by something that is not ours: leave it alone.
        return true;
    }
    for (signal, wait) in [("TERM", Duration::from_secs(5)), ("KILL", Duration::from_secs(2))] {
        let _ = runner.run(&Cmd::new("kill").args(["-s", signal, &pid.to_string()]));
        let deadline = Instant::now() + wait;
        while runner.alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if !runner.alive(pid) {
            return true;
        }
    }
    false
}

/// Stops the process of a record (pid from the pidfile, else the recorded one).
pub(crate) fn stop_record(runner: &dyn Runner, record: &ProcessRecord) -> bool {
    let pids = [read_pidfile(&record.pidfile), record.pid];
    let mut stopped = true;
    for pid in pids.into_iter().flatten() {
        stopped &= stop_pid(runner, pid, Some(&record.program));
    }
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
    let mut c = Command::new(resolve_program("ip"));
    c.args(["netns", "exec", netns, &resolve_program(argv[0])]).args(&argv[1..]).stdin(Stdio::null());
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
        let Some((program, args)) = argv.split_first() else {
            return Err(Error::InvalidSpec("empty command".into()));
        };
        if let Some(r) = self.process(host, name)
            && read_pidfile(&r.pidfile).is_some_and(|p| self.runner().alive(p))
        {
            return Err(Error::Process { name: name.into(), message: "already running".into() });
        }
        let pidfile = dir.join(format!("{name}.pid"));
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).map_err(|e| Error::io(&log, e))?;
        let err = out.try_clone().map_err(|e| Error::io(&log, e))?;
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|source| Error::Spawn { cmd: argv.join(" "), source })?;
        let pid = child.id();
        // Reap it when it exits so it never lingers as a zombie.
        std::thread::spawn(move || child.wait());
        std::fs::write(&pidfile, format!("{pid}\n")).map_err(|e| Error::io(&pidfile, e))?;
        let program = program.rsplit('/').next().unwrap_or(program).to_string();
        self.state.processes.retain(|r| !(r.host == host && r.name == name));
        self.state.processes.push(ProcessRecord {
            host: host.into(),
            name: name.into(),
            pidfile,
            pid: Some(pid),
            program,
            log,
        });
        self.state.save()?;
        Ok(pid)
    }

    /// Stops a process started with [`Sandbox::start_process`] and forgets it.
    pub fn stop_process(&mut self, host: &str, name: &str) -> Result<()> {
        let record = self.process(host, name).cloned().ok_or_else(|| not_found("process", name))?;
        let stopped = stop_record(self.runner().as_ref(), &record);
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
    use crate::runner::FakeRunner;

    #[test]
    fn stop_pid_checks_the_program_first() {
        let fake = FakeRunner::new();
        fake.add_process(4242, "ovsdb-server");
        assert!(stop_pid(&fake, 4242, Some("ovs-vswitchd")));
        assert!(fake.commands().is_empty(), "a reused pid is left alone");
        assert!(stop_pid(&fake, 4242, Some("ovsdb-server")));
        assert_eq!(fake.lines(), ["kill -s TERM 4242"]);
        assert!(stop_pid(&fake, 1, None));
        assert_eq!(fake.lines().len(), 1);
    }

    #[test]
    fn exec_refuses_foreign_namespaces() {
        assert!(exec("default", &["true"]).is_err());
        assert!(exec("nt-h1", &[]).is_err());
    }

    #[test]
    fn pidfile_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        assert_eq!(read_pidfile(&p), None);
        std::fs::write(&p, "1234\n").unwrap();
        assert_eq!(read_pidfile(&p), Some(1234));
        std::fs::write(&p, "1\n").unwrap();
        assert_eq!(read_pidfile(&p), None);
    }
}
