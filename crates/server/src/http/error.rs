//! Rendering of errors as HTTP responses: `{"NeutronError": …}` with the error's status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use neutrino_model::ApiError;

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
