//! Removing what the `l3` driver made and no longer wants (docs/design.md "Routers (agent)"):
//! a router no longer run here (deleted, set down or moved to another agent) loses its
//! processes (stopped by pid, each checked for its program and namespace first), its ports on
//! the integration bridge with their veths, its namespace and its files; at start a sweep does
//! the same for every leftover of this agent — namespaces with its `<prefix>qrouter-` prefix,
//! directories under its `state_path`, integration-bridge ports carrying its owner mark and a
//! router — and touches nothing else. Best effort ([`Failures`]): every removal is tried, the
//! failures are reported together.

use std::collections::BTreeSet;

use neutrino_ovs::vswitch::Vswitch;

use crate::l3::router::Cx;
use crate::l3::{L3Error, NS_PREFIX, Paths, namespace, proxy, radvd};
use crate::units::{Failures, leftovers, remove_namespace, stop_namespace};

impl<V: Vswitch> Cx<'_, V> {
    /// Removes everything of router `router_id`; `outers` are its integration-bridge ports.
    async fn remove(&self, router_id: &str, outers: &[String], f: &mut Failures) {
        let ns = namespace(&self.cfg.namespace_prefix, router_id);
        let paths = Paths::new(&self.cfg.l3.state_path, router_id);
        let l3 = &self.cfg.l3;
        let own = || {
            vec![
                proxy::running(self.host, &l3.haproxy, &paths, &ns),
                radvd::running(self.host, &l3.radvd, &paths, &ns),
            ]
        };
        stop_namespace(self.host, &ns, own, f);
        for outer in outers {
            f.note("removing a router port", self.remove_outer(outer).await);
        }
        remove_namespace(self.host, &ns, &paths.dir, f);
    }

    /// Removes a router this host no longer runs.
    pub async fn teardown(&self, router_id: &str) -> Result<(), L3Error> {
        let mut f = Failures::default();
        let ports = f.note("listing bridge ports", self.our_ports().await).unwrap_or_default();
        let outers: Vec<String> = ports.into_iter().filter(|(_, r)| r == router_id).map(|(p, _)| p).collect();
        self.remove(router_id, &outers, &mut f).await;
        f.into_result().map_err(L3Error::Teardown)
    }

    /// Removes every leftover of this agent's routers not in `wanted`.
    pub async fn sweep(&self, wanted: &BTreeSet<String>) -> Result<(), L3Error> {
        let mut f = Failures::default();
        let ports = f.note("listing bridge ports", self.our_ports().await).unwrap_or_default();
        let prefix = format!("{}{NS_PREFIX}", self.cfg.namespace_prefix);
        let owned = ports.iter().map(|(_, r)| r.clone());
        for router in leftovers(self.host, &prefix, &self.cfg.l3.state_path, owned, wanted, &mut f) {
            tracing::info!(router = %router, "removing a router no longer run here");
            let outers: Vec<String> =
                ports.iter().filter(|(_, r)| *r == router).map(|(p, _)| p.clone()).collect();
            self.remove(&router, &outers, &mut f).await;
        }
        f.into_result().map_err(L3Error::Teardown)
    }
}
