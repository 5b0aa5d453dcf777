//! [`LinuxHost`], the real implementation of every facility: iproute2 (`ip`), `ethtool`,
//! `sysctl` and `nft` run as programs (see `docs/decisions.md`, "Host facilities run
//! iproute2"), processes through `std::process` and `kill(2)`. This module holds the type and
//! the helpers that turn the tools' answers into typed errors; each facility's module
//! implements its trait for it.

use std::collections::HashMap;
use std::process::Child;
use std::sync::Mutex;

use crate::command::{Cmd, CmdOutput, failed, run};
use crate::error::{Error, Result, ns_label};

/// The real machine. It remembers the children it spawned (to reap them and to know they are
/// its own); share one instance (`Arc`) between the users of one program.
#[derive(Debug, Default)]
pub struct LinuxHost {
    pub(crate) children: Mutex<HashMap<u32, Child>>,
}

impl LinuxHost {
    pub fn new() -> Self {
        Self::default()
    }
}

/// `ip [-n <netns>]`: iproute2 enters the namespace itself.
pub(crate) fn ip(netns: Option<&str>) -> Cmd {
    let cmd = Cmd::new("ip");
    match netns {
        Some(ns) => cmd.args(["-n", ns]),
        None => cmd,
    }
}

/// What a failed tool said, as a typed error where one fits: `classify` sees the trimmed
/// standard error and returns `Some` for the answers it knows.
pub(crate) fn check(
    cmd: &Cmd,
    out: CmdOutput,
    netns: Option<&str>,
    classify: impl FnOnce(&str) -> Option<Error>,
) -> Result<CmdOutput> {
    if out.success() {
        return Ok(out);
    }
    let stderr = out.stderr.trim();
    if let Some(ns) = netns
        && stderr.contains("Cannot open network namespace")
    {
        return Err(Error::NoSuchNetns(ns.into()));
    }
    Err(classify(stderr).unwrap_or_else(|| failed(cmd, &out)))
}

/// Runs `cmd` and checks it (see [`check`]).
pub(crate) fn run_checked(
    cmd: &Cmd,
    netns: Option<&str>,
    classify: impl FnOnce(&str) -> Option<Error>,
) -> Result<CmdOutput> {
    check(cmd, run(cmd)?, netns, classify)
}

/// The "no such device" answers of `ip` and `ethtool`.
pub(crate) fn no_such_link(stderr: &str, netns: Option<&str>, link: &str) -> Option<Error> {
    (stderr.contains("Cannot find device") || stderr.contains("No such device"))
        .then(|| Error::NoSuchLink { netns: ns_label(netns), link: link.into() })
}

/// Parses the JSON a tool printed with `-j`.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(cmd: &Cmd, out: &CmdOutput) -> Result<T> {
    let text = if out.stdout.trim().is_empty() { "[]" } else { out.stdout.as_str() };
    serde_json::from_str(text).map_err(|e| Error::Parse { cmd: cmd.to_string(), reason: e.to_string() })
}
