//! The `l3` driver behind the [`Driver`] seam (upstream's L3 agent, `neutron/agent/l3/
//! agent.py`): it keeps the section of the routers this host runs (and the metadata service's
//! router → networks table with it), sweeps this agent's leftovers on its first sync, then per
//! sync removes the routers no longer run here and converges the others
//! ([`crate::l3::realise`]), skipping those realised as they are while their processes run,
//! and reports the floating IPs whose NAT is in place as `ACTIVE` (those that went as `DOWN`,
//! those of a router that failed as `ERROR`). A router that fails is retried a few seconds later without failing the agent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use neutrino_host::{Host, LinuxHost};
use neutrino_model::agent::Role;
use neutrino_model::internal::{Delta, HostState, RouterState};
use neutrino_ovs::vswitch::{OvsVswitch, Vswitch};
use serde_json::{Value, json};

use crate::config::AgentConfig;
use crate::dhcp::driver::{CHECK_INTERVAL, RETRY_DELAY};
use crate::driver::{BoxFuture, Driver, DriverError, StatusChanges, Wake};
use crate::l3::router::Cx;
use crate::l3::{L3Error, nat};
use crate::metadata::Instances;

pub const ACTIVE: &str = "ACTIVE";
pub const DOWN: &str = "DOWN";
pub const ERROR: &str = "ERROR";

/// Aborts a task when the driver goes.
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The `l3` driver on a host and an Open vSwitch.
pub struct L3Driver<V: Vswitch> {
    cfg: AgentConfig,
    host: Arc<dyn Host>,
    vs: V,
    instances: Instances,
    /// The section: every router the server schedules to this host.
    routers: BTreeMap<String, RouterState>,
    /// The routers as last converged.
    realised: BTreeMap<String, RouterState>,
    /// The routers with something on the host.
    present: BTreeSet<String>,
    /// The status last reported per floating IP, with the fixed address it was for: the
    /// server sets a floating IP `DOWN` when it moves, so a move is reported again.
    reported: BTreeMap<String, (String, String)>,
    /// Reports that failed, sent again with the next sync's.
    retry: BTreeMap<String, String>,
    swept: bool,
    wake: Option<Wake>,
    retry_pending: Arc<AtomicBool>,
    tasks: Vec<Task>,
}

impl L3Driver<OvsVswitch> {
    /// The driver on this machine (iproute2, nftables, haproxy, radvd) and its Open vSwitch.
    pub async fn connect(cfg: &AgentConfig, instances: Instances) -> Result<Self, DriverError> {
        let vs = OvsVswitch::connect(&cfg.ovsdb).await.map_err(|e| DriverError::new(Role::L3, e))?;
        Ok(Self::new(cfg.clone(), Arc::new(LinuxHost::new()), vs, instances))
    }
}

/// The networks behind a router's interfaces (where its metadata callers are).
fn networks(router: &RouterState) -> Vec<String> {
    router.interfaces.iter().map(|p| p.network_id.clone()).collect()
}

impl<V: Vswitch + 'static> L3Driver<V> {
    /// `instances` is the metadata service's table; the driver keeps its routers current.
    pub fn new(cfg: AgentConfig, host: Arc<dyn Host>, vs: V, instances: Instances) -> Self {
        Self {
            cfg,
            host,
            vs,
            instances,
            routers: BTreeMap::new(),
            realised: BTreeMap::new(),
            present: BTreeSet::new(),
            reported: BTreeMap::new(),
            retry: BTreeMap::new(),
            swept: false,
            wake: None,
            retry_pending: Arc::default(),
            tasks: vec![],
        }
    }

    fn cx(&self) -> Cx<'_, V> {
        Cx { cfg: &self.cfg, host: self.host.as_ref(), vs: &self.vs }
    }

    /// The routers to run now (an admin-down router is removed, as upstream does).
    fn wanted(&self) -> BTreeSet<String> {
        self.routers.values().filter(|r| r.admin_state_up).map(|r| r.id.clone()).collect()
    }

    /// Asks for a sync after [`RETRY_DELAY`] (once, however many routers failed).
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

    /// The floating IP statuses that changed: `ACTIVE` for those of realised routers whose
    /// map elements are in place, `DOWN` for the others and for those that went, `ERROR` for
    /// those of a router that failed to converge (as upstream's L3 agent reports them).
    fn floating_ip_changes(&mut self) -> BTreeMap<String, String> {
        let mut now: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (id, r) in &self.routers {
            match self.realised.get(id) {
                Some(real) if real.admin_state_up => {
                    let pairs = nat::fip_pairs(real);
                    for f in &real.floating_ips {
                        let active = pairs.iter().any(|(fl, fx)| {
                            fl.to_string() == f.floating_ip_address && fx.to_string() == f.fixed_ip_address
                        });
                        let status = if active { ACTIVE } else { DOWN }.to_string();
                        now.insert(f.id.clone(), (status, f.fixed_ip_address.clone()));
                    }
                }
                _ if r.admin_state_up => {
                    now.extend(
                        r.floating_ips
                            .iter()
                            .map(|f| (f.id.clone(), (ERROR.to_string(), f.fixed_ip_address.clone()))),
                    );
                }
                _ => {}
            }
        }
        let mut out = std::mem::take(&mut self.retry);
        for (id, (status, _)) in &self.reported {
            if !now.contains_key(id) && status != DOWN {
                out.insert(id.clone(), DOWN.to_string());
            }
        }
        for (id, seen) in &now {
            if self.reported.get(id) != Some(seen) {
                out.insert(id.clone(), seen.0.clone());
            }
        }
        self.reported = now;
        out
    }

    /// One sync; what failed is logged and retried, not returned.
    async fn converge(&mut self) -> Result<StatusChanges, L3Error> {
        let wanted = self.wanted();
        let mut failed = false;
        if !self.swept {
            match self.cx().sweep(&wanted).await {
                Ok(()) => self.swept = true,
                Err(e) => {
                    tracing::error!(error = %e, "L3 sweep failed");
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
                    tracing::info!(router = %id, "router removed");
                }
                Err(e) => {
                    tracing::error!(router = %id, error = %e, "removing a router failed");
                    failed = true;
                }
            }
        }
        for id in &wanted {
            let Some(router) = self.routers.get(id) else { continue };
            if self.realised.get(id) == Some(router) && self.cx().running(router) {
                continue;
            }
            self.present.insert(id.clone());
            match self.cx().ensure(router).await {
                Ok(action) => {
                    tracing::info!(router = %id, ?action, "router converged");
                    self.realised.insert(id.clone(), router.clone());
                }
                Err(e) => {
                    tracing::error!(router = %id, error = %e, "converging a router failed");
                    self.realised.remove(id);
                    failed = true;
                }
            }
        }
        if failed {
            self.retry_later();
        }
        // The qr-/qg- ports are reported up by the `l2` driver once it wired them.
        Ok(StatusChanges { floatingips: self.floating_ip_changes(), ..Default::default() })
    }
}

impl<V: Vswitch + 'static> Driver for L3Driver<V> {
    fn role(&self) -> Role {
        Role::L3
    }

    fn start(&mut self, wake: Wake) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            let dir = &self.cfg.l3.state_path;
            std::fs::create_dir_all(dir).map_err(|e| DriverError::new(Role::L3, L3Error::io(dir, e)))?;
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
        let section = std::mem::take(&mut state.l3);
        self.routers = section.routers.into_iter().map(|r| (r.id.clone(), r)).collect();
        self.instances.replace_routers(self.routers.values().map(|r| (r.id.clone(), networks(r))));
    }

    fn apply(&mut self, delta: &mut Delta) {
        let Some(d) = delta.l3.take() else { return };
        for id in d.removed_routers {
            self.routers.remove(&id);
            self.instances.remove_router(&id);
        }
        for r in d.routers {
            self.instances.set_router(&r.id, networks(&r));
            self.routers.insert(r.id.clone(), r);
        }
    }

    fn sync(&mut self) -> BoxFuture<'_, Result<StatusChanges, DriverError>> {
        Box::pin(async move { self.converge().await.map_err(|e| DriverError::new(Role::L3, e)) })
    }

    fn retry_status(&mut self, changes: &StatusChanges) {
        for (id, status) in &changes.floatingips {
            self.retry.entry(id.clone()).or_insert_with(|| status.clone());
        }
    }

    /// Upstream's L3 agent keys.
    fn configurations(&self) -> Value {
        let wanted: Vec<&RouterState> = self.routers.values().filter(|r| r.admin_state_up).collect();
        let gateways = wanted.iter().filter(|r| r.gateway.is_some()).count();
        let interfaces: usize = wanted.iter().map(|r| r.interfaces.len()).sum();
        let floating_ips: usize = wanted.iter().map(|r| r.floating_ips.len()).sum();
        json!({
            "agent_mode": "legacy",
            "routers": wanted.len(),
            "ex_gw_ports": gateways,
            "interfaces": interfaces,
            "floating_ips": floating_ips,
            "log_agent_heartbeats": false,
            "metadata_port": self.cfg.l3.metadata_port,
        })
    }
}
