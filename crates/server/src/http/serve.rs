//! Accepting and serving connections: our own accept loop on hyper's HTTP/1.1 server (RFC 9112)
//! with a cap on concurrent connections, the header read timeout (hyper's, on a Tokio timer),
//! an idle timeout, graceful shutdown and axum's `ConnectInfo<SocketAddr>` on every request.
//! Why the limits are what they are: `docs/decisions.md`, "Connection hygiene".

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use super::error::{Shape, error_body};
use crate::config::HttpConfig;

/// Descriptors kept out of the connection budget: the listener, the store's files, logs,
/// the runtime's own, the agent credential.
const RESERVED_FDS: u64 = 128;
/// `max_connections` when not configured and the descriptor limit allows it.
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long a refused connection may take to send its request line (to pick the error shape).
const REFUSAL_READ: Duration = Duration::from_millis(500);
/// How long a refused connection is kept at most, answer and drain included.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);
/// Pause after an accept error that is not about one connection (EMFILE, ENFILE, ENOBUFS).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The connection-level settings derived from `[http]` and the process's descriptor limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    pub max_connections: usize,
    /// Refused connections answered at once (beyond, they are closed without an answer).
    pub refusal_slots: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// Longest wait for open connections at shutdown.
    pub shutdown_grace: Duration,
    /// hyper's own read buffer and header count: above ours, so our JSON answers come first.
    pub hyper_max_buf: usize,
    pub hyper_max_headers: usize,
}

/// The soft `RLIMIT_NOFILE` of this process, if it can be read.
fn nofile_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft)
}

impl ConnLimits {
    /// The limits of `cfg` for a process allowed `nofile` descriptors: connections and refusal
    /// slots together never need more than `nofile` less `RESERVED_FDS`.
    pub fn new(cfg: &HttpConfig, nofile: Option<u64>) -> Self {
        let budget = nofile.map_or(usize::MAX, |n| {
            usize::try_from(n.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX)
        });
        let wanted = cfg.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        let refusal_slots = (wanted / 8).clamp(8, 64).min(budget / 2);
        let fit = budget.saturating_sub(refusal_slots).max(1);
        if cfg.max_connections.is_some_and(|m| m > fit) {
            tracing::warn!(
                configured = wanted,
                allowed = fit,
                nofile = nofile.unwrap_or(0),
                "max_connections exceeds what the open-files limit allows; lowered"
            );
        }
        let hyper_default_buf = 8192 + 4096 * 100;
        Self {
            max_connections: wanted.min(fit),
            refusal_slots,
            header_read_timeout: Duration::from_secs(cfg.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(cfg.idle_timeout_secs),
            shutdown_grace: Duration::from_secs(cfg.request_timeout_secs + 1),
            hyper_max_buf: hyper_default_buf.max(2 * (cfg.max_uri_bytes + cfg.max_header_bytes) + 8192),
            hyper_max_headers: 100usize.max(2 * cfg.max_headers),
        }
    }

    /// The limits of `cfg` for this process.
    pub fn for_process(cfg: &HttpConfig) -> Self {
        Self::new(cfg, nofile_limit())
    }

    fn http1(&self) -> hyper::server::conn::http1::Builder {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .keep_alive(true)
            .max_buf_size(self.hyper_max_buf)
            .max_headers(self.hyper_max_headers);
        b
    }
}

/// Serves `app` on `listener` with the limits of `cfg` until `shutdown` completes; then stops
/// accepting, lets open connections finish their request (at most `request_timeout_secs`)
/// and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    cfg: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let limits = ConnLimits::for_process(cfg);
    tracing::info!(
        max_connections = limits.max_connections,
        header_read_timeout_secs = limits.header_read_timeout.as_secs(),
        idle_timeout_secs = limits.idle_timeout.as_secs(),
        "serving HTTP"
    );
    let http1 = Arc::new(limits.http1());
    let conns = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(limits.refusal_slots));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_error_log: Option<Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(&e, &mut last_error_log).await;
                    continue;
                }
            },
        };
        match conns.clone().try_acquire_owned() {
            Ok(permit) => {
                let conn = Conn { peer, app: app.clone(), http1: http1.clone(), idle: limits.idle_timeout };
                tokio::spawn(conn.run(stream, stop_rx.clone(), permit));
            }
            Err(_) => match refusals.clone().try_acquire_owned() {
                Ok(slot) => drop(tokio::spawn(refuse(stream, slot))),
                Err(_) => drop(stream),
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, conns.acquire_many(all)).await.is_err() {
        let open = limits.max_connections - conns.available_permits();
        tracing::warn!(open, "connections still open after the shutdown grace period; dropping them");
    }
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// An accept error about one connection is ignored; any other (out of descriptors or memory)
/// pauses accepting for [`ACCEPT_BACKOFF`] instead of spinning, logged at most every 5 s.
async fn accept_error(e: &io::Error, last_log: &mut Option<Instant>) {
    if is_connection_error(e) {
        return;
    }
    if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
        tracing::error!(error = %e, "accept failed; backing off");
        *last_log = Some(Instant::now());
    }
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// The answer to a connection beyond the cap, in the shape of the API its request line names.
fn refusal(shape: Shape) -> Vec<u8> {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    let body =
        error_body(shape, status, "The server is at its connection limit; try again later.").to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The error shape for the start of a request (`METHOD TARGET ...`).
fn shape_of_request_line(head: &[u8]) -> Shape {
    let line = String::from_utf8_lossy(head);
    let target = line.split_whitespace().nth(1).unwrap_or("/");
    let path = match target.find("://") {
        Some(i) => target[i + 3..].find('/').map_or("/", |j| &target[i + 3 + j..]),
        None => target,
    };
    Shape::of(path.split('?').next().unwrap_or("/"))
}

/// Answers a connection beyond the cap with a 503 and closes it, within [`REFUSAL_LINGER`].
/// What the client sends is read (up to 64 KiB) before closing, so that the close does not
/// reset the connection before the client has read the answer.
async fn refuse(mut stream: TcpStream, _slot: OwnedSemaphorePermit) {
    let answer = async {
        let mut head = [0u8; 512];
        let mut n = 0;
        let _ = tokio::time::timeout(REFUSAL_READ, async {
            while n < head.len() && !head[..n].contains(&b'\n') {
                match stream.read(&mut head[n..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
            }
        })
        .await;
        stream.write_all(&refusal(shape_of_request_line(&head[..n]))).await?;
        stream.shutdown().await?;
        let (mut sink, mut drained) = ([0u8; 4096], 0);
        while drained < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                k => drained += k,
            }
        }
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_LINGER, answer).await;
}

/// When a connection last moved a byte, and how many of its requests are being handled.
struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self { epoch: Instant::now(), last_ms: AtomicU64::new(0), busy: AtomicUsize::new(0) }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// `None` when the connection has been idle for `idle`; else when to look again.
    fn next_check(&self, idle: Duration) -> Option<Instant> {
        let now = Instant::now();
        if self.busy.load(Ordering::Relaxed) > 0 {
            return Some(now + idle);
        }
        let due = self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle;
        if now >= due { None } else { Some(due) }
    }
}

/// Marks a request as being handled while it lives; its end counts as activity.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(a: Arc<Activity>) -> Self {
        a.busy.fetch_add(1, Ordering::Relaxed);
        Busy(a)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A TCP stream that records when bytes move on it.
struct Tracked {
    inner: TcpStream,
    act: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.act.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.act.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.act.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One accepted connection.
struct Conn {
    peer: SocketAddr,
    app: Router,
    http1: Arc<hyper::server::conn::http1::Builder>,
    idle: Duration,
}

impl Conn {
    /// Serves the connection until the client or hyper ends it, it stays idle for the idle
    /// timeout, or shutdown (then it finishes the request in progress). Holds its permit.
    async fn run(self, stream: TcpStream, mut stop: watch::Receiver<bool>, _permit: OwnedSemaphorePermit) {
        let _ = stream.set_nodelay(true);
        let act = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked { inner: stream, act: act.clone() });
        let (peer, app, svc_act) = (self.peer, self.app, act.clone());
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let busy = Busy::new(svc_act.clone());
            let app = app.clone();
            async move {
                let resp = app.oneshot(req.map(Body::new)).await;
                drop(busy);
                resp
            }
        });
        let conn = self.http1.serve_connection(io, svc);
        let mut conn = std::pin::pin!(conn);
        let mut next_check = Instant::now() + self.idle;
        let mut stopping = false;
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                    break;
                }
                () = tokio::time::sleep_until(next_check) => match act.next_check(self.idle) {
                    Some(t) => next_check = t,
                    None => {
                        tracing::debug!(%peer, "closing idle connection");
                        break;
                    }
                },
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_fit_the_descriptor_limit() {
        let cfg = HttpConfig::default();
        let l = ConnLimits::new(&cfg, Some(1024));
        let reserved = usize::try_from(RESERVED_FDS).expect("a handful of descriptors");
        assert!(l.max_connections + l.refusal_slots + reserved <= 1024, "{l:?}");
        assert_eq!(ConnLimits::new(&cfg, Some(1 << 20)).max_connections, DEFAULT_MAX_CONNECTIONS);
        let big = HttpConfig { max_connections: Some(5000), ..cfg.clone() };
        let l = ConnLimits::new(&big, Some(1024));
        assert!(l.max_connections < 1024, "{l:?}");
        assert_eq!(ConnLimits::new(&big, Some(1 << 20)).max_connections, 5000);
    }

    #[test]
    fn hyper_limits_stay_above_ours() {
        let cfg = HttpConfig { max_uri_bytes: 300_000, max_headers: 150, ..HttpConfig::default() };
        let l = ConnLimits::new(&cfg, None);
        assert!(l.hyper_max_buf > cfg.max_uri_bytes + cfg.max_header_bytes);
        assert!(l.hyper_max_headers > cfg.max_headers);
    }

    #[test]
    fn refusals_pick_the_shape_of_the_request_line() {
        assert_eq!(shape_of_request_line(b"POST /identity/v3/auth/tokens HTTP/1.1\r\n"), Shape::Keystone);
        assert_eq!(shape_of_request_line(b"GET http://h:1/identity/v3 HTTP/1.1\r\n"), Shape::Keystone);
        assert_eq!(shape_of_request_line(b"GET /v2.0/ports?x=1 HTTP/1.1\r\n"), Shape::Neutron);
        assert_eq!(shape_of_request_line(b""), Shape::Neutron);
        let r = String::from_utf8(refusal(Shape::Neutron)).unwrap();
        assert!(
            r.starts_with("HTTP/1.1 503 ") && r.contains("connection: close") && r.contains("NeutronError")
        );
    }
}
