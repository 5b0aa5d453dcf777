//! Errors of the resource commands (the binary's `main` turns them into `Error: …`, exit 1).

/// What a resource command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The API (or the lookup of a name) failed; shown as `<type>: <message>`.
    #[error(transparent)]
    Client(#[from] neutrino_client::Error),
    /// Bad connection configuration (clouds.yaml, flags).
    #[error("{0}")]
    Config(String),
    /// Some of several deletions failed (each was reported already).
    #[error("{failed} of {total} {what} failed to delete.")]
    Partial { failed: usize, total: usize, what: &'static str },
    /// Arguments that parse but do not fit what the resource has (e.g. a route to remove
    /// that the router does not have).
    #[error("{0}")]
    Usage(String),
    /// The server's answer cannot be printed.
    #[error("cannot print the result: {0}")]
    Output(String),
}
