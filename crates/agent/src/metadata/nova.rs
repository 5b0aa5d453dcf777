//! Forwarding a caller's request to Nova's metadata API as upstream's metadata agent does
//! (`neutron/agent/metadata/proxy_base.py`, `_proxy_request`): the path and query, the body,
//! `X-Forwarded-For`, `X-Instance-ID`, `X-Tenant-ID` and `X-Instance-ID-Signature` (hex
//! HMAC-SHA256 of the instance id keyed by `metadata_proxy_shared_secret`), and Nova's answer
//! relayed for the statuses upstream relays.

use hmac::{Hmac, Mac};
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use sha2::Sha256;

use super::config::MetadataConfig;
use super::reply::{Reply, TEXT};

/// The largest answer taken from Nova (user data is at most 64 KiB there).
pub const MAX_NOVA_BODY: usize = 8 << 20;

/// The statuses relayed as Nova gave them; any other is a 500, as upstream.
const RELAYED: &[u16] = &[200, 400, 403, 404, 409, 500, 502, 503, 504];

/// The signature Nova checks: hex HMAC-SHA256 of `instance_id` keyed by `secret`.
pub fn sign_instance_id(secret: &str, instance_id: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(instance_id.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Errors building the client.
#[derive(Debug, thiserror::Error)]
pub enum NovaError {
    #[error("cannot build the Nova metadata client: {0}")]
    Client(#[from] reqwest::Error),
}

/// What is forwarded, besides the path.
#[derive(Debug, Clone)]
pub struct Forward<'a> {
    pub method: Method,
    /// `/openstack/latest/meta_data.json?x=1`, as the caller asked.
    pub path_and_query: &'a str,
    /// The caller's address, as identified.
    pub forwarded_for: &'a str,
    pub instance_id: &'a str,
    pub project_id: &'a str,
    pub body: Bytes,
}

/// The client of Nova's metadata API.
#[derive(Debug, Clone)]
pub struct Nova {
    client: reqwest::Client,
    /// `http://nova:8775`, without a trailing `/`.
    base: String,
    secret: String,
}

impl Nova {
    /// The client of `cfg`, or `None` when no Nova is configured.
    pub fn new(cfg: &MetadataConfig) -> Result<Option<Self>, NovaError> {
        let Some(url) = &cfg.nova_metadata_url else { return Ok(None) };
        let client = reqwest::Client::builder()
            .timeout(cfg.nova_timeout())
            .connect_timeout(cfg.nova_timeout())
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Some(Self {
            client,
            base: url.trim_end_matches('/').to_string(),
            secret: cfg.metadata_proxy_shared_secret.clone(),
        }))
    }

    /// Forwards `f` and relays Nova's answer; a Nova that cannot be reached is a 503, one that
    /// does not answer in time a 504, any other failure a 502.
    pub async fn forward(&self, f: Forward<'_>) -> Reply {
        if !f.path_and_query.starts_with('/') {
            return Reply::error(StatusCode::BAD_REQUEST, "The path must be absolute.");
        }
        let Ok(url) = reqwest::Url::parse(&format!("{}{}", self.base, f.path_and_query)) else {
            return Reply::error(StatusCode::BAD_REQUEST, "The path is not valid.");
        };
        let req = self
            .client
            .request(f.method, url)
            .header("X-Forwarded-For", f.forwarded_for)
            .header("X-Instance-ID", f.instance_id)
            .header("X-Tenant-ID", f.project_id)
            .header("X-Instance-ID-Signature", sign_instance_id(&self.secret, f.instance_id))
            .body(f.body);
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return unreachable_nova(&e),
        };
        let status = resp.status();
        if !RELAYED.contains(&status.as_u16()) {
            tracing::warn!(status = status.as_u16(), "unexpected answer from the Nova metadata API");
            return Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unknown error has occurred. Please try your request again.",
            );
        }
        if status == StatusCode::FORBIDDEN {
            tracing::warn!(
                "the Nova metadata API answered Forbidden: usually the shared secrets do not match"
            );
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(TEXT)
            .to_string();
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) if body.len() + c.len() <= MAX_NOVA_BODY => body.extend_from_slice(&c),
                Ok(Some(_)) => {
                    tracing::warn!("the Nova metadata API answered more than {MAX_NOVA_BODY} bytes");
                    return Reply::error(
                        StatusCode::BAD_GATEWAY,
                        "The metadata server's answer is too large.",
                    );
                }
                Ok(None) => break,
                Err(e) => return unreachable_nova(&e),
            }
        }
        Reply::new(status, &content_type, body)
    }
}

fn unreachable_nova(e: &reqwest::Error) -> Reply {
    tracing::warn!(error = %e, "the Nova metadata API failed");
    if e.is_timeout() {
        Reply::error(StatusCode::GATEWAY_TIMEOUT, "The remote metadata server did not answer in time.")
    } else if e.is_connect() {
        Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The remote metadata server is temporarily unavailable. Please try again later.",
        )
    } else {
        Reply::error(StatusCode::BAD_GATEWAY, "The remote metadata server failed.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_an_independent_computation() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"secret",b"id",hashlib.sha256).hexdigest())'
        assert_eq!(
            sign_instance_id("secret", "id"),
            "0da5b4052abdeb0bbd119978c49479893059d51a19522a70e4672259a6d720b5"
        );
        // The default, empty secret; a secret beyond ASCII is taken as UTF-8, as upstream.
        let id = "6f1e8d3a-1111-4222-8333-944455556666";
        assert_eq!(
            sign_instance_id("", id),
            "3b95df405cb9b165648b57f91d173b3fa3a694fe19b57f415aff0fdf4ba81a9d"
        );
        assert_eq!(
            sign_instance_id("s3cr\u{e9}t", id),
            "65111ec0470f79ca95356255658291a38c9d379b16545eb933ab3af3a4d07631"
        );
    }
}
