//! Routes of the router actions (`/v2.0/routers/{id}/{add,remove}_router_interface`,
//! `/v2.0/routers/{id}/{add,remove}_extraroutes`) and of the `l3_agent_scheduler` extension
//! (`/v2.0/agents/{id}/l3-routers[/{router}]`, `/v2.0/routers/{id}/l3-agents`).

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use neutrino_model::agent::Agent;
use serde_json::{Map, Value, json};

use super::error::HttpResult;
use super::resources::render::{render, render_all};
use super::{AppState, body, no_content};
use crate::context::RequestContext;
use crate::service::{l3_agents, router_interfaces};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/routers/{id}/add_router_interface", put(add_interface))
        .route("/v2.0/routers/{id}/remove_router_interface", put(remove_interface))
        .route("/v2.0/routers/{id}/add_extraroutes", put(add_routes))
        .route("/v2.0/routers/{id}/remove_extraroutes", put(remove_routes))
        .route("/v2.0/routers/{id}/l3-agents", get(hosting))
        .route("/v2.0/agents/{id}/l3-routers", get(routers).post(add))
        .route("/v2.0/agents/{id}/l3-routers/{router_id}", delete(remove))
}

async fn add_interface(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> HttpResult<Json<Value>> {
    let obj = body::json_object(&bytes)?;
    Ok(Json(router_interfaces::add(&st.svc, &ctx, &id, obj).await?.to_json()))
}

async fn remove_interface(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> HttpResult<Json<Value>> {
    let obj = body::json_object(&bytes)?;
    Ok(Json(router_interfaces::remove(&st.svc, &ctx, &id, obj).await?.to_json()))
}

async fn change_routes(
    st: &AppState,
    ctx: &RequestContext,
    id: &str,
    bytes: &[u8],
    add: bool,
) -> HttpResult<Json<Value>> {
    let obj = body::for_update(bytes, "router")?;
    let r = router_interfaces::change_routes(&st.svc, ctx, id, obj, add).await?;
    Ok(Json(json!({"router": render(ctx, &r, &[])})))
}

async fn add_routes(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> HttpResult<Json<Value>> {
    change_routes(&st, &ctx, &id, &bytes, true).await
}

async fn remove_routes(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> HttpResult<Json<Value>> {
    change_routes(&st, &ctx, &id, &bytes, false).await
}

async fn routers(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let rs = l3_agents::routers(&st.svc, &ctx, &id).await?;
    Ok(Json(json!({"routers": render_all(&ctx, &rs)})))
}

/// 201 with a `null` body, as upstream answers.
async fn add(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> HttpResult<Response> {
    let obj = body::json_object(&bytes)?;
    l3_agents::add(&st.svc, &ctx, &id, obj).await?;
    Ok((StatusCode::CREATED, Json(Value::Null)).into_response())
}

async fn remove(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, router_id)): Path<(String, String)>,
) -> HttpResult<Response> {
    l3_agents::remove(&st.svc, &ctx, &id, &router_id).await?;
    Ok(no_content())
}

async fn hosting(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> HttpResult<Json<Value>> {
    let all: Vec<Map<String, Value>> =
        l3_agents::hosting(&st.svc, &ctx, &id).await?.iter().map(Agent::to_json).collect();
    Ok(Json(json!({"agents": all})))
}
