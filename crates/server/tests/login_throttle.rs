//! Repeated failed logins to the builtin identity service (`POST /identity/v3/auth/tokens`) are
//! refused per user and per source address once over the configured threshold, without another
//! password check, and logged; other users and sources are not affected, and success resets the
//! user's count. The source comes from axum's `ConnectInfo<SocketAddr>` request extension.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use neutrino_server::auth::UserConfig;
use neutrino_server::auth::builtin::{Identity, router};
use neutrino_server::config::Config;
use serde_json::{Value, json};
use tower::ServiceExt;

const USER_FAILURES: u32 = 3;
const SOURCE_FAILURES: u32 = 5;

struct Service {
    identity: Arc<Identity>,
    app: axum::Router,
    _dir: tempfile::TempDir,
}

fn service() -> Service {
    log();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    config.auth.lockout_user_failures = USER_FAILURES;
    config.auth.lockout_source_failures = SOURCE_FAILURES;
    config.auth.users = ["member_1", "reader_1", "admin_1"]
        .iter()
        .map(|name| UserConfig {
            name: name.to_string(),
            password: Some("secret".into()),
            project: "proj_1".into(),
            roles: vec!["member".into()],
            ..Default::default()
        })
        .collect();
    let identity = Arc::new(Identity::open(&config).unwrap());
    Service { app: router(identity.clone()), identity, _dir: dir }
}

impl Service {
    /// Logs `user` in with `password` from `source` (`None`: no `ConnectInfo`); the status and body.
    async fn login(&self, user: &str, password: &str, source: Option<&str>) -> (u16, Value) {
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"id": "default"}}}}}});
        let mut req = Request::post("/auth/tokens")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        if let Some(source) = source {
            let addr: SocketAddr = source.parse().unwrap();
            req.extensions_mut().insert(ConnectInfo(addr));
        }
        let r = self.app.clone().oneshot(req).await.unwrap();
        let status = r.status().as_u16();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// A failed login, asserted to be Keystone's plain 401 (a lockout looks the same).
    async fn fail(&self, user: &str, password: &str, source: Option<&str>) {
        let (status, body) = self.login(user, password, source).await;
        assert_eq!(status, 401, "{user} from {source:?}: {body}");
        assert_eq!(
            body,
            json!({"error": {"code": 401, "title": "Unauthorized",
                "message": "The request you have made requires authentication."}})
        );
    }

    async fn succeed(&self, user: &str, source: Option<&str>) {
        let (status, body) = self.login(user, "secret", source).await;
        assert_eq!(status, 201, "{user} from {source:?}: {body}");
    }

    fn checks(&self) -> u64 {
        self.identity.password_checks()
    }
}

const A: &str = "192.0.2.1:40000";
const B: &str = "192.0.2.2:40000";

#[tokio::test]
async fn a_user_is_locked_out_after_repeated_failures_and_others_are_not() {
    let s = service();
    for _ in 0..USER_FAILURES {
        s.fail("member_1", "wrong", Some(A)).await;
    }
    assert_eq!(s.checks(), u64::from(USER_FAILURES));
    // Now even the right password is refused, from any source, without a password check.
    s.fail("member_1", "secret", Some(A)).await;
    s.fail("member_1", "secret", Some(B)).await;
    s.fail("member_1", "secret", None).await;
    assert_eq!(s.checks(), u64::from(USER_FAILURES), "no argon2 while locked out");
    // Another user from the same source still gets in (the source is below its threshold).
    s.succeed("reader_1", Some(A)).await;
    assert_eq!(s.checks(), u64::from(USER_FAILURES) + 1);
}

#[tokio::test]
async fn unknown_user_names_are_locked_out_like_known_ones() {
    let s = service();
    for _ in 0..USER_FAILURES {
        s.fail("nobody", "x", None).await;
    }
    let checks = s.checks();
    s.fail("nobody", "x", None).await;
    assert_eq!(s.checks(), checks, "locked out as a known user would be");
    s.succeed("member_1", None).await;
}

#[tokio::test]
async fn a_source_is_locked_out_after_repeated_failures_and_others_are_not() {
    let s = service();
    // One failure each for many names: no user reaches its threshold, the source does.
    for i in 0..SOURCE_FAILURES {
        s.fail(&format!("guess-{i}"), "x", Some(A)).await;
    }
    let checks = s.checks();
    s.fail("admin_1", "secret", Some(A)).await;
    s.fail("admin_1", "secret", Some("192.0.2.1:40001")).await;
    assert_eq!(s.checks(), checks, "no argon2 for a locked-out source, whatever its port");
    s.succeed("admin_1", Some(B)).await;
    // A success from the locked source's users does not unlock the source.
    s.fail("admin_1", "secret", Some(A)).await;
}

#[tokio::test]
async fn a_successful_login_resets_the_users_count() {
    let s = service();
    // Each from its own source, so that only the user's count matters.
    let mut port = 50000;
    let mut next = || {
        port += 1;
        format!("198.51.100.{}:{port}", port % 200)
    };
    for _ in 0..3 {
        for _ in 0..USER_FAILURES - 1 {
            s.fail("member_1", "wrong", Some(&next())).await;
        }
        s.succeed("member_1", Some(&next())).await;
    }
    for _ in 0..USER_FAILURES {
        s.fail("member_1", "wrong", Some(&next())).await;
    }
    s.fail("member_1", "secret", Some(&next())).await;
}

/// What the log says, for the whole test binary.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the global subscriber before anything logs (tracing caches each call site's interest,
/// so a subscriber set later, or for one thread only, can miss events), and returns its log.
fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        log
    })
}

#[tokio::test]
async fn failures_are_logged_with_user_and_source() {
    let s = service();
    let source = Some("203.0.113.9:1234");
    for _ in 0..USER_FAILURES {
        s.fail("log-probe", "wrong", source).await;
    }
    s.fail("log-probe", "wrong", source).await;
    s.succeed("reader_1", source).await;
    // The other tests log too; this one's lines are those with its address.
    let text = String::from_utf8(log().0.lock().unwrap().clone()).unwrap();
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("203.0.113.9")).collect();
    let failed: Vec<&&str> = ours.iter().filter(|l| l.contains("failed login user=")).collect();
    assert_eq!(failed.len(), USER_FAILURES as usize, "one warning per checked failure:\n{text}");
    for line in &failed {
        assert!(line.contains("WARN") && line.contains("user=\"log-probe\""), "{line}");
    }
    let locked: Vec<&&str> = ours.iter().filter(|l| l.contains("too many failed logins")).collect();
    assert_eq!(locked.len(), 1, "{text}");
    assert!(locked[0].contains("WARN") && locked[0].contains("lock=User"), "{}", locked[0]);
    assert!(!ours.iter().any(|l| l.contains("reader_1")), "a success is not a warning:\n{text}");
}
