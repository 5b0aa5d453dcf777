//! The agents' internal API (`/internal/v1`, private to Neutrino; docs/design.md "Server ↔ agent
//! protocol"): a host's desired state, watching for deltas from a revision (long poll),
//! heartbeats and port status reports, typed with [`neutrino_model::internal`] and sent with the
//! agent credential (`X-Agent-Token`).

use std::time::Duration;

use neutrino_model::internal::{Delta, HostState, Report, StatusReport};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::Error;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a listing of a host's state may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a report may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(15);
/// How much longer than its own timeout a watch may take to answer.
const WATCH_GRACE: Duration = Duration::from_secs(15);

/// The server's answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReportAnswer {
    /// The agent row's id.
    pub id: String,
    pub alive: bool,
    pub admin_state_up: bool,
}

#[derive(Deserialize)]
struct Updated {
    updated: usize,
}

/// A client of `/internal/v1` for one agent credential.
#[derive(Debug, Clone)]
pub struct InternalClient {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl InternalClient {
    /// A client of the server at `base_url` (its root, e.g. `http://127.0.0.1:9696`).
    pub fn new(base_url: &str, token: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::Url { url: base_url.to_string(), reason };
        let base = Url::parse(base_url.trim_end_matches('/')).map_err(|e| bad(e.to_string()))?;
        if base.cannot_be_a_base() {
            return Err(bad("not a base URL".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(crate::POOL_IDLE)
            .build()
            .map_err(|source| Error::Transport { url: base_url.to_string(), source })?;
        Ok(Self { http, base, token: token.to_string() })
    }

    /// `{base}/internal/v1/{segments...}` with each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut path) = u.path_segments_mut() {
            path.pop_if_empty().push("internal").push("v1").extend(segments);
        }
        u
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&impl serde::Serialize>,
        timeout: Duration,
    ) -> Result<T, Error> {
        let mut req =
            self.http.request(method, url.clone()).header("x-agent-token", &self.token).timeout(timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        let transport = |source| Error::Transport { url: url.to_string(), source };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            return Err(Error::from_response(status, &String::from_utf8_lossy(&bytes)));
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode(format!("{url}: {e}")))
    }

    /// `GET /internal/v1/hosts/{host}/state`: everything `host` must realise.
    pub async fn host_state(&self, host: &str) -> Result<HostState, Error> {
        let url = self.url(&["hosts", host, "state"]);
        self.send(Method::GET, url, None::<&()>, LIST_TIMEOUT).await
    }

    /// `GET /internal/v1/hosts/{host}/watch?since=&timeout=`: the changes for `host` after
    /// revision `since`, waiting up to `timeout` (whole seconds, at most 60) for one.
    pub async fn watch(&self, host: &str, since: i64, timeout: Duration) -> Result<Delta, Error> {
        let mut url = self.url(&["hosts", host, "watch"]);
        url.query_pairs_mut()
            .append_pair("since", &since.to_string())
            .append_pair("timeout", &timeout.as_secs().to_string());
        self.send(Method::GET, url, None::<&()>, timeout + WATCH_GRACE).await
    }

    /// `POST /internal/v1/agents/report`: one heartbeat of one agent row.
    pub async fn report(&self, report: &Report) -> Result<ReportAnswer, Error> {
        let url = self.url(&["agents", "report"]);
        self.send(Method::POST, url, Some(report), REPORT_TIMEOUT).await
    }

    /// `POST /internal/v1/ports/status`: ports wired (up) or unwired (down) on the reporter's
    /// host; returns how many ports changed status.
    pub async fn port_status(&self, status: &StatusReport) -> Result<usize, Error> {
        let url = self.url(&["ports", "status"]);
        let u: Updated = self.send(Method::POST, url, Some(status), REPORT_TIMEOUT).await?;
        Ok(u.updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_under_internal_v1_and_encoded() {
        let c = InternalClient::new("http://h:9696/", "t").unwrap();
        assert_eq!(c.url(&["hosts", "h1", "state"]).as_str(), "http://h:9696/internal/v1/hosts/h1/state");
        assert_eq!(c.url(&["hosts", "a/b", "watch"]).as_str(), "http://h:9696/internal/v1/hosts/a%2Fb/watch");
        assert!(matches!(InternalClient::new("nope", "t"), Err(Error::Url { .. })));
    }
}
