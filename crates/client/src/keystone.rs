//! Password authentication against a Keystone v3 identity endpoint: the token request body,
//! the `X-Subject-Token` answer and the `network` endpoint from the service catalog.

use serde_json::{Value, json};

use crate::Error;

/// Password credentials scoped to a project (a `clouds.yaml` cloud with `auth_type: password`).
#[derive(Debug, Clone, Default)]
pub struct PasswordAuth {
    /// The identity endpoint, with or without the trailing `/v3`.
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub user_domain_name: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub project_domain_name: Option<String>,
    pub project_domain_id: Option<String>,
    /// Region to pick the network endpoint from (any region when unset).
    pub region_name: Option<String>,
    /// Catalog interface; `public` when unset.
    pub interface: Option<String>,
}

fn domain(id: &Option<String>, name: &Option<String>) -> Value {
    match (id, name) {
        (Some(id), _) => json!({ "id": id }),
        (None, Some(name)) => json!({ "name": name }),
        (None, None) => json!({ "name": "Default" }),
    }
}

impl PasswordAuth {
    /// `POST /v3/auth/tokens` body: password method, project scope.
    pub fn token_body(&self) -> Value {
        let user = json!({
            "name": self.username,
            "password": self.password,
            "domain": domain(&self.user_domain_id, &self.user_domain_name),
        });
        let mut auth = json!({
            "identity": { "methods": ["password"], "password": { "user": user } }
        });
        let project = match (&self.project_id, &self.project_name) {
            (Some(id), _) => Some(json!({ "id": id })),
            (None, Some(name)) => Some(json!({
                "name": name,
                "domain": domain(&self.project_domain_id, &self.project_domain_name),
            })),
            (None, None) => None,
        };
        if let Some(p) = project {
            auth["scope"] = json!({ "project": p });
        }
        json!({ "auth": auth })
    }

    /// `{auth_url}/auth/tokens`, adding `/v3` when the URL does not end with it.
    pub fn tokens_url(&self) -> String {
        let base = self.auth_url.trim_end_matches('/');
        if base.ends_with("/v3") { format!("{base}/auth/tokens") } else { format!("{base}/v3/auth/tokens") }
    }
}

/// The URL of the `network` service in a token's catalog for `interface` (and `region`, if given).
pub fn network_endpoint(token: &Value, interface: &str, region: Option<&str>) -> Option<String> {
    let catalog = token.get("token")?.get("catalog")?.as_array()?;
    let service = catalog.iter().find(|s| s.get("type").and_then(Value::as_str) == Some("network"))?;
    service.get("endpoints")?.as_array()?.iter().find_map(|e| {
        let field = |k: &str| e.get(k).and_then(Value::as_str);
        let region_ok = region.is_none_or(|r| field("region") == Some(r) || field("region_id") == Some(r));
        (field("interface") == Some(interface) && region_ok).then(|| field("url").map(String::from)).flatten()
    })
}

/// Obtains a token; returns it with the catalog's network endpoint (if the catalog has one).
pub async fn authenticate(
    http: &reqwest::Client,
    auth: &PasswordAuth,
) -> Result<(String, Option<String>), Error> {
    let url = auth.tokens_url();
    let resp = http
        .post(&url)
        .json(&auth.token_body())
        .send()
        .await
        .map_err(|source| Error::Transport { url: url.clone(), source })?;
    let status = resp.status().as_u16();
    let token = resp.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).map(String::from);
    let text = resp.text().await.map_err(|source| Error::Transport { url: url.clone(), source })?;
    if !(200..300).contains(&status) {
        return Err(Error::from_response(status, &text));
    }
    let token = token.ok_or_else(|| Error::Auth(format!("{url} answered without X-Subject-Token")))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let interface = auth.interface.as_deref().unwrap_or("public");
    Ok((token, network_endpoint(&body, interface, auth.region_name.as_deref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> PasswordAuth {
        PasswordAuth {
            auth_url: "http://k:5000/v3/".into(),
            username: "u".into(),
            password: "p".into(),
            project_name: Some("proj".into()),
            ..Default::default()
        }
    }

    #[test]
    fn token_body_has_password_and_project_scope() {
        let b = creds().token_body();
        assert_eq!(b["auth"]["identity"]["methods"], json!(["password"]));
        assert_eq!(b["auth"]["identity"]["password"]["user"]["domain"], json!({"name": "Default"}));
        assert_eq!(b["auth"]["scope"]["project"], json!({"name": "proj", "domain": {"name": "Default"}}));
        let by_id = PasswordAuth { project_id: Some("pid".into()), ..creds() };
        assert_eq!(by_id.token_body()["auth"]["scope"]["project"], json!({"id": "pid"}));
    }

    #[test]
    fn tokens_url_adds_v3_once() {
        assert_eq!(creds().tokens_url(), "http://k:5000/v3/auth/tokens");
        let bare = PasswordAuth { auth_url: "http://k:5000".into(), ..creds() };
        assert_eq!(bare.tokens_url(), "http://k:5000/v3/auth/tokens");
    }

    #[test]
    fn catalog_gives_the_public_network_endpoint() {
        let t = json!({"token": {"catalog": [
            {"type": "identity", "endpoints": [{"interface": "public", "url": "http://k/v3"}]},
            {"type": "network", "endpoints": [
                {"interface": "internal", "region": "R1", "url": "http://int:9696"},
                {"interface": "public", "region": "R2", "url": "http://r2:9696"},
                {"interface": "public", "region": "R1", "url": "http://r1:9696"}]}]}});
        assert_eq!(network_endpoint(&t, "public", None).as_deref(), Some("http://r2:9696"));
        assert_eq!(network_endpoint(&t, "public", Some("R1")).as_deref(), Some("http://r1:9696"));
        assert_eq!(network_endpoint(&t, "admin", None), None);
    }
}
