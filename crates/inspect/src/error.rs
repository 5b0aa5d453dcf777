//! The errors of the views: a host that cannot be read, output that cannot be parsed, the API,
//! and what the operator asked for that does not exist or is ambiguous.

use crate::cloud::CloudError;
use crate::parse::ParseError;
use crate::source::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// Nothing has that name, id or address.
    #[error("{0}")]
    NotFound(String),
    /// Several things have it (the message lists them).
    #[error("{0}")]
    Ambiguous(String),
    /// The request itself is wrong (a bad protocol, port or flow).
    #[error("{0}")]
    Invalid(String),
}
