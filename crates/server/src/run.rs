//! Putting the server together: open the store, set up authentication, build the router with
//! its request limits and serve it (with the connection limits of `[http]`) until
//! SIGINT/SIGTERM.

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::auth;
use crate::config::{Config, HttpConfig};
use crate::http::{AppState, limits, router, serve as http_serve, strip_json};
use crate::service::Services;
use crate::store::{Store, StoreError};

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("invalid [http] configuration: {0}")]
    Http(String),
    #[error("invalid [quotas] configuration: {0}")]
    Quotas(String),
    #[error("invalid [dhcp] configuration: {0}")]
    Dhcp(String),
    #[error("invalid [ml2] configuration: {0}")]
    Ml2(#[from] crate::ml2::config::Ml2ConfigError),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// The whole application on a given store, with the request limits of `[http]`.
pub async fn app_with_store(config: Config, store: Store) -> Result<Router, ServerError> {
    config.http.validate().map_err(ServerError::Http)?;
    config.quotas.validate().map_err(ServerError::Quotas)?;
    config.dhcp.validate().map_err(ServerError::Dhcp)?;
    let config = Arc::new(config);
    let auth = auth::setup(&config).await?;
    let svc = Services::new(store, config.clone())?;
    tokio::spawn(crate::service::dhcp::failover_loop(svc.clone()));
    tokio::spawn(crate::service::l3::failover_loop(svc.clone()));
    let state = AppState {
        svc,
        auth: auth.authenticator,
        base: config.server.public_url(),
        agent_token: agent_token(&config).map(std::sync::Arc::new),
    };
    let inner = router(state, auth.identity_router);
    let app = Router::new()
        .fallback_service(inner)
        .layer(axum::middleware::map_request(|r| async { strip_json(r) }));
    Ok(limits::layers(app, &config.http))
}

/// The agents' credential: configured, or kept in `<data_dir>/agent.token` (created on first
/// start, mode 0600). Without either, the agent API is off.
fn agent_token(config: &Config) -> Option<String> {
    if let Some(t) = &config.agents.token {
        return Some(t.clone());
    }
    let path = config.server.data_dir.join("agent.token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        return Some(t.trim().to_string());
    }
    let token: String = {
        use rand::Rng;
        rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(40).map(char::from).collect()
    };
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        f.write_all(token.as_bytes())
    };
    match write() {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created the agent credential");
            Some(token)
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "no agent credential: the agent API is off");
            None
        }
    }
}

/// The application on the store the configuration names.
pub async fn app(config: Config) -> Result<Router, ServerError> {
    let timeout = std::time::Duration::from_millis(config.database.transaction_timeout_ms.max(1));
    let store = Store::open_with(&config.database_url(), timeout)?;
    app_with_store(config, store).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// Serves the API on `listener` with the connection limits of `http` until a shutdown signal.
pub async fn serve_on_with(listener: TcpListener, app: Router, http: &HttpConfig) -> Result<(), ServerError> {
    http_serve::serve(listener, app, http, shutdown_signal()).await.map_err(ServerError::Serve)
}

/// Serves the application on a free loopback port from a thread with its own 2-thread
/// runtime, so that a caller driving it from another runtime (benchmarks, end-to-end tests)
/// does not share a scheduler with it. Returns its URL once it is ready to serve.
pub fn spawn_local(mut config: Config, store: Store) -> Result<String, ServerError> {
    let bind_err = |source| ServerError::Bind { addr: "127.0.0.1:0".into(), source };
    let http = config.http.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return drop(ready_tx.send(Err(ServerError::Serve(e)))),
        };
        rt.block_on(async move {
            // Tokio's listener (backlog 1,024, not std's 128): a burst of connections is queued,
            // not left to SYN retries.
            let bound = match TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l.local_addr().map(|a| (l, a)),
                Err(e) => Err(e),
            };
            let (listener, addr) = match bound {
                Ok(b) => b,
                Err(e) => return drop(ready_tx.send(Err(bind_err(e)))),
            };
            config.server.bind = addr;
            let app = match app_with_store(config, store).await {
                Ok(app) => app,
                Err(e) => return drop(ready_tx.send(Err(e))),
            };
            let _ = ready_tx.send(Ok(addr));
            if let Err(e) = http_serve::serve(listener, app, &http, std::future::pending()).await {
                tracing::error!(error = %e, "in-process server stopped");
            }
        });
    });
    let addr =
        ready_rx.recv().map_err(|_| ServerError::Serve(std::io::Error::other("server thread ended")))??;
    Ok(format!("http://{addr}"))
}

/// Runs `neutrino server`.
pub async fn serve(config: Config) -> Result<(), ServerError> {
    std::fs::create_dir_all(&config.server.data_dir).map_err(|e| {
        StoreError::Open(format!("cannot create data directory {}: {e}", config.server.data_dir.display()))
    })?;
    let bind = config.server.bind;
    let http = config.http.clone();
    let app = app(config).await?;
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| ServerError::Bind { addr: bind.to_string(), source })?;
    tracing::info!(%bind, "neutrino server listening");
    serve_on_with(listener, app, &http).await
}
