//! The sandbox's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building, using or tearing down a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec (or a VM spec) is not usable: bad name, too-long interface name, bad address.
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),
    /// A command inside a sandbox namespace could not be started (binary missing, permission).
    #[error("cannot run `{cmd}`: {source}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    /// A host facility (namespace, link, process) or a host tool refused or failed.
    #[error(transparent)]
    Host(#[from] neutrino_host::Error),
    /// A file in the run directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `sandbox.json` could not be written or parsed.
    #[error("sandbox state {path}: {message}")]
    State { path: PathBuf, message: String },
    /// The run directory already holds a sandbox.
    #[error("a sandbox already lives in {0} (run `down` first)")]
    AlreadyUp(PathBuf),
    /// No host, VM or process of that name in this sandbox.
    #[error("no {kind} named `{name}` in the sandbox")]
    NotFound { kind: &'static str, name: String },
    /// A VM of that name is already plugged.
    #[error("VM `{0}` is already plugged")]
    AlreadyPlugged(String),
    /// A lease file that does not parse.
    #[error("lease file {path}: {message}")]
    Lease { path: PathBuf, message: String },
    /// A DHCP client got no (new) lease in time, or is not running.
    #[error("no lease for {name}: {message}")]
    NoLease { name: String, message: String },
    /// A process did not write its pid or did not stop in time.
    #[error("process {name}: {message}")]
    Process { name: String, message: String },
}

/// Result alias for the sandbox.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
