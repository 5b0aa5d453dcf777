//! The client's error type, carrying the server's `{"NeutronError": {type, message, detail}}`.

use serde_json::Value;

/// What can go wrong talking to the Networking API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status; `kind` is the NeutronError `type`
    /// (e.g. `NetworkNotFound`), or `HTTP <status>` when the body carried none.
    #[error("{kind}: {message}")]
    Api { status: u16, kind: String, message: String, detail: String },
    /// A name-or-id lookup matched nothing.
    #[error("No {resource} found for {name}")]
    NotFound { resource: &'static str, name: String },
    /// A name lookup matched more than one resource.
    #[error("More than one {resource} exists with the name '{name}'")]
    Ambiguous { resource: &'static str, name: String },
    /// Authentication could not be set up (bad configuration or identity answer).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// A URL could not be parsed or built.
    #[error("invalid URL {url}: {reason}")]
    Url { url: String, reason: String },
    /// The transport failed (connection refused, TLS, timeout ...).
    #[error("cannot reach {url}")]
    Transport { url: String, source: reqwest::Error },
    /// The server answered with a success status but a body this client cannot read.
    #[error("unexpected response from server: {0}")]
    Decode(String),
}

impl Error {
    /// The HTTP status of an [`Error::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error a response with status `status` and body `body` stands for.
    pub fn from_response(status: u16, body: &str) -> Self {
        let fallback = || Error::Api {
            status,
            kind: format!("HTTP {status}"),
            message: match body.trim() {
                "" => reason(status).to_string(),
                b => b.chars().take(500).collect(),
            },
            detail: String::new(),
        };
        let Ok(v) = serde_json::from_str::<Value>(body) else { return fallback() };
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        if let Some(ne) = v.get("NeutronError") {
            return Error::Api {
                status,
                kind: text(ne, "type").unwrap_or_else(|| format!("HTTP {status}")),
                message: text(ne, "message").unwrap_or_default(),
                detail: text(ne, "detail").unwrap_or_default(),
            };
        }
        // Keystone's shape: {"error": {"code", "title", "message"}}.
        if let Some(e) = v.get("error") {
            return Error::Api {
                status,
                kind: text(e, "title").unwrap_or_else(|| format!("HTTP {status}")),
                message: text(e, "message").unwrap_or_default(),
                detail: String::new(),
            };
        }
        fallback()
    }
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutron_error_body_is_decoded() {
        let e = Error::from_response(
            404,
            r#"{"NeutronError": {"type": "NetworkNotFound", "message": "Network x could not be found.", "detail": ""}}"#,
        );
        assert_eq!(e.to_string(), "NetworkNotFound: Network x could not be found.");
        assert_eq!(e.status(), Some(404));
    }

    #[test]
    fn keystone_and_plain_bodies_still_give_a_message() {
        let e = Error::from_response(
            401,
            r#"{"error": {"code": 401, "title": "Unauthorized", "message": "bad"}}"#,
        );
        assert_eq!(e.to_string(), "Unauthorized: bad");
        assert_eq!(Error::from_response(502, "").to_string(), "HTTP 502: Bad Gateway");
        assert_eq!(Error::from_response(500, "boom").to_string(), "HTTP 500: boom");
    }
}
