//! Authentication: turns a request's headers into a [`RequestContext`]. Three modes, chosen by
//! `[auth] mode`: `builtin` (a Keystone v3-compatible identity service in this process, under
//! `/identity/v3`), `keystone` (tokens validated against an external Keystone), and `noauth`
//! (identity from `X-Project-Id`/`X-Roles` headers; loopback only).

pub mod noauth;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::HeaderMap;
use neutrino_model::ApiError;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::context::RequestContext;

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
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
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
        AuthMode::Builtin | AuthMode::Keystone => {
            Err(AuthError::Setup("this authentication mode is not built yet".into()))
        }
    }
}
