//! Network namespaces: the [`Netns`] trait (add, delete, list, exists, and running a program
//! inside one) and its real implementation with `ip netns`.

use std::fmt;

use crate::command::{Cmd, CmdOutput, run};
use crate::error::{Error, Result};
use crate::linux::{LinuxHost, run_checked};
use crate::names::validate_netns;

/// Named network namespaces (`/run/netns/<name>`).
pub trait Netns: Send + Sync + fmt::Debug {
    /// Creates namespace `name`; [`Error::NetnsExists`] when it is there already. Its `lo` is
    /// down, as the kernel makes it.
    fn add_netns(&self, name: &str) -> Result<()>;
    /// Deletes namespace `name`, which destroys its links (and their veth peers) once nothing
    /// runs inside; [`Error::NoSuchNetns`] when it is not there.
    fn delete_netns(&self, name: &str) -> Result<()>;
    /// Every named namespace.
    fn list_netns(&self) -> Result<Vec<String>>;
    fn netns_exists(&self, name: &str) -> Result<bool> {
        validate_netns(name)?;
        Ok(self.list_netns()?.iter().any(|n| n == name))
    }
    /// Runs `cmd` (inside `cmd.netns` when set) to completion, whatever its exit status. The
    /// fake runs only programs a test gave it a handler for.
    fn run(&self, cmd: &Cmd) -> Result<CmdOutput>;
}

impl Netns for LinuxHost {
    fn add_netns(&self, name: &str) -> Result<()> {
        validate_netns(name)?;
        let cmd = Cmd::new("ip").args(["netns", "add", name]);
        run_checked(&cmd, None, |e| e.contains("File exists").then(|| Error::NetnsExists(name.into())))?;
        Ok(())
    }

    fn delete_netns(&self, name: &str) -> Result<()> {
        validate_netns(name)?;
        let cmd = Cmd::new("ip").args(["netns", "delete", name]);
        run_checked(&cmd, None, |e| {
            e.contains("No such file or directory").then(|| Error::NoSuchNetns(name.into()))
        })?;
        Ok(())
    }

    fn list_netns(&self) -> Result<Vec<String>> {
        let cmd = Cmd::new("ip").args(["netns", "list"]);
        let out = run_checked(&cmd, None, |_| None)?;
        Ok(parse_netns_list(&out.stdout))
    }

    fn run(&self, cmd: &Cmd) -> Result<CmdOutput> {
        if let Some(ns) = &cmd.netns {
            validate_netns(ns)?;
        }
        run(cmd)
    }
}

/// `ip netns list` prints `name` or `name (id: N)`, newest first.
pub(crate) fn parse_netns_list(stdout: &str) -> Vec<String> {
    stdout.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn netns_list_parsing() {
        assert_eq!(super::parse_netns_list("nt-vm-a (id: 3)\nnt-h1\n\n"), ["nt-vm-a", "nt-h1"]);
    }
}
