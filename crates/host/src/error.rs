//! The host crate's error type: refusals (bad names, missing or existing objects, invalid
//! nftables batches, processes that are not ours) and failures of the host's tools.

use std::path::PathBuf;

/// Everything a host facility can refuse or fail with. The real implementations map the
/// tools' common answers ("File exists", "Cannot find device") onto the typed variants, so a
/// caller can tell "already there" from a real failure whichever implementation it talks to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name is not usable (too long for an interface, empty, holds `/` or spaces…).
    #[error("invalid {kind} name `{name}`: {reason}")]
    InvalidName { kind: &'static str, name: String, reason: String },
    /// A value is not usable (an MTU of 0, a MAC that is not one, an empty command…).
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("network namespace `{0}` does not exist")]
    NoSuchNetns(String),
    #[error("network namespace `{0}` already exists")]
    NetnsExists(String),
    #[error("no link `{link}` in {netns}")]
    NoSuchLink { netns: String, link: String },
    #[error("link `{link}` already exists in {netns}")]
    LinkExists { netns: String, link: String },
    #[error("{address} is already on `{link}` in {netns}")]
    AddressExists { netns: String, link: String, address: String },
    #[error("{address} is not on `{link}` in {netns}")]
    NoSuchAddress { netns: String, link: String, address: String },
    #[error("route {route} already exists in {netns}")]
    RouteExists { netns: String, route: String },
    #[error("no route {route} in {netns}")]
    NoSuchRoute { netns: String, route: String },
    /// A gateway outside every connected subnet of the namespace (the kernel's "Nexthop has
    /// invalid gateway").
    #[error("gateway {gateway} is not on a connected subnet in {netns}")]
    GatewayUnreachable { netns: String, gateway: String },
    #[error("no sysctl `{key}` in {netns}")]
    NoSuchSysctl { netns: String, key: String },
    /// `nft` refused a batch; nothing of it was applied.
    #[error("nftables batch refused in {netns}: {reason}")]
    InvalidBatch { netns: String, reason: String },
    /// A process is not one this code may signal (gone, a reused pid, another program).
    #[error("process {pid} is not ours to signal: {reason}")]
    NotOurs { pid: u32, reason: String },
    /// A program could not be started at all (binary missing, permission).
    #[error("cannot run `{cmd}`: {source}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    /// A program ran and failed.
    #[error("`{cmd}` failed with status {status}: {stderr}")]
    Command { cmd: String, status: i32, stderr: String },
    /// A program's output could not be understood.
    #[error("cannot parse the output of `{cmd}`: {reason}")]
    Parse { cmd: String, reason: String },
    /// A file (pid file, log) could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The fake does not model this (e.g. an arbitrary program without a handler).
    #[error("not supported by this implementation: {0}")]
    Unsupported(String),
}

/// Result alias for the host crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// How errors name a namespace: `nt-h1`, or `the root namespace`.
pub(crate) fn ns_label(netns: Option<&str>) -> String {
    match netns {
        Some(ns) => format!("namespace {ns}"),
        None => "the root namespace".into(),
    }
}
