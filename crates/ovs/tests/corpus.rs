//! Replays the regression corpus (`tests/corpus/`, see its README): every input that ever
//! broke a property of the flow parser and normaliser or of the OVSDB stream decoder, checked
//! against the same properties as `fuzz_flows.rs` and `fuzz_ovsdb.rs`.

mod fuzz;

use std::path::{Path, PathBuf};

use neutrino_ovs::flow::Flow;
use neutrino_ovs::ovsdb::framing::DEFAULT_MAX_MESSAGE_BYTES;

fn files(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(target);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no corpus in {}", dir.display());
    out
}

/// Runs `check` on every file and reports all failing ones at once.
fn replay(target: &str, check: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    let failed: Vec<String> = files(target)
        .into_iter()
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap();
            std::panic::catch_unwind(|| check(&bytes)).is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(failed.is_empty(), "corpus inputs failing: {failed:#?}");
}

#[test]
fn flow_corpus() {
    replay("flows", |bytes| {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines() {
            fuzz::check_flow_line(line);
        }
        let _ = Flow::parse_dump(&text);
    });
}

#[test]
fn ovsdb_corpus() {
    replay("ovsdb", |bytes| {
        let sevens: Vec<usize> = (7..bytes.len()).step_by(7).collect();
        for max in [64, DEFAULT_MAX_MESSAGE_BYTES] {
            fuzz::check_stream(bytes, &sevens, max);
        }
    });
}
