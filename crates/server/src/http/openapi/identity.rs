//! OpenAPI operations of the builtin identity service under `/identity/v3` (Keystone v3:
//! `GET /v3`, `POST/GET/HEAD/DELETE /v3/auth/tokens`), as `auth/builtin.rs` and `auth/wire.rs`
//! serve them, with Keystone's `{"error": {"code", "title", "message"}}` bodies.

use serde_json::{Map, Value, json};

use super::{op, schema_ref};

const TAG: &str = "identity";

/// `(status, component name, description)` of the Keystone errors.
pub const ERRORS: &[(u16, &str, &str)] = &[
    (400, "IdentityBadRequest", "The request is not valid (a malformed body, or no `X-Subject-Token`)."),
    (401, "IdentityUnauthorized", "Bad credentials, or no valid `X-Auth-Token`."),
    (403, "IdentityForbidden", "Only admins and services may act on another user's token."),
    (404, "IdentityNotFound", "The subject token is not valid (`Could not find token.`)."),
    (413, "IdentityTooLarge", "The request body is larger than Keystone's 112 KiB."),
    (503, "IdentityBusy", "Too many password checks are waiting; retry after `Retry-After`."),
];

fn errors(codes: &[u16], with_body: bool) -> Map<String, Value> {
    let mut m = Map::new();
    for (code, name, description) in ERRORS.iter().filter(|e| codes.contains(&e.0)) {
        let v = if with_body {
            json!({"$ref": format!("#/components/responses/{name}")})
        } else {
            json!({"description": description})
        };
        m.insert(code.to_string(), v);
    }
    m
}

fn subject_token() -> Value {
    json!({"name": "X-Subject-Token", "in": "header", "required": true,
        "description": "The token to validate, check or revoke.", "schema": {"type": "string"}})
}

fn token_headers() -> Value {
    json!({"X-Subject-Token": {"description": "The token.", "schema": {"type": "string"}}})
}

fn token_response(description: &str) -> Value {
    json!({"description": description, "headers": token_headers(),
        "content": {"application/json": {"schema": schema_ref("Token")}}})
}

/// The identity paths.
pub fn paths() -> Map<String, Value> {
    let mut p = Map::new();
    let mut discovery = op("identityVersion", "Keystone v3 version document", TAG, vec![], None, Map::new());
    discovery["security"] = json!([]);
    discovery["responses"] = json!({"200": {"description": "The version.",
        "content": {"application/json": {"schema": schema_ref("IdentityVersion")}}}});
    p.insert("/identity/v3".into(), json!({"get": discovery}));

    let mut issue = op(
        "issueToken",
        "Authenticate (password or token) and get a project-scoped token",
        TAG,
        vec![],
        Some(json!({"required": true, "content": {"application/json": {"schema": schema_ref("AuthRequest"),
            "example": {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "password": "secret", "domain": {"name": "Default"}}}},
                "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}}}})),
        errors(&[400, 401, 413, 503], true),
    );
    issue["security"] = json!([]);
    issue["responses"]["201"] = token_response("The token (its text in `X-Subject-Token`).");
    let mut validate = op(
        "validateToken",
        "Validate a token",
        TAG,
        vec![subject_token()],
        None,
        errors(&[400, 401, 403, 404], true),
    );
    validate["responses"]["200"] = token_response("The subject token's body.");
    let mut check = op(
        "checkToken",
        "Check a token",
        TAG,
        vec![subject_token()],
        None,
        errors(&[400, 401, 403, 404], false),
    );
    check["responses"]["200"] =
        json!({"description": "The subject token is valid.", "headers": token_headers()});
    let mut revoke = op(
        "revokeToken",
        "Revoke a token",
        TAG,
        vec![subject_token()],
        None,
        errors(&[400, 401, 403, 404], true),
    );
    revoke["responses"]["204"] = json!({"description": "Revoked."});
    p.insert(
        "/identity/v3/auth/tokens".into(),
        json!({"post": issue, "get": validate, "head": check, "delete": revoke}),
    );
    p
}

fn string() -> Value {
    json!({"type": "string"})
}

fn named(extra: &[(&str, Value)]) -> Value {
    let mut props = json!({"id": string(), "name": string()});
    for (k, v) in extra {
        props[*k] = v.clone();
    }
    json!({"type": "object", "properties": props})
}

/// The identity schemas.
pub fn schemas() -> Map<String, Value> {
    let mut m = Map::new();
    let domain = named(&[]);
    let user = json!({"type": "object", "required": ["password"], "properties": {
        "id": string(), "name": string(), "password": string(), "domain": domain}});
    let project = named(&[("domain", domain.clone())]);
    let scope = json!({"oneOf": [
        {"type": "string", "enum": ["unscoped"]},
        {"type": "object", "properties": {"project": project, "domain": {"type": "object"},
            "system": {"type": "object"}}},
    ]});
    m.insert(
        "AuthRequest".into(),
        json!({"type": "object", "required": ["auth"], "properties": {"auth": {
            "type": "object", "required": ["identity"], "properties": {
                "identity": {"type": "object", "required": ["methods"], "properties": {
                    "methods": {"type": "array", "items": {"type": "string", "enum": ["password", "token"]}},
                    "password": {"type": "object", "required": ["user"], "properties": {"user": user}},
                    "token": {"type": "object", "required": ["id"], "properties": {"id": string()}}}},
                "scope": scope}}}}),
    );
    let endpoint = json!({"type": "object", "properties": {"id": string(), "interface": string(),
        "region": string(), "region_id": string(), "url": string()}});
    let service = json!({"type": "object", "properties": {"id": string(), "type": string(), "name": string(),
        "endpoints": {"type": "array", "items": endpoint}}});
    let time = json!({"type": "string", "format": "date-time"});
    m.insert(
        "Token".into(),
        json!({"type": "object", "required": ["token"], "properties": {"token": {
            "type": "object",
            "required": ["methods", "expires_at", "issued_at", "user", "roles"],
            "properties": {
                "methods": {"type": "array", "items": string()},
                "expires_at": time, "issued_at": time,
                "audit_ids": {"type": "array", "items": string(), "minItems": 1, "maxItems": 2},
                "user": named(&[("domain", domain.clone()),
                    ("password_expires_at", json!({"type": "string", "nullable": true}))]),
                "project": named(&[("domain", domain)]),
                "is_domain": {"type": "boolean"},
                "roles": {"type": "array", "items": named(&[])},
                "catalog": {"type": "array", "items": service}}}}}),
    );
    m.insert(
        "IdentityVersion".into(),
        json!({"type": "object", "required": ["version"], "properties": {"version": {
            "type": "object", "required": ["id", "status", "links"], "properties": {
                "id": string(), "status": string(), "updated": string(),
                "links": {"type": "array", "items": schema_ref("Link")},
                "media-types": {"type": "array", "items": {"type": "object"}}}}}}),
    );
    m.insert(
        "KeystoneError".into(),
        json!({"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "title", "message"], "properties": {
                "code": {"type": "integer"}, "title": string(), "message": string()}}}}),
    );
    m
}
