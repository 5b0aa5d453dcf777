//! Running host programs: [`Cmd`] (a program, optionally inside a network namespace through
//! `ip netns exec`, with environment and standard input), [`run`] and [`run_ok`], and
//! [`resolve_program`] for the `sbin` tools a non-login root shell may not have on `$PATH`.

use std::fmt;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// One host command. With `netns` set it runs as `ip netns exec <netns> <program> <args…>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cmd {
    pub netns: Option<String>,
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Written to the program's standard input (else it reads `/dev/null`).
    pub stdin: Option<String>,
}

impl Cmd {
    /// A command in the root namespace.
    pub fn new(program: impl Into<String>) -> Self {
        Cmd { program: program.into(), ..Cmd::default() }
    }

    /// A command inside network namespace `netns`.
    pub fn in_netns(netns: impl Into<String>, program: impl Into<String>) -> Self {
        Cmd { netns: Some(netns.into()), ..Cmd::new(program) }
    }

    /// A command inside `netns`, or in the root namespace when `None`.
    pub fn in_optional_netns(netns: Option<&str>, program: impl Into<String>) -> Self {
        Cmd { netns: netns.map(str::to_string), ..Cmd::new(program) }
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

    pub fn stdin(mut self, input: impl Into<String>) -> Self {
        self.stdin = Some(input.into());
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

/// `program` itself when `$PATH` finds it (or it holds a `/`), else its path in an `sbin`
/// directory: `ip`, `ethtool`, `nft`, `sysctl` and the Open vSwitch daemons live there and a
/// non-login root shell's `$PATH` may lack it.
pub fn resolve_program(program: &str) -> String {
    if program.contains('/') {
        return program.into();
    }
    if in_path(program) {
        return program.into();
    }
    ["/usr/sbin", "/sbin", "/usr/local/sbin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(program))
        .find(|p| p.is_file())
        .map_or_else(|| program.into(), |p| p.display().to_string())
}

/// Whether `program` can be run: found on `$PATH` or in an `sbin` directory.
pub fn program_available(program: &str) -> bool {
    let resolved = resolve_program(program);
    if resolved.contains('/') { std::path::Path::new(&resolved).is_file() } else { in_path(program) }
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
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

/// Runs `cmd` on this machine and waits. Fails only when it cannot be started; a non-zero
/// exit is reported in [`CmdOutput::status`] (see [`run_ok`]).
pub fn run(cmd: &Cmd) -> Result<CmdOutput> {
    let spawn_err = |source| Error::Spawn { cmd: cmd.to_string(), source };
    let mut command = cmd.to_command();
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = command.spawn().map_err(spawn_err)?;
    if let Some(input) = &cmd.stdin
        && let Some(mut pipe) = child.stdin.take()
    {
        // A program that exits without reading all of it closes the pipe: its status tells.
        let _ = pipe.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    Ok(CmdOutput {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Runs `cmd` and turns a non-zero exit into [`Error::Command`].
pub fn run_ok(cmd: &Cmd) -> Result<CmdOutput> {
    let out = run(cmd)?;
    if out.success() { Ok(out) } else { Err(failed(cmd, &out)) }
}

/// The [`Error::Command`] of a command that exited non-zero.
pub(crate) fn failed(cmd: &Cmd, out: &CmdOutput) -> Error {
    Error::Command { cmd: cmd.to_string(), status: out.status, stderr: out.stderr.trim().into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_commands_go_through_ip_netns_exec() {
        let cmd = Cmd::in_netns("nt-h1", "ethtool").args(["-K", "u-h1", "tx", "off"]);
        let c = cmd.to_command();
        let args: Vec<_> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(c.get_program().to_string_lossy().ends_with("ip"));
        assert_eq!(args[..3], ["netns", "exec", "nt-h1"]);
        assert!(args[3].ends_with("ethtool"));
        assert_eq!(args[4..], ["-K", "u-h1", "tx", "off"]);
        assert_eq!(cmd.to_string(), "[nt-h1] ethtool -K u-h1 tx off");
    }

    #[test]
    fn run_reports_status_output_and_stdin() {
        let out =
            run(&Cmd::new("sh").args(["-c", "read x; echo got $x; echo oops >&2; exit 3"]).stdin("it\n"))
                .unwrap();
        assert_eq!((out.status, out.stdout.as_str(), out.stderr.as_str()), (3, "got it\n", "oops\n"));
        let err = run_ok(&Cmd::new("sh").args(["-c", "echo bad >&2; exit 1"])).unwrap_err();
        assert!(matches!(&err, Error::Command { status: 1, stderr, .. } if stderr == "bad"), "{err}");
        assert!(run_ok(&Cmd::new("true")).is_ok());
        assert!(matches!(run(&Cmd::new("/nonexistent/program")), Err(Error::Spawn { .. })));
    }

    #[test]
    fn programs_are_found_in_sbin() {
        assert!(program_available("sh"));
        assert!(!program_available("no-such-program-here"));
        assert_eq!(resolve_program("/bin/x"), "/bin/x");
    }
}
