//! Host commands behind a trait: [`Cmd`] (a command, optionally inside a network namespace),
//! the [`Runner`] trait, the real [`HostRunner`] and the recording [`FakeRunner`].

use std::collections::BTreeSet;
use std::fmt;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// One host command. With `netns` set it runs as `ip netns exec <netns> <program> <args…>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    pub netns: Option<String>,
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Cmd {
    /// A command in the root namespace.
    pub fn new(program: impl Into<String>) -> Self {
        Cmd { netns: None, program: program.into(), args: Vec::new(), env: Vec::new() }
    }

    /// A command inside network namespace `netns`.
    pub fn in_netns(netns: impl Into<String>, program: impl Into<String>) -> Self {
        Cmd { netns: Some(netns.into()), ..Cmd::new(program) }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The `std::process::Command` that runs this (through `ip netns exec` when needed).
    pub fn to_command(&self) -> Command {
        let mut command = match &self.netns {
            Some(ns) => {
                let mut c = Command::new(resolve_program("ip"));
                c.args(["netns", "exec", ns, &resolve_program(&self.program)]);
                c
            }
            None => Command::new(resolve_program(&self.program)),
        };
        command.args(&self.args);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }
}

/// `program` itself when `$PATH` finds it (or it holds a `/`), else its path in an `sbin`
/// directory: `ip`, `ethtool`, `ovsdb-server` and `ovs-vswitchd` live there and a non-login
/// root shell's `$PATH` may lack it.
pub fn resolve_program(program: &str) -> String {
    if program.contains('/') {
        return program.into();
    }
    let in_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()));
    if in_path {
        return program.into();
    }
    ["/usr/sbin", "/sbin", "/usr/local/sbin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(program))
        .find(|p| p.is_file())
        .map_or_else(|| program.into(), |p| p.display().to_string())
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ns) = &self.netns {
            write!(f, "[{ns}] ")?;
        }
        for (k, v) in &self.env {
            write!(f, "{k}={v} ")?;
        }
        write!(f, "{}", self.program)?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// What a finished command left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CmdOutput {
    /// Exit code; -1 when killed by a signal.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// Runs host commands and looks at processes. `run` fails only when the command cannot be
/// started; a non-zero exit is reported in [`CmdOutput::status`] (see [`run_ok`]).
pub trait Runner: Send + Sync + fmt::Debug {
    fn run(&self, cmd: &Cmd) -> Result<CmdOutput>;
    /// Whether `pid` is a live (not zombie) process.
    fn alive(&self, pid: u32) -> bool;
    /// The base name of `pid`'s `argv[0]`, if it is alive.
    fn program_of(&self, pid: u32) -> Option<String>;
}

/// Runs `cmd` and turns a non-zero exit into [`Error::Command`].
pub fn run_ok(runner: &dyn Runner, cmd: &Cmd) -> Result<CmdOutput> {
    let out = runner.run(cmd)?;
    if out.success() {
        Ok(out)
    } else {
        Err(Error::Command { cmd: cmd.to_string(), status: out.status, stderr: out.stderr.trim().into() })
    }
}

/// The real machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostRunner;

impl Runner for HostRunner {
    fn run(&self, cmd: &Cmd) -> Result<CmdOutput> {
        let out = cmd
            .to_command()
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn { cmd: cmd.to_string(), source })?;
        Ok(CmdOutput {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn alive(&self, pid: u32) -> bool {
        proc_alive(pid)
    }

    fn program_of(&self, pid: u32) -> Option<String> {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let argv0 = cmdline.split(|b| *b == 0).next()?;
        let argv0 = String::from_utf8_lossy(argv0);
        Some(argv0.rsplit('/').next().unwrap_or_default().to_string())
    }
}

/// Whether `/proc/<pid>` is a live process (zombies count as dead).
pub fn proc_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself hold spaces.
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()) != Some('Z'),
        Err(_) => false,
    }
}

/// Records every command and answers from canned rules; for unit tests of command plans.
#[derive(Debug, Default)]
pub struct FakeRunner {
    log: Mutex<Vec<Cmd>>,
    rules: Mutex<Vec<(String, CmdOutput)>>,
    alive: Mutex<BTreeSet<u32>>,
    programs: Mutex<Vec<(u32, String)>>,
}

impl FakeRunner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Commands whose display form contains `needle` answer `output` (first rule wins).
    pub fn respond(&self, needle: impl Into<String>, output: CmdOutput) {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).push((needle.into(), output));
    }

    /// Pretends `pid` is a live process running `program`; `kill -s <signal> <pid>` ends it.
    pub fn add_process(&self, pid: u32, program: &str) {
        self.alive.lock().unwrap_or_else(|e| e.into_inner()).insert(pid);
        self.programs.lock().unwrap_or_else(|e| e.into_inner()).push((pid, program.into()));
    }

    /// Every command run so far.
    pub fn commands(&self) -> Vec<Cmd> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every command so far in display form.
    pub fn lines(&self) -> Vec<String> {
        self.commands().iter().map(ToString::to_string).collect()
    }

    pub fn clear(&self) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Runner for FakeRunner {
    fn run(&self, cmd: &Cmd) -> Result<CmdOutput> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(cmd.clone());
        if cmd.program == "kill"
            && cmd.args.len() == 3
            && let Ok(pid) = cmd.args[2].parse::<u32>()
        {
            self.alive.lock().unwrap_or_else(|e| e.into_inner()).remove(&pid);
        }
        let line = cmd.to_string();
        let rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        Ok(rules
            .iter()
            .find(|(needle, _)| line.contains(needle.as_str()))
            .map(|(_, o)| o.clone())
            .unwrap_or_default())
    }

    fn alive(&self, pid: u32) -> bool {
        self.alive.lock().unwrap_or_else(|e| e.into_inner()).contains(&pid)
    }

    fn program_of(&self, pid: u32) -> Option<String> {
        if !self.alive(pid) {
            return None;
        }
        let programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        programs.iter().find(|(p, _)| *p == pid).map(|(_, name)| name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_commands_go_through_ip_netns_exec() {
        let cmd = Cmd::in_netns("nt-h1", "ethtool").args(["-K", "u-h1", "tx", "off"]);
        let c = cmd.to_command();
        let args: Vec<_> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(c.get_program(), "ip");
        assert_eq!(args, ["netns", "exec", "nt-h1", "ethtool", "-K", "u-h1", "tx", "off"]);
        assert_eq!(cmd.to_string(), "[nt-h1] ethtool -K u-h1 tx off");
    }

    #[test]
    fn fake_answers_from_rules_and_records() {
        let fake = FakeRunner::new();
        fake.respond("br-exists", CmdOutput { status: 2, ..Default::default() });
        let out = fake.run(&Cmd::new("ovs-vsctl").arg("br-exists").arg("br-int")).unwrap();
        assert_eq!(out.status, 2);
        assert!(run_ok(&fake, &Cmd::new("ovs-vsctl").arg("br-exists")).is_err());
        assert!(fake.run(&Cmd::new("true")).unwrap().success());
        assert_eq!(fake.lines().len(), 3);
    }

    #[test]
    fn own_process_is_alive() {
        assert!(proc_alive(std::process::id()));
        assert!(HostRunner.program_of(std::process::id()).is_some());
    }
}
