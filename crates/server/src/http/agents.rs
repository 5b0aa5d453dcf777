//! Routes of `/v2.0/agents` (admin API; agents rendered here with their wire form) and of the
//! internal agent API under `/internal/v1` (desired state, watch, heartbeats, port status), the
//! latter behind the agent credential (`X-Agent-Token`).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, RawQuery, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use neutrino_model::ApiError;
use neutrino_model::agent::Agent;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{Fail, HttpResult};
use super::{AppState, body, no_content};
use crate::context::RequestContext;
use crate::service::{agents, internal};

/// `/v2.0/agents` routes (the caller is authenticated by the API middleware).
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/agents", get(list).post(|| async { Fail(ApiError::method_not_allowed()) }))
        .route("/v2.0/agents/{id}", get(show).put(update).delete(delete))
}

async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let filters = crate::service::query::parse_pairs(q.as_deref(), st.svc.config.server.max_query_params)?;
    let all: Vec<Map<String, Value>> =
        agents::list(&st.svc, &ctx, filters).await?.iter().map(Agent::to_json).collect();
    Ok(Json(json!({"agents": all})))
}

async fn show(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    Ok(Json(json!({"agent": agents::show(&st.svc, &ctx, &id).await?.to_json()})))
}

async fn update(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> HttpResult<Json<Value>> {
    let obj = body::for_update(&bytes, "agent")?;
    Ok(Json(json!({"agent": agents::update(&st.svc, &ctx, &id, obj).await?.to_json()})))
}

async fn delete(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> HttpResult<Response> {
    agents::delete(&st.svc, &ctx, &id).await?;
    Ok(no_content())
}

/// Compares in constant time.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn agent_auth(State(st): State<AppState>, headers: HeaderMap, req: Request, next: Next) -> Response {
    let given = headers.get("x-agent-token").map(|v| v.as_bytes()).unwrap_or_default();
    match &st.agent_token {
        Some(t) if same(given, t.as_bytes()) => next.run(req).await,
        Some(_) => Fail(ApiError::unauthorized()).into_response(),
        None => Fail(ApiError::new(503, "ServiceUnavailable", "The agent API has no credential configured."))
            .into_response(),
    }
}

/// `/internal/v1` routes for agents.
pub fn internal_routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/internal/v1/hosts/{host}/state", get(host_state))
        .route("/internal/v1/hosts/{host}/watch", get(watch))
        .route("/internal/v1/agents/report", post(report))
        .route("/internal/v1/ports/status", post(port_status))
        .route_layer(middleware::from_fn_with_state(state, agent_auth))
}

async fn host_state(
    State(st): State<AppState>,
    Path(host): Path<String>,
) -> HttpResult<Json<internal::HostState>> {
    Ok(Json(internal::host_state(&st.svc, &host).await?))
}

#[derive(Deserialize)]
struct WatchQuery {
    since: i64,
    /// Seconds to wait for a change (at most 60).
    #[serde(default = "default_timeout")]
    timeout: u64,
}

fn default_timeout() -> u64 {
    30
}

async fn watch(
    State(st): State<AppState>,
    Path(host): Path<String>,
    Query(q): Query<WatchQuery>,
) -> HttpResult<Json<internal::Delta>> {
    let timeout = Duration::from_secs(q.timeout.min(60));
    Ok(Json(internal::watch(&st.svc, &host, q.since, timeout).await?))
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Fail> {
    serde_json::from_slice(bytes)
        .map_err(|e| Fail(ApiError::bad_request(format!("Malformed request body: {e}"))))
}

async fn report(State(st): State<AppState>, bytes: Bytes) -> HttpResult<Json<Value>> {
    Ok(Json(agents::report(&st.svc, parse(&bytes)?).await?))
}

async fn port_status(State(st): State<AppState>, bytes: Bytes) -> HttpResult<Json<Value>> {
    let n = internal::port_status(&st.svc, parse(&bytes)?).await?;
    Ok(Json(json!({"updated": n})))
}
