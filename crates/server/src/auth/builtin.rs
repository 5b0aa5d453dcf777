//! `builtin` mode: a Keystone v3-compatible identity service in this process (its routes are in
//! `routes.rs`, the login flow in `login.rs`) and the authenticator that checks its tokens
//! locally: one HMAC and a look-up in the revocation list, no password hashing per request
//! (the Keystone v3 Identity API reference).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use neutrino_model::ApiError;

use super::bootstrap::{bootstrap, load_identity_file};
use super::password::{M_COST_KIB, PasswordChecker};
use super::revocations::{Revocations, RevokeError};
use super::throttle::{Limits, Throttle};
use super::tokens::{Claims, TokenError, TokenKey, now_us};
use super::users::{User, UserStore};
use super::wire::{self, CatalogInfo};
use super::{AuthConfig, AuthError, Authenticator, BoxFuture, auth_token};
use crate::config::Config;
use crate::context::RequestContext;

pub use super::routes::router;

/// The identity service: its users, token key, catalog, password checker, login throttle and
/// revocation list.
#[derive(Debug)]
pub struct Identity {
    users: UserStore,
    key: TokenKey,
    ttl_secs: u64,
    pub(super) catalog: CatalogInfo,
    checker: PasswordChecker,
    throttle: Throttle,
    revocations: Revocations,
}

/// Refuses `[auth]` settings the identity service cannot work with.
fn check_config(auth: &AuthConfig) -> Result<(), AuthError> {
    let bad = |m: &str| Err(AuthError::Setup(format!("[auth] {m}")));
    if auth.token_ttl_secs == 0 {
        return bad("token_ttl_secs must be positive");
    }
    if auth.password_check_concurrency == Some(0) {
        return bad("password_check_concurrency must be positive");
    }
    if auth.password_hash_max_memory_kib < M_COST_KIB {
        return bad(&format!(
            "password_hash_max_memory_kib must be at least {M_COST_KIB} (the cost of the hashes neutrino makes)"
        ));
    }
    if auth.lockout_secs == 0 && (auth.lockout_user_failures > 0 || auth.lockout_source_failures > 0) {
        return bad("lockout_secs must be positive (or set lockout_*_failures = 0)");
    }
    if auth.lockout_table_size == 0 {
        return bad("lockout_table_size must be positive");
    }
    Ok(())
}

/// The password checker `auth` asks for. Allocates its first buffer and makes the dummy hash:
/// blocking.
pub fn password_checker(auth: &AuthConfig) -> Result<PasswordChecker, AuthError> {
    check_config(auth)?;
    let concurrency = auth.password_check_concurrency.unwrap_or_else(PasswordChecker::default_concurrency);
    let checker =
        PasswordChecker::new(concurrency, auth.password_check_queue, auth.password_hash_max_memory_kib);
    tracing::info!(
        concurrency,
        queue = auth.password_check_queue,
        max_memory_mib = checker.max_memory_kib() / 1024,
        "password checks bounded"
    );
    Ok(checker)
}

impl Identity {
    /// The service over `users` (loaded with `checker`), with the throttle `auth` asks for.
    pub fn new(
        users: UserStore,
        key: TokenKey,
        catalog: CatalogInfo,
        auth: &AuthConfig,
        checker: PasswordChecker,
        revocations: Revocations,
    ) -> Result<Self, AuthError> {
        check_config(auth)?;
        let throttle = Throttle::new(Limits {
            user_failures: auth.lockout_user_failures,
            source_failures: auth.lockout_source_failures,
            window: std::time::Duration::from_secs(auth.lockout_secs),
            table_size: auth.lockout_table_size,
        });
        Ok(Self { users, key, ttl_secs: auth.token_ttl_secs, catalog, checker, throttle, revocations })
    }

    /// Loads (or, on first start, creates) the key, users, credentials and revocation list under
    /// `data_dir`. Blocking.
    pub fn open(config: &Config) -> Result<Self, AuthError> {
        let checker = password_checker(&config.auth)?;
        let dir = &config.server.data_dir;
        std::fs::create_dir_all(dir).map_err(|e| AuthError::io(dir, e))?;
        let key = TokenKey::load_or_create(&dir.join("token.key"))?;
        let public_url = config.server.public_url();
        let mut users = UserStore::default();
        users.add_all(&config.auth.users, "[[auth.users]]", &checker)?;
        match load_identity_file(dir)? {
            Some(stored) => users.add_all(&stored, super::bootstrap::IDENTITY_FILE, &checker)?,
            None if config.auth.users.is_empty() => {
                let hash = |plain: &str| checker.hash(plain);
                let created = bootstrap(dir, &public_url, &config.server.region, &hash)?;
                users.add_all(&created, super::bootstrap::IDENTITY_FILE, &checker)?;
            }
            None => {}
        }
        if users.is_empty() {
            tracing::warn!("the builtin identity service has no users: every request will be refused");
        }
        let revocations = Revocations::open(dir, now_us())?;
        tracing::info!(users = users.len(), revoked = revocations.len(), "builtin identity service ready");
        let catalog = CatalogInfo { public_url, region: config.server.region.clone() };
        Self::new(users, key, catalog, &config.auth, checker, revocations)
    }

    /// The claims of a valid, unrevoked token whose user still exists with the same project and roles.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = self.key.verify(token, now_us())?;
        if self.revocations.is_revoked(&claims.audit_ids_of(token)) {
            return Err(TokenError::Revoked);
        }
        match self.users.by_id(&claims.user_id) {
            Some(u) if u.project_id == claims.project_id && u.roles == claims.roles => Ok(claims),
            _ => Err(TokenError::UserChanged),
        }
    }

    /// Claims for a new token of `user` in its project, valid the configured lifetime.
    pub fn claims_for(&self, user: &User, methods: Vec<String>) -> Claims {
        Claims::new(
            &user.id,
            &user.name,
            &user.project_id,
            &user.project_name,
            &user.roles,
            methods,
            now_us(),
            self.ttl_secs,
        )
    }

    /// The token text of `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        self.key.sign(claims)
    }

    /// A new token for `user` in its project.
    pub fn issue(&self, user: &User, methods: Vec<String>) -> (String, Claims) {
        let claims = self.claims_for(user, methods);
        (self.sign(&claims), claims)
    }

    /// Revokes the token `token` (with `claims`), and with it the tokens obtained from it with the
    /// `token` method; returns once that is on disk. Blocking.
    pub fn revoke(&self, token: &str, claims: &Claims) -> Result<(), RevokeError> {
        let own = claims.audit_ids_of(token).swap_remove(0);
        self.revocations.revoke(&own, claims.exp, now_us())
    }

    /// How many password verifications (argon2) have run.
    pub fn password_checks(&self) -> u64 {
        self.checker.checks()
    }

    /// The most memory password verifications can hold at once, in KiB (concurrency × the
    /// largest hash's memory cost).
    pub fn password_check_max_memory_kib(&self) -> usize {
        self.checker.max_memory_kib()
    }

    pub(crate) fn users(&self) -> &UserStore {
        &self.users
    }

    pub(super) fn checker(&self) -> &PasswordChecker {
        &self.checker
    }

    pub(super) fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    pub(super) fn token_response(&self, status: StatusCode, token: &str, claims: &Claims) -> Response {
        let body = wire::token_body(claims, token, &self.catalog);
        let mut response = (status, axum::Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(token) {
            response.headers_mut().insert("x-subject-token", value);
        }
        response
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

/// An identity service with plain-password users `(name, password, project, roles)` and the
/// default `[auth]` settings, kept in memory, for tests.
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
    let auth = AuthConfig::default();
    let checker = password_checker(&auth).expect("default settings are valid");
    let mut store = UserStore::default();
    store.add_all(&entries, "test", &checker).expect("valid test users");
    let catalog = CatalogInfo { public_url: public_url.into(), region: "RegionOne".into() };
    Identity::new(store, TokenKey::random(), catalog, &auth, checker, Revocations::in_memory())
        .expect("default settings are valid")
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

    #[tokio::test]
    async fn revoking_a_token_refuses_it_and_the_tokens_derived_from_it() {
        let id = Arc::new(test_identity(&[("m", "pw", "p1", &["member"])], "http://h"));
        let auth = BuiltinAuthenticator(id.clone());
        let user = id.users.by_name("m").unwrap().clone();
        let (first, first_claims) = id.issue(&user, vec!["password".into()]);
        let (second, _) = id.issue(&user, vec!["password".into()]);
        let derived_claims = first_claims.rescoped(&first, now_us());
        let derived = id.sign(&derived_claims);
        // Revoking a derived token leaves its origin alone.
        let from_second = id.sign(&id.verify(&second).unwrap().rescoped(&second, now_us()));
        id.revoke(&from_second, &id.verify(&from_second).unwrap()).unwrap();
        assert_eq!(id.verify(&from_second), Err(TokenError::Revoked));
        assert!(id.verify(&second).is_ok(), "the origin of a revoked derived token stays valid");

        id.revoke(&first, &first_claims).unwrap();
        for t in [&first, &derived] {
            assert_eq!(id.verify(t), Err(TokenError::Revoked));
            assert_eq!(auth.authenticate(&headers(t)).await.unwrap_err().status, 401);
        }
        assert!(auth.authenticate(&headers(&second)).await.is_ok(), "other tokens are unaffected");
    }

    #[test]
    fn settings_the_service_cannot_use_are_refused() {
        let base = AuthConfig { password_check_concurrency: Some(1), ..AuthConfig::default() };
        assert!(password_checker(&base).is_ok());
        for (bad, needle) in [
            (AuthConfig { token_ttl_secs: 0, ..base.clone() }, "token_ttl_secs"),
            (
                AuthConfig { password_check_concurrency: Some(0), ..base.clone() },
                "password_check_concurrency",
            ),
            (
                AuthConfig { password_hash_max_memory_kib: 1024, ..base.clone() },
                "password_hash_max_memory_kib",
            ),
            (AuthConfig { lockout_secs: 0, ..base.clone() }, "lockout_secs"),
            (AuthConfig { lockout_table_size: 0, ..base.clone() }, "lockout_table_size"),
        ] {
            let e = check_config(&bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        let off =
            AuthConfig { lockout_secs: 0, lockout_user_failures: 0, lockout_source_failures: 0, ..base };
        assert!(check_config(&off).is_ok(), "no window is needed when lockout is off");
    }
}
