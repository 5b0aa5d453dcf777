//! The API error type and its wire form `{"NeutronError": {"type", "message", "detail"}}`,
//! with the exception names and status codes of neutron-lib (`api/faults.py`, `exceptions/`).

use serde_json::{Value, json};

/// An error as the Networking API reports it: an HTTP status, the upstream exception class
/// name (`type`) and a human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} ({status}): {message}")]
pub struct ApiError {
    pub status: u16,
    pub kind: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status, kind: kind.into(), message: message.into() }
    }

    /// 400 `HTTPBadRequest`: what the attribute layer raises for bodies it cannot accept.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "HTTPBadRequest", message)
    }

    /// 400 for an attribute whose value does not validate (`Invalid input for X. Reason: …`).
    pub fn invalid_attr(attr: &str, reason: impl AsRef<str>) -> Self {
        Self::bad_request(format!(
            "Invalid input for {attr}. Reason: {}.",
            reason.as_ref().trim_end_matches('.')
        ))
    }

    /// 400 `InvalidInput` (`Invalid input for operation: …`).
    pub fn invalid_input(reason: impl AsRef<str>) -> Self {
        Self::new(
            400,
            "InvalidInput",
            format!("Invalid input for operation: {}.", reason.as_ref().trim_end_matches('.')),
        )
    }

    pub fn not_found(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(404, kind, message)
    }

    /// 404 `HTTPNotFound`: what a caller gets for a resource policy hides from them.
    pub fn http_not_found() -> Self {
        Self::new(404, "HTTPNotFound", "The resource could not be found.")
    }

    pub fn conflict(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(409, kind, message)
    }

    /// 403 `PolicyNotAuthorized` for a rule such as `create_network:shared`.
    pub fn policy(rule: &str) -> Self {
        Self::new(403, "PolicyNotAuthorized", format!("rule:{rule} is disallowed by policy"))
    }

    /// 412 when an `If-Match: revision_number=N` precondition fails.
    pub fn revision_mismatch(wanted: i64, current: i64) -> Self {
        Self::new(
            412,
            "RevisionNumberConstraintFailed",
            format!("Constrained to {wanted}, but current revision is {current}"),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "HTTPUnauthorized", "The request you have made requires authentication.")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(405, "HTTPMethodNotAllowed", "The method is not allowed for this resource.")
    }

    /// 500 with the generic upstream message; the cause goes to the log, never to the client.
    pub fn internal() -> Self {
        Self::new(
            500,
            "HTTPInternalServerError",
            "Request Failed: internal server error while processing your request.",
        )
    }

    pub fn network_not_found(id: &str) -> Self {
        Self::not_found("NetworkNotFound", format!("Network {id} could not be found."))
    }
    pub fn subnet_not_found(id: &str) -> Self {
        Self::not_found("SubnetNotFound", format!("Subnet {id} could not be found."))
    }
    pub fn port_not_found(id: &str) -> Self {
        Self::not_found("PortNotFound", format!("Port {id} could not be found."))
    }

    /// The body Neutron sends for this error.
    pub fn to_json(&self) -> Value {
        json!({"NeutronError": {"type": self.kind, "message": self.message, "detail": ""}})
    }
}

impl ApiError {
    /// The same error under another upstream exception name.
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }
}

/// Result alias used across the API layers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_has_type_message_and_empty_detail() {
        let e = ApiError::network_not_found("abc");
        assert_eq!(e.status, 404);
        assert_eq!(
            e.to_json(),
            json!({"NeutronError": {"type": "NetworkNotFound", "message": "Network abc could not be found.", "detail": ""}})
        );
    }

    #[test]
    fn invalid_input_is_worded_like_upstream() {
        let e = ApiError::invalid_input("foo.");
        assert_eq!(e.message, "Invalid input for operation: foo.");
        assert_eq!(e.kind, "InvalidInput");
    }
}
