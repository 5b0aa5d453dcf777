//! Routes of the `dhcp_agent_scheduler` extension: `/v2.0/agents/{id}/dhcp-networks[/{network}]`
//! and `/v2.0/networks/{id}/dhcp-agents` (networks rendered as the network API renders them,
//! agents in their wire form).

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use neutrino_model::agent::Agent;
use serde_json::{Map, Value, json};

use super::error::HttpResult;
use super::resources::render::render_all;
use super::{AppState, body, no_content};
use crate::context::RequestContext;
use crate::service::dhcp_agents;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/agents/{id}/dhcp-networks", get(networks).post(add))
        .route("/v2.0/agents/{id}/dhcp-networks/{network_id}", delete(remove))
        .route("/v2.0/networks/{id}/dhcp-agents", get(hosting))
}

async fn networks(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let nets = dhcp_agents::networks(&st.svc, &ctx, &id).await?;
    Ok(Json(json!({"networks": render_all(&ctx, &nets)})))
}

/// 201 with a `null` body, as upstream answers.
async fn add(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> HttpResult<Response> {
    let obj = body::json_object(&bytes)?;
    dhcp_agents::add(&st.svc, &ctx, &id, obj).await?;
    Ok((StatusCode::CREATED, Json(Value::Null)).into_response())
}

async fn remove(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, network_id)): Path<(String, String)>,
) -> HttpResult<Response> {
    dhcp_agents::remove(&st.svc, &ctx, &id, &network_id).await?;
    Ok(no_content())
}

async fn hosting(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let all: Vec<Map<String, Value>> =
        dhcp_agents::hosting(&st.svc, &ctx, &id).await?.iter().map(Agent::to_json).collect();
    Ok(Json(json!({"agents": all})))
}
