//! The `l2` driver (upstream's Open vSwitch agent): the [`Reconciler`] behind the
//! [`Driver`] seam, plus what watches the host for it — the OVSDB interface monitor (a VM port
//! plugged or unplugged) and the canary flow (ovs-vswitchd restarted and lost its flows), each
//! waking the run loop for a sync.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use neutrino_model::agent::Role;
use neutrino_model::internal::{Delta, HostState};
use neutrino_ovs::conntrack::OvsConntrack;
use neutrino_ovs::ofctl::{FlowProgrammer, OvsOfctl};
use neutrino_ovs::vswitch::{InterfaceEvent, OvsVswitch, Vswitch};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::config::AgentConfig;
use crate::driver::{BoxFuture, Driver, DriverError, StatusChanges, Wake};
use crate::reconcile::{Reconciler, SyncError};

/// How often the canary flow is looked for.
const CANARY_INTERVAL: Duration = Duration::from_secs(1);
/// How long the canary waits after reporting a restart (the sync reprograms meanwhile).
const CANARY_BACKOFF: Duration = Duration::from_secs(2);

/// What the host's watchers found since the last sync.
#[derive(Debug, Default)]
struct Seen {
    events: Mutex<Vec<InterfaceEvent>>,
    restarted: AtomicBool,
    monitor_lost: AtomicBool,
    /// Set after the first successful sync: before it, a missing canary means nothing.
    armed: AtomicBool,
}

/// Aborts a watcher when the driver goes.
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn failed(e: SyncError) -> DriverError {
    DriverError::new(Role::L2, e)
}

/// The `l2` driver on `V` (OVSDB) and `P` (OpenFlow); `canary` is a second flow programmer
/// for the canary checks, so that a dump of a busy ovs-vswitchd never delays a sync.
pub struct L2Driver<V: Vswitch, P: FlowProgrammer> {
    r: Reconciler<V, P>,
    canary: Option<P>,
    seen: Arc<Seen>,
    tasks: Vec<Task>,
}

impl L2Driver<OvsVswitch, OvsOfctl> {
    /// The driver on the host's Open vSwitch (the OVSDB socket and ovs-vswitchd's run directory).
    pub async fn connect(cfg: &AgentConfig) -> Result<Self, DriverError> {
        let vs = OvsVswitch::connect(&cfg.ovsdb).await.map_err(|e| failed(e.into()))?;
        let ofctl = OvsOfctl::new(cfg.ovs_rundir.clone());
        let mut d = Self::new(cfg.clone(), vs, ofctl, OvsOfctl::new(cfg.ovs_rundir.clone()));
        d.r.set_conntrack(Arc::new(OvsConntrack::new(cfg.ovs_rundir.clone())));
        Ok(d)
    }
}

impl<V, P> L2Driver<V, P>
where
    V: Vswitch + 'static,
    P: FlowProgrammer + 'static,
{
    pub fn new(cfg: AgentConfig, vs: V, ofctl: P, canary: P) -> Self {
        Self { r: Reconciler::new(cfg, vs, ofctl), canary: Some(canary), seen: Arc::default(), tasks: vec![] }
    }

    /// The reconciler (for tests and the shell).
    pub fn reconciler(&self) -> &Reconciler<V, P> {
        &self.r
    }

    async fn start_watching(&mut self, wake: Wake) -> Result<(), SyncError> {
        self.r.setup().await?;
        let mut events = self.r.vswitch().monitor_interfaces().await?;
        // The monitor's initial rows: the interfaces already plugged.
        while let Ok(ev) = events.try_recv() {
            self.r.on_interface(ev);
        }
        self.tasks.push(Task(tokio::spawn(forward(events, self.seen.clone(), wake.clone()))));
        if let Some(p) = self.canary.take() {
            let (bridge, cookie) = (self.r.integration_bridge().to_string(), self.r.cookie());
            self.tasks.push(Task(tokio::spawn(canary(p, bridge, cookie, self.seen.clone(), wake))));
        }
        Ok(())
    }

    async fn converge(&mut self) -> Result<StatusChanges, SyncError> {
        let events = std::mem::take(&mut *self.seen.events.lock().unwrap_or_else(|p| p.into_inner()));
        for ev in events {
            self.r.on_interface(ev);
        }
        if self.seen.monitor_lost.load(Ordering::SeqCst) {
            return Err(SyncError::MonitorLost);
        }
        if self.seen.restarted.swap(false, Ordering::SeqCst) {
            tracing::warn!("ovs-vswitchd lost its flows (restart): reprogramming");
            self.r.setup().await?;
            self.r.invalidate_flows();
        }
        let ch = self.r.sync().await?;
        self.seen.armed.store(true, Ordering::SeqCst);
        Ok(ch)
    }
}

/// Hands the OVSDB monitor's interface events to the driver, waking the run loop.
async fn forward(mut events: mpsc::UnboundedReceiver<InterfaceEvent>, seen: Arc<Seen>, wake: Wake) {
    while let Some(ev) = events.recv().await {
        seen.events.lock().unwrap_or_else(|p| p.into_inner()).push(ev);
        if !wake.wake() {
            return;
        }
    }
    seen.monitor_lost.store(true, Ordering::SeqCst);
    wake.wake();
}

/// Looks for the canary flow every second, off the run loop; its absence after a sync means
/// ovs-vswitchd restarted with empty tables.
async fn canary<P: FlowProgrammer>(p: P, bridge: String, cookie: u64, seen: Arc<Seen>, wake: Wake) {
    let mut tick = tokio::time::interval(CANARY_INTERVAL);
    loop {
        tick.tick().await;
        if !seen.armed.load(Ordering::SeqCst) {
            continue;
        }
        if neutrino_ovs::ofctl::restarted(&p, &bridge, cookie).await.unwrap_or(false) {
            seen.restarted.store(true, Ordering::SeqCst);
            if !wake.wake() {
                return;
            }
            // Give the sync time to reprogram before looking again.
            tokio::time::sleep(CANARY_BACKOFF).await;
        }
    }
}

impl<V, P> Driver for L2Driver<V, P>
where
    V: Vswitch + 'static,
    P: FlowProgrammer + 'static,
{
    fn role(&self) -> Role {
        Role::L2
    }

    fn start(&mut self, wake: Wake) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move { self.start_watching(wake).await.map_err(failed) })
    }

    fn load(&mut self, state: &mut HostState) {
        let l2 = std::mem::take(&mut state.l2);
        let firewall = std::mem::take(&mut state.firewall);
        self.r.load(HostState { revision: state.revision, l2, firewall, ..Default::default() });
    }

    fn apply(&mut self, delta: &mut Delta) {
        let l2 = std::mem::take(&mut delta.l2);
        let firewall = delta.firewall.take();
        self.r.apply(Delta { revision: delta.revision, resync: false, l2, firewall, dhcp: None, l3: None });
    }

    fn sync(&mut self) -> BoxFuture<'_, Result<StatusChanges, DriverError>> {
        Box::pin(async move { self.converge().await.map_err(failed) })
    }

    fn retry_status(&mut self, changes: &StatusChanges) {
        self.r.retry_status(changes);
    }

    fn configurations(&self) -> Value {
        self.r.configurations().to_value()
    }
}
