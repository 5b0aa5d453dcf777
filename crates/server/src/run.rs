//! Putting the server together: open the store, set up authentication, build the router and
//! serve it until SIGINT/SIGTERM.

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::auth;
use crate::config::Config;
use crate::http::{AppState, router, strip_json};
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
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// The whole application on a given store.
pub async fn app_with_store(config: Config, store: Store) -> Result<Router, ServerError> {
    let config = Arc::new(config);
    let auth = auth::setup(&config).await?;
    let state = AppState {
        svc: Services::new(store, config.clone()),
        auth: auth.authenticator,
        base: config.server.public_url(),
    };
    let inner = router(state, auth.identity_router);
    Ok(Router::new()
        .fallback_service(inner)
        .layer(axum::middleware::map_request(|r| async { strip_json(r) })))
}

/// The application on the store the configuration names.
pub async fn app(config: Config) -> Result<Router, ServerError> {
    let store = Store::open(&config.database_url())?;
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

/// Serves the API on `listener` until a shutdown signal.
pub async fn serve_on(listener: TcpListener, app: Router) -> Result<(), ServerError> {
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.map_err(ServerError::Serve)
}

/// Runs `neutrino server`.
pub async fn serve(config: Config) -> Result<(), ServerError> {
    std::fs::create_dir_all(&config.server.data_dir).map_err(|e| {
        StoreError::Open(format!("cannot create data directory {}: {e}", config.server.data_dir.display()))
    })?;
    let bind = config.server.bind;
    let app = app(config).await?;
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| ServerError::Bind { addr: bind.to_string(), source })?;
    tracing::info!(%bind, "neutrino server listening");
    serve_on(listener, app).await
}
