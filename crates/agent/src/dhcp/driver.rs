//! The `dhcp` driver behind the [`Driver`] seam (upstream's DHCP agent, `neutron/agent/dhcp/
//! agent.py`): it keeps the section of the networks this host serves (and the metadata
//! service's [`Instances`] table with it), sweeps this agent's leftovers on its first sync,
//! then per sync removes the networks no longer served and converges the others
//! ([`crate::dhcp::network`]), skipping those realised as they are while their processes run.
//! A network that fails is retried a few seconds later without failing the agent; every minute
//! the processes are checked (a dnsmasq that died is started again).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

/// How long after a failed network the driver asks for another sync.
pub const RETRY_DELAY: Duration = Duration::from_secs(5);
/// How often the processes are checked (upstream's `check_child_processes_interval`).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Aborts a task when the driver goes.
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The `dhcp` driver on a host and an Open vSwitch.
pub struct DhcpDriver<V: Vswitch> {
    cfg: AgentConfig,
    host: Arc<dyn Host>,
    vs: V,
    instances: Instances,
    /// The section: every network the server says this host serves.
    networks: BTreeMap<String, DhcpNetworkState>,
    /// The networks as last converged.
    realised: BTreeMap<String, DhcpNetworkState>,
    /// The networks with something on the host.
    present: BTreeSet<String>,
    swept: bool,
    wake: Option<Wake>,
    retry_pending: Arc<AtomicBool>,
    tasks: Vec<Task>,
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
        Self {
            cfg,
            host,
            vs,
            instances,
            networks: BTreeMap::new(),
            realised: BTreeMap::new(),
            present: BTreeSet::new(),
            swept: false,
            wake: None,
            retry_pending: Arc::default(),
            tasks: vec![],
        }
    }

    fn cx(&self) -> Cx<'_, V> {
        Cx { cfg: &self.cfg, host: self.host.as_ref(), vs: &self.vs }
    }

    /// The networks to serve now.
    fn wanted(&self) -> BTreeSet<String> {
        self.networks.values().filter(|n| served_port(n).is_some()).map(|n| n.id.clone()).collect()
    }

    /// Asks for a sync after [`RETRY_DELAY`] (once, however many networks failed).
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

    /// One sync; what failed is logged and retried, not returned.
    async fn converge(&mut self) -> Result<StatusChanges, DhcpError> {
        let wanted = self.wanted();
        let mut failed = false;
        if !self.swept {
            match self.cx().sweep(&wanted).await {
                Ok(()) => self.swept = true,
                Err(e) => {
                    tracing::error!(error = %e, "DHCP sweep failed");
                    failed = true;
                }
            }
        }
        let gone: Vec<String> = self.present.difference(&wanted).cloned().collect();
        for id in gone {
            self.realised.remove(&id);
            match self.cx().teardown(&id).await {
                Ok(()) => {
                    self.present.remove(&id);
                    tracing::info!(network = %id, "DHCP network removed");
                }
                Err(e) => {
                    tracing::error!(network = %id, error = %e, "removing a DHCP network failed");
                    failed = true;
                }
            }
        }
        for id in &wanted {
            let Some(net) = self.networks.get(id) else { continue };
            if self.realised.get(id) == Some(net) && self.cx().running(net) {
                continue;
            }
            self.present.insert(id.clone());
            match self.cx().ensure(net).await {
                Ok(action) => {
                    if action != Action::Unchanged {
                        tracing::info!(network = %id, ?action, "DHCP network converged");
                    }
                    self.realised.insert(id.clone(), net.clone());
                }
                Err(e) => {
                    tracing::error!(network = %id, error = %e, "serving a DHCP network failed");
                    self.realised.remove(id);
                    failed = true;
                }
            }
        }
        if failed {
            self.retry_later();
        }
        // The DHCP port is reported up by the `l2` driver once it wired it.
        Ok(StatusChanges::default())
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
            let check = wake.clone();
            self.tasks.push(Task(tokio::spawn(async move {
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
        Box::pin(async move { self.converge().await.map_err(|e| DriverError::new(Role::Dhcp, e)) })
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
