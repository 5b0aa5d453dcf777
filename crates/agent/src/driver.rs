//! The driver seam (docs/design.md "Agent: drivers and roles"; in the spirit of netavark's `NetworkDriver`):
//! each role of the agent is a [`Driver`] that takes its section of the host's desired state,
//! converges the host to it idempotently, and says which ports it wired. The run loop
//! ([`crate::run`]) lists, watches, sends heartbeats and reports port status for any set of
//! drivers, and knows nothing of how a driver realises its section.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use neutrino_model::agent::Role;
use neutrino_model::internal::{Delta, HostState};
use serde_json::Value;
use tokio::sync::mpsc;

/// A boxed future, so that drivers of different types can sit in one list.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Ports (and floating IPs) whose status must be reported after a sync.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatusChanges {
    pub up: Vec<String>,
    pub down: Vec<String>,
    /// Floating IP id → `ACTIVE`, `DOWN` or `ERROR` (the `l3` driver's).
    pub floatingips: BTreeMap<String, String>,
}

impl StatusChanges {
    pub fn is_empty(&self) -> bool {
        self.up.is_empty() && self.down.is_empty() && self.floatingips.is_empty()
    }
}

/// A driver failed; the run loop starts its life again (new drivers, a fresh listing).
#[derive(Debug, thiserror::Error)]
#[error("{role} driver: {source}")]
pub struct DriverError {
    pub role: Role,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl DriverError {
    pub fn new(role: Role, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { role, source: source.into() }
    }
}

/// Asks the run loop to sync one driver: the host changed under it (an interface appeared, a
/// daemon restarted). Cheap to clone and to call often: wake-ups are coalesced.
#[derive(Debug, Clone)]
pub struct Wake {
    index: usize,
    tx: mpsc::UnboundedSender<usize>,
}

impl Wake {
    /// The wake-up of driver `index`, sent on `tx`.
    pub fn new(index: usize, tx: mpsc::UnboundedSender<usize>) -> Self {
        Self { index, tx }
    }

    /// Asks for a sync; false once the run loop is gone (the driver's watchers may stop).
    pub fn wake(&self) -> bool {
        self.tx.send(self.index).is_ok()
    }
}

/// One role of the agent. The run loop calls, in order: [`Driver::start`] once, then
/// [`Driver::load`] with a listing, then [`Driver::sync`]; afterwards any mix of `load` (after
/// a gap), [`Driver::apply`] (a watch delta) and `sync` (after those, or after a wake-up).
pub trait Driver: Send {
    /// The role it plays (its row in `GET /v2.0/agents`).
    fn role(&self) -> Role;

    /// Prepares the host (idempotent, removing nothing) and starts watching it; `wake` asks for
    /// a sync when the host changes under the driver.
    fn start(&mut self, wake: Wake) -> BoxFuture<'_, Result<(), DriverError>>;

    /// Replaces the desired state with its section of a full listing, taking it out of `state`.
    fn load(&mut self, state: &mut HostState);

    /// Applies its section of a watch delta, taking it out of `delta`.
    fn apply(&mut self, delta: &mut Delta);

    /// Converges the host to the desired state; returns the ports wired (up) or unwired (down)
    /// since the last sync.
    fn sync(&mut self) -> BoxFuture<'_, Result<StatusChanges, DriverError>>;

    /// Reporting `changes` failed: report them again after the next sync.
    fn retry_status(&mut self, changes: &StatusChanges);

    /// The `configurations` of its heartbeats (the role's typed struct as JSON).
    fn configurations(&self) -> Value;
}
