//! `ovs-ofctl dump-flows BRIDGE` output with its statistics (ovs-ofctl(8) "Table Entry
//! Commands"; OpenFlow 1.0 `NXST_FLOW` and 1.3 `OFPST_FLOW` replies of Open vSwitch 3.1): each
//! line is read by [`Flow::parse_dump_line`] (normalised match and actions, the stable
//! [`FlowId`]) and its counters and ages are kept beside it.

use neutrino_ovs::flow::normalize;
use neutrino_ovs::flow::{Flow, FlowId};
use serde::{Serialize, Serializer};

use super::ParseError;

/// One flow of a dump with its counters. Fields the dump leaves out (`--no-stats`, or
/// `idle_age` in OpenFlow 1.3 replies) are 0 or `None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DumpedFlow {
    #[serde(serialize_with = "serialize_flow")]
    pub flow: Flow,
    /// `flow.id()`, kept so views need not recompute it; serialised as its 16 hex digits.
    #[serde(serialize_with = "serialize_id")]
    pub id: FlowId,
    pub n_packets: u64,
    pub n_bytes: u64,
    /// Seconds since the flow was added (`duration=1.234s`).
    pub duration: Option<f64>,
    /// Seconds since a packet last matched (or since the flow was added).
    pub idle_age: Option<u64>,
    /// Seconds since the flow was added or last modified, when it differs from `duration`.
    pub hard_age: Option<u64>,
    pub idle_timeout: Option<u64>,
    pub hard_timeout: Option<u64>,
}

/// The fields of a [`Flow`] as JSON; the cookie as `0x…` text, as ovs-ofctl prints it.
#[derive(Serialize)]
struct FlowFields<'a> {
    table: u8,
    priority: u16,
    cookie: String,
    matches: &'a str,
    actions: &'a str,
}

fn serialize_flow<S: Serializer>(flow: &Flow, s: S) -> Result<S::Ok, S::Error> {
    FlowFields {
        table: flow.table,
        priority: flow.priority,
        cookie: format!("{:#x}", flow.cookie),
        matches: &flow.matches,
        actions: &flow.actions,
    }
    .serialize(s)
}

fn serialize_id<S: Serializer>(id: &FlowId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

/// Whether a line is the reply header ovs-ofctl prints before the flows
/// (`NXST_FLOW reply (xid=0x4):`, `OFPST_FLOW reply (OF1.3) (xid=0x2):`).
fn is_header(line: &str) -> bool {
    line.starts_with("NXST_FLOW reply") || line.starts_with("OFPST_FLOW reply")
}

/// Parses a whole `dump-flows` output: blank and reply header lines are skipped, every other
/// line must be a flow.
pub fn parse_dump(text: &str) -> Result<Vec<DumpedFlow>, ParseError> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !is_header(l))
        .map(|(n, l)| parse_line(l).map_err(|reason| ParseError::line(n, l, reason)))
        .collect()
}

/// Parses one flow line of a dump.
pub fn parse_dump_line(line: &str) -> Result<DumpedFlow, ParseError> {
    parse_line(line.trim()).map_err(|reason| ParseError::line(1, line, reason))
}

fn parse_line(line: &str) -> Result<DumpedFlow, String> {
    let flow = Flow::parse_dump_line(line).map_err(|e| e.reason)?;
    let head = line.split_once("actions=").map_or(line, |(h, _)| h);
    let mut d = DumpedFlow {
        id: flow.id(),
        flow,
        n_packets: 0,
        n_bytes: 0,
        duration: None,
        idle_age: None,
        hard_age: None,
        idle_timeout: None,
        hard_timeout: None,
    };
    for field in head.split([',', ' ']).filter(|f| !f.is_empty()) {
        let Some((name, value)) = field.split_once('=') else { continue };
        let int = || normalize::parse_u64(value).ok_or_else(|| format!("bad {name}"));
        match name {
            "n_packets" => d.n_packets = int()?,
            "n_bytes" => d.n_bytes = int()?,
            "idle_age" => d.idle_age = Some(int()?),
            "hard_age" => d.hard_age = Some(int()?),
            "idle_timeout" => d.idle_timeout = Some(int()?),
            "hard_timeout" => d.hard_timeout = Some(int()?),
            "duration" => {
                let secs = value
                    .strip_suffix('s')
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or("bad duration")?;
                d.duration = Some(secs);
            }
            _ => {}
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counters_beside_the_flow() {
        let d = parse_dump_line(
            " cookie=0x4e54, duration=93.367s, table=10, n_packets=5, n_bytes=210, idle_timeout=300, idle_age=2, priority=90,arp actions=resubmit(,60)",
        )
        .unwrap();
        assert_eq!(d.flow, Flow::new(10, 90, 0x4e54, "arp", "resubmit(,60)"));
        assert_eq!(d.id, d.flow.id());
        assert_eq!((d.n_packets, d.n_bytes, d.idle_age, d.idle_timeout), (5, 210, Some(2), Some(300)));
        assert_eq!(d.duration, Some(93.367));
        assert_eq!((d.hard_age, d.hard_timeout), (None, None));
    }

    #[test]
    fn no_stats_lines_have_zero_counters() {
        let d = parse_dump_line(" priority=0 actions=NORMAL").unwrap();
        assert_eq!((d.n_packets, d.n_bytes, d.duration, d.idle_age), (0, 0, None, None));
    }

    #[test]
    fn bad_counters_and_stray_lines_are_errors_with_their_line() {
        assert!(parse_dump_line(" n_packets=x, priority=0 actions=drop").is_err());
        assert!(parse_dump_line(" duration=inf, priority=0 actions=drop").is_err());
        assert!(parse_dump_line(" duration=5, priority=0 actions=drop").is_err());
        let err = parse_dump("NXST_FLOW reply (xid=0x4):\n priority=0 actions=drop\nbogus\n").unwrap_err();
        assert!(matches!(err, ParseError::Line { line: 3, .. }), "{err}");
        assert_eq!(parse_dump("OFPST_FLOW reply (OF1.3) (xid=0x2):\n\n").unwrap(), vec![]);
    }
}
