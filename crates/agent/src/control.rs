//! The agent's side of the internal API (DESIGN.md "Server ↔ agent"): list the host's desired
//! state, watch for deltas from a revision, send heartbeats and port up/down — behind a trait
//! with the HTTP implementation and an in-memory fake for the reconcile tests.

use std::future::Future;
use std::time::Duration;

use neutrino_model::internal::{Delta, HostState, Report, StatusReport};

/// Errors talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("server unreachable: {0}")]
    Transport(String),
    #[error("server answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unexpected answer: {0}")]
    Decode(String),
}

/// What the agent needs from the server.
pub trait ControlPlane: Send + Sync + 'static {
    fn host_state(&self, host: &str) -> impl Future<Output = Result<HostState, ControlError>> + Send;
    fn watch(
        &self,
        host: &str,
        since: i64,
        timeout: Duration,
    ) -> impl Future<Output = Result<Delta, ControlError>> + Send;
    fn report(&self, report: &Report) -> impl Future<Output = Result<(), ControlError>> + Send;
    fn port_status(&self, status: &StatusReport) -> impl Future<Output = Result<(), ControlError>> + Send;
}

/// The internal API over HTTP.
#[derive(Clone)]
pub struct HttpControlPlane {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl HttpControlPlane {
    pub fn new(base: &str, token: &str) -> Result<Self, ControlError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ControlError::Transport(e.to_string()))?;
        Ok(Self { http, base: base.trim_end_matches('/').to_string(), token: token.to_string() })
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ControlError> {
        let resp = req
            .header("x-agent-token", &self.token)
            .send()
            .await
            .map_err(|e| ControlError::Transport(e.to_string()))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| ControlError::Transport(e.to_string()))?;
        if !status.is_success() {
            return Err(ControlError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).into(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ControlError::Decode(e.to_string()))
    }
}

impl ControlPlane for HttpControlPlane {
    async fn host_state(&self, host: &str) -> Result<HostState, ControlError> {
        self.send(
            self.http
                .get(format!("{}/internal/v1/hosts/{host}/state", self.base))
                .timeout(Duration::from_secs(60)),
        )
        .await
    }

    async fn watch(&self, host: &str, since: i64, timeout: Duration) -> Result<Delta, ControlError> {
        let url = format!(
            "{}/internal/v1/hosts/{host}/watch?since={since}&timeout={}",
            self.base,
            timeout.as_secs()
        );
        self.send(self.http.get(url).timeout(timeout + Duration::from_secs(15))).await
    }

    async fn report(&self, report: &Report) -> Result<(), ControlError> {
        let _: serde_json::Value = self
            .send(
                self.http
                    .post(format!("{}/internal/v1/agents/report", self.base))
                    .json(report)
                    .timeout(Duration::from_secs(15)),
            )
            .await?;
        Ok(())
    }

    async fn port_status(&self, status: &StatusReport) -> Result<(), ControlError> {
        let _: serde_json::Value = self
            .send(
                self.http
                    .post(format!("{}/internal/v1/ports/status", self.base))
                    .json(status)
                    .timeout(Duration::from_secs(15)),
            )
            .await?;
        Ok(())
    }
}
