//! Removing what the `dhcp` driver made and no longer wants (docs/design.md "The dhcp
//! driver"): a network no longer served loses its processes (stopped by pid, each checked for
//! its program and namespace first), its port on the integration bridge, its veth, namespace
//! and files; at start a sweep does the same for every leftover of this agent — namespaces
//! with its `<prefix>qdhcp-` prefix, directories under its `state_path`, integration-bridge
//! ports carrying its owner mark and a network — and touches nothing else. Best effort
//! ([`Failures`]): every removal is tried, the failures are reported together.

use std::collections::BTreeSet;

use neutrino_ovs::vswitch::Vswitch;

use crate::dhcp::argv::Paths;
use crate::dhcp::network::Cx;
use crate::dhcp::{DhcpError, NETWORK_KEY, NS_PREFIX, namespace};
use crate::reconcile::OWNER_KEY;
use crate::units::{Failures, leftovers, remove_namespace, stop_namespace};

impl<V: Vswitch> Cx<'_, V> {
    /// Removes everything of network `network_id`: processes, the integration-bridge port
    /// and the host end of the veth (named in `taps`), the namespace, the files.
    async fn remove(&self, network_id: &str, taps: &[String], f: &mut Failures) {
        let ns = namespace(&self.cfg.namespace_prefix, network_id);
        let paths = Paths::new(&self.cfg.dhcp.state_path, network_id);
        stop_namespace(self.host, &ns, || vec![self.dnsmasq(&paths, &ns), self.haproxy(&paths, &ns)], f);
        let vs_ns = self.cfg.netns.as_deref();
        for tap in taps {
            f.note("removing the bridge port", self.vs.delete_port(&self.cfg.integration_bridge, tap).await);
            let present = f.note("listing links", self.host.links(vs_ns)).unwrap_or_default();
            if present.iter().any(|l| l.name == *tap) {
                f.note("deleting the veth", self.host.delete_link(vs_ns, tap));
            }
        }
        remove_namespace(self.host, &ns, &paths.dir, f);
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
        let ports = f.note("listing bridge ports", self.our_ports().await).unwrap_or_default();
        let taps: Vec<String> = ports.into_iter().filter(|(_, n)| n == network_id).map(|(p, _)| p).collect();
        self.remove(network_id, &taps, &mut f).await;
        f.into_result().map_err(DhcpError::Teardown)
    }

    /// Removes every leftover of this agent's DHCP networks not in `wanted`.
    pub async fn sweep(&self, wanted: &BTreeSet<String>) -> Result<(), DhcpError> {
        let mut f = Failures::default();
        let ports = f.note("listing bridge ports", self.our_ports().await).unwrap_or_default();
        let prefix = format!("{}{NS_PREFIX}", self.cfg.namespace_prefix);
        let owned = ports.iter().map(|(_, n)| n.clone());
        for network in leftovers(self.host, &prefix, &self.cfg.dhcp.state_path, owned, wanted, &mut f) {
            tracing::info!(network = %network, "removing a DHCP network no longer served");
            let taps: Vec<String> =
                ports.iter().filter(|(_, n)| *n == network).map(|(p, _)| p.clone()).collect();
            self.remove(&network, &taps, &mut f).await;
        }
        f.into_result().map_err(DhcpError::Teardown)
    }
}
