//! An answer of the metadata service (status, content type, whole body) and its conversion to a
//! hyper response (HTTP/1.1, RFC 9110 status codes).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::StatusCode;
use hyper::body::{Body, Bytes, Frame, SizeHint};

/// One whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Bytes,
}

pub const TEXT: &str = "text/plain; charset=utf-8";
pub const JSON: &str = "application/json";

impl Reply {
    pub fn new(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Self {
        Self { status, content_type: content_type.into(), body: body.into() }
    }

    /// `200` with text.
    pub fn text(body: impl Into<String>) -> Self {
        Self::new(StatusCode::OK, TEXT, body.into())
    }

    /// `200` with JSON (keys sorted: `serde_json`'s map is ordered).
    pub fn json(value: &serde_json::Value) -> Self {
        Self::new(StatusCode::OK, JSON, value.to_string())
    }

    /// An error: the status line and a sentence, as text.
    pub fn error(status: StatusCode, why: &str) -> Self {
        let reason = status.canonical_reason().unwrap_or("");
        Self::new(status, TEXT, format!("{} {reason}\n\n{why}\n", status.as_u16()))
    }

    pub fn not_found() -> Self {
        Self::error(StatusCode::NOT_FOUND, "The resource could not be found.")
    }

    pub fn into_response(self) -> hyper::Response<Whole> {
        let mut r = hyper::Response::new(Whole(Some(self.body)));
        *r.status_mut() = self.status;
        if let Ok(v) = hyper::header::HeaderValue::from_str(&self.content_type) {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    }
}

/// A body sent in one frame.
#[derive(Debug)]
pub struct Whole(Option<Bytes>);

impl Body for Whole {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}
