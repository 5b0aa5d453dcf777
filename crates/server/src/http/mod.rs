//! HTTP routes of the Networking API v2.0 (thin: translate HTTP to a service call and back).
//! `/` and `/v2.0/` discovery, `/v2.0/extensions`, the resource collections with tags, router
//! actions, quotas, and
//! the identity routes of the builtin mode under `/identity/v3`; the request limits and
//! error layers around them ([`limits`], [`error`]) and the connection server ([`serve`]).

pub mod agents;
pub mod body;
mod dhcp_agents;
pub mod error;
pub mod limits;
pub mod meta;
pub mod openapi;
mod quotas;
mod resources;
mod routers;
pub mod serve;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use neutrino_model::ApiError;

use crate::auth::Authenticator;
use crate::service::Services;
use error::Fail;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub svc: Services,
    pub auth: Arc<dyn Authenticator>,
    /// The public URL, without a trailing slash (links).
    pub base: String,
    /// The agents' credential for `/internal/v1`; `None` disables that API.
    pub agent_token: Option<std::sync::Arc<String>>,
}

async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    match st.auth.authenticate(req.headers()).await {
        Ok(ctx) => {
            req.extensions_mut().insert(ctx);
            next.run(req).await
        }
        Err(e) => Fail(e).into_response(),
    }
}

async fn not_found() -> Fail {
    Fail(ApiError::http_not_found())
}

async fn method_not_allowed() -> Fail {
    Fail(ApiError::method_not_allowed())
}

/// The router of the whole API (without the `.json` suffix handling; see [`strip_json`]).
pub fn router(state: AppState, identity: Option<Router>) -> Router {
    let api = resources::routes()
        .merge(agents::public_routes())
        .merge(dhcp_agents::routes())
        .merge(routers::routes())
        .merge(quotas::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .method_not_allowed_fallback(method_not_allowed);
    let mut app = Router::new()
        .route("/", get(|State(st): State<AppState>| async move { axum::Json(meta::versions(&st.base)) }))
        .merge(openapi::routes())
        .merge(api)
        .merge(agents::internal_routes(state.clone()))
        .fallback(not_found)
        .with_state(state);
    if let Some(identity) = identity {
        app = app.nest_service("/identity/v3", identity);
    }
    app
}

/// Accepts a `.json` suffix on any path by removing it before routing.
pub fn strip_json(mut req: Request) -> Request {
    let path = req.uri().path();
    if let Some(stripped) = path.strip_suffix(".json") {
        let pq = match req.uri().query() {
            Some(q) => format!("{stripped}?{q}"),
            None => stripped.to_string(),
        };
        if let Ok(uri) = pq.parse::<Uri>() {
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = uri.into_parts().path_and_query;
            if let Ok(u) = Uri::from_parts(parts) {
                *req.uri_mut() = u;
            }
        }
    }
    req
}

/// 204 No Content.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
