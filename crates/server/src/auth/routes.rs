//! The routes of the builtin identity service, mounted under `/identity/v3` (the Keystone
//! v3 Identity API reference): the version document, and `POST` (authenticate), `GET`/`HEAD`
//! (validate, check) and `DELETE` (revoke) on `/auth/tokens`. Every error, including unknown paths,
//! wrong methods and over-long bodies, is Keystone's `{"error": {"code", "title", "message"}}`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use super::auth_token;
use super::builtin::Identity;
use super::login;
use super::revocations::RevokeError;
use super::tokens::Claims;
use super::wire;

/// Largest request body accepted: Keystone's default `max_request_body_size`.
pub const MAX_BODY_BYTES: usize = 114_688;

/// The routes to mount under `/identity/v3`. Mount them with `Router::nest_service`, so that the
/// discovery document answers at both `/identity/v3` and `/identity/v3/` (its self link). `POST
/// /auth/tokens` reads the peer address from a `ConnectInfo<SocketAddr>` extension when the server
/// provides one (`into_make_service_with_connect_info`); without it, logins are throttled per
/// user only.
pub fn router(identity: Arc<Identity>) -> Router {
    Router::new()
        .route("/", get(discovery))
        .route("/auth/tokens", get(validate_token).post(create_token).delete(revoke_token))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(identity)
}

async fn discovery(State(id): State<Arc<Identity>>) -> Response {
    axum::Json(wire::discovery(&id.catalog.public_url)).into_response()
}

async fn not_found() -> Response {
    wire::error(StatusCode::NOT_FOUND, "The resource could not be found.")
}

async fn method_not_allowed() -> Response {
    wire::error(StatusCode::METHOD_NOT_ALLOWED, "The method is not allowed for the requested URL.")
}

/// `POST /auth/tokens`: password (or token) authentication, scoped to the user's project.
async fn create_token(
    State(id): State<Arc<Identity>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return wire::error(StatusCode::PAYLOAD_TOO_LARGE, "Request is too large.");
        }
        Err(e) => return wire::error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let source = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    match login::authenticate(&id, &body, source).await {
        Ok(claims) => id.token_response(StatusCode::CREATED, &id.sign(&claims), &claims),
        Err(refusal) => refusal.into_response(),
    }
}

/// Why a request about a subject token is refused.
enum Denied {
    Unauthorized,
    NoSubject,
    NotFound,
    Forbidden(&'static str),
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Unauthorized => wire::unauthorized(),
            Denied::NoSubject => {
                wire::error(StatusCode::BAD_REQUEST, "Expecting to find X-Subject-Token in request.")
            }
            Denied::NotFound => wire::error(StatusCode::NOT_FOUND, "Could not find token."),
            Denied::Forbidden(action) => wire::error(
                StatusCode::FORBIDDEN,
                format!("You are not authorized to perform the requested action: {action}."),
            ),
        }
    }
}

/// The caller's right to act on the `X-Subject-Token` of `headers`, and that token's claims: 401
/// without a valid `X-Auth-Token`, 400 without a subject, 404 for an invalid (expired, revoked)
/// one, 403 unless the caller has `admin` or `service` or is the subject's user (Keystone's
/// `identity:validate_token` and `identity:revoke_token` rules).
fn subject<'h>(
    id: &Identity,
    headers: &'h HeaderMap,
    action: &'static str,
) -> Result<(&'h str, Claims), Denied> {
    let caller = auth_token(headers).and_then(|t| id.verify(t).ok()).ok_or(Denied::Unauthorized)?;
    let text = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Denied::NoSubject)?;
    let claims = id.verify(text).map_err(|_| Denied::NotFound)?;
    let privileged = caller.roles.iter().any(|r| r == "admin" || r == "service");
    if !privileged && caller.user_id != claims.user_id {
        return Err(Denied::Forbidden(action));
    }
    Ok((text, claims))
}

/// `GET /auth/tokens` (and `HEAD`, the same without a body): validates `X-Subject-Token`.
async fn validate_token(State(id): State<Arc<Identity>>, headers: HeaderMap) -> Response {
    match subject(&id, &headers, "identity:validate_token") {
        Ok((token, claims)) => id.token_response(StatusCode::OK, token, &claims),
        Err(denied) => denied.into_response(),
    }
}

/// `DELETE /auth/tokens`: revokes `X-Subject-Token` (204), durably.
async fn revoke_token(State(id): State<Arc<Identity>>, headers: HeaderMap) -> Response {
    let (token, claims) = match subject(&id, &headers, "identity:revoke_token") {
        Ok((token, claims)) => (token.to_string(), claims),
        Err(denied) => return denied.into_response(),
    };
    let service = id.clone();
    let user = claims.user_name.clone();
    match tokio::task::spawn_blocking(move || service.revoke(&token, &claims)).await {
        Ok(Ok(())) => {
            tracing::info!(user = %user, "token revoked");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Err(RevokeError::Full)) => {
            tracing::warn!(user = %user, "token not revoked: the revocation list is full");
            wire::error(StatusCode::SERVICE_UNAVAILABLE, "Too many tokens are revoked; retry later.")
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "token revocation not recorded");
            unexpected()
        }
        Err(e) => {
            tracing::error!(error = %e, "token revocation failed");
            unexpected()
        }
    }
}

fn unexpected() -> Response {
    wire::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "An unexpected error prevented the server from fulfilling your request.",
    )
}
