//! Property-test ("fuzz") harness of the API: requests and their regression corpus format
//! (`tests/corpus/README.md`), the in-process application seeded with a small world (noauth
//! networking, or the builtin identity service), sending that turns a panic into a finding,
//! the properties every answer must have (no 5xx; errors as `NeutronError`, or Keystone's
//! `error` under `/identity`; lists with their collection key) and the runner that prints
//! (and with `FUZZ_SAVE_CORPUS=1` saves) the minimal failing input.
#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]
#![allow(dead_code)]

pub mod inputs;

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use neutrino_server::auth::{AuthMode, UserConfig};
use neutrino_server::config::Config;
use neutrino_server::store::Store;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestError, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The agent credential of the fuzzed applications.
pub const AGENT_TOKEN: &str = "agent-secret";

/// Placeholders a corpus file may use for the ids of the seeded world.
pub const PLACEHOLDERS: &[&str] = &["network_id", "subnet_id", "port_id", "agent_id", "host"];

/// One request: `METHOD path?query`, headers, and a body (`None`: no body at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Req {
    pub fn new(method: &str, target: impl Into<String>) -> Req {
        Req { method: method.into(), target: target.into(), headers: vec![], body: None }
    }

    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = Some(body.into());
        self
    }

    /// The corpus form: the request line, header lines, then (only when there is a body) an
    /// empty line and the body's exact bytes.
    pub fn to_corpus(&self) -> Vec<u8> {
        let mut out = format!("{} {}\n", self.method, self.target).into_bytes();
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\n").as_bytes());
        }
        if let Some(b) = &self.body {
            out.push(b'\n');
            out.extend_from_slice(b);
        }
        out
    }

    pub fn from_corpus(bytes: &[u8]) -> Result<Req, String> {
        let mut rest = bytes;
        let mut line = || -> Option<String> {
            if rest.is_empty() {
                return None;
            }
            let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            let l = String::from_utf8_lossy(&rest[..end]).trim_end_matches('\r').to_string();
            rest = &rest[(end + 1).min(rest.len())..];
            Some(l)
        };
        let first = line().ok_or("empty corpus file")?;
        let (method, target) = first.split_once(' ').ok_or("the first line must be `METHOD PATH?QUERY`")?;
        let mut req = Req::new(method, target);
        let mut blank = false;
        while let Some(l) = line() {
            if l.is_empty() {
                blank = true;
                break;
            }
            let (k, v) = l.split_once(':').ok_or_else(|| format!("bad header line {l:?}"))?;
            req.headers.push((k.trim().into(), v.trim().into()));
        }
        if blank {
            req.body = Some(rest.to_vec());
        }
        Ok(req)
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// A short description for failure messages (long requests are cut).
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.to_corpus()).into_owned();
        if text.chars().count() <= 3000 {
            return text;
        }
        let head: String = text.chars().take(1500).collect();
        let tail: String = text.chars().rev().take(500).collect::<Vec<_>>().into_iter().rev().collect();
        format!("{head}\n[… {} bytes in all …]\n{tail}", text.len())
    }
}

/// What came back.
#[derive(Debug)]
pub enum Outcome {
    Answer {
        status: u16,
        body: Vec<u8>,
    },
    Panic(String),
    /// The request could not even be built (e.g. bytes a URI cannot hold).
    Unsendable(String),
}

/// An application to fuzz and the ids of its seeded world.
pub struct Target {
    router: Router,
    pub world: BTreeMap<&'static str, String>,
    _dir: Option<tempfile::TempDir>,
}

/// With `FUZZ_LOG=<filter>` (e.g. `error`), the server's log goes to the test output: the
/// cause of a 500 is only logged.
pub fn log() {
    if let Ok(filter) = std::env::var("FUZZ_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

async fn build(mut config: Config, dir: Option<tempfile::TempDir>) -> Target {
    log();
    config.agents.token = Some(AGENT_TOKEN.into());
    let router = neutrino_server::run::app_with_store(config, Store::memory()).await.expect("app builds");
    Target { router, world: BTreeMap::new(), _dir: dir }
}

/// The members of project `p1` and the noauth admin (no project header).
pub fn member(req: Req) -> Req {
    req.header("X-Project-Id", "p1").header("X-Roles", "member")
}

/// The networking API (noauth) with a small world: project `p1`'s network (tagged `red`,
/// `blue`), an IPv4 subnet and a port bound to `host-1`, whose agent has reported; the
/// admin's external network with a subnet, and a floating IP of `p1` on it.
pub async fn networking() -> Target {
    let mut config = Config::default();
    config.auth.mode = AuthMode::Noauth;
    let mut t = build(config, None).await;
    let ok = |o: &Outcome, what: &str| -> Value {
        match o {
            Outcome::Answer { status, body } if *status < 300 => {
                serde_json::from_slice(body).unwrap_or(Value::Null)
            }
            other => panic!("seeding {what}: {other:?}"),
        }
    };
    let report = json!({"host": "host-1", "agent_type": "Open vSwitch agent", "binary": "neutrino-agent",
                        "configurations": {"bridge_mappings": {}, "tunnel_types": ["vxlan"]}});
    let r = t
        .send(
            &Req::new("POST", "/internal/v1/agents/report")
                .header("X-Agent-Token", AGENT_TOKEN)
                .body(report.to_string()),
        )
        .await;
    ok(&r, "agent report");
    let agents = ok(&t.send(&Req::new("GET", "/v2.0/agents")).await, "agents");
    let agent_id = agents["agents"][0]["id"].as_str().expect("an agent").to_string();
    let net =
        member(Req::new("POST", "/v2.0/networks")).body(json!({"network": {"name": "net-a"}}).to_string());
    let net = ok(&t.send(&net).await, "network");
    let network_id = net["network"]["id"].as_str().unwrap().to_string();
    let tags = member(Req::new("PUT", format!("/v2.0/networks/{network_id}/tags")))
        .body(json!({"tags": ["red", "blue"]}).to_string());
    ok(&t.send(&tags).await, "tags");
    let subnet = json!({"subnet": {"network_id": network_id, "ip_version": 4, "cidr": "10.0.0.0/24"}});
    let subnet =
        ok(&t.send(&member(Req::new("POST", "/v2.0/subnets")).body(subnet.to_string())).await, "subnet");
    let subnet_id = subnet["subnet"]["id"].as_str().unwrap().to_string();
    let port = json!({"port": {"network_id": network_id, "project_id": "p1", "binding:host_id": "host-1"}});
    let port = ok(&t.send(&Req::new("POST", "/v2.0/ports").body(port.to_string())).await, "port");
    let port_id = port["port"]["id"].as_str().unwrap().to_string();
    let ext = json!({"network": {"name": "public", "router:external": true}});
    let ext =
        ok(&t.send(&Req::new("POST", "/v2.0/networks").body(ext.to_string())).await, "external network");
    let ext_network_id = ext["network"]["id"].as_str().unwrap().to_string();
    let ext_subnet =
        json!({"subnet": {"network_id": ext_network_id, "ip_version": 4, "cidr": "203.0.113.0/24"}});
    ok(&t.send(&Req::new("POST", "/v2.0/subnets").body(ext_subnet.to_string())).await, "external subnet");
    let fip = json!({"floatingip": {"floating_network_id": ext_network_id}});
    let fip = ok(&t.send(&member(Req::new("POST", "/v2.0/floatingips")).body(fip.to_string())).await, "fip");
    let floatingip_id = fip["floatingip"]["id"].as_str().unwrap().to_string();
    t.world = BTreeMap::from([
        ("network_id", network_id),
        ("ext_network_id", ext_network_id),
        ("floatingip_id", floatingip_id),
        ("subnet_id", subnet_id),
        ("port_id", port_id),
        ("agent_id", agent_id),
        ("host", "host-1".to_string()),
    ]);
    t
}

/// The builtin identity service with users `member_1` (password `secret`, project `proj_1`)
/// and `admin_1` (`admin`). Plain configured passwords: argon2 only runs for unknown users.
pub async fn identity() -> Target {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.auth.mode = AuthMode::Builtin;
    config.server.data_dir = dir.path().to_path_buf();
    let user = |name: &str, project: &str, roles: &[&str]| UserConfig {
        name: name.into(),
        password: Some("secret".into()),
        project: project.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    };
    config.auth.users = vec![user("member_1", "proj_1", &["member"]), user("admin_1", "admin", &["admin"])];
    let mut t = build(config, Some(dir)).await;
    t.world.insert("host", "host-1".into());
    t
}

/// The application a request is for: the identity service for `/identity/…`, else networking.
pub async fn target_for(req: &Req) -> Target {
    if req.path().starts_with("/identity/") { identity().await } else { networking().await }
}

impl Target {
    /// Replaces `{network_id}` and the other placeholders with the world's ids.
    pub fn fill(&self, text: &str) -> String {
        let mut s = text.to_string();
        for (k, v) in &self.world {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        s
    }

    /// Whether the application still answers a plain request (the admin's network list, or
    /// the identity service's discovery document) after another one.
    pub async fn probe(&self) -> Result<(), String> {
        let path = if self.world.contains_key("network_id") { "/v2.0/networks" } else { "/identity/v3/" };
        match self.send(&Req::new("GET", path)).await {
            Outcome::Answer { status: 200, .. } => Ok(()),
            Outcome::Answer { status, body } => {
                Err(format!("after this request, GET {path} answers {status}: {}", cut(&body)))
            }
            other => Err(format!("after this request, GET {path}: {other:?}")),
        }
    }

    pub async fn send(&self, req: &Req) -> Outcome {
        let mut b = Request::builder().method(req.method.as_str()).uri(self.fill(&req.target));
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), self.fill(v));
        }
        if req.body.is_some() && !req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            b = b.header("content-type", "application/json");
        }
        let body = match &req.body {
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Body::from(self.fill(text)),
                Err(_) => Body::from(bytes.clone()),
            },
            None => Body::empty(),
        };
        let request = match b.body(body) {
            Ok(r) => r,
            Err(e) => return Outcome::Unsendable(e.to_string()),
        };
        let router = self.router.clone();
        let answer = tokio::spawn(async move {
            let resp = router.oneshot(request).await.expect("router is infallible");
            let status = resp.status().as_u16();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body reads");
            (status, bytes.to_vec())
        })
        .await;
        match answer {
            Ok((status, body)) => Outcome::Answer { status, body },
            Err(e) if e.is_panic() => {
                let p = e.into_panic();
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Outcome::Panic(msg)
            }
            Err(e) => Outcome::Panic(e.to_string()),
        }
    }
}

/// The collection key a successful `GET` of `path` must have, if it is a list.
fn collection_of(path: &str) -> Option<&'static str> {
    match path.trim_end_matches(".json") {
        "/v2.0/networks" => Some("networks"),
        "/v2.0/subnets" => Some("subnets"),
        "/v2.0/ports" => Some("ports"),
        "/v2.0/agents" => Some("agents"),
        _ => None,
    }
}

fn cut(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    if s.chars().count() > 600 {
        format!("{}…", s.chars().take(600).collect::<String>())
    } else {
        s.into_owned()
    }
}

/// The properties of any answer to any request.
pub fn check(req: &Req, outcome: &Outcome) -> Result<(), String> {
    let (status, body) = match outcome {
        Outcome::Answer { status, body } => (*status, body),
        Outcome::Panic(m) => return Err(format!("the server panicked: {m}")),
        // Nothing reached the server: e.g. a generated URI that is not one.
        Outcome::Unsendable(_) => return Ok(()),
    };
    if status >= 500 {
        return Err(format!("status {status}: {}", cut(body)));
    }
    if body.is_empty() {
        return if status == 204 || (200..300).contains(&status) && req.method != "GET" {
            Ok(())
        } else {
            Err(format!("status {status} with an empty body"))
        };
    }
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| format!("status {status}: the body is not JSON ({e}): {}", cut(body)))?;
    if status >= 400 {
        if req.path().starts_with("/identity/") {
            let e = &json["error"];
            if e["code"].as_u64() != Some(u64::from(status))
                || !e["title"].is_string()
                || !e["message"].is_string()
            {
                return Err(format!("status {status}: not a Keystone error: {}", cut(body)));
            }
        } else {
            let e = &json["NeutronError"];
            if !e["type"].is_string() || !e["message"].is_string() {
                return Err(format!("status {status}: not a NeutronError: {}", cut(body)));
            }
        }
    } else if req.method == "GET"
        && let Some(coll) = collection_of(req.path())
        && !json[coll].is_array()
    {
        return Err(format!("status {status}: no `{coll}` list: {}", cut(body)));
    }
    Ok(())
}

/// `cases` per property, or `PROPTEST_CASES` when set (for longer local runs); shrinking is
/// capped (`PROPTEST_MAX_SHRINK_ITERS` lifts it) to keep failing runs short.
pub fn config(default_cases: u32) -> ProptestConfig {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: env("PROPTEST_CASES").unwrap_or(default_cases),
        max_shrink_iters: env("PROPTEST_MAX_SHRINK_ITERS").unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs a property over generated requests against one application (state accumulates
/// across cases, as on a real server). After each request a plain list must still answer (a
/// request must not break the server for the next ones); after a failure the application is
/// built afresh, so that shrinking sees each candidate on a healthy server. On failure prints
/// the minimal input in corpus form and, with `FUZZ_SAVE_CORPUS=1`, saves it as
/// `tests/corpus/<corpus_dir>/found-<hash>.txt`.
pub fn run<F: std::future::Future<Output = Target>>(
    corpus_dir: &str,
    cases: u32,
    make: fn() -> F,
    strategy: impl Strategy<Value = Req>,
) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let app = std::cell::RefCell::new(std::rc::Rc::new(rt.block_on(make())));
    let mut runner = TestRunner::new(config(cases));
    let statuses = std::cell::RefCell::new(BTreeMap::<String, usize>::new());
    // `FUZZ_TRACE=1`: every request and its answer on stderr (with `--nocapture`).
    let trace = std::env::var("FUZZ_TRACE").is_ok();
    let result = runner.run(&strategy, |req| {
        let t = app.borrow().clone();
        let verdict = rt.block_on(async {
            let outcome = t.send(&req).await;
            let key = match &outcome {
                Outcome::Answer { status, .. } => status.to_string(),
                Outcome::Panic(_) => "panic".into(),
                Outcome::Unsendable(_) => "unsendable".into(),
            };
            if trace {
                let body = match &outcome {
                    Outcome::Answer { body, .. } => cut(body),
                    other => format!("{other:?}"),
                };
                eprintln!("{key} {} {} <- {}", req.method, req.target, body);
            }
            *statuses.borrow_mut().entry(key).or_default() += 1;
            check(&req, &outcome)?;
            t.probe().await
        });
        if verdict.is_err() {
            let fresh = rt.block_on(make());
            *app.borrow_mut() = std::rc::Rc::new(fresh);
        }
        verdict.map_err(TestCaseError::fail)
    });
    // Shown with `--nocapture`: how deep the generated requests got.
    eprintln!("answers by status: {:?}", statuses.borrow());
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, req)) => {
            let saved = save(corpus_dir, &req);
            panic!("{reason}\nminimal failing input (corpus form{saved}):\n{}", req.describe());
        }
        Err(e) => panic!("{e}"),
    }
}

fn save(corpus_dir: &str, req: &Req) -> String {
    if std::env::var("FUZZ_SAVE_CORPUS").is_err() {
        return String::new();
    }
    let bytes = req.to_corpus();
    // FNV-1a: a stable name for the same input.
    let hash =
        bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3));
    let path = corpus_root().join(corpus_dir).join(format!("found-{hash:016x}.txt"));
    match std::fs::create_dir_all(path.parent().unwrap()).and_then(|_| std::fs::write(&path, &bytes)) {
        Ok(()) => format!(", saved as {}", path.display()),
        Err(e) => format!(", not saved: {e}"),
    }
}

/// `tests/corpus` of this crate.
pub fn corpus_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}
