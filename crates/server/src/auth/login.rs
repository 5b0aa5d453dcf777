//! `POST /v3/auth/tokens` authentication (the Keystone v3 Identity API): the `password` method
//! (refused early while its user or source is locked out, then one bounded argon2 check whether
//! or not the user exists) and the `token` method (a re-scope that keeps the presented token's
//! expiry, as Keystone does), then the scope check.

use std::net::IpAddr;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::builtin::Identity;
use super::password::Busy;
use super::throttle::{Attempt, Lock};
use super::tokens::{Claims, now_us};
use super::users::User;
use super::wire::{self, AuthRequest, ScopeReq, UserReq};

/// Why a token request is answered with an error.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    BadRequest(String),
    Unauthorized,
    /// Every password check slot and queue place is taken.
    Busy,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::BadRequest(m) => wire::error(StatusCode::BAD_REQUEST, m),
            Refusal::Unauthorized => wire::unauthorized(),
            Refusal::Busy => {
                let mut r = wire::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The identity service is busy checking passwords; retry shortly.",
                );
                r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
                r
            }
        }
    }
}

/// The claims of the token to issue for the request `body` from `source`.
pub(super) async fn authenticate(
    id: &Identity,
    body: &[u8],
    source: Option<IpAddr>,
) -> Result<Claims, Refusal> {
    let request: AuthRequest = serde_json::from_slice(body)
        .map_err(|e| Refusal::BadRequest(format!("Invalid authentication request: {e}")))?;
    let identity = request.auth.identity;
    let scope = request.auth.scope.as_ref();
    let uses = |m: &str| identity.methods.iter().any(|x| x == m);
    if let (true, Some(password)) = (uses("password"), identity.password) {
        let user = password_login(id, password.user, source).await?;
        check_scope(user, scope)?;
        Ok(id.claims_for(user, vec!["password".into()]))
    } else if let (true, Some(token)) = (uses("token"), identity.token) {
        let presented = id.verify(&token.id).map_err(|_| Refusal::Unauthorized)?;
        let user = id.users().by_id(&presented.user_id).ok_or(Refusal::Unauthorized)?;
        check_scope(user, scope)?;
        Ok(presented.rescoped(&token.id, now_us()))
    } else if identity.methods.is_empty() {
        Err(Refusal::BadRequest("Expecting to find methods in identity".into()))
    } else {
        Err(Refusal::Unauthorized)
    }
}

/// At most this much of a presented user name goes into the log.
const LOGGED_NAME_CHARS: usize = 64;

/// The user whose password `u` presents. Unknown users and wrong passwords take the same path:
/// the lockout check, a password check slot, one argon2 verification (of the dummy hash for
/// unknown users), and a counted failure.
async fn password_login(id: &Identity, u: UserReq, source: Option<IpAddr>) -> Result<&User, Refusal> {
    let users = id.users();
    let (found, presented) = match (&u.id, &u.name) {
        (Some(user_id), _) => (users.by_id(user_id), format!("id:{user_id}")),
        (None, Some(name)) if wire::is_default_domain(u.domain.as_ref()) => {
            (users.by_name(name), format!("name:{name}"))
        }
        (None, Some(name)) => (None, format!("name:{name}")),
        (None, None) => return Err(Refusal::BadRequest("Expecting to find id or name in user".into())),
    };
    let shown: String =
        u.id.as_deref().or(u.name.as_deref()).unwrap_or_default().chars().take(LOGGED_NAME_CHARS).collect();
    let src = source.map_or_else(|| "unknown".to_string(), |s| s.to_string());
    // Counted by what was presented, never by what it resolved to: a lockout must not behave
    // differently for names that exist (`name:x` and `id:y` are separate counts even when they are
    // the same user).
    let attempt = Attempt::new(&presented, source);
    let refused = |lock: Lock| {
        tracing::debug!(user = ?shown, source = %src, ?lock, "login refused: too many failed logins");
        Refusal::Unauthorized
    };
    if let Some(lock) = id.throttle().refuses(&attempt) {
        return Err(refused(lock));
    }
    let slot = id.checker().acquire().await.map_err(|Busy| {
        tracing::debug!(user = ?shown, source = %src, "login refused: password checks saturated");
        Refusal::Busy
    })?;
    // Failures counted while this request waited may have locked it out since.
    if let Some(lock) = id.throttle().refuses(&attempt) {
        return Err(refused(lock));
    }
    if slot.verify(found.map(User::hash), u.password).await {
        id.throttle().succeeded(&attempt);
        // A match is only possible for a known user.
        return found.ok_or(Refusal::Unauthorized);
    }
    tracing::warn!(user = ?shown, source = %src, "failed login");
    for lock in id.throttle().failed(&attempt) {
        tracing::warn!(user = ?shown, source = %src, ?lock, "too many failed logins: refusing further logins for a while");
    }
    Err(Refusal::Unauthorized)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::builtin::test_identity;

    fn body(user: &str, password: &str) -> Vec<u8> {
        serde_json::json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": user, "password": password, "domain": {"id": "default"}}}}}})
        .to_string()
        .into_bytes()
    }

    #[tokio::test]
    async fn unknown_users_and_wrong_passwords_take_the_same_single_check() {
        let id = test_identity(&[("m", "pw", "p1", &["member"])], "http://h");
        let user_cost = id.users().by_name("m").unwrap().hash().cost();
        assert_eq!(id.checker().dummy().cost(), user_cost, "the dummy hash costs what a user's does");
        // The dummy exists before the first failure (made with the checker, at start).
        assert_eq!(id.password_checks(), 0);
        let cases =
            [("nobody", "pw", Err(Refusal::Unauthorized)), ("m", "wrong", Err(Refusal::Unauthorized))];
        for (n, (user, password, expected)) in cases.into_iter().enumerate() {
            let got = authenticate(&id, &body(user, password), None).await.map(|_| ());
            assert_eq!(got, expected, "{user}");
            assert_eq!(id.password_checks(), n as u64 + 1, "{user}: exactly one verification");
        }
        // Other domains are unknown users too, at the same cost.
        let other = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password":
            {"user": {"name": "m", "password": "pw", "domain": {"name": "elsewhere"}}}}}});
        let r = authenticate(&id, other.to_string().as_bytes(), None).await;
        assert_eq!(r.map(|_| ()), Err(Refusal::Unauthorized));
        assert_eq!(id.password_checks(), 3);
        let ok = authenticate(&id, &body("m", "pw"), None).await.unwrap();
        assert_eq!((ok.user_name.as_str(), id.password_checks()), ("m", 4));
    }

    #[tokio::test]
    async fn locked_out_attempts_are_refused_without_a_check() {
        let id = test_identity(&[("m", "pw", "p1", &["member"])], "http://h");
        let limit = crate::auth::AuthConfig::default().lockout_user_failures;
        for _ in 0..limit {
            assert!(authenticate(&id, &body("ghost", "x"), None).await.is_err());
        }
        let checks = id.password_checks();
        assert_eq!(checks, u64::from(limit));
        assert_eq!(
            authenticate(&id, &body("ghost", "x"), None).await.map(|_| ()),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(id.password_checks(), checks, "no verification once locked out");
        // Positive control on the same path: another user still gets checked, and in.
        assert!(authenticate(&id, &body("m", "pw"), None).await.is_ok());
        assert_eq!(id.password_checks(), checks + 1);
    }

    #[test]
    fn scopes_other_than_the_users_project_are_refused() {
        let id = test_identity(&[("m", "pw", "p1", &["member"])], "http://h");
        let user = id.users().by_name("m").unwrap();
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
