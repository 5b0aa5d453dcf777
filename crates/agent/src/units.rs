//! What the namespaced roles share (docs/design.md "The dhcp driver", "Routers (agent)"): a
//! unit of theirs (a served network, a router) lives in one namespace of this agent's, with
//! processes, integration-bridge ports and a directory under the role's `state_path`. [`Units`]
//! is their converge loop (upstream's DHCP and L3 agents sync the same way): sweep this agent's
//! leftovers once, tear down what is no longer wanted, ensure what changed or whose processes
//! died, retry a failure a few seconds later without failing the agent, check the processes
//! every minute. [`Unit`] is what a role does on the host; [`leftovers`], [`stop_namespace`],
//! [`remove_namespace`] and [`Failures`] are the pieces of the roles' best-effort teardowns.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Debug, Display};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use neutrino_host::{Host, Process};

use crate::driver::Wake;

/// How long after a failed unit the driver asks for another sync.
pub const RETRY_DELAY: Duration = Duration::from_secs(5);
/// How often the processes are checked (upstream's `check_child_processes_interval`).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// How long a process gets to end after SIGTERM (then again after SIGKILL).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The part of a port id that device names carry: its first 11 characters (`qr-`, `tap`, …
/// and 11 make 14, within the kernel's 15).
pub fn short(port_id: &str) -> &str {
    port_id.get(..11).unwrap_or(port_id)
}

/// What a role does on the host for its units.
pub trait Unit {
    /// A unit as the server describes it.
    type State: Clone + PartialEq + Send + Sync;
    /// What [`Unit::ensure`] did.
    type Action: Debug;
    type Error: Display;
    /// The unit's name in logs ("router", "DHCP network").
    const KIND: &'static str;

    /// Removes every leftover of this agent's units not in `wanted`.
    fn sweep(&self, wanted: &BTreeSet<String>) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Removes a unit this host no longer runs.
    fn teardown(&self, id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Brings a unit on the host in line with `unit`.
    fn ensure(&self, unit: &Self::State) -> impl Future<Output = Result<Self::Action, Self::Error>> + Send;
    /// Whether the unit's processes run: a unit realised as it is needs no other check.
    fn running(&self, unit: &Self::State) -> bool;
    /// Whether `action` changed nothing (not worth a log line).
    fn unchanged(_action: &Self::Action) -> bool {
        false
    }
}

/// Aborts a task when its owner goes.
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The converge state of one role's units.
pub struct Units<S> {
    /// The units as last converged.
    realised: BTreeMap<String, S>,
    /// The units with something on the host.
    present: BTreeSet<String>,
    swept: bool,
    wake: Option<Wake>,
    retry_pending: Arc<AtomicBool>,
    checker: Option<Task>,
}

impl<S> Default for Units<S> {
    fn default() -> Self {
        Self {
            realised: BTreeMap::new(),
            present: BTreeSet::new(),
            swept: false,
            wake: None,
            retry_pending: Arc::default(),
            checker: None,
        }
    }
}

impl<S: Clone + PartialEq + Send + Sync> Units<S> {
    /// Wakes the driver every [`CHECK_INTERVAL`] (a process that died is started again) and
    /// after a failure.
    pub fn start(&mut self, wake: Wake) {
        let check = wake.clone();
        self.checker = Some(Task(tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                if !check.wake() {
                    return;
                }
            }
        })));
        self.wake = Some(wake);
    }

    /// The unit `id` as last converged.
    pub fn realised(&self, id: &str) -> Option<&S> {
        self.realised.get(id)
    }

    /// One sync towards `wanted` (the units to run, by id); what failed is logged and retried.
    pub async fn converge<U: Unit<State = S>>(&mut self, unit: &U, wanted: BTreeMap<&str, &S>) {
        let kind = U::KIND;
        let mut failed = false;
        if !self.swept {
            let ids: BTreeSet<String> = wanted.keys().map(|id| id.to_string()).collect();
            match unit.sweep(&ids).await {
                Ok(()) => self.swept = true,
                Err(e) => {
                    tracing::error!(error = %e, "sweeping the leftovers of each {kind} failed");
                    failed = true;
                }
            }
        }
        let gone: Vec<String> =
            self.present.iter().filter(|id| !wanted.contains_key(id.as_str())).cloned().collect();
        for id in gone {
            self.realised.remove(&id);
            match unit.teardown(&id).await {
                Ok(()) => {
                    self.present.remove(&id);
                    tracing::info!(id = %id, "{kind} removed");
                }
                Err(e) => {
                    tracing::error!(id = %id, error = %e, "removing a {kind} failed");
                    failed = true;
                }
            }
        }
        for (&id, &state) in &wanted {
            if self.realised.get(id) == Some(state) && unit.running(state) {
                continue;
            }
            self.present.insert(id.to_string());
            match unit.ensure(state).await {
                Ok(action) => {
                    if !U::unchanged(&action) {
                        tracing::info!(id = %id, ?action, "{kind} converged");
                    }
                    self.realised.insert(id.to_string(), state.clone());
                }
                Err(e) => {
                    tracing::error!(id = %id, error = %e, "converging a {kind} failed");
                    self.realised.remove(id);
                    failed = true;
                }
            }
        }
        if failed {
            self.retry_later();
        }
    }

    /// Asks for a sync after [`RETRY_DELAY`] (once, however many units failed).
    fn retry_later(&self) {
        let Some(wake) = self.wake.clone() else { return };
        if self.retry_pending.swap(true, Ordering::SeqCst) {
            return;
        }
        let pending = self.retry_pending.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RETRY_DELAY).await;
            pending.store(false, Ordering::SeqCst);
            wake.wake();
        });
    }
}

/// Collects the failures of a best-effort teardown: every removal is tried.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    /// `r`'s value, or `None` with the failure noted (and logged) as `what`.
    pub fn note<T, E: Display>(&mut self, what: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "{what}");
                self.0.push(format!("{what}: {e}"));
                None
            }
        }
    }

    /// `Ok` when nothing failed, else the failures (for the role's `Teardown` error).
    pub fn into_result(self) -> Result<(), Vec<String>> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0) }
    }
}

/// A name that can be a unit id (what the roles name their namespaces and directories).
fn looks_like_id(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The ids of a role's leftovers on this host, less those `wanted`: the units named by its
/// integration-bridge ports (`owned`), by its namespaces (`<ns_prefix><id>`) and by the
/// directories under its `state_path`; only names that can be ids, so nothing else is touched.
pub fn leftovers(
    host: &dyn Host,
    ns_prefix: &str,
    state_path: &Path,
    owned: impl IntoIterator<Item = String>,
    wanted: &BTreeSet<String>,
    f: &mut Failures,
) -> BTreeSet<String> {
    let mut stale: BTreeSet<String> = owned.into_iter().collect();
    let namespaces = f.note("listing namespaces", host.list_netns()).unwrap_or_default();
    stale.extend(namespaces.iter().filter_map(|n| n.strip_prefix(ns_prefix)).map(str::to_string));
    if let Ok(dir) = std::fs::read_dir(state_path) {
        for e in dir.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir())
                && let Some(name) = e.file_name().to_str()
            {
                stale.insert(name.to_string());
            }
        }
    }
    stale.retain(|id| !wanted.contains(id) && looks_like_id(id));
    stale
}

/// Stops a unit's own processes (`own`, each found by pid file and checked for its program
/// and namespace), then whatever else runs in its namespace `ns`: the namespace is the
/// agent's, and anything left in it would keep it alive. Nothing when `ns` is gone.
pub fn stop_namespace<E: Display>(
    host: &dyn Host,
    ns: &str,
    own: impl FnOnce() -> Vec<Result<Option<Process>, E>>,
    f: &mut Failures,
) {
    if !host.netns_exists(ns).unwrap_or(false) {
        return;
    }
    for found in own() {
        if let Some(Some(p)) = f.note("finding a process", found) {
            f.note("stopping a process", host.stop(&p, STOP_TIMEOUT));
        }
    }
    if let Some(rest) = f.note("listing the namespace's processes", host.processes_in_netns(ns)) {
        for p in rest {
            f.note("stopping a process", host.stop(&p, STOP_TIMEOUT));
        }
    }
}

/// Deletes a unit's namespace `ns` and its directory `dir`, where they exist.
pub fn remove_namespace(host: &dyn Host, ns: &str, dir: &Path, f: &mut Failures) {
    if host.netns_exists(ns).unwrap_or(false) {
        f.note("deleting the namespace", host.delete_netns(ns));
    }
    if dir.is_dir() {
        f.note("removing the files", std::fs::remove_dir_all(dir));
    }
}
