//! Per-request limits, applied as router layers so every route gets them: the size of the
//! request target (414) and of the header block (431), the size of the body (413, before
//! reading it when `Content-Length` says so) and the time it may take to arrive (408), and the
//! time a request may take until its response (503); errors come in the API's shape (see
//! [`super::error`]). Connection-level limits are in [`super::serve`].

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::error::{Shape, error_closing, error_response, json_errors};
use crate::config::HttpConfig;

/// Wraps `router` in the request limits of `cfg` and the JSON error layer (outermost).
pub fn layers(router: Router, cfg: &HttpConfig) -> Router {
    let head = HeadLimits {
        max_uri: cfg.max_uri_bytes,
        max_header_bytes: cfg.max_header_bytes,
        max_headers: cfg.max_headers,
    };
    let body = BodyLimits {
        max_bytes: cfg.max_body_bytes,
        timeout: Duration::from_secs(cfg.body_read_timeout_secs),
    };
    let router = router.layer(DefaultBodyLimit::max(cfg.max_body_bytes));
    with_request_timeout(router, Duration::from_secs(cfg.request_timeout_secs))
        .layer(middleware::from_fn_with_state(body, guard_body))
        .layer(middleware::from_fn_with_state(head, check_head))
        .layer(middleware::from_fn(json_errors))
}

/// The request timeout alone: a request whose response has not started after `timeout` is
/// answered 503 in its API's shape (the handler is dropped; work it handed to the store may
/// still complete).
pub fn with_request_timeout(router: Router, timeout: Duration) -> Router {
    router.layer(middleware::from_fn_with_state(timeout, request_timeout))
}

async fn request_timeout(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    let shape = Shape::of(req.uri().path());
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::warn!(secs = timeout.as_secs(), "request timed out");
            error_response(
                shape,
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "The request did not complete within {} seconds; it may or may not have taken effect.",
                    timeout.as_secs()
                ),
            )
        }
    }
}

#[derive(Clone, Copy)]
struct HeadLimits {
    max_uri: usize,
    max_header_bytes: usize,
    max_headers: usize,
}

/// Bytes of the header block as sent (`name: value\r\n` per field).
fn header_bytes(h: &HeaderMap) -> usize {
    h.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum()
}

async fn check_head(State(lim): State<HeadLimits>, req: Request, next: Next) -> Response {
    let shape = Shape::of(req.uri().path());
    let uri = req.uri();
    let uri_len = uri.path_and_query().map_or(0, |pq| pq.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.scheme_str().map_or(0, |s| s.len() + 3);
    if uri_len > lim.max_uri {
        return error_response(
            shape,
            StatusCode::URI_TOO_LONG,
            format!("The request URI is {uri_len} bytes long; the limit is {}.", lim.max_uri),
        );
    }
    let (count, bytes) = (req.headers().len(), header_bytes(req.headers()));
    if count > lim.max_headers || bytes > lim.max_header_bytes {
        return error_response(
            shape,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "The request has {count} header fields in {bytes} bytes; the limits are {} fields and {} bytes.",
                lim.max_headers, lim.max_header_bytes
            ),
        );
    }
    next.run(req).await
}

#[derive(Clone, Copy)]
struct BodyLimits {
    max_bytes: usize,
    timeout: Duration,
}

/// Why a body was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    TooLarge,
    Stalled,
}

async fn guard_body(State(lim): State<BodyLimits>, req: Request, next: Next) -> Response {
    let shape = Shape::of(req.uri().path());
    let too_large = || {
        error_closing(
            shape,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {} bytes.", lim.max_bytes),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|l| l > lim.max_bytes as u64) {
        return too_large();
    }
    let trip = Arc::new(OnceLock::new());
    let (parts, body) = req.into_parts();
    let guarded = Guarded {
        inner: body,
        left: lim.max_bytes,
        deadline: Instant::now() + lim.timeout,
        sleep: None,
        trip: trip.clone(),
    };
    let resp = next.run(Request::from_parts(parts, Body::new(guarded))).await;
    match trip.get() {
        None => resp,
        Some(Trip::TooLarge) => too_large(),
        Some(Trip::Stalled) => error_closing(
            shape,
            StatusCode::REQUEST_TIMEOUT,
            format!("The request body did not arrive within {} seconds.", lim.timeout.as_secs()),
        ),
    }
}

/// A request body that fails once it exceeds its size or its deadline, noting which in `trip`
/// so that [`guard_body`] answers for it whatever the handler made of the error.
struct Guarded {
    inner: Body,
    left: usize,
    deadline: Instant,
    /// Created on the first wait for data only: bodiless requests cost no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    trip: Arc<OnceLock<Trip>>,
}

impl Guarded {
    fn fail(&mut self, why: Trip) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let _ = self.trip.set(why);
        let msg = match why {
            Trip::TooLarge => "request body too large",
            Trip::Stalled => "request body timed out",
        };
        Poll::Ready(Some(Err(axum::Error::new(msg))))
    }
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if let Some(why) = self.trip.get().copied() {
            return self.fail(why);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, Bytes::len);
                if len > self.left {
                    return self.fail(Trip::TooLarge);
                }
                self.left -= len;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => {
                let deadline = self.deadline;
                let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => self.fail(Trip::Stalled),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
