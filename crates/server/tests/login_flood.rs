//! A flood of concurrent failed logins does not exhaust memory: password checks are bounded in
//! number (and so in argon2 memory), the excess is refused quickly with a Keystone 503, and the
//! service still lets the right password in afterwards. Its own test binary, so that the resident
//! memory it reads from `/proc/self/status` is this flood's alone.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

use std::net::SocketAddr;
use std::sync::Arc;

use neutrino_server::auth::builtin::{Identity, router};
use neutrino_server::auth::{UserConfig, hash_password};
use neutrino_server::config::Config;
use serde_json::{Value, json};

/// `VmHWM` (peak resident) and `VmRSS` of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets the peak to the current resident size (Linux `clear_refs` 5); false if refused, in which
/// case growth is measured from the current size to the peak, an overestimate.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn body(user: &str, password: &str) -> Value {
    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": password, "domain": {"name": "Default"}}}}}})
}

/// Sends `n` logins at once; their statuses, each answer checked to be Keystone's error shape.
async fn flood(http: &reqwest::Client, url: &str, n: usize, user: &str) -> Vec<u16> {
    let requests = (0..n).map(|i| {
        let http = http.clone();
        let url = url.to_string();
        let body = body(user, &format!("wrong-{i}"));
        tokio::spawn(async move {
            let r = http.post(&url).json(&body).send().await.expect("an answer");
            let status = r.status().as_u16();
            let v: Value = r.json().await.expect("a JSON body");
            assert_eq!(v["error"]["code"], status, "{v}");
            assert!(v["error"]["title"].is_string() && v["error"]["message"].is_string(), "{v}");
            status
        })
    });
    let mut statuses = Vec::with_capacity(n);
    for r in futures_join(requests.collect()).await {
        statuses.push(r.expect("no panic"));
    }
    statuses
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failed_logins_stay_within_the_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    // The lockout would refuse most of a flood from one address without checking: turn it off, so
    // that what bounds memory here is the password checker alone (as for a flood from many sources).
    config.auth.lockout_user_failures = 0;
    config.auth.lockout_source_failures = 0;
    config.auth.users = vec![UserConfig {
        name: "member_1".into(),
        password_hash: Some(hash_password("secret")),
        project: "proj_1".into(),
        roles: vec!["member".into()],
        ..Default::default()
    }];
    let identity = Arc::new(Identity::open(&config).unwrap());
    let bound_kib = identity.password_check_max_memory_kib() as u64;
    let app = axum::Router::new().nest_service("/identity/v3", router(identity.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/identity/v3/auth/tokens", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    });
    let http = reqwest::Client::new();

    // Warm up the client, the server and their connections with one success.
    let ok = http.post(&url).json(&body("member_1", "secret")).send().await.unwrap();
    assert_eq!(ok.status(), 201);

    let exact = reset_peak();
    let (_, rss_before) = memory_kib();
    let checks_before = identity.password_checks();
    // Under the queue's size every login is checked and refused with 401.
    assert!(flood(&http, &url, 8, "nobody").await.iter().all(|&s| s == 401));
    for n in [64, 256] {
        for user in ["nobody", "member_1"] {
            let statuses = flood(&http, &url, n, user).await;
            let (refused, busy) = (
                statuses.iter().filter(|&&s| s == 401).count(),
                statuses.iter().filter(|&&s| s == 503).count(),
            );
            assert_eq!(refused + busy, n, "only 401 and 503: {statuses:?}");
            assert!(refused > 0, "{n} × {user}: some logins were checked");
            let (peak, _) = memory_kib();
            let growth = peak.saturating_sub(rss_before);
            eprintln!(
                "{n} concurrent failed logins ({user}): {refused} × 401, {busy} × 503, peak resident growth \
                 {} MiB (bound {} MiB + slack; exact peak: {exact})",
                growth / 1024,
                bound_kib / 1024
            );
            // argon2 memory is at most `bound_kib`; the rest is connections and buffers.
            assert!(
                growth < bound_kib + 160 * 1024,
                "resident memory grew by {} MiB under {n} concurrent failed logins",
                growth / 1024
            );
        }
    }
    assert!(identity.password_checks() > checks_before);

    // Positive control: the right password still works.
    let ok = http.post(&url).json(&body("member_1", "secret")).send().await.unwrap();
    assert_eq!(ok.status(), 201);
    assert!(ok.headers().contains_key("x-subject-token"));
}
