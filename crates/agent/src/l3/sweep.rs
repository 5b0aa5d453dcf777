//! Removing what the `l3` driver made and no longer wants (docs/design.md "Routers (agent)"):
//! a router no longer run here (deleted, set down or moved to another agent) loses its
//! processes (stopped by pid, each checked for its program and namespace first), its ports on
//! the integration bridge with their veths, its namespace and its files; at start a sweep does
//! the same for every leftover of this agent — namespaces with its `<prefix>qrouter-` prefix,
//! directories under its `state_path`, integration-bridge ports carrying its owner mark and a
//! router — and touches nothing else. Best effort: every removal is tried, the failures are
//! reported together.

use std::collections::BTreeSet;

use neutrino_ovs::vswitch::Vswitch;

use crate::dhcp::network::STOP_TIMEOUT;
use crate::l3::router::Cx;
use crate::l3::{L3Error, NS_PREFIX, Paths, namespace, proxy, radvd};

/// Collects the failures of a best-effort teardown.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn note<T, E: std::fmt::Display>(&mut self, what: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "{what}");
                self.0.push(format!("{what}: {e}"));
                None
            }
        }
    }

    fn into_result(self) -> Result<(), L3Error> {
        if self.0.is_empty() { Ok(()) } else { Err(L3Error::Teardown(self.0)) }
    }
}

/// A name that can be a router id (what this driver names its directories and namespaces).
fn looks_like_id(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl<V: Vswitch> Cx<'_, V> {
    fn stop_processes(&self, router_id: &str, f: &mut Failures) {
        let ns = namespace(&self.cfg.namespace_prefix, router_id);
        let paths = Paths::new(&self.cfg.l3.state_path, router_id);
        if !self.host.netns_exists(&ns).unwrap_or(false) {
            return;
        }
        let l3 = &self.cfg.l3;
        for found in [
            proxy::running(self.host, &l3.haproxy, &paths, &ns),
            radvd::running(self.host, &l3.radvd, &paths, &ns),
        ] {
            if let Some(Some(p)) = f.note("finding a process", found) {
                f.note("stopping a process", self.host.stop(&p, STOP_TIMEOUT));
            }
        }
        // The namespace is ours: whatever else runs in it would keep it alive.
        if let Some(rest) = f.note("listing the namespace's processes", self.host.processes_in_netns(&ns)) {
            for p in rest {
                f.note("stopping a process", self.host.stop(&p, STOP_TIMEOUT));
            }
        }
    }

    /// Removes everything of router `router_id`; `outers` are its integration-bridge ports.
    async fn remove(&self, router_id: &str, outers: &[String], f: &mut Failures) {
        self.stop_processes(router_id, f);
        for outer in outers {
            f.note("removing a router port", self.remove_outer(outer).await);
        }
        let ns = namespace(&self.cfg.namespace_prefix, router_id);
        if self.host.netns_exists(&ns).unwrap_or(false) {
            f.note("deleting the namespace", self.host.delete_netns(&ns));
        }
        let dir = Paths::new(&self.cfg.l3.state_path, router_id).dir;
        if dir.is_dir() {
            f.note("removing the files", std::fs::remove_dir_all(&dir));
        }
    }

    /// Removes a router this host no longer runs.
    pub async fn teardown(&self, router_id: &str) -> Result<(), L3Error> {
        let mut f = Failures::default();
        let ports = f.note("listing bridge ports", self.our_ports().await).unwrap_or_default();
        let outers: Vec<String> = ports.into_iter().filter(|(_, r)| r == router_id).map(|(p, _)| p).collect();
        self.remove(router_id, &outers, &mut f).await;
        f.into_result()
    }

    /// Removes every leftover of this agent's routers not in `wanted`.
    pub async fn sweep(&self, wanted: &BTreeSet<String>) -> Result<(), L3Error> {
        let mut f = Failures::default();
        let ports = f.note("listing bridge ports", self.our_ports().await).unwrap_or_default();
        let prefix = format!("{}{NS_PREFIX}", self.cfg.namespace_prefix);
        let mut stale: BTreeSet<String> = ports.iter().map(|(_, r)| r.clone()).collect();
        let namespaces = f.note("listing namespaces", self.host.list_netns()).unwrap_or_default();
        stale.extend(namespaces.iter().filter_map(|n| n.strip_prefix(&prefix)).map(str::to_string));
        if let Ok(dir) = std::fs::read_dir(&self.cfg.l3.state_path) {
            for e in dir.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir())
                    && let Some(name) = e.file_name().to_str()
                {
                    stale.insert(name.to_string());
                }
            }
        }
        stale.retain(|r| !wanted.contains(r) && looks_like_id(r));
        for router in stale {
            tracing::info!(router = %router, "removing a router no longer run here");
            let outers: Vec<String> =
                ports.iter().filter(|(_, r)| *r == router).map(|(p, _)| p.clone()).collect();
            self.remove(&router, &outers, &mut f).await;
        }
        f.into_result()
    }
}
