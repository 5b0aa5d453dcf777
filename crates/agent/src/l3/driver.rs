//! The `l3` driver behind the [`Driver`] seam (upstream's L3 agent, `neutron/agent/l3/
//! agent.py`): it keeps the section of the routers this host runs (and the metadata service's
//! router → networks table with it), converges its routers through the loop the namespaced
//! roles share ([`crate::units`]: leftovers swept once, routers no longer run here removed, the
//! others realised by [`crate::l3::realise`] and retried a few seconds later when they fail),
//! and reports the floating IPs whose NAT is in place as `ACTIVE` (those that went as `DOWN`,
//! those of a router that failed as `ERROR`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use neutrino_host::{Host, LinuxHost};
use neutrino_model::agent::Role;
use neutrino_model::internal::{Delta, HostState, RouterState};
use neutrino_ovs::vswitch::{OvsVswitch, Vswitch};
use serde_json::{Value, json};

use crate::config::AgentConfig;
use crate::driver::{BoxFuture, Driver, DriverError, StatusChanges, Wake};
use crate::l3::realise::NatAction;
use crate::l3::router::Cx;
use crate::l3::{L3Error, nat};
use crate::metadata::Instances;
use crate::units::{Unit, Units};

pub const ACTIVE: &str = "ACTIVE";
pub const DOWN: &str = "DOWN";
pub const ERROR: &str = "ERROR";

/// The `l3` driver on a host and an Open vSwitch.
pub struct L3Driver<V: Vswitch> {
    cfg: AgentConfig,
    host: Arc<dyn Host>,
    vs: V,
    instances: Instances,
    /// The section: every router the server schedules to this host.
    routers: BTreeMap<String, RouterState>,
    /// The routers on the host, as last converged.
    units: Units<RouterState>,
    /// The status last reported per floating IP, with the fixed address it was for: the
    /// server sets a floating IP `DOWN` when it moves, so a move is reported again.
    reported: BTreeMap<String, (String, String)>,
    /// Reports that failed, sent again with the next sync's.
    retry: BTreeMap<String, String>,
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
            units: Units::default(),
            reported: BTreeMap::new(),
            retry: BTreeMap::new(),
        }
    }

    /// The floating IP statuses that changed: `ACTIVE` for those of realised routers whose
    /// map elements are in place, `DOWN` for the others and for those that went, `ERROR` for
    /// those of a router that failed to converge (as upstream's L3 agent reports them).
    fn floating_ip_changes(&mut self) -> BTreeMap<String, String> {
        let mut now: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (id, r) in &self.routers {
            match self.units.realised(id) {
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

    /// One sync (the routers to run: an admin-down router is removed, as upstream does);
    /// what failed is logged and retried, not returned.
    async fn converge(&mut self) -> StatusChanges {
        let cx = Cx { cfg: &self.cfg, host: self.host.as_ref(), vs: &self.vs };
        let wanted = self.routers.iter().filter(|(_, r)| r.admin_state_up).map(|(id, r)| (id.as_str(), r));
        self.units.converge(&cx, wanted.collect()).await;
        // The qr-/qg- ports are reported up by the `l2` driver once it wired them.
        StatusChanges { floatingips: self.floating_ip_changes(), ..Default::default() }
    }
}

impl<V: Vswitch> Unit for Cx<'_, V> {
    type State = RouterState;
    type Action = NatAction;
    type Error = L3Error;
    const KIND: &'static str = "router";

    async fn sweep(&self, wanted: &BTreeSet<String>) -> Result<(), L3Error> {
        Cx::sweep(self, wanted).await
    }

    async fn teardown(&self, id: &str) -> Result<(), L3Error> {
        Cx::teardown(self, id).await
    }

    async fn ensure(&self, router: &RouterState) -> Result<NatAction, L3Error> {
        Cx::ensure(self, router).await
    }

    fn running(&self, router: &RouterState) -> bool {
        Cx::running(self, router)
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
            self.units.start(wake);
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
        Box::pin(async move { Ok(self.converge().await) })
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
