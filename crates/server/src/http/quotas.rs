//! Routes of the `quotas` and `quota_details` extensions (neutron `extensions/quotasv2.py`,
//! `quotasv2_detail.py`): `/v2.0/quotas`, `/v2.0/quotas/{project_id}` (show, update, reset),
//! its `default` and `details`, and the `project`/`tenant` "who am I" actions.

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::error::HttpResult;
use super::{AppState, body, no_content};
use crate::context::RequestContext;
use crate::service::quotas::{self, Limits};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/quotas", get(list))
        .route("/v2.0/quotas/{project_id}", get(show).put(update).delete(delete))
        .route("/v2.0/quotas/{project_id}/default", get(defaults))
        .route("/v2.0/quotas/{project_id}/details", get(details))
}

fn limits_object(l: &Limits) -> Map<String, Value> {
    l.0.iter().map(|(name, v)| (name.to_string(), json!(v))).collect()
}

async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> HttpResult<Json<Value>> {
    let items: Vec<Value> = quotas::list(&st.svc, &ctx)
        .await?
        .into_iter()
        .map(|p| {
            let mut m = limits_object(&p.limits);
            m.insert("project_id".into(), json!(p.project_id));
            m.insert("tenant_id".into(), json!(p.project_id));
            Value::Object(m)
        })
        .collect();
    Ok(Json(json!({"quotas": items})))
}

/// `GET /v2.0/quotas/{project_id}`; the ids `project` and `tenant` are upstream's collection
/// actions answering the caller's own project id.
async fn show(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
) -> HttpResult<Json<Value>> {
    if project == "project" || project == "tenant" {
        let id = quotas::own_project(&ctx)?;
        return Ok(Json(json!({ &project: { format!("{project}_id"): id } })));
    }
    let l = quotas::show(&st.svc, &ctx, &project).await?;
    Ok(Json(json!({"quota": limits_object(&l)})))
}

async fn update(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
    bytes: Bytes,
) -> HttpResult<Json<Value>> {
    // Policy before the body, as upstream's `update` checks `update_quota` first.
    quotas::require_admin(&ctx, "update_quota")?;
    let obj = body::for_update(&bytes, "quota")?;
    let l = quotas::update(&st.svc, &ctx, &project, obj).await?;
    Ok(Json(json!({"quota": limits_object(&l)})))
}

async fn delete(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
) -> HttpResult<Response> {
    quotas::delete(&st.svc, &ctx, &project).await?;
    Ok(no_content())
}

async fn defaults(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
) -> HttpResult<Json<Value>> {
    let l = quotas::defaults(&st.svc, &ctx, &project)?;
    Ok(Json(json!({"quota": limits_object(&l)})))
}

async fn details(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
) -> HttpResult<Json<Value>> {
    let d = quotas::details(&st.svc, &ctx, &project).await?;
    let m: Map<String, Value> = d
        .into_iter()
        .map(|(name, u)| {
            (name.to_string(), json!({"limit": u.limit, "used": u.used, "reserved": u.reserved}))
        })
        .collect();
    Ok(Json(json!({"quota": m})))
}
