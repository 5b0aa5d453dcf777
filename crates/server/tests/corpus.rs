//! Replays the regression corpus (`tests/corpus/<target>/*.txt`, format in its README): every
//! request that ever broke a property of `fuzz_queries.rs` or `fuzz_bodies.rs`, or was known
//! to, sent to a freshly seeded application and checked against the same properties: no 5xx
//! and no panic, errors as `NeutronError` (Keystone's `error` under `/identity`), lists with
//! their collection key, and the server still answering afterwards.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod fuzz;

use std::path::PathBuf;

use fuzz::{Req, check, corpus_root, target_for};

fn corpus_files() -> Vec<PathBuf> {
    let mut files = vec![];
    for dir in std::fs::read_dir(corpus_root()).expect("tests/corpus") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "txt") {
                files.push(f);
            }
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn corpus_replays_clean() {
    let files = corpus_files();
    assert!(!files.is_empty(), "no corpus files under {}", corpus_root().display());
    let mut failures = vec![];
    for path in &files {
        let name = path.strip_prefix(corpus_root()).unwrap_or(path).display().to_string();
        let req = match Req::from_corpus(&std::fs::read(path).unwrap()) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: unreadable: {e}"));
                continue;
            }
        };
        let app = target_for(&req).await;
        let problems: Vec<String> = [check(&req, &app.send(&req).await), app.probe().await]
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus inputs fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn the_corpus_format_round_trips() {
    let r = Req::new("PUT", "/v2.0/networks/{network_id}?fields=id")
        .header("X-Project-Id", "p1")
        .body(&b"{\"network\": {}}\n\n{"[..]);
    assert_eq!(Req::from_corpus(&r.to_corpus()), Ok(r));
    let bare = Req::new("GET", "/v2.0/networks");
    assert_eq!(Req::from_corpus(b"GET /v2.0/networks\n"), Ok(bare.clone()));
    assert_eq!(Req::from_corpus(b"GET /v2.0/networks"), Ok(bare));
    let empty_body = Req::new("POST", "/v2.0/ports").body(Vec::new());
    assert_eq!(Req::from_corpus(b"POST /v2.0/ports\n\n"), Ok(empty_body));
}

/// The positive control of the replay: ordinary requests, errors among them, pass the same
/// checks on the same seeded application.
#[tokio::test]
async fn ordinary_requests_pass_the_replay_checks() {
    let ok = [
        "GET /v2.0/networks?limit=1&sort_key=name&sort_key=id&sort_dir=asc&sort_dir=desc&marker={network_id}\n",
        "GET /v2.0/ports?tags=red&not-tags-any=blue,green&limit=100\n",
        "GET /v2.0/subnets?limit=abc\n",
        "GET /v2.0/networks/{network_id}?fields=id&fields=name\nX-Project-Id: p1\nX-Roles: member\n",
        "GET /v2.0/networks/no-such-id\n",
        "GET /internal/v1/hosts/{host}/watch?since=0&timeout=0\nX-Agent-Token: agent-secret\n",
        "PUT /v2.0/networks/{network_id}/tags/green\nX-Project-Id: p1\nX-Roles: member\n",
        "POST /v2.0/networks\nX-Project-Id: p1\nX-Roles: member\n\n{\"network\": {\"name\": 5}}",
        "POST /identity/v3/auth/tokens\n\n{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": \
         {\"user\": {\"name\": \"member_1\", \"password\": \"secret\", \"domain\": {\"name\": \"Default\"}}}}}}",
        "POST /identity/v3/auth/tokens\n\n{\"auth\": 1}",
    ];
    for text in ok {
        let req = Req::from_corpus(text.as_bytes()).unwrap();
        let app = target_for(&req).await;
        let outcome = app.send(&req).await;
        assert_eq!(check(&req, &outcome), Ok(()), "{text}: {outcome:?}");
        assert_eq!(app.probe().await, Ok(()), "{text}");
    }
}
