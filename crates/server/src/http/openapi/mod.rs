//! The OpenAPI 3.0 description of the public API (`GET /openapi.json`, no token needed): the
//! Networking API v2.0 routes and the builtin identity routes, built from the attribute maps so
//! that the document follows the code. `docs/openapi.json` is a copy, kept equal by a test.
//! The agents' private API (`/internal/v1`) is not part of it.

mod dhcp;
mod identity;
mod paths;
mod quotas;
mod routers;
mod schemas;

use std::sync::LazyLock;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::AppState;

/// `(status, component name, description)` of the `NeutronError` responses.
const ERRORS: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "A malformed body or query, or a value that does not validate (`HTTPBadRequest`, `InvalidInput`, `BadRequest`).",
    ),
    (401, "Unauthorized", "No valid `X-Auth-Token` (`HTTPUnauthorized`)."),
    (403, "Forbidden", "Policy forbids it (`PolicyNotAuthorized`), e.g. setting an admin-only attribute."),
    (
        404,
        "NotFound",
        "No such resource, or one the caller may not see (`NetworkNotFound`, `HTTPNotFound`, `TagNotFound`, …).",
    ),
    (409, "Conflict", "The request conflicts with the state (`NetworkInUse`, `IpAddressInUse`, …)."),
    (
        412,
        "PreconditionFailed",
        "`If-Match: revision_number=N` does not match (`RevisionNumberConstraintFailed`).",
    ),
    (413, "PayloadTooLarge", "The request body is too large."),
    (414, "UriTooLong", "The request URI (with its query string) is too long."),
    (431, "HeaderFieldsTooLarge", "The request headers are too large."),
    (
        503,
        "ServiceUnavailable",
        "Try again later: the external Keystone is unreachable (`auth.mode = \"keystone\"`), or no tenant segment is free (`NoNetworkAvailable`).",
    ),
];

/// `{"$ref": "#/components/schemas/<name>"}`.
fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The `NeutronError` responses for `codes`.
fn errors(codes: &[u16]) -> Map<String, Value> {
    codes
        .iter()
        .filter_map(|c| ERRORS.iter().find(|e| e.0 == *c))
        .map(|(code, name, _)| (code.to_string(), json!({"$ref": format!("#/components/responses/{name}")})))
        .collect()
}

/// `responses` with a JSON success `code` added to `errors`.
fn json_response(
    code: &str,
    description: &str,
    schema: Value,
    mut errors: Map<String, Value>,
) -> Map<String, Value> {
    errors.insert(
        code.into(),
        json!({"description": description, "content": {"application/json": {"schema": schema}}}),
    );
    errors
}

/// One operation.
fn op(
    id: &str,
    summary: &str,
    tag: &str,
    parameters: Vec<Value>,
    body: Option<Value>,
    responses: Map<String, Value>,
) -> Value {
    let mut o = json!({"operationId": id, "summary": summary, "tags": [tag], "responses": responses});
    if !parameters.is_empty() {
        o["parameters"] = Value::Array(parameters);
    }
    if let Some(b) = body {
        o["requestBody"] = b;
    }
    o
}

fn error_response(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema_ref(schema)}}})
}

const DESCRIPTION: &str = "The OpenStack Networking API v2.0 as Neutrino serves it (networks, subnets, \
ports, security groups and their rules, routers, floating IPs, their tags, quotas, agents) and, with `[auth] mode = \"builtin\"`, its Keystone v3-compatible identity \
service under `/identity/v3`. Send the token from `POST /identity/v3/auth/tokens` (header \
`X-Subject-Token`) as `X-Auth-Token`. Any path also answers with a `.json` suffix. Errors are \
`{\"NeutronError\": {\"type\", \"message\", \"detail\"}}` on the networking API and Keystone's \
`{\"error\": {\"code\", \"title\", \"message\"}}` on the identity service. The agents' own API \
(`/internal/v1`) is private and not described here.";

/// The whole document.
pub fn document() -> Value {
    let mut paths = paths::paths();
    paths.extend(quotas::paths());
    paths.extend(dhcp::paths());
    paths.extend(routers::paths());
    paths.extend(identity::paths());
    let mut schemas = paths::schemas();
    schemas.extend(quotas::schemas());
    schemas.extend(identity::schemas());
    let mut responses: Map<String, Value> =
        ERRORS.iter().map(|(_, name, d)| (name.to_string(), error_response(d, "NeutronError"))).collect();
    for (_, name, d) in identity::ERRORS {
        responses.insert(name.to_string(), error_response(d, "KeystoneError"));
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Neutrino Networking API",
            "version": "2.0",
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0"},
        },
        "tags": [
            {"name": "discovery", "description": "Versions, resources and extensions."},
            {"name": "networks"}, {"name": "subnets"}, {"name": "ports"},
            {"name": "security-groups"}, {"name": "security-group-rules"}, {"name": "routers"},
            {"name": "floatingips"},
            {"name": "quotas", "description": "Per-project limits (`quotas`, `quota_details`)."},
            {"name": "agents", "description": "Admin-only (`agent`, `dhcp_agent_scheduler` and `l3_agent_scheduler` extensions)."},
            {"name": "identity", "description": "The builtin identity service (`[auth] mode = \"builtin\"`)."},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token",
                    "description": "A Keystone token (builtin identity or external Keystone)."},
            },
        },
        "security": [{"token": []}],
    })
}

/// The document as served, in the form `docs/openapi.json` holds it.
#[allow(clippy::expect_used, reason = "a serde_json::Value has only string keys, so it always serialises")]
pub fn document_text() -> String {
    let mut s = serde_json::to_string_pretty(&document()).expect("a JSON value serialises");
    s.push('\n');
    s
}

static TEXT: LazyLock<String> = LazyLock::new(document_text);

async fn serve() -> Response {
    ([(CONTENT_TYPE, "application/json")], TEXT.as_str()).into_response()
}

/// `GET /openapi.json`, without authentication. The server strips a `.json` suffix before
/// routing (`strip_json`), so the route that answers is `/openapi`; `/openapi.json` is routed
/// too for a router used without that layer.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi", get(serve)).route("/openapi.json", get(serve))
}
