//! The agent's side of the internal API (docs/design.md "Server ↔ agent protocol"): list the host's desired
//! state, watch for deltas from a revision, send heartbeats and port up/down — behind a trait
//! with the HTTP implementation (the typed [`neutrino_client::InternalClient`]) and a stateful
//! in-memory fake ([`fake::FakeControlPlane`]) for the run loop's tests.

pub mod fake;

use std::future::Future;
use std::time::Duration;

use neutrino_client::InternalClient;
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

impl From<neutrino_client::Error> for ControlError {
    fn from(e: neutrino_client::Error) -> Self {
        use neutrino_client::Error as E;
        match e {
            E::Api { status, message, .. } => ControlError::Status { status, body: message },
            E::Decode(m) => ControlError::Decode(m),
            E::Transport { url, source } => ControlError::Transport(format!("{url}: {source}")),
            other => ControlError::Transport(other.to_string()),
        }
    }
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
#[derive(Debug, Clone)]
pub struct HttpControlPlane {
    client: InternalClient,
}

impl HttpControlPlane {
    pub fn new(base: &str, token: &str) -> Result<Self, ControlError> {
        Ok(Self { client: InternalClient::new(base, token)? })
    }
}

impl ControlPlane for HttpControlPlane {
    async fn host_state(&self, host: &str) -> Result<HostState, ControlError> {
        Ok(self.client.host_state(host).await?)
    }

    async fn watch(&self, host: &str, since: i64, timeout: Duration) -> Result<Delta, ControlError> {
        Ok(self.client.watch(host, since, timeout).await?)
    }

    async fn report(&self, report: &Report) -> Result<(), ControlError> {
        self.client.report(report).await?;
        Ok(())
    }

    async fn port_status(&self, status: &StatusReport) -> Result<(), ControlError> {
        self.client.port_status(status).await?;
        Ok(())
    }
}
