//! Rendering of errors as HTTP responses: `{"NeutronError": …}` with the error's status for the
//! Networking API, Keystone's `{"error": {"code", "title", "message"}}` under `/identity/`, and
//! the outermost layer that turns any error response without a JSON body (axum's extractor
//! rejections, its 405s) into one of those shapes.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use neutrino_model::ApiError;
use serde_json::json;

/// An [`ApiError`] on its way out as a response.
#[derive(Debug)]
pub struct Fail(pub ApiError);

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        Fail(e)
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(kind = %self.0.kind, message = %self.0.message, "request failed");
        }
        (status, Json(self.0.to_json())).into_response()
    }
}

pub type HttpResult<T> = Result<T, Fail>;

/// Which API's error body a request gets, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"NeutronError": {"type", "message", "detail"}}`.
    Neutron,
    /// Keystone's `{"error": {"code", "title", "message"}}` (paths under `/identity/`).
    Keystone,
}

impl Shape {
    pub fn of(path: &str) -> Self {
        if path == "/identity" || path.starts_with("/identity/") { Shape::Keystone } else { Shape::Neutron }
    }
}

/// The webob exception name upstream reports for a bare HTTP status.
pub fn kind_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "HTTPBadRequest",
        401 => "HTTPUnauthorized",
        403 => "HTTPForbidden",
        404 => "HTTPNotFound",
        405 => "HTTPMethodNotAllowed",
        406 => "HTTPNotAcceptable",
        408 => "HTTPRequestTimeout",
        409 => "HTTPConflict",
        411 => "HTTPLengthRequired",
        412 => "HTTPPreconditionFailed",
        413 => "HTTPRequestEntityTooLarge",
        414 => "HTTPRequestURITooLong",
        415 => "HTTPUnsupportedMediaType",
        422 => "HTTPUnprocessableEntity",
        429 => "HTTPTooManyRequests",
        431 => "HTTPRequestHeaderFieldsTooLarge",
        500 => "HTTPInternalServerError",
        501 => "HTTPNotImplemented",
        503 => "HTTPServiceUnavailable",
        504 => "HTTPGatewayTimeout",
        s if s >= 500 => "HTTPServerError",
        _ => "HTTPClientError",
    }
}

/// The message of an error response that came without one.
fn default_message(status: StatusCode) -> String {
    match status.as_u16() {
        404 => ApiError::http_not_found().message,
        405 => ApiError::method_not_allowed().message,
        500 => ApiError::internal().message,
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    }
}

/// The JSON body of an error in `shape`.
pub fn error_body(shape: Shape, status: StatusCode, message: impl Into<String>) -> serde_json::Value {
    let message = message.into();
    match shape {
        Shape::Neutron => ApiError::new(status.as_u16(), kind_of(status), message).to_json(),
        Shape::Keystone => {
            let title = status.canonical_reason().unwrap_or("Error");
            json!({"error": {"code": status.as_u16(), "title": title, "message": message}})
        }
    }
}

/// An error response in `shape` with `status` and `message`.
pub fn error_response(shape: Shape, status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(error_body(shape, status, message))).into_response()
}

/// The same, telling the client that the connection closes after it (used when the request
/// body was not read to its end, so the connection cannot carry another request).
pub fn error_closing(shape: Shape, status: StatusCode, message: impl Into<String>) -> Response {
    let mut r = error_response(shape, status, message);
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn is_json(r: &Response) -> bool {
    r.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            let t = t.trim();
            t.eq_ignore_ascii_case("application/json") || t.ends_with("+json")
        })
}

/// Longest body of a non-JSON error response kept as the message (axum's rejections are a
/// line of text); longer bodies are replaced by the status's reason.
const MAX_MESSAGE: usize = 1024;

/// Middleware: every error response (4xx, 5xx) leaves with a JSON body in the shape of the
/// request's API. Responses that are JSON already pass untouched; others keep their status
/// and headers (`Allow` of a 405, `Connection`), and their text, if short, becomes the message.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let shape = Shape::of(req.uri().path());
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&resp) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE).await.ok();
    let message = text
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .unwrap_or_else(|| default_message(status));
    let rendered = error_response(shape, status, message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    let (new_parts, new_body) = rendered.into_parts();
    parts.headers.extend(new_parts.headers);
    Response::from_parts(parts, new_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_follows_the_path() {
        assert_eq!(Shape::of("/identity/v3/auth/tokens"), Shape::Keystone);
        assert_eq!(Shape::of("/identity"), Shape::Keystone);
        assert_eq!(Shape::of("/identityx"), Shape::Neutron);
        assert_eq!(Shape::of("/v2.0/networks"), Shape::Neutron);
    }

    #[test]
    fn statuses_have_upstream_names() {
        assert_eq!(kind_of(StatusCode::PAYLOAD_TOO_LARGE), "HTTPRequestEntityTooLarge");
        assert_eq!(kind_of(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE), "HTTPRequestHeaderFieldsTooLarge");
        assert_eq!(kind_of(StatusCode::from_u16(418).unwrap()), "HTTPClientError");
    }
}
