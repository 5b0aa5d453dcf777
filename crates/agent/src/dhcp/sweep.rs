//! Removing what the `dhcp` driver made and no longer wants (docs/design.md "The dhcp
//! driver"): a network no longer served loses its processes (stopped by pid, each checked for
//! its program and namespace first), its port on the integration bridge, its veth, namespace
//! and files; at start a sweep does the same for every leftover of this agent — namespaces
//! with its `<prefix>qdhcp-` prefix, directories under its `state_path`, integration-bridge
//! ports carrying its owner mark and a network — and touches nothing else. Best effort: every
//! removal is tried, the failures are reported together.

use std::collections::BTreeSet;

use neutrino_ovs::vswitch::Vswitch;

use crate::dhcp::argv::Paths;
use crate::dhcp::network::{Cx, STOP_TIMEOUT};
use crate::dhcp::{DhcpError, NETWORK_KEY, NS_PREFIX, namespace};
use crate::reconcile::OWNER_KEY;

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

    fn into_result(self) -> Result<(), DhcpError> {
        if self.0.is_empty() { Ok(()) } else { Err(DhcpError::Teardown(self.0)) }
    }
}

/// A directory name that can be a network id (what this driver names its directories).
fn looks_like_id(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl<V: Vswitch> Cx<'_, V> {
    /// Stops the network's processes, then everything else still running in its namespace.
    fn stop_processes(&self, network_id: &str, f: &mut Failures) {
        let ns = namespace(&self.cfg.namespace_prefix, network_id);
        let paths = Paths::new(&self.cfg.dhcp.state_path, network_id);
        if !self.host.netns_exists(&ns).unwrap_or(false) {
            return;
        }
        for found in [self.dnsmasq(&paths, &ns), self.haproxy(&paths, &ns)] {
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

    /// Removes everything of network `network_id`: processes, the integration-bridge port
    /// and the host end of the veth (named in `taps`), the namespace, the files.
    async fn remove(&self, network_id: &str, taps: &[String], f: &mut Failures) {
        self.stop_processes(network_id, f);
        let vs_ns = self.cfg.netns.as_deref();
        for tap in taps {
            f.note("removing the bridge port", self.vs.delete_port(&self.cfg.integration_bridge, tap).await);
            let present = f.note("listing links", self.host.links(vs_ns)).unwrap_or_default();
            if present.iter().any(|l| l.name == *tap) {
                f.note("deleting the veth", self.host.delete_link(vs_ns, tap));
            }
        }
        let ns = namespace(&self.cfg.namespace_prefix, network_id);
        if self.host.netns_exists(&ns).unwrap_or(false) {
            f.note("deleting the namespace", self.host.delete_netns(&ns));
        }
        let dir = Paths::new(&self.cfg.dhcp.state_path, network_id).dir;
        if dir.is_dir() {
            f.note("removing the files", std::fs::remove_dir_all(&dir));
        }
    }

    /// The integration-bridge ports this agent made for DHCP: (port name, network id).
    async fn our_ports(&self) -> Result<Vec<(String, String)>, DhcpError> {
        let ports = self.vs.list_ports(&self.cfg.integration_bridge).await?;
        Ok(ports
            .into_iter()
            .filter(|p| p.external_ids.get(OWNER_KEY).is_some_and(|h| *h == self.cfg.host))
            .filter_map(|p| p.external_ids.get(NETWORK_KEY).cloned().map(|n| (p.name, n)))
            .collect())
    }

    /// Removes a network this host no longer serves.
    pub async fn teardown(&self, network_id: &str) -> Result<(), DhcpError> {
        let mut f = Failures::default();
        let taps: Vec<String> = f
            .note("listing bridge ports", self.our_ports().await)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, n)| n == network_id)
            .map(|(p, _)| p)
            .collect();
        self.remove(network_id, &taps, &mut f).await;
        f.into_result()
    }

    /// Removes every leftover of this agent's DHCP networks not in `wanted`.
    pub async fn sweep(&self, wanted: &BTreeSet<String>) -> Result<(), DhcpError> {
        let mut f = Failures::default();
        let ports = f.note("listing bridge ports", self.our_ports().await).unwrap_or_default();
        let prefix = format!("{}{NS_PREFIX}", self.cfg.namespace_prefix);
        let mut stale: BTreeSet<String> = BTreeSet::new();
        stale.extend(ports.iter().map(|(_, n)| n.clone()));
        let namespaces = f.note("listing namespaces", self.host.list_netns()).unwrap_or_default();
        stale.extend(namespaces.iter().filter_map(|n| n.strip_prefix(&prefix)).map(str::to_string));
        if let Ok(dir) = std::fs::read_dir(&self.cfg.dhcp.state_path) {
            for e in dir.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir())
                    && let Some(name) = e.file_name().to_str().filter(|n| looks_like_id(n))
                {
                    stale.insert(name.to_string());
                }
            }
        }
        stale.retain(|n| !wanted.contains(n) && looks_like_id(n));
        for network in stale {
            tracing::info!(network = %network, "removing a DHCP network no longer served");
            let taps: Vec<String> =
                ports.iter().filter(|(_, n)| *n == network).map(|(p, _)| p.clone()).collect();
            self.remove(&network, &taps, &mut f).await;
        }
        f.into_result()
    }
}
