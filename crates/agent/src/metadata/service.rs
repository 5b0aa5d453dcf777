//! The metadata service's HTTP/1.1 server (RFC 9112) on a unix socket, where every network's
//! haproxy forwards (upstream's `metadata_proxy_socket` of `neutron-metadata-agent`): one
//! request per connection, bounded head and body, time limits on every stage, a cap on open
//! connections; each request is identified ([`super::identify`]) and answered by Nova or
//! locally.

use std::convert::Infallible;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Bytes};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::Instances;
use super::answers::answer;
use super::config::MetadataConfig;
use super::identify::identify;
use super::nova::{Forward, Nova, NovaError};
use super::reply::Reply;

/// The largest request body taken (Nova's password upload is 256 bytes).
pub const MAX_BODY: usize = 64 << 10;
/// The largest request head (request line and headers); hyper answers 431 above it.
pub const MAX_HEAD: usize = 16 << 10;
/// Time to send the head, and then the body.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// Pause after a failed accept (descriptors exhausted).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Errors starting the service.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("invalid [metadata] configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Nova(#[from] NovaError),
}

/// Binds the service's socket at `path`: a stale socket left there is removed (a live one, or
/// anything that is not a socket, is an error), and the socket is made `0600` (only this
/// agent's user, which haproxy must connect as, may use it).
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is served by another process", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// What answers a request.
#[derive(Debug)]
struct Handler {
    instances: Instances,
    nova: Option<Nova>,
}

impl Handler {
    fn new(instances: Instances, cfg: &MetadataConfig) -> Result<Self, MetadataError> {
        cfg.check().map_err(MetadataError::Config)?;
        Ok(Self { instances, nova: Nova::new(cfg)? })
    }

    async fn handle<B: Body<Data = Bytes>>(&self, req: Request<B>) -> Reply {
        let who = match identify(&self.instances, req.headers()) {
            Ok(who) => who,
            Err(refusal) => {
                tracing::debug!(
                    status = refusal.status.as_u16(),
                    path = req.uri().path(),
                    "metadata refused"
                );
                return refusal;
            }
        };
        let method = req.method().clone();
        let Some(nova) = &self.nova else {
            if method != Method::GET && method != Method::HEAD {
                return Reply::error(StatusCode::METHOD_NOT_ALLOWED, "Only GET and HEAD are answered.");
            }
            return answer(&who.caller, req.uri().path());
        };
        if method != Method::GET && method != Method::HEAD && method != Method::POST {
            return Reply::error(StatusCode::METHOD_NOT_ALLOWED, "Only GET, HEAD and POST are forwarded.");
        }
        let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
        let body = match read_body(req.into_body()).await {
            Ok(b) => b,
            Err(refusal) => return refusal,
        };
        let address = who.address.to_string();
        nova.forward(Forward {
            method,
            path_and_query: &path_and_query,
            forwarded_for: &address,
            instance_id: &who.caller.port.device_id,
            project_id: &who.caller.port.project_id,
            body,
        })
        .await
    }
}

/// The whole body, at most [`MAX_BODY`] bytes within [`BODY_TIMEOUT`]: else 413 or 408.
async fn read_body<B: Body<Data = Bytes>>(body: B) -> Result<Bytes, Reply> {
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(Reply::error(StatusCode::PAYLOAD_TOO_LARGE, "The request body is too large."));
    }
    let collect = async {
        let mut body = std::pin::pin!(body);
        let mut buf = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            let Ok(frame) = frame else {
                return Err(Reply::error(StatusCode::BAD_REQUEST, "The request body could not be read."));
            };
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > MAX_BODY {
                    return Err(Reply::error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "The request body is too large.",
                    ));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(buf))
    };
    tokio::time::timeout(BODY_TIMEOUT, collect).await.unwrap_or_else(|_| {
        Err(Reply::error(StatusCode::REQUEST_TIMEOUT, "The request body was not sent in time."))
    })
}

/// Serves one connection: one request, then close; the whole exchange within `deadline`.
async fn serve_connection(handler: Arc<Handler>, stream: UnixStream, deadline: Duration) {
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(false)
        .max_buf_size(MAX_HEAD);
    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(req).await.into_response()) }
    });
    match tokio::time::timeout(deadline, http1.serve_connection(TokioIo::new(stream), svc)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "metadata connection ended"),
        Err(_) => tracing::debug!("metadata connection took too long; closed"),
    }
}

/// Serves `listener` until `shutdown` completes, answering for the callers in `instances` as
/// `cfg` says; open connections are dropped at shutdown. Fails only on a bad `cfg`.
pub async fn serve(
    listener: UnixListener,
    instances: Instances,
    cfg: MetadataConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), MetadataError> {
    let handler = Arc::new(Handler::new(instances, &cfg)?);
    run(listener, handler, cfg.nova_timeout(), shutdown).await;
    Ok(())
}

async fn run(
    listener: UnixListener,
    handler: Arc<Handler>,
    nova_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send,
) {
    let deadline = HEADER_READ_TIMEOUT + BODY_TIMEOUT + nova_timeout + Duration::from_secs(5);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            r = async {
                let permit = slots.clone().acquire_owned().await;
                (permit, listener.accept().await)
            } => r,
        };
        match accepted {
            (Ok(permit), Ok((stream, _))) => {
                let handler = handler.clone();
                conns.spawn(async move {
                    serve_connection(handler, stream, deadline).await;
                    drop(permit);
                });
            }
            (_, Err(e)) => {
                tracing::warn!(error = %e, "metadata service: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
            (Err(_), _) => break,
        }
    }
}

/// A running service; [`MetadataServer::stop`] (or dropping it) stops it.
#[derive(Debug)]
pub struct MetadataServer {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts serving `listener` on the current Tokio runtime (see [`serve`]).
pub fn spawn(
    listener: UnixListener,
    instances: Instances,
    cfg: MetadataConfig,
) -> Result<MetadataServer, MetadataError> {
    let handler = Arc::new(Handler::new(instances, &cfg)?);
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        run(listener, handler, cfg.nova_timeout(), shutdown).await;
    });
    Ok(MetadataServer { stop, task: Some(task) })
}

impl MetadataServer {
    /// Stops accepting, drops open connections and waits until the service is gone.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
