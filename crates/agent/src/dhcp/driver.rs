//! The `dhcp` driver behind the [`Driver`] seam (upstream's DHCP agent, `neutron/agent/dhcp/
//! agent.py`): it keeps the section of the networks this host serves (and the metadata
//! service's [`Instances`] table with it) and converges its networks through the loop the
//! namespaced roles share ([`crate::units`]: leftovers swept once, networks no longer served
//! removed, the others realised by [`crate::dhcp::network`] and retried a few seconds later
//! when they fail; every minute the processes are checked, a dnsmasq that died is started
//! again).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use neutrino_host::{Host, LinuxHost};
use neutrino_model::agent::Role;
use neutrino_model::internal::{Delta, DhcpNetworkState, HostState};
use neutrino_ovs::vswitch::{OvsVswitch, Vswitch};
use serde_json::{Value, json};

use crate::config::AgentConfig;
use crate::dhcp::DhcpError;
use crate::dhcp::network::{Action, Cx, served_port};
use crate::driver::{BoxFuture, Driver, DriverError, StatusChanges, Wake};
use crate::metadata::Instances;
use crate::units::{Unit, Units};

/// The `dhcp` driver on a host and an Open vSwitch.
pub struct DhcpDriver<V: Vswitch> {
    cfg: AgentConfig,
    host: Arc<dyn Host>,
    vs: V,
    instances: Instances,
    /// The section: every network the server says this host serves.
    networks: BTreeMap<String, DhcpNetworkState>,
    /// The networks on the host, as last converged.
    units: Units<DhcpNetworkState>,
}

impl DhcpDriver<OvsVswitch> {
    /// The driver on this machine (iproute2, dnsmasq, haproxy) and the host's Open vSwitch.
    pub async fn connect(cfg: &AgentConfig, instances: Instances) -> Result<Self, DriverError> {
        let vs = OvsVswitch::connect(&cfg.ovsdb).await.map_err(|e| DriverError::new(Role::Dhcp, e))?;
        Ok(Self::new(cfg.clone(), Arc::new(LinuxHost::new()), vs, instances))
    }
}

impl<V: Vswitch + 'static> DhcpDriver<V> {
    /// `instances` is the metadata service's table, kept current from the section.
    pub fn new(cfg: AgentConfig, host: Arc<dyn Host>, vs: V, instances: Instances) -> Self {
        Self { cfg, host, vs, instances, networks: BTreeMap::new(), units: Units::default() }
    }

    /// One sync (the networks to serve: up, with a DHCP subnet and port); what failed is
    /// logged and retried, not returned.
    async fn converge(&mut self) {
        let cx = Cx { cfg: &self.cfg, host: self.host.as_ref(), vs: &self.vs };
        let wanted =
            self.networks.iter().filter(|(_, n)| served_port(n).is_some()).map(|(id, n)| (id.as_str(), n));
        self.units.converge(&cx, wanted.collect()).await;
    }

    fn counts(&self) -> (usize, usize, usize) {
        let served = self.networks.values().filter(|n| served_port(n).is_some());
        served.fold((0, 0, 0), |(n, s, p), net| (n + 1, s + net.subnets.len(), p + net.ports.len()))
    }
}

impl<V: Vswitch + 'static> Driver for DhcpDriver<V> {
    fn role(&self) -> Role {
        Role::Dhcp
    }

    fn start(&mut self, wake: Wake) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            let dir = &self.cfg.dhcp.state_path;
            std::fs::create_dir_all(dir).map_err(|e| DriverError::new(Role::Dhcp, DhcpError::io(dir, e)))?;
            super::check_reachable(dir).map_err(|e| DriverError::new(Role::Dhcp, e))?;
            self.units.start(wake);
            Ok(())
        })
    }

    fn load(&mut self, state: &mut HostState) {
        let section = std::mem::take(&mut state.dhcp);
        self.networks = section.networks.into_iter().map(|n| (n.id.clone(), n)).collect();
        self.instances.replace_all(self.networks.values().cloned());
    }

    fn apply(&mut self, delta: &mut Delta) {
        let Some(d) = delta.dhcp.take() else { return };
        for id in d.removed_networks {
            self.networks.remove(&id);
            self.instances.remove(&id);
        }
        for n in d.networks {
            self.instances.set(n.clone());
            self.networks.insert(n.id.clone(), n);
        }
    }

    fn sync(&mut self) -> BoxFuture<'_, Result<StatusChanges, DriverError>> {
        Box::pin(async move {
            self.converge().await;
            // The DHCP port is reported up by the `l2` driver once it wired it.
            Ok(StatusChanges::default())
        })
    }

    fn retry_status(&mut self, _changes: &StatusChanges) {}

    /// Upstream's DHCP agent keys.
    fn configurations(&self) -> Value {
        let (networks, subnets, ports) = self.counts();
        json!({
            "dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq",
            "dhcp_lease_duration": self.cfg.dhcp.dhcp_lease_duration,
            "log_agent_heartbeats": false,
            "networks": networks,
            "subnets": subnets,
            "ports": ports,
        })
    }
}

impl<V: Vswitch> Unit for Cx<'_, V> {
    type State = DhcpNetworkState;
    type Action = Action;
    type Error = DhcpError;
    const KIND: &'static str = "DHCP network";

    async fn sweep(&self, wanted: &BTreeSet<String>) -> Result<(), DhcpError> {
        Cx::sweep(self, wanted).await
    }

    async fn teardown(&self, id: &str) -> Result<(), DhcpError> {
        Cx::teardown(self, id).await
    }

    async fn ensure(&self, net: &DhcpNetworkState) -> Result<Action, DhcpError> {
        Cx::ensure(self, net).await
    }

    fn running(&self, net: &DhcpNetworkState) -> bool {
        Cx::running(self, net)
    }

    fn unchanged(action: &Action) -> bool {
        *action == Action::Unchanged
    }
}
