//! Parsers of what Open vSwitch prints: `ovs-ofctl dump-flows` with its counters ([`flows`]),
//! `ovs-appctl ofproto/trace` ([`trace`], its datapath actions in [`datapath`]) and `ovs-vsctl --format=json` tables ([`ovsdb`]). They
//! take any text and never panic: what they do not understand is an error or is skipped.

pub mod datapath;
pub mod flows;
pub mod ovsdb;
pub mod trace;

pub use datapath::{DpAction, TunnelKind, TunnelPush, parse_datapath_actions};
pub use flows::{DumpedFlow, parse_dump, parse_dump_line};
pub use ovsdb::{Atom, Datum, Row, parse_list};
pub use trace::{ActionLine, Recirc, Section, Step, Trace, parse_trace};

/// Text one of the parsers could not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A line of `dump-flows` or `ofproto/trace` output (`line` counts from 1).
    #[error("line {line}: {reason}: {text:?}")]
    Line { line: usize, text: String, reason: String },
    /// The output as a whole lacks something it always has (a trace's `Flow:` or `Datapath
    /// actions:` line).
    #[error("{0}")]
    Incomplete(String),
    /// `ovs-vsctl --format=json` output that is not JSON or not its `{"data", "headings"}` shape.
    #[error("OVSDB table: {0}")]
    Table(String),
}

impl ParseError {
    pub(crate) fn line(line: usize, text: &str, reason: impl Into<String>) -> ParseError {
        ParseError::Line { line, text: text.to_string(), reason: reason.into() }
    }
}

/// A cookie as ovs-ofctl prints it (`0x4e54…`): JSON numbers lose precision above 2^53.
pub(crate) fn serialize_cookie<S: serde::Serializer>(cookie: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{cookie:#x}"))
}
