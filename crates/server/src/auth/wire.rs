//! The Keystone v3 wire format we speak: `POST /v3/auth/tokens` request bodies, the token body and
//! catalog we render, the token body we read from an external Keystone, and `{"error": ...}` bodies
//! (the Keystone v3 Identity API reference).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::tokens::Claims;
use super::users::derive_id;

/// `{"auth": {...}}`.
#[derive(Debug, Deserialize)]
pub struct AuthRequest {
    pub auth: AuthBody,
}

#[derive(Debug, Deserialize)]
pub struct AuthBody {
    pub identity: IdentityReq,
    #[serde(default)]
    pub scope: Option<ScopeReq>,
}

#[derive(Debug, Deserialize)]
pub struct IdentityReq {
    pub methods: Vec<String>,
    #[serde(default)]
    pub password: Option<PasswordReq>,
    #[serde(default)]
    pub token: Option<TokenReq>,
}

#[derive(Debug, Deserialize)]
pub struct PasswordReq {
    pub user: UserReq,
}

#[derive(Debug, Deserialize)]
pub struct UserReq {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub password: String,
    #[serde(default)]
    pub domain: Option<DomainReq>,
}

#[derive(Debug, Deserialize)]
pub struct TokenReq {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct DomainReq {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `"scope": {"project": ...}` (other scopes are refused later), or `"scope": "unscoped"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ScopeReq {
    Object {
        #[serde(default)]
        project: Option<ProjectReq>,
        #[serde(default)]
        domain: Option<Value>,
        #[serde(default)]
        system: Option<Value>,
    },
    Keyword(String),
}

#[derive(Debug, Deserialize)]
pub struct ProjectReq {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub domain: Option<DomainReq>,
}

/// Whether a domain reference names domain `Default` (a missing one is taken to).
pub fn is_default_domain(domain: Option<&DomainReq>) -> bool {
    match domain {
        None => true,
        Some(d) => match (&d.id, &d.name) {
            (Some(id), _) => id.eq_ignore_ascii_case("default"),
            (None, Some(name)) => name.eq_ignore_ascii_case("default"),
            (None, None) => false,
        },
    }
}

/// Keystone's time format: `2099-01-01T00:00:00.000000Z`.
pub fn format_time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Where the catalog points.
#[derive(Debug, Clone)]
pub struct CatalogInfo {
    /// The server's public URL, without a trailing slash.
    pub public_url: String,
    pub region: String,
}

fn catalog_entry(kind: &str, name: &str, url: &str, region: &str) -> Value {
    let endpoints: Vec<Value> = ["public", "internal", "admin"]
        .iter()
        .map(|interface| {
            json!({
                "id": derive_id("endpoint", &format!("{kind}/{interface}")),
                "interface": interface,
                "region": region,
                "region_id": region,
                "url": url,
            })
        })
        .collect();
    json!({"type": kind, "name": name, "id": derive_id("service", kind), "endpoints": endpoints})
}

/// The `{"token": ...}` body for `claims` (`token` is the token text, for the `audit_ids` of tokens
/// issued before they were in the claims).
pub fn token_body(claims: &Claims, token: &str, catalog: &CatalogInfo) -> Value {
    let domain = json!({"id": "default", "name": "Default"});
    let roles: Vec<Value> =
        claims.roles.iter().map(|r| json!({"id": derive_id("role", r), "name": r})).collect();
    json!({"token": {
        "methods": claims.methods,
        "expires_at": format_time(claims.exp),
        "issued_at": format_time(claims.iat),
        "audit_ids": claims.audit_ids_of(token),
        "user": {"id": claims.user_id, "name": claims.user_name, "domain": domain, "password_expires_at": null},
        "project": {"id": claims.project_id, "name": claims.project_name, "domain": domain},
        "is_domain": false,
        "roles": roles,
        "catalog": [
            catalog_entry("network", "neutron", &catalog.public_url, &catalog.region),
            catalog_entry(
                "identity",
                "keystone",
                &format!("{}/identity/v3", catalog.public_url),
                &catalog.region,
            ),
        ],
    }})
}

/// The `GET /v3` version document.
pub fn discovery(public_url: &str) -> Value {
    json!({"version": {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{public_url}/identity/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }})
}

/// A Keystone error: `{"error": {"code": ..., "title": ..., "message": ...}}` (titles as Python's
/// `http.client.responses`, which Keystone uses).
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let title = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    let body = json!({"error": {"code": status.as_u16(), "title": title, "message": message.into()}});
    (status, Json(body)).into_response()
}

/// The 401 Keystone answers to bad credentials.
pub fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, "The request you have made requires authentication.")
}

/// The parts of an external Keystone's token body we use.
#[derive(Debug, Deserialize)]
pub struct RemoteTokenResponse {
    pub token: RemoteToken,
}

#[derive(Debug, Deserialize)]
pub struct RemoteToken {
    pub expires_at: String,
    pub user: RemoteNamed,
    #[serde(default)]
    pub project: Option<RemoteNamed>,
    #[serde(default)]
    pub roles: Vec<RemoteRole>,
}

#[derive(Debug, Deserialize)]
pub struct RemoteNamed {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct RemoteRole {
    pub name: String,
}

/// Parses Keystone's `expires_at` (with or without fractional seconds) into microseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_and_parse() {
        let us = 4_070_908_800_000_000; // 2099-01-01
        assert_eq!(format_time(us), "2099-01-01T00:00:00.000000Z");
        assert_eq!(parse_time("2099-01-01T00:00:00.000000Z"), Some(us));
        assert_eq!(parse_time("2099-01-01T00:00:00Z"), Some(us));
        assert_eq!(parse_time("junk"), None);
    }

    #[test]
    fn tempest_request_parses() {
        let r: AuthRequest = serde_json::from_str(
            r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"member_1",
            "password":"secret","domain":{"name":"Default"}}}},"scope":{"project":{"name":"proj_1",
            "domain":{"name":"Default"}}}}}"#,
        )
        .unwrap();
        let user = r.auth.identity.password.unwrap().user;
        assert!(is_default_domain(user.domain.as_ref()));
        assert!(matches!(r.auth.scope, Some(ScopeReq::Object { project: Some(_), .. })));
        assert!(!is_default_domain(Some(&DomainReq { id: None, name: Some("other".into()) })));
    }
}
