//! Test harness for the API suite: the whole application in-process (noauth, identity from
//! `X-Project-Id`/`X-Roles`), driven with `tower::ServiceExt::oneshot`, plus helpers for
//! creating resources and asserting `NeutronError` bodies.
#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use neutrino_server::auth::AuthMode;
use neutrino_server::config::Config;
use neutrino_server::store::Store;
use serde_json::Value;
use tower::ServiceExt;

pub mod l3;
pub mod routers;

/// The agent credential of test applications.
pub const AGENT_TOKEN: &str = "agent-secret";

/// A running application (in-memory or file-backed store).
pub struct App {
    router: Router,
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

impl App {
    /// The application on an in-memory store.
    pub async fn new() -> Self {
        Self::with_store(Store::memory(), None).await
    }

    /// The application on a SQLite file in a fresh temporary directory (reader connections).
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&format!("sqlite:{}/db", dir.path().display())).expect("open sqlite store");
        Self::with_store(store, Some(dir)).await
    }

    async fn with_store(store: Store, dir: Option<tempfile::TempDir>) -> Self {
        Self::with_config(Config::default(), store, dir).await
    }

    /// The application with `config` (noauth, and the agent credential `agent-secret`).
    pub async fn with_config(mut config: Config, store: Store, dir: Option<tempfile::TempDir>) -> Self {
        config.auth.mode = AuthMode::Noauth;
        config.agents.token = Some(AGENT_TOKEN.into());
        let router = neutrino_server::run::app_with_store(config, store.clone()).await.expect("app builds");
        Self { router, store, _dir: dir }
    }

    /// The application's store (fixtures for resources the API does not make yet, and
    /// checks of the change feed).
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// An agent of the internal API (sends the agent credential).
    pub fn agent(&self) -> Caller {
        Caller { router: self.router.clone(), project: None, roles: String::new(), agent: true }
    }

    /// A caller of `project` with `roles` (comma list, e.g. `member,reader`).
    pub fn as_(&self, project: &str, roles: &str) -> Caller {
        Caller {
            router: self.router.clone(),
            project: Some(project.into()),
            roles: roles.into(),
            agent: false,
        }
    }

    /// The noauth admin (no `X-Project-Id`).
    pub fn admin(&self) -> Caller {
        Caller { router: self.router.clone(), project: None, roles: String::new(), agent: false }
    }
}

/// One identity making requests.
#[derive(Clone)]
pub struct Caller {
    router: Router,
    project: Option<String>,
    roles: String,
    agent: bool,
}

/// A response: its status and its JSON body (`Null` when empty).
pub type Resp = (StatusCode, Value);

impl Caller {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(p) = &self.project {
            req = req.header("x-project-id", p.as_str());
            if !self.roles.is_empty() {
                req = req.header("x-roles", self.roles.as_str());
            }
        }
        if self.agent {
            req = req.header("x-agent-token", AGENT_TOKEN);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).expect("request builds");
        let resp = self.router.clone().oneshot(req).await.expect("router is infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body reads");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!("{path}: response is not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(body.to_string().into_bytes()), &[]).await
    }
    pub async fn post_raw(&self, path: &str, body: &[u8]) -> Resp {
        self.send(Method::POST, path, Some(body.to_vec()), &[]).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(Method::PUT, path, Some(body.to_string().into_bytes()), &[]).await
    }
    pub async fn put_if(&self, path: &str, body: Value, revision: i64) -> Resp {
        let h = format!("revision_number={revision}");
        self.send(Method::PUT, path, Some(body.to_string().into_bytes()), &[("if-match", &h)]).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, &[]).await
    }
    pub async fn delete_if(&self, path: &str, revision: i64) -> Resp {
        let h = format!("revision_number={revision}");
        self.send(Method::DELETE, path, None, &[("if-match", &h)]).await
    }

    /// Creates a network and returns it (asserting 201).
    pub async fn network(&self, body: Value) -> Value {
        let (s, b) = self.post("/v2.0/networks", serde_json::json!({ "network": body })).await;
        assert_eq!(s, StatusCode::CREATED, "create network: {b}");
        b["network"].clone()
    }

    /// Creates a network named `name` and returns its id.
    pub async fn net(&self, name: &str) -> String {
        id(&self.network(serde_json::json!({ "name": name })).await)
    }

    /// Creates an IPv4 subnet and returns it (asserting 201); `extra` is merged into the body.
    pub async fn subnet(&self, network_id: &str, cidr: &str, extra: Value) -> Value {
        let mut body = serde_json::json!({"network_id": network_id, "ip_version": 4, "cidr": cidr});
        merge(&mut body, extra);
        let (s, b) = self.post("/v2.0/subnets", serde_json::json!({ "subnet": body })).await;
        assert_eq!(s, StatusCode::CREATED, "create subnet: {b}");
        b["subnet"].clone()
    }

    /// Creates a port and returns it (asserting 201); `extra` is merged into the body.
    pub async fn port(&self, network_id: &str, extra: Value) -> Value {
        let mut body = serde_json::json!({ "network_id": network_id });
        merge(&mut body, extra);
        let (s, b) = self.post("/v2.0/ports", serde_json::json!({ "port": body })).await;
        assert_eq!(s, StatusCode::CREATED, "create port: {b}");
        b["port"].clone()
    }
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(m), Value::Object(e)) = (into.as_object_mut(), extra) {
        m.extend(e);
    }
}

/// The `id` of a resource object.
pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

/// Asserts an error response: exact status, `NeutronError.type`, and an empty `detail`.
#[track_caller]
pub fn assert_error(r: &Resp, status: u16, kind: &str) {
    assert_eq!(r.0.as_u16(), status, "unexpected status; body {}", r.1);
    let e = &r.1["NeutronError"];
    assert!(e.is_object(), "no NeutronError in {}", r.1);
    assert_eq!(e["type"], kind, "unexpected error type; body {}", r.1);
    assert_eq!(e["detail"], "", "detail must be empty; body {}", r.1);
    assert!(e["message"].is_string(), "message must be a string; body {}", r.1);
}

/// Asserts an error response with an exact message too.
#[track_caller]
pub fn assert_error_msg(r: &Resp, status: u16, kind: &str, message: &str) {
    assert_error(r, status, kind);
    assert_eq!(r.1["NeutronError"]["message"], message, "unexpected message; body {}", r.1);
}

/// The ids of a list response's collection, in order.
pub fn ids(body: &Value, coll: &str) -> Vec<String> {
    body[coll].as_array().unwrap_or_else(|| panic!("no {coll} in {body}")).iter().map(id).collect()
}
