//! `keystone` mode: incoming `X-Auth-Token`s are validated by an external Keystone v3
//! (`GET /v3/auth/tokens` with `X-Subject-Token`, as keystonemiddleware does), using a service
//! credential, with a bounded cache of positive answers (the Keystone v3 Identity API reference).

use std::collections::HashMap;
use std::time::Duration;

use axum::http::HeaderMap;
use neutrino_model::ApiError;
use parking_lot::Mutex;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::tokens::now_us;
use super::wire::{RemoteTokenResponse, parse_time};
use super::{AuthError, Authenticator, BoxFuture, KeystoneConfig, auth_token};
use crate::context::RequestContext;

/// A service token is renewed this long before Keystone says it expires.
const RENEW_MARGIN_US: i64 = 60_000_000;

fn unavailable() -> ApiError {
    ApiError::new(503, "ServiceUnavailable", "The identity service is unavailable; try again later.")
}

struct ServiceToken {
    token: String,
    expires_us: i64,
}

struct Entry {
    context: RequestContext,
    until_us: i64,
}

/// Validated tokens (keyed by their SHA-256), each trusted until `until_us`.
struct Cache {
    entries: HashMap<[u8; 32], Entry>,
    capacity: usize,
}

impl Cache {
    fn get(&self, key: &[u8; 32], now: i64) -> Option<RequestContext> {
        self.entries.get(key).filter(|e| e.until_us > now).map(|e| e.context.clone())
    }

    fn insert(&mut self, key: [u8; 32], entry: Entry, now: i64) {
        if self.capacity == 0 || entry.until_us <= now {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, e| e.until_us > now);
            if self.entries.len() >= self.capacity {
                let soonest = self.entries.iter().min_by_key(|(_, e)| e.until_us).map(|(k, _)| *k);
                if let Some(k) = soonest {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries.insert(key, entry);
    }
}

/// Validates tokens against an external Keystone.
pub struct KeystoneAuthenticator {
    config: KeystoneConfig,
    /// `{url}/auth/tokens`.
    tokens_url: String,
    http: reqwest::Client,
    /// Held across the renewal request, so that concurrent requests renew once.
    service: tokio::sync::Mutex<Option<ServiceToken>>,
    cache: Mutex<Cache>,
}

impl KeystoneAuthenticator {
    pub fn new(config: KeystoneConfig) -> Result<Self, AuthError> {
        let parsed = url::Url::parse(&config.url)
            .map_err(|e| AuthError::Setup(format!("[auth.keystone] url {:?}: {e}", config.url)))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(AuthError::Setup("[auth.keystone] url must be http or https".into()));
        }
        if config.username.is_empty() || config.project_name.is_empty() {
            return Err(AuthError::Setup("[auth.keystone] needs username and project_name".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .build()
            .map_err(|e| AuthError::Setup(format!("cannot build the Keystone HTTP client: {e}")))?;
        let tokens_url = format!("{}/auth/tokens", config.url.trim_end_matches('/'));
        let cache = Mutex::new(Cache { entries: HashMap::new(), capacity: config.cache_size });
        Ok(Self { config, tokens_url, http, service: tokio::sync::Mutex::new(None), cache })
    }

    /// A service token: the cached one, or a new one when there is none, it is about to expire, or
    /// it is `stale` (Keystone refused it).
    async fn service_token(&self, stale: Option<&str>) -> Result<String, ApiError> {
        let mut slot = self.service.lock().await;
        if let Some(current) = slot.as_ref() {
            let refused = stale == Some(current.token.as_str());
            if !refused && current.expires_us - RENEW_MARGIN_US > now_us() {
                return Ok(current.token.clone());
            }
        }
        let fresh = self.password_auth().await?;
        let token = fresh.token.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    async fn password_auth(&self) -> Result<ServiceToken, ApiError> {
        let c = &self.config;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "password": c.password, "domain": {"name": c.user_domain_name}}}},
            "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}},
        }});
        let response = self.http.post(&self.tokens_url).json(&body).send().await.map_err(|e| {
            tracing::error!(url = %self.tokens_url, error = %e, "Keystone unreachable");
            unavailable()
        })?;
        let status = response.status();
        if !status.is_success() {
            tracing::error!(%status, user = %c.username, "Keystone refused the service credential");
            return Err(unavailable());
        }
        let token = response
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
            .ok_or_else(|| {
                tracing::error!("Keystone issued a service token without X-Subject-Token");
                unavailable()
            })?;
        let expires_us = match response.json::<RemoteTokenResponse>().await {
            Ok(r) => parse_time(&r.token.expires_at),
            Err(_) => None,
        }
        .unwrap_or_else(|| now_us() + RENEW_MARGIN_US * 2);
        Ok(ServiceToken { token, expires_us })
    }

    /// Asks Keystone about `token`; `Ok(None)` when Keystone says it is not valid.
    async fn ask(&self, service: &str, token: &str) -> Result<Option<(RequestContext, i64)>, Status> {
        let response = self
            .http
            .get(&self.tokens_url)
            .header("x-auth-token", service)
            .header("x-subject-token", token)
            .send()
            .await
            .map_err(|e| {
                tracing::error!(url = %self.tokens_url, error = %e, "Keystone unreachable");
                Status::Unavailable
            })?;
        match response.status().as_u16() {
            200 | 203 => {}
            401 => return Err(Status::ServiceTokenRefused),
            404 => return Ok(None),
            other => {
                tracing::error!(status = other, "unexpected answer from Keystone token validation");
                return Err(Status::Unavailable);
            }
        }
        let body: RemoteTokenResponse = response.json().await.map_err(|e| {
            tracing::error!(error = %e, "unreadable token body from Keystone");
            Status::Unavailable
        })?;
        let t = body.token;
        let (Some(project), Some(expires_us)) = (t.project, parse_time(&t.expires_at)) else {
            // Unscoped, domain- or system-scoped tokens carry no project to act in.
            return Ok(None);
        };
        let context = RequestContext {
            user_name: if t.user.name.is_empty() { t.user.id.clone() } else { t.user.name },
            user_id: t.user.id,
            project_name: if project.name.is_empty() { project.id.clone() } else { project.name },
            project_id: project.id,
            roles: t.roles.into_iter().map(|r| r.name.to_ascii_lowercase()).collect(),
        };
        Ok(Some((context, expires_us)))
    }

    /// The caller `token` belongs to, from the cache or Keystone.
    pub async fn validate(&self, token: &str) -> Result<RequestContext, ApiError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(context) = self.cache.lock().get(&key, now_us()) {
            return Ok(context);
        }
        let service = self.service_token(None).await?;
        let answer = match self.ask(&service, token).await {
            Err(Status::ServiceTokenRefused) => {
                let renewed = self.service_token(Some(&service)).await?;
                self.ask(&renewed, token).await
            }
            other => other,
        };
        match answer {
            Ok(Some((context, expires_us))) => {
                let now = now_us();
                let ttl_us = i64::try_from(self.config.cache_ttl_secs).unwrap_or(0).saturating_mul(1_000_000);
                let until_us = now.saturating_add(ttl_us).min(expires_us);
                self.cache.lock().insert(key, Entry { context: context.clone(), until_us }, now);
                Ok(context)
            }
            Ok(None) => Err(ApiError::unauthorized()),
            Err(Status::ServiceTokenRefused) => {
                tracing::error!("Keystone refused a freshly issued service token");
                Err(unavailable())
            }
            Err(Status::Unavailable) => Err(unavailable()),
        }
    }
}

/// Why Keystone gave no answer about a token.
enum Status {
    Unavailable,
    ServiceTokenRefused,
}

impl Authenticator for KeystoneAuthenticator {
    fn authenticate<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Result<RequestContext, ApiError>> {
        Box::pin(async move {
            let token = auth_token(headers).ok_or_else(ApiError::unauthorized)?;
            self.validate(token).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::extract::Request;
    use axum::middleware::Next;

    use super::*;
    use crate::auth::builtin::{router, test_identity};

    /// Serves a builtin identity service on a loopback port; returns its v3 URL, a counter of token
    /// validations it answered, and a member's token.
    async fn builtin_keystone() -> (String, Arc<AtomicUsize>, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let identity = test_identity(
            &[("neutron", "svc", "service", &["service"]), ("member_1", "secret", "proj_1", &["member"])],
            &base,
        );
        let user = identity.users_for_tests().by_name("member_1").unwrap().clone();
        let (member_token, _) = identity.issue(&user, vec!["password".into()]);
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().nest("/identity/v3", router(Arc::new(identity))).layer(
            axum::middleware::from_fn(move |req: Request, next: Next| {
                let counter = counter.clone();
                async move {
                    if req.method() == axum::http::Method::GET && req.uri().path().ends_with("/auth/tokens") {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(req).await
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("{base}/identity/v3"), hits, member_token)
    }

    fn config(url: &str) -> KeystoneConfig {
        KeystoneConfig {
            url: url.into(),
            username: "neutron".into(),
            password: "svc".into(),
            project_name: "service".into(),
            timeout_secs: 5,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn validates_against_a_keystone_and_caches() {
        let (url, hits, member_token) = builtin_keystone().await;
        let auth = KeystoneAuthenticator::new(config(&url)).unwrap();
        let ctx = auth.validate(&member_token).await.unwrap();
        assert_eq!((ctx.user_name.as_str(), ctx.project_name.as_str()), ("member_1", "proj_1"));
        assert_eq!(ctx.roles, vec!["member", "reader"]);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // The second validation is answered from the cache.
        assert_eq!(auth.validate(&member_token).await.unwrap(), ctx);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // Invalid tokens are refused (and not cached).
        assert_eq!(auth.validate("bogus").await.unwrap_err().status, 401);
        assert_eq!(auth.validate("bogus").await.unwrap_err().status, 401);
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        let mut h = HeaderMap::new();
        assert_eq!(auth.authenticate(&h).await.unwrap_err().status, 401);
        h.insert("x-auth-token", member_token.parse().unwrap());
        assert_eq!(auth.authenticate(&h).await.unwrap().project_id, ctx.project_id);
    }

    #[tokio::test]
    async fn a_refused_service_token_is_renewed_once() {
        let (url, hits, member_token) = builtin_keystone().await;
        let auth = KeystoneAuthenticator::new(config(&url)).unwrap();
        *auth.service.lock().await = Some(ServiceToken { token: "stale".into(), expires_us: i64::MAX });
        assert_eq!(auth.validate(&member_token).await.unwrap().user_name, "member_1");
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_ne!(auth.service.lock().await.as_ref().unwrap().token, "stale");
    }

    #[tokio::test]
    async fn wrong_service_credentials_or_no_keystone_is_503() {
        let (url, _, member_token) = builtin_keystone().await;
        let mut wrong = config(&url);
        wrong.password = "nope".into();
        let auth = KeystoneAuthenticator::new(wrong).unwrap();
        assert_eq!(auth.validate(&member_token).await.unwrap_err().status, 503);

        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead = format!("http://{}/v3", closed.local_addr().unwrap());
        drop(closed);
        let auth = KeystoneAuthenticator::new(config(&dead)).unwrap();
        assert_eq!(auth.validate(&member_token).await.unwrap_err().status, 503);
        assert!(KeystoneAuthenticator::new(config("not a url")).is_err());
    }

    #[test]
    fn cache_is_bounded_and_respects_expiry() {
        let mut cache = Cache { entries: HashMap::new(), capacity: 2 };
        let ctx = RequestContext::admin();
        let entry = |until_us| Entry { context: ctx.clone(), until_us };
        cache.insert([1; 32], entry(100), 0);
        cache.insert([2; 32], entry(50), 0);
        cache.insert([3; 32], entry(200), 0);
        assert_eq!(cache.entries.len(), 2);
        assert!(cache.get(&[2; 32], 0).is_none(), "the entry expiring first was evicted");
        assert!(cache.get(&[1; 32], 99).is_some() && cache.get(&[1; 32], 100).is_none());
        cache.insert([4; 32], entry(10), 20);
        assert!(cache.get(&[4; 32], 0).is_none(), "already-expired entries are not stored");
    }
}
