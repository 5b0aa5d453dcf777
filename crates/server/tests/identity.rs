//! HTTP-level tests of the builtin identity service (`/identity/v3`) as Tempest and
//! python-openstackclient use it (the Keystone v3 Identity API; `clouds.yaml` as openstacksdk documents
//! it), including the first-start bootstrap.

use std::path::Path;
use std::sync::Arc;

use axum::http::HeaderMap;
use neutrino_server::auth::{self, Authenticator, UserConfig, hash_password};
use neutrino_server::config::Config;
use serde_json::{Value, json};

struct Server {
    base: String,
    authenticator: Arc<dyn Authenticator>,
    http: reqwest::Client,
}

/// Sets auth up for `data_dir` and serves its identity router under `/identity/v3` on a loopback port
/// (with `nest_service`, as the server should, so that `/identity/v3/` answers too).
async fn start(data_dir: &Path, users: Vec<UserConfig>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::default();
    config.server.data_dir = data_dir.to_path_buf();
    config.server.public_url = Some(format!("{base}/"));
    config.auth.users = users;
    let auth = auth::setup(&config).await.unwrap();
    let app = axum::Router::new().nest_service("/identity/v3", auth.identity_router.unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { base, authenticator: auth.authenticator, http: reqwest::Client::new() }
}

fn user(name: &str, password: &str, project: &str, roles: &[&str]) -> UserConfig {
    UserConfig {
        name: name.into(),
        password: Some(password.into()),
        project: project.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    }
}

fn tempest_users() -> Vec<UserConfig> {
    vec![
        user("member_1", "secret", "proj_1", &["member"]),
        user("reader_1", "secret", "proj_1", &["reader"]),
        user("admin_1", "secret", "admin", &["admin", "member"]),
    ]
}

/// The body Tempest's token client sends.
fn password_body(user: &str, password: &str, project: &str) -> Value {
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
    }})
}

impl Server {
    async fn post_token(&self, body: &Value) -> reqwest::Response {
        self.http.post(format!("{}/identity/v3/auth/tokens", self.base)).json(body).send().await.unwrap()
    }

    async fn token(&self, user: &str, password: &str, project: &str) -> String {
        let r = self.post_token(&password_body(user, password, project)).await;
        assert_eq!(r.status(), 201);
        r.headers()["x-subject-token"].to_str().unwrap().to_string()
    }

    async fn context(&self, token: &str) -> Result<neutrino_server::context::RequestContext, u16> {
        let mut h = HeaderMap::new();
        h.insert("x-auth-token", token.parse().unwrap());
        self.authenticator.authenticate(&h).await.map_err(|e| e.status)
    }
}

#[tokio::test]
async fn discovery_document() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), tempest_users()).await;
    // Mounted with `nest_service`, both `/identity/v3` and `/identity/v3/` (the self link) answer.
    let slash: Value =
        s.http.get(format!("{}/identity/v3/", s.base)).send().await.unwrap().json().await.unwrap();
    let r = s.http.get(format!("{}/identity/v3", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(slash, v);
    assert_eq!(
        v,
        json!({"version": {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": format!("{}/identity/v3/", s.base)}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}})
    );
}

#[tokio::test]
async fn password_token_has_the_shape_tempest_needs() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), tempest_users()).await;
    let r = s.post_token(&password_body("member_1", "secret", "proj_1")).await;
    assert_eq!(r.status(), 201);
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let v: Value = r.json().await.unwrap();
    let t = &v["token"];
    assert_eq!(t["methods"], json!(["password"]));
    for field in ["expires_at", "issued_at"] {
        let text = t[field].as_str().unwrap();
        assert!(chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.6fZ").is_ok(), "{text}");
        assert_eq!(text.len(), "2099-01-01T00:00:00.000000Z".len());
    }
    assert_eq!(t["user"]["name"], "member_1");
    assert_eq!(t["user"]["domain"], json!({"id": "default", "name": "Default"}));
    assert_eq!(t["project"]["name"], "proj_1");
    assert_eq!(t["project"]["domain"]["id"], "default");
    let roles: Vec<&str> =
        t["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(roles, ["member", "reader"]);
    assert!(t["roles"][0]["id"].as_str().unwrap().len() == 32);
    let catalog = t["catalog"].as_array().unwrap();
    let network = catalog.iter().find(|c| c["type"] == "network").unwrap();
    let public =
        network["endpoints"].as_array().unwrap().iter().find(|e| e["interface"] == "public").unwrap();
    assert_eq!(public["url"], s.base);
    assert_eq!(public["region"], "RegionOne");
    assert_eq!(public["region_id"], "RegionOne");
    assert_eq!(network["endpoints"].as_array().unwrap().len(), 3);
    let identity = catalog.iter().find(|c| c["type"] == "identity").unwrap();
    assert_eq!(identity["endpoints"][0]["url"], format!("{}/identity/v3", s.base));

    let ctx = s.context(&token).await.unwrap();
    assert_eq!(ctx.project_id, t["project"]["id"].as_str().unwrap());
    assert_eq!(ctx.user_id, t["user"]["id"].as_str().unwrap());
    assert!(ctx.can_write() && !ctx.is_admin());

    // Scope by project id, and unscoped requests, give the same project.
    let by_id = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "member_1", "password": "secret", "domain": {"id": "default"}}}},
        "scope": {"project": {"id": t["project"]["id"]}}}});
    assert_eq!(s.post_token(&by_id).await.status(), 201);
    let unscoped = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": t["user"]["id"], "password": "secret"}}}}});
    let r = s.post_token(&unscoped).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["token"]["project"]["name"], "proj_1");
}

#[tokio::test]
async fn bad_credentials_and_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), tempest_users()).await;
    let unauthorized = json!({"error": {"code": 401, "title": "Unauthorized",
        "message": "The request you have made requires authentication."}});
    for body in [
        password_body("member_1", "wrong", "proj_1"),
        password_body("nobody", "secret", "proj_1"),
        password_body("member_1", "secret", "admin"),
        password_body("member_1", "secret", "no_such_project"),
    ] {
        let r = s.post_token(&body).await;
        assert_eq!(r.status(), 401, "{body}");
        assert!(r.headers().get("x-subject-token").is_none());
        assert_eq!(r.json::<Value>().await.unwrap(), unauthorized);
    }
    let url = format!("{}/identity/v3/auth/tokens", s.base);
    for body in ["not json", "{}", r#"{"auth": {"identity": {"methods": ["password"]}, "scope": 5}}"#] {
        let r = s.http.post(&url).header("content-type", "application/json").body(body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], 400);
        assert!(v["error"]["message"].is_string());
    }
    assert_eq!(s.context("garbage").await.unwrap_err(), 401);
    assert_eq!(s.authenticator.authenticate(&HeaderMap::new()).await.unwrap_err().status, 401);
}

#[tokio::test]
async fn token_validation_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), tempest_users()).await;
    let admin = s.token("admin_1", "secret", "admin").await;
    let member = s.token("member_1", "secret", "proj_1").await;
    let reader = s.token("reader_1", "secret", "proj_1").await;
    let get = |auth: &str, subject: &str| {
        s.http
            .get(format!("{}/identity/v3/auth/tokens", s.base))
            .header("x-auth-token", auth)
            .header("x-subject-token", subject)
            .send()
    };
    let r = get(&admin, &member).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-subject-token"].to_str().unwrap(), member);
    assert_eq!(r.json::<Value>().await.unwrap()["token"]["user"]["name"], "member_1");
    assert_eq!(get(&admin, "bogus").await.unwrap().status(), 404);
    assert_eq!(get("bogus", &member).await.unwrap().status(), 401);
    assert_eq!(get(&reader, &member).await.unwrap().status(), 403);
    assert_eq!(get(&member, &member).await.unwrap().status(), 200);
}

#[tokio::test]
async fn first_start_writes_credentials_once_and_tokens_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Vec::new()).await;
    let clouds_path = dir.path().join("clouds.yaml");
    let clouds = std::fs::read_to_string(&clouds_path).unwrap();
    let identity = std::fs::read_to_string(dir.path().join("identity.toml")).unwrap();
    #[cfg(unix)]
    for file in ["clouds.yaml", "identity.toml", "token.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    assert!(identity.contains("$argon2id$") && !identity.contains("password ="));
    for needle in [
        "  neutrino-admin:\n",
        "  neutrino-demo:\n",
        "auth_type: password",
        &format!("auth_url: \"{}/identity/v3\"", s.base),
        "user_domain_name: Default",
        "project_domain_name: Default",
        "region_name: \"RegionOne\"",
        "identity_api_version: 3",
    ] {
        assert!(clouds.contains(needle), "{needle} missing from\n{clouds}");
    }
    // The admin password in clouds.yaml works.
    let admin_block =
        &clouds[clouds.find("neutrino-admin:").unwrap()..clouds.find("neutrino-demo:").unwrap()];
    let line = admin_block.lines().find(|l| l.trim_start().starts_with("password:")).unwrap();
    let password: String =
        serde_json::from_str(line.trim_start().trim_start_matches("password:").trim()).unwrap();
    let token = s.token("admin", &password, "admin").await;
    let ctx = s.context(&token).await.unwrap();
    assert!(ctx.is_admin() && ctx.project_name == "admin");

    // A second start keeps the credentials, and accepts the token issued before it.
    let again = start(dir.path(), Vec::new()).await;
    assert_eq!(std::fs::read_to_string(&clouds_path).unwrap(), clouds);
    assert_eq!(std::fs::read_to_string(dir.path().join("identity.toml")).unwrap(), identity);
    assert_eq!(again.context(&token).await.unwrap(), ctx);
    // Configured users are added to the stored ones.
    let hashed = UserConfig {
        password: None,
        password_hash: Some(hash_password("pw")),
        ..user("x", "", "p", &["reader"])
    };
    let third = start(dir.path(), vec![hashed]).await;
    third.token("x", "pw", "p").await;
    third.token("admin", &password, "admin").await;
}

/// A password token's text and body.
async fn password_token(s: &Server, user: &str, project: &str) -> (String, Value) {
    let r = s.post_token(&password_body(user, "secret", project)).await;
    assert_eq!(r.status(), 201);
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    (token, r.json().await.unwrap())
}

fn token_method_body(token: &str, project: &str) -> Value {
    json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
}

#[tokio::test]
async fn rescoping_with_the_token_method_keeps_the_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), tempest_users()).await;
    let (first, v) = password_token(&s, "member_1", "proj_1").await;
    let original = &v["token"];
    let audit = original["audit_ids"].as_array().unwrap().clone();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].as_str().unwrap().len(), 22);
    let (_, other) = password_token(&s, "member_1", "proj_1").await;
    assert_ne!(other["token"]["audit_ids"], original["audit_ids"], "every token has its own audit id");

    let mut current = first.clone();
    for _ in 0..3 {
        let r = s.post_token(&token_method_body(&current, "proj_1")).await;
        assert_eq!(r.status(), 201);
        current = r.headers()["x-subject-token"].to_str().unwrap().to_string();
        let t = r.json::<Value>().await.unwrap()["token"].clone();
        assert_eq!(t["expires_at"], original["expires_at"], "a re-scoped token never outlives its origin");
        assert!(t["issued_at"].as_str().unwrap() >= original["issued_at"].as_str().unwrap());
        assert_eq!(t["methods"], json!(["token", "password"]));
        let ids = t["audit_ids"].as_array().unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[1], audit[0], "the second audit id is the chain's first");
        assert_ne!(ids[0], audit[0]);
        assert_eq!(t["user"]["name"], "member_1");
    }
    assert!(s.context(&current).await.is_ok());
    // Re-scoping to another project is refused as with a password.
    assert_eq!(s.post_token(&token_method_body(&first, "admin")).await.status(), 401);
}

impl Server {
    fn tokens_request(
        &self,
        method: reqwest::Method,
        auth: Option<&str>,
        subject: &str,
    ) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}/identity/v3/auth/tokens", self.base));
        if let Some(auth) = auth {
            r = r.header("x-auth-token", auth);
        }
        r.header("x-subject-token", subject)
    }

    async fn revoke(&self, auth: Option<&str>, subject: &str) -> reqwest::Response {
        self.tokens_request(reqwest::Method::DELETE, auth, subject).send().await.unwrap()
    }

    async fn status(&self, method: reqwest::Method, auth: &str, subject: &str) -> u16 {
        self.tokens_request(method, Some(auth), subject).send().await.unwrap().status().as_u16()
    }
}

async fn assert_keystone_error(r: reqwest::Response, code: u16) -> String {
    assert_eq!(r.status(), code);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    let e = v["error"].as_object().unwrap_or_else(|| panic!("not a Keystone error: {v}"));
    assert_eq!(e["code"], code, "{v}");
    assert!(e["title"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
    e["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn delete_revokes_a_token_everywhere() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), tempest_users()).await;
    let admin = s.token("admin_1", "secret", "admin").await;
    let reader = s.token("reader_1", "secret", "proj_1").await;
    let m1 = s.token("member_1", "secret", "proj_1").await;
    let m2 = s.token("member_1", "secret", "proj_1").await;
    let m3 = s.token("member_1", "secret", "proj_1").await;
    let derived = {
        let r = s.post_token(&token_method_body(&m1, "proj_1")).await;
        r.headers()["x-subject-token"].to_str().unwrap().to_string()
    };

    // Refusals: no or a bad caller token, someone else's token without admin, an invalid subject.
    assert_keystone_error(s.revoke(None, &m1).await, 401).await;
    assert_keystone_error(s.revoke(Some("bogus"), &m1).await, 401).await;
    assert_keystone_error(s.revoke(Some(&reader), &m1).await, 403).await;
    let m = assert_keystone_error(s.revoke(Some(&admin), "bogus").await, 404).await;
    assert_eq!(m, "Could not find token.");
    assert!(s.context(&m1).await.is_ok(), "refused revocations revoke nothing");

    // A token revokes itself; admin revokes anyone's.
    let r = s.revoke(Some(&m1), &m1).await;
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    for t in [&m1, &derived] {
        assert_eq!(s.status(Method::GET, &admin, t).await, 404, "GET");
        assert_eq!(s.status(Method::HEAD, &admin, t).await, 404, "HEAD");
        assert_eq!(s.context(t).await.unwrap_err(), 401, "networking API");
        assert_eq!(s.post_token(&token_method_body(t, "proj_1")).await.status(), 401, "re-scope");
        assert_eq!(s.status(Method::GET, t, &admin).await, 401, "as a caller");
    }
    assert_keystone_error(s.revoke(Some(&admin), &m1).await, 404).await;
    // The user's other tokens are unaffected, and HEAD checks them without a body.
    assert!(s.context(&m2).await.is_ok());
    let head = s.tokens_request(Method::HEAD, Some(&admin), &m2).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["x-subject-token"].to_str().unwrap(), m2);
    assert!(head.bytes().await.unwrap().is_empty());
    assert_eq!(s.status(Method::GET, &m2, &m2).await, 200);

    // A user may revoke another of their own tokens (Keystone's token_subject rule), admin any.
    assert_eq!(s.revoke(Some(&m2), &m3).await.status(), 204);
    assert_eq!(s.revoke(Some(&admin), &m2).await.status(), 204);
    for t in [&m2, &m3] {
        assert_eq!(s.context(t).await.unwrap_err(), 401);
    }
    assert!(s.context(&admin).await.is_ok() && s.context(&reader).await.is_ok());
    let fresh = s.token("member_1", "secret", "proj_1").await;
    assert!(s.context(&fresh).await.is_ok(), "the user can still log in");
}

#[tokio::test]
async fn revocations_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), tempest_users()).await;
    let revoked = s.token("member_1", "secret", "proj_1").await;
    let kept = s.token("member_1", "secret", "proj_1").await;
    assert_eq!(s.revoke(Some(&revoked), &revoked).await.status(), 204);
    let path = dir.path().join("revoked_tokens.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = start(dir.path(), tempest_users()).await;
    assert_eq!(again.context(&revoked).await.unwrap_err(), 401);
    assert!(again.context(&kept).await.is_ok());
    assert_eq!(again.status(reqwest::Method::GET, &kept, &revoked).await, 404);
}

#[tokio::test]
async fn every_identity_error_is_keystone_shaped() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), tempest_users()).await;
    let url = |p: &str| format!("{}/identity/v3{p}", s.base);
    for path in ["/nope", "/auth", "/auth/tokens/extra", "/projects"] {
        let m = assert_keystone_error(s.http.get(url(path)).send().await.unwrap(), 404).await;
        assert_eq!(m, "The resource could not be found.", "{path}");
    }
    for (method, path) in [("PUT", "/auth/tokens"), ("PATCH", "/auth/tokens"), ("POST", "/"), ("DELETE", "")]
    {
        let r = s.http.request(method.parse().unwrap(), url(path)).send().await.unwrap();
        let m = assert_keystone_error(r, 405).await;
        assert_eq!(m, "The method is not allowed for the requested URL.", "{method} {path}");
    }
    for body in ["not json".to_string(), "{}".into(), "[1]".into(), "\u{0}".into()] {
        let r = s.http.post(url("/auth/tokens")).body(body.clone()).send().await.unwrap();
        assert_keystone_error(r, 400).await;
    }
    // Over Keystone's default max_request_body_size, refused before parsing.
    let big = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "member_1", "password": "x".repeat(200_000)}}}}});
    let m = assert_keystone_error(s.post_token(&big).await, 413).await;
    assert_eq!(m, "Request is too large.");
    // Token validation without a subject.
    let admin = s.token("admin_1", "secret", "admin").await;
    let r = s.http.get(url("/auth/tokens")).header("x-auth-token", &admin).send().await.unwrap();
    assert_keystone_error(r, 400).await;
    // Positive control: the same routes still answer.
    assert_eq!(s.http.get(url("/")).send().await.unwrap().status(), 200);
    assert_eq!(s.post_token(&password_body("member_1", "secret", "proj_1")).await.status(), 201);
}
