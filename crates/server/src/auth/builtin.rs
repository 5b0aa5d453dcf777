//! `builtin` mode: a Keystone v3-compatible identity service (`GET /identity/v3`, `POST` and `GET
//! /identity/v3/auth/tokens`) and the authenticator that checks its tokens locally, without any
//! password hashing per request (neutron-api.md §9, §10).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use neutrino_model::ApiError;

use super::bootstrap::{bootstrap, load_identity_file};
use super::tokens::{Claims, TokenError, TokenKey, now_us};
use super::users::{User, UserStore, check_password_of_nobody};
use super::wire::{self, AuthRequest, CatalogInfo, ScopeReq};
use super::{AuthError, Authenticator, BoxFuture, auth_token};
use crate::config::Config;
use crate::context::RequestContext;

/// The identity service: its users, token key and catalog.
#[derive(Debug)]
pub struct Identity {
    users: UserStore,
    key: TokenKey,
    ttl_secs: u64,
    catalog: CatalogInfo,
}

impl Identity {
    pub fn new(users: UserStore, key: TokenKey, ttl_secs: u64, catalog: CatalogInfo) -> Self {
        Self { users, key, ttl_secs, catalog }
    }

    /// Loads (or, on first start, creates) the key, users and credentials under `data_dir`. Blocking.
    pub fn open(config: &Config) -> Result<Self, AuthError> {
        if config.auth.token_ttl_secs == 0 {
            return Err(AuthError::Setup("[auth] token_ttl_secs must be positive".into()));
        }
        let dir = &config.server.data_dir;
        std::fs::create_dir_all(dir).map_err(|e| AuthError::io(dir, e))?;
        let key = TokenKey::load_or_create(&dir.join("token.key"))?;
        let public_url = config.server.public_url();
        let mut users = UserStore::default();
        users.add_all(&config.auth.users, "[[auth.users]]")?;
        match load_identity_file(dir)? {
            Some(stored) => users.add_all(&stored, super::bootstrap::IDENTITY_FILE)?,
            None if config.auth.users.is_empty() => {
                let created = bootstrap(dir, &public_url, &config.server.region)?;
                users.add_all(&created, super::bootstrap::IDENTITY_FILE)?;
            }
            None => {}
        }
        if users.is_empty() {
            tracing::warn!("the builtin identity service has no users: every request will be refused");
        }
        tracing::info!(users = users.len(), "builtin identity service ready");
        let catalog = CatalogInfo { public_url, region: config.server.region.clone() };
        Ok(Self::new(users, key, config.auth.token_ttl_secs, catalog))
    }

    /// The claims of a valid token whose user still exists with the same project and roles.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = self.key.verify(token, now_us())?;
        match self.users.by_id(&claims.user_id) {
            Some(u) if u.project_id == claims.project_id && u.roles == claims.roles => Ok(claims),
            _ => Err(TokenError::Revoked),
        }
    }

    /// A new token for `user` in its project.
    pub fn issue(&self, user: &User, methods: Vec<String>) -> (String, Claims) {
        let claims = Claims::new(
            &user.id,
            &user.name,
            &user.project_id,
            &user.project_name,
            &user.roles,
            methods,
            now_us(),
            self.ttl_secs,
        );
        (self.key.sign(&claims), claims)
    }

    fn token_response(&self, status: StatusCode, token: &str, claims: &Claims) -> Response {
        let body = wire::token_body(claims, token, &self.catalog);
        let mut response = (status, axum::Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(token) {
            response.headers_mut().insert("x-subject-token", value);
        }
        response
    }
}

/// The routes to mount under `/identity/v3`. Mount them with `Router::nest_service`, so that the
/// discovery document answers at both `/identity/v3` and `/identity/v3/` (its self link).
pub fn router(identity: Arc<Identity>) -> Router {
    Router::new()
        .route("/", get(discovery))
        .route("/auth/tokens", get(validate_token).post(create_token))
        .with_state(identity)
}

async fn discovery(State(id): State<Arc<Identity>>) -> Response {
    axum::Json(wire::discovery(&id.catalog.public_url)).into_response()
}

/// Why a token request is answered with an error.
enum Refusal {
    BadRequest(String),
    Unauthorized,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::BadRequest(m) => wire::error(StatusCode::BAD_REQUEST, m),
            Refusal::Unauthorized => wire::unauthorized(),
        }
    }
}

/// `POST /auth/tokens`: password (or token) authentication, scoped to the user's project.
async fn create_token(State(id): State<Arc<Identity>>, body: Bytes) -> Response {
    match authenticate_request(&id, &body).await {
        Ok((user, methods)) => {
            let (token, claims) = id.issue(&user, methods);
            id.token_response(StatusCode::CREATED, &token, &claims)
        }
        Err(refusal) => refusal.into_response(),
    }
}

async fn authenticate_request(id: &Arc<Identity>, body: &[u8]) -> Result<(User, Vec<String>), Refusal> {
    let request: AuthRequest = serde_json::from_slice(body)
        .map_err(|e| Refusal::BadRequest(format!("Invalid authentication request: {e}")))?;
    let identity = request.auth.identity;
    let uses = |m: &str| identity.methods.iter().any(|x| x == m);
    let user = if let (true, Some(password)) = (uses("password"), identity.password) {
        let u = password.user;
        let found = match (&u.id, &u.name) {
            (Some(user_id), _) => id.users.by_id(user_id),
            (None, Some(name)) if wire::is_default_domain(u.domain.as_ref()) => id.users.by_name(name),
            (None, Some(_)) => None,
            (None, None) => return Err(Refusal::BadRequest("Expecting to find id or name in user".into())),
        }
        .cloned();
        let secret = u.password;
        let ok = tokio::task::spawn_blocking(move || match found {
            Some(user) if user.check_password(&secret) => Some(user),
            Some(_) => None,
            None => {
                check_password_of_nobody(&secret);
                None
            }
        })
        .await
        .ok()
        .flatten();
        ok.ok_or(Refusal::Unauthorized)?
    } else if let (true, Some(token)) = (uses("token"), identity.token) {
        let claims = id.verify(&token.id).map_err(|_| Refusal::Unauthorized)?;
        id.users.by_id(&claims.user_id).cloned().ok_or(Refusal::Unauthorized)?
    } else if identity.methods.is_empty() {
        return Err(Refusal::BadRequest("Expecting to find methods in identity".into()));
    } else {
        return Err(Refusal::Unauthorized);
    };
    check_scope(&user, request.auth.scope.as_ref())?;
    let method = if uses("password") { "password" } else { "token" };
    Ok((user, vec![method.to_string()]))
}

/// Refuses scopes other than the user's own project (unscoped requests get that project too).
fn check_scope(user: &User, scope: Option<&ScopeReq>) -> Result<(), Refusal> {
    match scope {
        None => Ok(()),
        Some(ScopeReq::Keyword(k)) if k == "unscoped" => Ok(()),
        Some(ScopeReq::Keyword(k)) => Err(Refusal::BadRequest(format!("Invalid scope {k:?}"))),
        Some(ScopeReq::Object { project: Some(p), .. }) => {
            let wanted = match (&p.id, &p.name) {
                (Some(pid), _) => Some(pid.as_str()),
                (None, Some(name)) if wire::is_default_domain(p.domain.as_ref()) => {
                    (*name == user.project_name).then_some(user.project_id.as_str())
                }
                (None, Some(_)) => None,
                (None, None) => {
                    return Err(Refusal::BadRequest("Expecting to find id or name in project".into()));
                }
            };
            if wanted == Some(user.project_id.as_str()) { Ok(()) } else { Err(Refusal::Unauthorized) }
        }
        // Domain and system scopes: no role assignments of that kind exist here.
        Some(ScopeReq::Object { .. }) => Err(Refusal::Unauthorized),
    }
}

/// `GET /auth/tokens`: validates `X-Subject-Token` for an admin or service caller (or the token itself).
async fn validate_token(State(id): State<Arc<Identity>>, headers: HeaderMap) -> Response {
    let Some(caller) = auth_token(&headers).and_then(|t| id.verify(t).ok()) else {
        return wire::unauthorized();
    };
    let subject =
        headers.get("x-subject-token").and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or_default();
    let privileged = caller.roles.iter().any(|r| r == "admin" || r == "service");
    if !privileged && Some(subject) != auth_token(&headers) {
        return wire::error(
            StatusCode::FORBIDDEN,
            "You are not authorized to perform the requested action: identity:validate_token.",
        );
    }
    match id.verify(subject) {
        Ok(claims) => id.token_response(StatusCode::OK, subject, &claims),
        Err(_) => wire::error(StatusCode::NOT_FOUND, "Could not find token."),
    }
}

/// Checks `X-Auth-Token` against the builtin identity service.
pub struct BuiltinAuthenticator(pub Arc<Identity>);

impl BuiltinAuthenticator {
    fn context(&self, headers: &HeaderMap) -> Result<RequestContext, ApiError> {
        let token = auth_token(headers).ok_or_else(ApiError::unauthorized)?;
        let claims = self.0.verify(token).map_err(|e| {
            tracing::debug!(error = %e, "token refused");
            ApiError::unauthorized()
        })?;
        Ok(RequestContext {
            user_id: claims.user_id,
            user_name: claims.user_name,
            project_id: claims.project_id,
            project_name: claims.project_name,
            roles: claims.roles,
        })
    }
}

impl Authenticator for BuiltinAuthenticator {
    fn authenticate<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Result<RequestContext, ApiError>> {
        Box::pin(async move { self.context(headers) })
    }
}

#[cfg(test)]
impl Identity {
    pub(crate) fn users_for_tests(&self) -> &UserStore {
        &self.users
    }
}

/// An identity service with plain-password users `(name, password, project, roles)`, for tests.
#[cfg(test)]
pub(crate) fn test_identity(users: &[(&str, &str, &str, &[&str])], public_url: &str) -> Identity {
    let entries: Vec<super::UserConfig> = users
        .iter()
        .map(|(name, password, project, roles)| super::UserConfig {
            name: name.to_string(),
            password: Some(password.to_string()),
            project: project.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        })
        .collect();
    let mut store = UserStore::default();
    store.add_all(&entries, "test").expect("valid test users");
    let catalog = CatalogInfo { public_url: public_url.into(), region: "RegionOne".into() };
    Identity::new(store, TokenKey::random(), 3600, catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-auth-token", HeaderValue::from_str(token).unwrap());
        h
    }

    #[tokio::test]
    async fn authenticator_accepts_issued_tokens_only() {
        let id = Arc::new(test_identity(&[("m", "pw", "p1", &["member"])], "http://h"));
        let auth = BuiltinAuthenticator(id.clone());
        let user = id.users.by_name("m").unwrap().clone();
        let (token, _) = id.issue(&user, vec!["password".into()]);
        let ctx = auth.authenticate(&headers(&token)).await.unwrap();
        assert_eq!((ctx.user_name.as_str(), ctx.project_name.as_str()), ("m", "p1"));
        assert_eq!(ctx.roles, vec!["member", "reader"]);
        assert!(ctx.can_write() && !ctx.is_admin());

        assert_eq!(auth.authenticate(&HeaderMap::new()).await.unwrap_err().status, 401);
        assert_eq!(auth.authenticate(&headers("garbage")).await.unwrap_err().status, 401);
        let old = Claims::new(&user.id, "m", &user.project_id, "p1", &user.roles, vec![], 0, 60);
        assert_eq!(auth.authenticate(&headers(&id.key.sign(&old))).await.unwrap_err().status, 401);
        let mut other = user.clone();
        other.id = "someone-else".into();
        let (stranger, _) = id.issue(&other, vec![]);
        assert_eq!(auth.authenticate(&headers(&stranger)).await.unwrap_err().status, 401);
    }

    #[test]
    fn scopes_other_than_the_users_project_are_refused() {
        let id = test_identity(&[("m", "pw", "p1", &["member"])], "http://h");
        let user = id.users.by_name("m").unwrap();
        let scope = |v: serde_json::Value| serde_json::from_value::<ScopeReq>(v).unwrap();
        let ok = |v| check_scope(user, Some(&scope(v))).is_ok();
        assert!(check_scope(user, None).is_ok());
        assert!(ok(serde_json::json!("unscoped")));
        assert!(ok(serde_json::json!({"project": {"name": "p1", "domain": {"id": "default"}}})));
        assert!(ok(serde_json::json!({"project": {"id": user.project_id}})));
        assert!(!ok(serde_json::json!({"project": {"name": "p2", "domain": {"name": "Default"}}})));
        assert!(!ok(serde_json::json!({"project": {"name": "p1", "domain": {"name": "other"}}})));
        assert!(!ok(serde_json::json!({"project": {"id": "nope"}})));
        assert!(!ok(serde_json::json!({"system": {"all": true}})));
        assert!(!ok(serde_json::json!({"project": {}})));
    }
}
