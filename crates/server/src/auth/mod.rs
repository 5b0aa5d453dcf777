//! Authentication: turns a request's headers into a [`RequestContext`]. Three modes, chosen by
//! `[auth] mode`: `builtin` (a Keystone v3-compatible identity service in this process, under
//! `/identity/v3`), `keystone` (tokens validated against an external Keystone), and `noauth`
//! (identity from `X-Project-Id`/`X-Roles` headers; loopback only). Spec: the Keystone v3
//! Identity API reference.

pub mod bootstrap;
pub mod builtin;
pub mod keystone;
mod login;
pub mod noauth;
pub mod password;
pub mod revocations;
mod routes;
pub mod throttle;
pub mod tokens;
pub mod users;
pub mod wire;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::HeaderMap;
use neutrino_model::ApiError;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::context::RequestContext;

pub use password::hash_password;

/// The authentication mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    #[default]
    Builtin,
    Keystone,
    Noauth,
}

/// `[auth]` in the configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// Lifetime of tokens the builtin identity service issues.
    pub token_ttl_secs: u64,
    /// `[[auth.users]]`: the builtin identity service's users (in addition to `<data_dir>/identity.toml`).
    pub users: Vec<UserConfig>,
    /// `[auth.keystone]`: the external Keystone, for `mode = "keystone"`.
    pub keystone: Option<KeystoneConfig>,
    /// Password checks (argon2, ~19 MiB each) run at once; unset: the machine's parallelism, at most 8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_check_concurrency: Option<usize>,
    /// Logins that may wait for a password check beyond those running; more are answered 503.
    pub password_check_queue: usize,
    /// Largest argon2 memory cost (KiB) a stored `password_hash` may have; a user whose hash asks
    /// for more is refused at start. At least 19456 (the cost of the hashes neutrino makes).
    pub password_hash_max_memory_kib: u32,
    /// Failed logins for one user (by name or id) within `lockout_secs` after which that user's
    /// logins are refused (401) for `lockout_secs`; 0 disables.
    pub lockout_user_failures: u32,
    /// The same per source address (IPv6: per /64); 0 disables.
    pub lockout_source_failures: u32,
    pub lockout_secs: u64,
    /// Most users and most sources whose failures are remembered (each table).
    pub lockout_table_size: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::default(),
            token_ttl_secs: 3600,
            users: Vec::new(),
            keystone: None,
            password_check_concurrency: None,
            password_check_queue: 32,
            password_hash_max_memory_kib: password::M_COST_KIB,
            lockout_user_failures: 10,
            lockout_source_failures: 30,
            lockout_secs: 300,
            lockout_table_size: 4096,
        }
    }
}

/// One `[[auth.users]]` entry: a user with a role set in one project (domain `Default`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// Derived from the name if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An argon2id PHC string (`neutrino hash-password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// A plain password; accepted, with a warning in the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The project's name.
    pub project: String,
    /// Derived from the project's name if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `[auth.keystone]`: where the external Keystone is and the service credential used to validate tokens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeystoneConfig {
    /// The v3 endpoint, e.g. `http://keystone:5000/v3`.
    pub url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// How long a validated token is trusted without asking Keystone again (never beyond its expiry).
    pub cache_ttl_secs: u64,
    /// Most tokens kept in the validation cache.
    pub cache_size: usize,
    /// Timeout of one request to Keystone.
    pub timeout_secs: u64,
}

impl Default for KeystoneConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            username: String::new(),
            password: String::new(),
            project_name: String::new(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            cache_ttl_secs: 300,
            cache_size: 10_000,
            timeout_secs: 10,
        }
    }
}

/// A boxed future, so that authenticators can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Validates the credentials of one request.
pub trait Authenticator: Send + Sync + 'static {
    /// The caller, or a 401 [`ApiError`] when the request carries no valid credential.
    fn authenticate<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Result<RequestContext, ApiError>>;
}

/// What the server needs from the auth layer.
pub struct Auth {
    pub authenticator: Arc<dyn Authenticator>,
    /// Routes to mount under `/identity/v3` (the builtin identity service), if any.
    pub identity_router: Option<axum::Router>,
}

/// Errors setting authentication up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("noauth mode is refused unless the server binds to a loopback address (bind = {0})")]
    NoauthNotLoopback(std::net::SocketAddr),
    #[error("{0}")]
    Setup(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("invalid user in the identity configuration: {0}")]
    User(String),
}

impl AuthError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }
}

/// The `X-Auth-Token` header of a request, if present and non-empty.
pub(crate) fn auth_token(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-auth-token").and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty())
}

/// Builds the authenticator (and identity routes) the configuration asks for.
pub async fn setup(config: &Config) -> Result<Auth, AuthError> {
    match config.auth.mode {
        AuthMode::Noauth => {
            if !config.server.bind.ip().is_loopback() {
                return Err(AuthError::NoauthNotLoopback(config.server.bind));
            }
            Ok(Auth { authenticator: Arc::new(noauth::NoAuth), identity_router: None })
        }
        AuthMode::Builtin => {
            let config = config.clone();
            // Key files, argon2 hashing of bootstrap passwords: blocking work.
            let service = tokio::task::spawn_blocking(move || builtin::Identity::open(&config))
                .await
                .map_err(|e| AuthError::Setup(format!("identity setup failed: {e}")))??;
            let service = Arc::new(service);
            Ok(Auth {
                authenticator: Arc::new(builtin::BuiltinAuthenticator(service.clone())),
                identity_router: Some(builtin::router(service)),
            })
        }
        AuthMode::Keystone => {
            let kc = config.auth.keystone.clone().ok_or_else(|| {
                AuthError::Setup("auth mode \"keystone\" needs an [auth.keystone] section".into())
            })?;
            let authenticator = keystone::KeystoneAuthenticator::new(kc)?;
            Ok(Auth { authenticator: Arc::new(authenticator), identity_router: None })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_config_parses_users_and_keystone() {
        let c = Config::parse(
            r#"
[auth]
mode = "keystone"
token_ttl_secs = 60
[[auth.users]]
name = "member_1"
password = "secret"
project = "proj_1"
roles = ["member"]
[auth.keystone]
url = "http://127.0.0.1:5000/v3"
username = "neutron"
password = "pw"
project_name = "service"
"#,
        )
        .unwrap();
        assert_eq!(c.auth.mode, AuthMode::Keystone);
        assert_eq!(c.auth.token_ttl_secs, 60);
        assert_eq!(c.auth.users[0].roles, vec!["member"]);
        let k = c.auth.keystone.unwrap();
        assert_eq!(k.cache_ttl_secs, 300);
        assert_eq!(k.user_domain_name, "Default");
        assert!(Config::parse("[auth]\nfoo = 1").is_err());
        assert_eq!(Config::parse("").unwrap().auth.token_ttl_secs, 3600);
        let d = Config::parse("").unwrap().auth;
        assert_eq!(
            (d.password_check_concurrency, d.password_check_queue, d.password_hash_max_memory_kib),
            (None, 32, 19456)
        );
        assert_eq!((d.lockout_user_failures, d.lockout_source_failures, d.lockout_secs), (10, 30, 300));
        let c = Config::parse("[auth]\npassword_check_concurrency = 3\nlockout_user_failures = 0").unwrap();
        assert_eq!((c.auth.password_check_concurrency, c.auth.lockout_user_failures), (Some(3), 0));
    }

    #[tokio::test]
    async fn noauth_is_refused_unless_bound_to_loopback() {
        let mut c = Config::default();
        c.auth.mode = AuthMode::Noauth;
        c.server.bind = "0.0.0.0:9696".parse().unwrap();
        assert!(matches!(setup(&c).await, Err(AuthError::NoauthNotLoopback(_))));
        c.server.bind = "[::1]:9696".parse().unwrap();
        assert!(setup(&c).await.is_ok());
    }
}
