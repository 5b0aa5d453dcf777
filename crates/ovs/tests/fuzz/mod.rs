//! The properties shared by the property tests (`fuzz_ovsdb.rs`, `fuzz_flows.rs`) and the
//! regression corpus replay (`corpus.rs`): what must hold for any OVSDB byte stream (RFC 7047
//! §4, split by [`Framer`]) and any `ovs-ofctl dump-flows` line (ovs-ofctl(8)).
#![allow(dead_code)]

use neutrino_ovs::flow::{Flow, normalize};
use neutrino_ovs::ovsdb::framing::Framer;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::Value;

/// `cases` per property, or `PROPTEST_CASES` when set (for longer local runs).
pub fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    let persistence = FileFailurePersistence::WithSource("proptest-regressions");
    Config { cases, failure_persistence: Some(Box::new(persistence)), ..Config::default() }
}

/// What a framer made of a stream: the messages, and whether it ended in an error.
#[derive(Debug, PartialEq)]
pub struct Decoded {
    pub messages: Vec<Value>,
    pub failed: bool,
}

/// Feeds `bytes` to a framer with limit `max` in chunks cut at `cuts` (offsets; any order,
/// out-of-range ones ignored), draining messages after each chunk. Asserts the memory bound:
/// never more than `max` plus one chunk held.
pub fn decode(bytes: &[u8], cuts: &[usize], max: usize) -> Decoded {
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|c| *c < bytes.len()).collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts.push(bytes.len());
    let mut f = Framer::new(max);
    let mut out = Decoded { messages: vec![], failed: false };
    let mut from = 0;
    for to in cuts {
        f.feed(&bytes[from..to]);
        assert!(f.buffered() <= max + (to - from), "{} bytes held with limit {max}", f.buffered());
        from = to;
        loop {
            match f.next_message() {
                Ok(Some(m)) => {
                    assert!(m.is_object(), "a message that is not an object: {m}");
                    out.messages.push(m);
                }
                Ok(None) => break,
                Err(_) => {
                    out.failed = true;
                    return out;
                }
            }
        }
        assert!(f.buffered() <= max, "{} bytes held with limit {max} after draining", f.buffered());
    }
    out
}

/// Any stream: decoding never panics, holds bounded memory, and gives the same result however
/// the stream is split (whole, byte by byte, or at `cuts`).
pub fn check_stream(bytes: &[u8], cuts: &[usize], max: usize) {
    let whole = decode(bytes, &[], max);
    let split = decode(bytes, cuts, max);
    assert_eq!(split, whole, "split at {cuts:?}");
    if bytes.len() <= 4096 {
        let every: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(decode(bytes, &every, max), whole, "split byte by byte");
    }
}

/// Any text line: parsing gives `Ok` or `Err` without panicking, and a parsed flow is a fixed
/// point of render-and-parse (so a desired flow and the same flow read back compare equal);
/// normalising any text never panics and is idempotent on its own output.
pub fn check_flow_line(line: &str) {
    if let Ok(f) = Flow::parse_dump_line(line) {
        let again = Flow::parse_dump_line(&f.to_add_line());
        assert_eq!(again.as_ref(), Ok(&f), "{:?} rendered as {:?}", line, f.to_add_line());
        assert_eq!(normalize::matches(&f.matches), f.matches, "matches of {line:?}");
        assert_eq!(normalize::actions(&f.actions), f.actions, "actions of {line:?}");
    }
    let _ = Flow::parse_dump(line);
    let m = normalize::matches(line);
    assert_eq!(normalize::matches(&m), m, "matches of {line:?}");
    let a = normalize::actions(line);
    assert_eq!(normalize::actions(&a), a, "actions of {line:?}");
    let _ = normalize::split_top(line);
    let _ = normalize::parse_u64(line);
}
