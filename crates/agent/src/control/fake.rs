//! A stateful in-memory [`ControlPlane`] for tests of the run loop: desired state per host,
//! a revision counter and a change log (which can be truncated to force a gap, or lost with a
//! "restart"), a "down" switch that makes every call fail, an optional delay on listings (a
//! slow sync), and the heartbeats and status reports it received. Watches long-poll on tokio
//! time, so tests can run with paused time and stay deterministic.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use neutrino_model::internal::{
    Delta, HostState, L2Delta, L2State, NetworkState, PortState, Report, StatusReport,
};

use super::{ControlError, ControlPlane};

/// One host's desired state, keyed for updates.
#[derive(Debug, Clone, Default)]
struct HostL2 {
    ports: BTreeMap<String, PortState>,
    networks: BTreeMap<String, NetworkState>,
    peers: BTreeMap<String, Vec<String>>,
}

impl HostL2 {
    fn apply(&mut self, d: &L2Delta) {
        for id in &d.removed_ports {
            self.ports.remove(id);
        }
        for p in &d.ports {
            self.ports.insert(p.id.clone(), p.clone());
        }
        for n in &d.networks {
            self.networks.insert(n.id.clone(), n.clone());
        }
        self.peers.extend(d.peers.clone());
    }

    fn state(&self) -> L2State {
        L2State {
            ports: self.ports.values().cloned().collect(),
            networks: self.networks.values().cloned().collect(),
            peers: self.peers.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    revision: i64,
    /// A watch from before this revision cannot be answered from the log: resync.
    floor: i64,
    hosts: BTreeMap<String, HostL2>,
    /// (revision, host, change), oldest first.
    log: Vec<(i64, String, L2Delta)>,
    down: bool,
    /// Bumped when connections break (restart, down): calls in flight fail.
    epoch: u64,
    host_state_delay: Option<Duration>,
    heartbeats: Vec<Report>,
    statuses: Vec<StatusReport>,
    host_state_calls: usize,
    watch_calls: usize,
}

/// The fake server; clones share it.
#[derive(Debug, Clone)]
pub struct FakeControlPlane {
    state: Arc<Mutex<State>>,
    changed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for FakeControlPlane {
    fn default() -> Self {
        Self { state: Arc::default(), changed: Arc::new(tokio::sync::watch::channel(0).0) }
    }
}

fn down() -> ControlError {
    ControlError::Transport("connection refused (fake server down)".into())
}

fn reset() -> ControlError {
    ControlError::Transport("connection reset (fake server restarted)".into())
}

impl FakeControlPlane {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Records a change of `host`'s desired state (a write on the server); returns its revision.
    pub fn publish(&self, host: &str, change: L2Delta) -> i64 {
        let rev = {
            let mut s = self.lock();
            s.revision += 1;
            let rev = s.revision;
            s.hosts.entry(host.to_string()).or_default().apply(&change);
            s.log.push((rev, host.to_string(), change));
            rev
        };
        self.notify();
        rev
    }

    /// Drops the change log: watches from before now get `resync` (a gap).
    pub fn truncate_log(&self) {
        let mut s = self.lock();
        s.log.clear();
        s.floor = s.revision;
    }

    /// A server restart: the change log is lost and connections in flight break.
    pub fn restart(&self) {
        {
            let mut s = self.lock();
            s.log.clear();
            s.floor = s.revision;
            s.epoch += 1;
        }
        self.notify();
    }

    /// While down, every call fails (and calls in flight break).
    pub fn set_down(&self, down: bool) {
        {
            let mut s = self.lock();
            s.down = down;
            s.epoch += 1;
        }
        self.notify();
    }

    /// How long each listing takes (`None`: no time).
    pub fn set_host_state_delay(&self, delay: Option<Duration>) {
        self.lock().host_state_delay = delay;
    }

    pub fn revision(&self) -> i64 {
        self.lock().revision
    }

    /// The heartbeats received, oldest first.
    pub fn heartbeats(&self) -> Vec<Report> {
        self.lock().heartbeats.clone()
    }

    /// The port status reports received, oldest first.
    pub fn status_reports(&self) -> Vec<StatusReport> {
        self.lock().statuses.clone()
    }

    /// Listings answered or begun.
    pub fn host_state_calls(&self) -> usize {
        self.lock().host_state_calls
    }

    /// Watches begun.
    pub fn watch_calls(&self) -> usize {
        self.lock().watch_calls
    }

    /// The changes of `host` after `since`, merged (a port added then removed is removed).
    fn merged(s: &State, host: &str, since: i64) -> L2Delta {
        let mut ports: BTreeMap<String, Option<PortState>> = BTreeMap::new();
        let mut d = L2Delta::default();
        let mut networks = BTreeMap::new();
        for (_, _, c) in s.log.iter().filter(|(rev, h, _)| *rev > since && h == host) {
            for id in &c.removed_ports {
                ports.insert(id.clone(), None);
            }
            for p in &c.ports {
                ports.insert(p.id.clone(), Some(p.clone()));
            }
            for n in &c.networks {
                networks.insert(n.id.clone(), n.clone());
            }
            d.peers.extend(c.peers.clone());
        }
        for (id, p) in ports {
            match p {
                Some(p) => d.ports.push(p),
                None => d.removed_ports.push(id),
            }
        }
        d.networks = networks.into_values().collect();
        d
    }
}

impl ControlPlane for FakeControlPlane {
    async fn host_state(&self, host: &str) -> Result<HostState, ControlError> {
        let (delay, epoch) = {
            let mut s = self.lock();
            if s.down {
                return Err(down());
            }
            s.host_state_calls += 1;
            (s.host_state_delay, s.epoch)
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let s = self.lock();
        if s.down || s.epoch != epoch {
            return Err(reset());
        }
        Ok(HostState {
            revision: s.revision,
            l2: s.hosts.get(host).map(HostL2::state).unwrap_or_default(),
            ..Default::default()
        })
    }

    async fn watch(&self, host: &str, since: i64, timeout: Duration) -> Result<Delta, ControlError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.changed.subscribe();
        let epoch = {
            let mut s = self.lock();
            if s.down {
                return Err(down());
            }
            s.watch_calls += 1;
            s.epoch
        };
        loop {
            {
                let s = self.lock();
                if s.down || s.epoch != epoch {
                    return Err(reset());
                }
                if since > s.revision || since < s.floor {
                    return Ok(Delta { revision: s.revision, resync: true, ..Default::default() });
                }
                if s.revision > since {
                    let l2 = Self::merged(&s, host, since);
                    return Ok(Delta { revision: s.revision, resync: false, l2, ..Default::default() });
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(reset()),
                Err(_) => return Ok(Delta { revision: since, ..Default::default() }),
            }
        }
    }

    async fn report(&self, report: &Report) -> Result<(), ControlError> {
        let mut s = self.lock();
        if s.down {
            return Err(down());
        }
        s.heartbeats.push(report.clone());
        Ok(())
    }

    async fn port_status(&self, status: &StatusReport) -> Result<(), ControlError> {
        let mut s = self.lock();
        if s.down {
            return Err(down());
        }
        s.statuses.push(status.clone());
        Ok(())
    }
}
