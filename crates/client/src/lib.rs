//! Typed Rust client for the Neutrino (OpenStack Networking API v2.0) service: connection and
//! authentication ([`Client`], [`Auth`]), resource operations ([`Resources`]), raw calls
//! ([`Client::call`]), the agents' internal API ([`InternalClient`]) and errors.

mod error;
pub mod internal;
pub mod keystone;
mod resources;

use serde_json::Value;
use url::Url;

pub use error::Error;
pub use internal::InternalClient;
pub use keystone::PasswordAuth;
pub use reqwest::Method;
pub use resources::{Kind, Object, Resources};

/// How requests authenticate.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// No credential headers at all.
    #[default]
    None,
    /// A token sent as `X-Auth-Token`.
    Token(String),
    /// The server's noauth mode: `X-Project-Id` and `X-Roles` (comma-separated) headers.
    Noauth { project_id: Option<String>, roles: Option<String> },
}

/// Seconds an idle pooled connection is kept: less than the server's idle timeout (60 s by
/// default), so that a request never goes out on a connection the server has just closed — a
/// client whose runtime sleeps between calls does not notice that close ("connection closed
/// before message completed").
pub const POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// The HTTP client of [`Client`]s: pooled connections kept at most [`POOL_IDLE`].
fn http_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .pool_idle_timeout(POOL_IDLE)
        .build()
        .map_err(|source| Error::Transport { url: String::new(), source })
}

/// A connection to one Networking endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
}

impl Client {
    /// A client for the endpoint at `base_url` (the server root, e.g. `http://127.0.0.1:9696`;
    /// a trailing `/v2.0` is accepted and dropped).
    pub fn new(base_url: &str, auth: Auth) -> Result<Self, Error> {
        Self::with_http(http_client()?, base_url, auth)
    }

    /// Like [`Client::new`] with a caller-built `reqwest::Client`.
    pub fn with_http(http: reqwest::Client, base_url: &str, auth: Auth) -> Result<Self, Error> {
        let trimmed = base_url.trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/v2.0").unwrap_or(trimmed);
        let base = Url::parse(trimmed)
            .map_err(|e| Error::Url { url: base_url.to_string(), reason: e.to_string() })?;
        if base.cannot_be_a_base() {
            return Err(Error::Url { url: base_url.to_string(), reason: "not a base URL".into() });
        }
        Ok(Self { http, base, auth })
    }

    /// Authenticates with a password against Keystone v3 and connects to the catalog's network
    /// endpoint, or to `endpoint_override` when given.
    pub async fn with_password(creds: &PasswordAuth, endpoint_override: Option<&str>) -> Result<Self, Error> {
        let http = http_client()?;
        let (token, endpoint) = keystone::authenticate(&http, creds).await?;
        let endpoint = match endpoint_override {
            Some(e) => e.to_string(),
            None => endpoint.ok_or_else(|| {
                Error::Auth("the service catalog has no public network endpoint".to_string())
            })?,
        };
        Self::with_http(http, &endpoint, Auth::Token(token))
    }

    /// The endpoint root this client talks to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Operations on networks.
    pub fn networks(&self) -> Resources<'_> {
        Resources::new(self, Kind::Network)
    }

    /// Operations on subnets.
    pub fn subnets(&self) -> Resources<'_> {
        Resources::new(self, Kind::Subnet)
    }

    /// Operations on ports.
    pub fn ports(&self) -> Resources<'_> {
        Resources::new(self, Kind::Port)
    }

    /// Operations on security groups.
    pub fn security_groups(&self) -> Resources<'_> {
        Resources::new(self, Kind::SecurityGroup)
    }

    /// Operations on security group rules.
    pub fn security_group_rules(&self) -> Resources<'_> {
        Resources::new(self, Kind::SecurityGroupRule)
    }

    /// Operations on routers.
    pub fn routers(&self) -> Resources<'_> {
        Resources::new(self, Kind::Router)
    }

    /// Operations on floating IPs.
    pub fn floating_ips(&self) -> Resources<'_> {
        Resources::new(self, Kind::FloatingIp)
    }

    /// Operations on the collection `kind`.
    pub fn resources(&self, kind: Kind) -> Resources<'_> {
        Resources::new(self, kind)
    }

    /// `{base}/v2.0/{segments...}?{query}` with each segment percent-encoded.
    pub(crate) fn url(&self, segments: &[&str], query: &[(String, String)]) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut path) = u.path_segments_mut() {
            path.pop_if_empty().push("v2.0").extend(segments);
        }
        if !query.is_empty() {
            u.query_pairs_mut().extend_pairs(query);
        }
        u
    }

    /// A request with this client's credential headers.
    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let req = self.http.request(method, url).header("Accept", "application/json");
        match &self.auth {
            Auth::None => req,
            Auth::Token(t) => req.header("X-Auth-Token", t),
            Auth::Noauth { project_id, roles } => {
                let req = match project_id {
                    Some(p) => req.header("X-Project-Id", p),
                    None => req,
                };
                match roles {
                    Some(r) => req.header("X-Roles", r),
                    None => req,
                }
            }
        }
    }

    /// One request to `path` (path and query under the endpoint root, already encoded, e.g.
    /// `/v2.0/ports?network_id=x`), answered with its status and JSON body (`Null` when empty)
    /// whatever the status: for callers that check statuses themselves (tests, benchmarks).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Error> {
        let text = format!("{}{path}", self.base.as_str().trim_end_matches('/'));
        let url = Url::parse(&text).map_err(|e| Error::Url { url: text.clone(), reason: e.to_string() })?;
        let (status, text) = self.exchange(method, &url, body).await?;
        if text.trim().is_empty() {
            return Ok((status, Value::Null));
        }
        let v = serde_json::from_str(&text).map_err(|e| Error::Decode(format!("{url}: {e}")))?;
        Ok((status, v))
    }

    /// Sends one request with an optional JSON body: the status and the body's text.
    async fn exchange(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<(u16, String), Error> {
        let mut req = self.request(method, url.clone());
        if let Some(b) = body {
            req = req.json(b);
        }
        let transport = |source| Error::Transport { url: url.to_string(), source };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(transport)?;
        Ok((status, text))
    }

    /// Sends one request; `Ok(None)` for an empty (204) answer, the JSON body otherwise.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Option<Value>, Error> {
        let (status, text) = self.exchange(method, &url, body).await?;
        if !(200..300).contains(&status) {
            return Err(Error::from_response(status, &text));
        }
        if text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text).map(Some).map_err(|e| Error::Decode(format!("{url}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_rooted_at_v2_and_encoded() {
        let c = Client::new("http://h:9696/v2.0/", Auth::None).unwrap();
        assert_eq!(c.url(&["networks"], &[]).as_str(), "http://h:9696/v2.0/networks");
        let q = vec![("name".to_string(), "a b".to_string())];
        assert_eq!(c.url(&["networks", "x/y"], &q).as_str(), "http://h:9696/v2.0/networks/x%2Fy?name=a+b");
        let nested = Client::new("http://h/networking", Auth::None).unwrap();
        assert_eq!(nested.url(&["ports"], &[]).as_str(), "http://h/networking/v2.0/ports");
    }

    #[test]
    fn bad_base_url_is_an_error() {
        assert!(matches!(Client::new("not a url", Auth::None), Err(Error::Url { .. })));
    }
}
