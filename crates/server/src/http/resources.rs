//! Handlers of the resource collections (`/v2.0/{networks,subnets,ports,security-groups,
//! security-group-rules,routers,floatingips}`), their members and
//! their tags, dispatched by collection name; also `/v2.0/`, `/v2.0/extensions` and
//! `/v2.0/floatingip_pools`. Services
//! return model types; [`render`](mod@render) makes their wire shape.

pub(super) mod render;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use neutrino_model::ApiError;
use serde_json::{Map, Value, json};

use super::error::{Fail, HttpResult};
use super::{AppState, body, meta, no_content};
use crate::context::RequestContext;
use crate::service::policy;
use crate::service::query::{self, ListParams};
use crate::service::tags::{self, Tagged};
use crate::service::{
    Page, floatingips, networks, ports, routers, security_group_rules, security_groups, subnets,
};
use render::{render, render_all, render_page};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0", get(v2_root))
        .route("/v2.0/", get(v2_root))
        .route("/v2.0/extensions", get(|| async { Json(meta::extensions()) }))
        .route("/v2.0/extensions/{alias}", get(extension))
        .route("/v2.0/floatingip_pools", get(floatingip_pools))
        .route("/v2.0/{coll}", get(list).post(create))
        .route("/v2.0/{coll}/{id}", get(show).put(update).delete(delete))
        .route("/v2.0/{coll}/{id}/tags", get(tags_get).put(tags_put).post(tags_post).delete(tags_clear))
        .route("/v2.0/{coll}/{id}/tags/{tag}", get(tag_check).put(tag_add).delete(tag_remove))
}

async fn v2_root(State(st): State<AppState>) -> Json<Value> {
    Json(meta::resources(&st.base))
}

async fn extension(Path(alias): Path<String>) -> HttpResult<Json<Value>> {
    meta::extension(&alias).map(Json).ok_or_else(|| {
        Fail(ApiError::not_found("ExtensionNotFound", format!("Extension with alias {alias} does not exist")))
    })
}

/// The collections this server serves.
#[derive(Clone, Copy)]
enum Coll {
    Networks,
    Subnets,
    Ports,
    SecurityGroups,
    SecurityGroupRules,
    Routers,
    FloatingIps,
}

impl Coll {
    fn parse(s: &str) -> Result<Self, Fail> {
        match s {
            "networks" => Ok(Self::Networks),
            "subnets" => Ok(Self::Subnets),
            "ports" => Ok(Self::Ports),
            "security-groups" => Ok(Self::SecurityGroups),
            "security-group-rules" => Ok(Self::SecurityGroupRules),
            "routers" => Ok(Self::Routers),
            "floatingips" => Ok(Self::FloatingIps),
            _ => Err(Fail(ApiError::http_not_found())),
        }
    }
    fn singular(self) -> &'static str {
        match self {
            Self::Networks => "network",
            Self::Subnets => "subnet",
            Self::Ports => "port",
            Self::SecurityGroups => "security_group",
            Self::SecurityGroupRules => "security_group_rule",
            Self::Routers => "router",
            Self::FloatingIps => "floatingip",
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Self::Networks => "networks",
            Self::Subnets => "subnets",
            Self::Ports => "ports",
            Self::SecurityGroups => "security_groups",
            Self::SecurityGroupRules => "security_group_rules",
            Self::Routers => "routers",
            Self::FloatingIps => "floatingips",
        }
    }
    /// The collection's name in URLs.
    fn path(self) -> &'static str {
        match self {
            Self::SecurityGroups => "security-groups",
            Self::SecurityGroupRules => "security-group-rules",
            other => other.plural(),
        }
    }
    fn attrs(self) -> &'static [neutrino_model::attrs::Attr] {
        match self {
            Self::Networks => &neutrino_model::attrs::NETWORK,
            Self::Subnets => &neutrino_model::attrs::SUBNET,
            Self::Ports => &neutrino_model::attrs::PORT,
            Self::SecurityGroups => &neutrino_model::attrs::SECURITY_GROUP,
            Self::SecurityGroupRules => &neutrino_model::attrs::SECURITY_GROUP_RULE,
            Self::Routers => &neutrino_model::attrs::ROUTER,
            Self::FloatingIps => &neutrino_model::attrs::FLOATINGIP,
        }
    }
}

/// The query's pairs, bounded in number and length (400 beyond).
fn pairs(st: &AppState, q: &Option<String>) -> Result<Vec<(String, String)>, Fail> {
    Ok(query::parse_pairs(q.as_deref(), st.svc.config.server.max_query_params)?)
}

/// `If-Match: revision_number=N`.
fn if_match(h: &HeaderMap) -> Result<Option<i64>, Fail> {
    let Some(v) = h.get("if-match") else { return Ok(None) };
    let v = v.to_str().unwrap_or_default().trim();
    match v.strip_prefix("revision_number=") {
        Some(n) => n
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Fail(ApiError::bad_request(format!("Invalid If-Match header: {v}")))),
        None => Ok(None),
    }
}

async fn create(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(coll): Path<String>,
    bytes: Bytes,
) -> HttpResult<Response> {
    let c = Coll::parse(&coll)?;
    let (objs, bulk) = body::for_create(&bytes, c.singular(), c.plural())?;
    body::check_bulk_size(objs.len(), st.svc.config.server.max_bulk_items)?;
    let made = match c {
        Coll::Networks => render_all(&ctx, &networks::create(&st.svc, &ctx, objs).await?),
        Coll::Subnets => render_all(&ctx, &subnets::create(&st.svc, &ctx, objs).await?),
        Coll::Ports => render_all(&ctx, &ports::create(&st.svc, &ctx, objs).await?),
        Coll::SecurityGroups => render_all(&ctx, &security_groups::create(&st.svc, &ctx, objs).await?),
        Coll::SecurityGroupRules => {
            render_all(&ctx, &security_group_rules::create(&st.svc, &ctx, objs).await?)
        }
        Coll::Routers => render_all(&ctx, &routers::create(&st.svc, &ctx, objs).await?),
        Coll::FloatingIps => render_all(&ctx, &floatingips::create(&st.svc, &ctx, objs).await?),
    };
    let out = if bulk {
        json!({ c.plural(): made })
    } else {
        json!({ c.singular(): made.into_iter().next().unwrap_or_default() })
    };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `fields=` of a show; other parameters are ignored, as upstream does.
fn fields_of(st: &AppState, q: &Option<String>) -> Result<Vec<String>, Fail> {
    let only_fields: Vec<(String, String)> =
        pairs(st, q)?.into_iter().filter(|(k, _)| k == "fields").collect();
    Ok(ListParams::parse(&only_fields, &[], None, &|_| true)?.fields)
}

async fn show(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((coll, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let c = Coll::parse(&coll)?;
    let fields = fields_of(&st, &q)?;
    let item = match c {
        Coll::Networks => render(&ctx, &networks::show(&st.svc, &ctx, &id).await?, &fields),
        Coll::Subnets => render(&ctx, &subnets::show(&st.svc, &ctx, &id).await?, &fields),
        Coll::Ports => render(&ctx, &ports::show(&st.svc, &ctx, &id).await?, &fields),
        Coll::SecurityGroups => render(&ctx, &security_groups::show(&st.svc, &ctx, &id).await?, &fields),
        Coll::SecurityGroupRules => {
            render(&ctx, &security_group_rules::show(&st.svc, &ctx, &id).await?, &fields)
        }
        Coll::Routers => render(&ctx, &routers::show(&st.svc, &ctx, &id).await?, &fields),
        Coll::FloatingIps => render(&ctx, &floatingips::show(&st.svc, &ctx, &id).await?, &fields),
    };
    Ok(Json(json!({ c.singular(): item })))
}

/// `GET /v2.0/floatingip_pools` (`floatingip-pools`).
async fn floatingip_pools(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> HttpResult<Json<Value>> {
    let pools = floatingips::pools(&st.svc, &ctx).await?;
    Ok(Json(json!({"floatingip_pools": pools.iter().map(|p| p.to_json()).collect::<Vec<_>>()})))
}

/// `<collection>_links` for a page (upstream `api_common.PaginationHelper`).
fn links(
    base: &str,
    coll: &str,
    raw: &[(String, String)],
    params: &ListParams,
    page: &Page<Map<String, Value>>,
) -> Vec<Value> {
    let Some(limit) = params.limit else { return vec![] };
    let keep: Vec<(String, String)> = raw
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "limit" | "marker" | "page_reverse"))
        .cloned()
        .collect();
    let href = |marker: &str, reverse: bool| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &keep {
            ser.append_pair(k, v);
        }
        ser.append_pair("limit", &limit.to_string());
        ser.append_pair("marker", marker);
        if reverse {
            ser.append_pair("page_reverse", "True");
        }
        format!("{base}/v2.0/{coll}?{}", ser.finish())
    };
    let id_of = |m: Option<&Map<String, Value>>| {
        m.and_then(|m| m.get("id")).and_then(Value::as_str).map(String::from)
    };
    let (first, last) = (id_of(page.items.first()), id_of(page.items.last()));
    let mut out = vec![];
    // Forward: "next" while more follow, "previous" once past the first page. Reversed pages
    // mirror this.
    let (has_next, has_prev) = if params.page_reverse {
        (params.marker.is_some(), page.more)
    } else {
        (page.more, params.marker.is_some())
    };
    if let (true, Some(last)) = (has_next, &last) {
        out.push(json!({"rel": "next", "href": href(last, false)}));
    }
    if let (true, Some(first)) = (has_prev, &first) {
        out.push(json!({"rel": "previous", "href": href(first, true)}));
    }
    out
}

async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(coll): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult<Json<Value>> {
    let c = Coll::parse(&coll)?;
    let raw = pairs(&st, &q)?;
    let readable = |a: &neutrino_model::attrs::Attr| policy::may_read(&ctx, a);
    let params = ListParams::parse(&raw, c.attrs(), st.svc.config.server.pagination_max_limit, &readable)?;
    let fields = &params.fields;
    let page = match c {
        Coll::Networks => render_page(&ctx, networks::list(&st.svc, &ctx, params.clone()).await?, fields),
        Coll::Subnets => render_page(&ctx, subnets::list(&st.svc, &ctx, params.clone()).await?, fields),
        Coll::Ports => render_page(&ctx, ports::list(&st.svc, &ctx, params.clone()).await?, fields),
        Coll::SecurityGroups => {
            render_page(&ctx, security_groups::list(&st.svc, &ctx, params.clone()).await?, fields)
        }
        Coll::SecurityGroupRules => {
            render_page(&ctx, security_group_rules::list(&st.svc, &ctx, params.clone()).await?, fields)
        }
        Coll::Routers => render_page(&ctx, routers::list(&st.svc, &ctx, params.clone()).await?, fields),
        Coll::FloatingIps => {
            render_page(&ctx, floatingips::list(&st.svc, &ctx, params.clone()).await?, fields)
        }
    };
    let links = links(&st.base, c.path(), &raw, &params, &page);
    let mut out = Map::new();
    out.insert(c.plural().into(), Value::Array(page.items.into_iter().map(Value::Object).collect()));
    if !links.is_empty() {
        out.insert(format!("{}_links", c.plural()), Value::Array(links));
    }
    Ok(Json(Value::Object(out)))
}

async fn update(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((coll, id)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> HttpResult<Json<Value>> {
    let c = Coll::parse(&coll)?;
    if let Coll::SecurityGroupRules = c {
        return Err(Fail(ApiError::method_not_allowed()));
    }
    let obj = body::for_update(&bytes, c.singular())?;
    let rev = if_match(&headers)?;
    let item = match c {
        Coll::Networks => render(&ctx, &networks::update(&st.svc, &ctx, &id, obj, rev).await?, &[]),
        Coll::Subnets => render(&ctx, &subnets::update(&st.svc, &ctx, &id, obj, rev).await?, &[]),
        Coll::Ports => render(&ctx, &ports::update(&st.svc, &ctx, &id, obj, rev).await?, &[]),
        Coll::SecurityGroups => {
            render(&ctx, &security_groups::update(&st.svc, &ctx, &id, obj, rev).await?, &[])
        }
        Coll::Routers => render(&ctx, &routers::update(&st.svc, &ctx, &id, obj, rev).await?, &[]),
        Coll::FloatingIps => render(&ctx, &floatingips::update(&st.svc, &ctx, &id, obj, rev).await?, &[]),
        // Rules cannot be updated (upstream has no update of them).
        Coll::SecurityGroupRules => return Err(Fail(ApiError::method_not_allowed())),
    };
    Ok(Json(json!({ c.singular(): item })))
}

async fn delete(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((coll, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> HttpResult<Response> {
    let c = Coll::parse(&coll)?;
    let rev = if_match(&headers)?;
    match c {
        Coll::Networks => networks::delete(&st.svc, &ctx, &id, rev).await?,
        Coll::Subnets => subnets::delete(&st.svc, &ctx, &id, rev).await?,
        Coll::Ports => ports::delete(&st.svc, &ctx, &id, rev).await?,
        Coll::SecurityGroups => security_groups::delete(&st.svc, &ctx, &id, rev).await?,
        Coll::SecurityGroupRules => security_group_rules::delete(&st.svc, &ctx, &id).await?,
        Coll::Routers => routers::delete(&st.svc, &ctx, &id, rev).await?,
        Coll::FloatingIps => floatingips::delete(&st.svc, &ctx, &id, rev).await?,
    }
    Ok(no_content())
}

fn tagged(coll: &str) -> Result<Tagged, Fail> {
    Tagged::from_collection(coll).ok_or_else(|| Fail(ApiError::http_not_found()))
}

async fn tags_get(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((coll, id)): Path<(String, String)>,
) -> HttpResult<Json<Value>> {
    let t = tags::list(&st.svc, &ctx, tagged(&coll)?, &id).await?;
    Ok(Json(json!({"tags": t})))
}

/// `PUT .../tags` replaces the tags, `POST .../tags` adds to them.
async fn set_tags(
    st: &AppState,
    ctx: &RequestContext,
    coll: &str,
    id: &str,
    bytes: &[u8],
    add: bool,
) -> HttpResult<Json<Value>> {
    let want = tags::parse_tags(&Value::Object(body::json_object(bytes)?))?;
    let t = tags::set(&st.svc, ctx, tagged(coll)?, id, want, add).await?;
    Ok(Json(json!({"tags": t})))
}

async fn tags_put(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((coll, id)): Path<(String, String)>,
    bytes: Bytes,
) -> HttpResult<Json<Value>> {
    set_tags(&st, &ctx, &coll, &id, &bytes, false).await
}

async fn tags_post(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((coll, id)): Path<(String, String)>,
    bytes: Bytes,
) -> HttpResult<Json<Value>> {
    set_tags(&st, &ctx, &coll, &id, &bytes, true).await
}

async fn tags_clear(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((coll, id)): Path<(String, String)>,
) -> HttpResult<Response> {
    tags::remove(&st.svc, &ctx, tagged(&coll)?, &id, None).await?;
    Ok(no_content())
}

async fn tag_check(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> HttpResult<Response> {
    tags::check(&st.svc, &ctx, tagged(&coll)?, &id, &tag).await?;
    Ok(no_content())
}

async fn tag_add(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> HttpResult<Response> {
    tags::add_one(&st.svc, &ctx, tagged(&coll)?, &id, &tag).await?;
    Ok(StatusCode::CREATED.into_response())
}

async fn tag_remove(
    State(st): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> HttpResult<Response> {
    tags::remove(&st.svc, &ctx, tagged(&coll)?, &id, Some(tag)).await?;
    Ok(no_content())
}
