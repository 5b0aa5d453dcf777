//! The `l2` driver's reconciler: the host's desired state (from the server) and what it observes (OVSDB
//! interfaces, installed flows) in memory; `sync` converges Open vSwitch to it idempotently
//! and applies only the differences — tunnel ports that came or went, flow and group deltas in
//! one bundle per bridge (a VM port is wired by flows and a flood bucket alone, see
//! [`crate::flows`]). It never
//! wipes: a restarted agent recovers the local VLANs from its installed ingress flows and
//! removes only stale flows carrying its cookie. After a bundle that removed firewall rule
//! flows it deletes the connections the firewall marked as no longer allowed
//! ([`neutrino_ovs::conntrack`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use neutrino_model::agent::L2Configurations;
use neutrino_model::internal::{Delta, FirewallState, HostState, NetworkState, PortState};
use neutrino_model::network_type::NetworkType;
use neutrino_ovs::conntrack::{Conntrack, flush_marked};
use neutrino_ovs::flow::{Flow, FlowKey};
use neutrino_ovs::group::Group;
use neutrino_ovs::ofctl::FlowProgrammer;
use neutrino_ovs::vswitch::{EventKind, InterfaceEvent, PortSpec, StrMap, Vswitch};

use crate::config::AgentConfig;
pub use crate::driver::StatusChanges;
use crate::flows::units::Units;
use crate::flows::{self, Layout, LocalNet, LocalPort, Owner, PhysLayout, PortFilter, TunLayout};
use crate::vlan::LocalVlans;

mod program;

/// How long after a bundle that removed firewall rule flows every sync looks again for
/// connections marked as no longer allowed: a connection is marked by its next packet, which
/// may come after the bundle.
pub const CT_SWEEP_WINDOW: Duration = Duration::from_secs(60);

/// `external_ids` key marking what this agent created.
pub const OWNER_KEY: &str = "neutrino-owner";

/// Errors of a sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("ovsdb: {0}")]
    Vswitch(#[from] neutrino_ovs::vswitch::VswitchError),
    #[error("openflow: {0}")]
    Ofctl(#[from] neutrino_ovs::ofctl::OfctlError),
    #[error("{0}")]
    Setup(String),
    #[error("the OVSDB monitor ended (database connection lost)")]
    MonitorLost,
}

/// The groups installed per bridge whose groups the agent manages. That the switch holds
/// this and the flows of the last units is what `installed: Some(…)` means.
type InstalledGroups = BTreeMap<String, Vec<Group>>;

/// A VM (or service) interface on the integration bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Iface {
    port_id: String,
    ofport: Option<i64>,
}

pub struct Reconciler<V: Vswitch, P: FlowProgrammer> {
    cfg: AgentConfig,
    cookie: u64,
    vs: V,
    ofctl: P,
    revision: i64,
    ports: BTreeMap<String, PortState>,
    networks: BTreeMap<String, NetworkState>,
    peers: BTreeMap<String, Vec<String>>,
    firewall: FirewallState,
    /// The connection tracker of the datapath, cleaned after rules are removed.
    conntrack: Option<Arc<dyn Conntrack>>,
    /// Until when syncs look for marked connections (after rule flows were removed).
    sweep_until: Option<Instant>,
    /// Who each installed `br-int` flow is for (the last generated pipeline's owners).
    owners: BTreeMap<FlowKey, Owner>,
    vlans: LocalVlans,
    ifaces: BTreeMap<String, Iface>,
    /// ofport → local VLAN, read from the ingress flows found at start.
    found_vlans: BTreeMap<i64, u16>,
    /// The flows of the last sync in units (also a generation cache: a unit whose inputs did
    /// not change is not generated again).
    units: Units,
    /// `Some` while the switch holds the flows of `units` and these groups; `None`: unknown,
    /// the next sync dumps and compares everything.
    installed: Option<InstalledGroups>,
    /// `br-int`'s flows as `setup` dumped them after a restart, for the first sync (which would
    /// otherwise dump the same thousands of flows again).
    prefetched: Option<Vec<Flow>>,
    tunnels: BTreeMap<(NetworkType, String), i64>,
    phys: BTreeMap<String, PhysLayout>,
    patch_int: Option<i64>,
    int_patch: Option<i64>,
    up: BTreeSet<String>,
    recovered: bool,
}

fn ids(pairs: &[(&str, &str)]) -> StrMap {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl<V: Vswitch, P: FlowProgrammer> Reconciler<V, P> {
    pub fn new(cfg: AgentConfig, vs: V, ofctl: P) -> Self {
        let cookie = cfg.cookie();
        Self {
            cfg,
            cookie,
            vs,
            ofctl,
            revision: 0,
            ports: BTreeMap::new(),
            networks: BTreeMap::new(),
            peers: BTreeMap::new(),
            firewall: FirewallState::default(),
            conntrack: None,
            sweep_until: None,
            owners: BTreeMap::new(),
            vlans: LocalVlans::default(),
            ifaces: BTreeMap::new(),
            found_vlans: BTreeMap::new(),
            units: Units::new(),
            installed: None,
            prefetched: None,
            tunnels: BTreeMap::new(),
            phys: BTreeMap::new(),
            patch_int: None,
            int_patch: None,
            up: BTreeSet::new(),
            recovered: false,
        }
    }

    /// The connection tracker to clean after rules are removed (none: no cleanup).
    pub fn with_conntrack(mut self, ct: Arc<dyn Conntrack>) -> Self {
        self.set_conntrack(ct);
        self
    }

    /// See [`Reconciler::with_conntrack`].
    pub fn set_conntrack(&mut self, ct: Arc<dyn Conntrack>) {
        self.conntrack = Some(ct);
    }

    /// Who a `br-int` flow (by key) is for, as of the last sync: the mapping from a flow dump
    /// back to the rule, port or group it exists for.
    pub fn flow_owner(&self, key: &FlowKey) -> Option<&Owner> {
        self.owners.get(key)
    }

    /// The firewall section of the desired state.
    pub fn firewall(&self) -> &FirewallState {
        &self.firewall
    }

    pub fn revision(&self) -> i64 {
        self.revision
    }
    pub fn vswitch(&self) -> &V {
        &self.vs
    }
    pub fn cookie(&self) -> u64 {
        self.cookie
    }
    pub fn integration_bridge(&self) -> &str {
        &self.cfg.integration_bridge
    }

    fn owner(&self) -> StrMap {
        ids(&[(OWNER_KEY, &self.cfg.host)])
    }

    async fn ofport(&self, iface: &str) -> Result<i64, SyncError> {
        self.vs
            .ofport(iface, Duration::from_secs(10))
            .await?
            .filter(|p| *p > 0)
            .ok_or_else(|| SyncError::Setup(format!("no OpenFlow port for {iface}")))
    }

    /// Creates the bridges and patch ports (idempotent), learns their ofports, and reads the
    /// local VLANs of our installed ingress flows — nothing is removed here.
    pub async fn setup(&mut self) -> Result<(), SyncError> {
        let dp = self.cfg.datapath_type.clone();
        let int = self.cfg.integration_bridge.clone();
        let owner = self.owner();
        self.vs.ensure_bridge(&int, &dp, &owner, Some("secure")).await?;
        let patch = |peer: &str| PortSpec {
            iface_type: "patch".into(),
            options: ids(&[("peer", peer)]),
            port_external_ids: owner.clone(),
            ..Default::default()
        };
        if !self.cfg.tunnel_types.is_empty() {
            let tun = self.cfg.tunnel_bridge.clone();
            self.vs.ensure_bridge(&tun, &dp, &owner, Some("secure")).await?;
            self.vs.ensure_port(&int, "patch-tun", &patch("patch-int")).await?;
            self.vs.ensure_port(&tun, "patch-int", &patch("patch-tun")).await?;
            self.patch_int = Some(self.ofport("patch-int").await?);
            self.int_patch = Some(self.ofport("patch-tun").await?);
        }
        for (physnet, bridge) in self.cfg.bridge_mappings.clone() {
            // The physical bridge is the operator's (it holds the NIC); we only add patches.
            self.vs.ensure_bridge(&bridge, &dp, &StrMap::new(), None).await?;
            let (int_name, phy_name) = AgentConfig::phys_patch_names(&bridge);
            self.vs.ensure_port(&int, &int_name, &patch(&phy_name)).await?;
            self.vs.ensure_port(&bridge, &phy_name, &patch(&int_name)).await?;
            let layout = PhysLayout {
                bridge,
                int_ofport: self.ofport(&int_name).await?,
                phy_ofport: self.ofport(&phy_name).await?,
            };
            self.phys.insert(physnet, layout);
        }
        if !self.recovered {
            let dumped = self.ofctl.dump(&int, Some(self.cookie)).await?;
            self.found_vlans = flows::ingress_vlans(&dumped);
            self.prefetched = Some(dumped);
        }
        for p in self.vs.list_ports(&int).await? {
            if let Some(id) = p.external_ids.get("iface-id") {
                self.ifaces.insert(p.name.clone(), Iface { port_id: id.clone(), ofport: p.ofport });
            }
        }
        if !self.cfg.tunnel_types.is_empty() {
            for p in self.vs.list_ports(&self.cfg.tunnel_bridge).await? {
                let ours = p.external_ids.get(OWNER_KEY).is_some_and(|h| *h == self.cfg.host);
                let kind = p.iface_type.parse::<NetworkType>().ok().filter(|t| t.is_tunnel());
                if let (true, Some(remote), Some(kind)) = (ours, p.options.get("remote_ip"), kind) {
                    self.tunnels.insert((kind, remote.clone()), p.ofport.unwrap_or(-1));
                }
            }
        }
        self.installed = None;
        Ok(())
    }

    /// Replaces the desired state with a full listing.
    pub fn load(&mut self, st: HostState) {
        self.revision = st.revision;
        self.ports = st.l2.ports.into_iter().map(|p| (p.id.clone(), p)).collect();
        self.networks = st.l2.networks.into_iter().map(|n| (n.id.clone(), n)).collect();
        self.peers = st.l2.peers;
        self.firewall = st.firewall;
    }

    /// Applies a watch delta. Returns false if the agent must list again.
    pub fn apply(&mut self, d: Delta) -> bool {
        if d.resync {
            return false;
        }
        for id in d.l2.removed_ports {
            self.ports.remove(&id);
        }
        for p in d.l2.ports {
            self.ports.insert(p.id.clone(), p);
        }
        for n in d.l2.networks {
            self.networks.insert(n.id.clone(), n);
        }
        self.peers.extend(d.l2.peers);
        if let Some(fw) = d.firewall {
            self.firewall = fw;
        }
        self.revision = self.revision.max(d.revision);
        true
    }

    /// Records an interface event from the OVSDB monitor.
    pub fn on_interface(&mut self, ev: InterfaceEvent) {
        match (ev.kind, ev.iface_id()) {
            (EventKind::Deleted, _) => {
                self.ifaces.remove(&ev.name);
            }
            (_, Some(id)) => {
                self.ifaces.insert(ev.name.clone(), Iface { port_id: id.to_string(), ofport: ev.ofport });
            }
            (_, None) => {
                self.ifaces.remove(&ev.name);
            }
        }
    }

    /// Forgets the installed flows so that the next sync dumps and reprograms them (after an
    /// ovs-vswitchd restart).
    pub fn invalidate_flows(&mut self) {
        self.installed = None;
        self.prefetched = None;
    }

    /// Whether ovs-vswitchd lost our flows (the canary flow is gone).
    pub async fn vswitchd_restarted(&self) -> Result<bool, SyncError> {
        Ok(neutrino_ovs::ofctl::restarted(&self.ofctl, &self.cfg.integration_bridge, self.cookie).await?)
    }

    /// The networks on this host with their local VLANs and wired ports; also the ids of the
    /// wired ports (known, enabled, plugged with an ofport).
    fn local_nets(&mut self) -> (Vec<LocalNet>, BTreeSet<String>) {
        let wanted: BTreeSet<String> = self.ports.values().map(|p| p.network_id.clone()).collect();
        if !self.recovered {
            // After a restart, keep the VLANs the ports' ingress flows already carry.
            for i in self.ifaces.values() {
                if let (Some(p), Some(vlan)) =
                    (self.ports.get(&i.port_id), i.ofport.and_then(|o| self.found_vlans.get(&o)))
                {
                    self.vlans.recover(&p.network_id, *vlan);
                }
            }
            self.recovered = true;
        }
        let gone: Vec<String> =
            self.vlans.networks().map(|(n, _)| n.clone()).filter(|n| !wanted.contains(n)).collect();
        for n in gone {
            self.vlans.release(&n);
        }
        let mut ports: BTreeMap<&str, Vec<LocalPort>> = BTreeMap::new();
        let mut wired = BTreeSet::new();
        for i in self.ifaces.values() {
            let (Some(p), Some(ofport)) = (self.ports.get(&i.port_id), i.ofport.filter(|o| *o > 0)) else {
                continue;
            };
            if p.admin_state_up {
                ports.entry(p.network_id.as_str()).or_default().push(LocalPort {
                    ofport,
                    mac: p.mac_address.clone(),
                    id: p.id.clone(),
                    filter: p.port_security_enabled.then(|| PortFilter {
                        ips: p.fixed_ips.iter().map(|ip| ip.ip_address.clone()).collect(),
                        pairs: p.allowed_address_pairs.clone(),
                        groups: p.security_groups.clone(),
                    }),
                });
                wired.insert(p.id.clone());
            }
        }
        let nets = wanted
            .iter()
            .filter_map(|id| {
                let n = self.networks.get(id)?;
                let local_vlan = self.vlans.assign(id)?;
                Some(LocalNet {
                    id: id.clone(),
                    network_type: n.network_type,
                    physical_network: n.physical_network.clone(),
                    segmentation_id: n.segmentation_id,
                    local_vlan,
                    ports: ports.remove(id.as_str()).unwrap_or_default(),
                })
            })
            .collect::<Vec<_>>();
        // A port whose network is unknown (or out of VLANs) is not wired.
        let on_nets: BTreeSet<&str> = nets.iter().map(|n| n.id.as_str()).collect();
        wired.retain(|id| self.ports.get(id).is_some_and(|p| on_nets.contains(p.network_id.as_str())));
        (nets, wired)
    }

    async fn sync_tunnels(&mut self, nets: &[LocalNet]) -> Result<(), SyncError> {
        let Some(local_ip) = self.cfg.local_ip.clone() else { return Ok(()) };
        let wanted: BTreeSet<(NetworkType, String)> = flows::wanted_tunnels(nets, &self.peers)
            .into_iter()
            .filter(|(t, ip)| self.cfg.tunnel_types.contains(t) && *ip != local_ip)
            .collect();
        let tun = self.cfg.tunnel_bridge.clone();
        let stale: Vec<(NetworkType, String)> =
            self.tunnels.keys().filter(|k| !wanted.contains(*k)).cloned().collect();
        for (t, ip) in stale {
            self.vs.delete_port(&tun, &flows::tunnel_port_name(t, &ip)).await?;
            self.tunnels.remove(&(t, ip));
        }
        for (t, ip) in wanted {
            if self.tunnels.get(&(t, ip.clone())).is_some_and(|p| *p > 0) {
                continue;
            }
            let name = flows::tunnel_port_name(t, &ip);
            let spec = PortSpec {
                iface_type: t.as_str().to_string(),
                options: ids(&[("remote_ip", &ip), ("local_ip", &local_ip), ("key", "flow")]),
                port_external_ids: self.owner(),
                iface_external_ids: self.owner(),
                tag: None,
            };
            self.vs.ensure_port(&tun, &name, &spec).await?;
            let ofport = self.ofport(&name).await?;
            self.tunnels.insert((t, ip), ofport);
        }
        Ok(())
    }

    /// Converges the host to the desired state; returns the port status changes to report.
    pub async fn sync(&mut self) -> Result<StatusChanges, SyncError> {
        let (nets, wired) = self.local_nets();
        self.sync_tunnels(&nets).await?;
        // Flows.
        let layout = Layout {
            cookie: self.cookie,
            int_bridge: self.cfg.integration_bridge.clone(),
            tun: self.patch_int.zip(self.int_patch).map(|(patch_int, int_patch)| TunLayout {
                bridge: self.cfg.tunnel_bridge.clone(),
                patch_int,
                int_patch,
                ports: self.tunnels.clone(),
            }),
            phys: self.phys.clone(),
        };
        let started = std::time::Instant::now();
        let units = flows::units::units(&layout, &nets, &self.peers, &self.firewall, &self.units);
        let result = match self.installed.take() {
            None => self.program_all(&units, started).await,
            Some(installed) => self.program_changes(&units, installed, started).await,
        };
        self.units = units;
        self.installed = Some(result?);
        self.sweep_conntrack(&nets).await;
        // Status: up once its flows are in (the bundle returns once ovs-vswitchd has them);
        // down when a reported port lost its wiring (still bound here).
        let mut changes = StatusChanges::default();
        for id in &wired {
            if self.up.insert(id.clone()) {
                changes.up.push(id.clone());
            }
        }
        let lost: Vec<String> = self.up.iter().filter(|id| !wired.contains(*id)).cloned().collect();
        for id in lost {
            self.up.remove(&id);
            if self.ports.contains_key(&id) {
                changes.down.push(id);
            }
        }
        Ok(changes)
    }

    /// Deletes the connections the firewall marked as no longer allowed, in the zones (local
    /// VLANs) of the host's networks, while within [`CT_SWEEP_WINDOW`] of a bundle that removed
    /// rule flows. A failure is logged: the marked connections are dropped by the flows
    /// anyway, the entries only linger until they time out.
    async fn sweep_conntrack(&mut self, nets: &[LocalNet]) {
        let (Some(ct), Some(until)) = (self.conntrack.clone(), self.sweep_until) else { return };
        if Instant::now() > until {
            self.sweep_until = None;
            return;
        }
        let zones: Vec<u16> = nets
            .iter()
            .filter(|n| n.ports.iter().any(|p| p.filter.is_some()))
            .map(|n| n.local_vlan)
            .collect();
        match flush_marked(ct.as_ref(), &zones, flows::firewall::CT_MARK_INVALID).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "deleted connections whose security group rule was removed"),
            Err(e) => tracing::warn!(error = %e, "cannot clean the connection tracker"),
        }
    }

    /// Puts a port back in the "to report" set (its report failed).
    pub fn retry_status(&mut self, changes: &StatusChanges) {
        for id in &changes.up {
            self.up.remove(id);
        }
        for id in &changes.down {
            self.up.insert(id.clone());
        }
    }

    /// The configuration reported with each heartbeat.
    pub fn configurations(&self) -> L2Configurations {
        L2Configurations {
            bridge_mappings: self.cfg.bridge_mappings.clone(),
            tunnel_types: self.cfg.tunnel_types.clone(),
            tunneling_ip: self.cfg.local_ip.clone().unwrap_or_default(),
            integration_bridge: self.cfg.integration_bridge.clone(),
            datapath_type: self.cfg.datapath_type.clone(),
            devices: self.ifaces.len() as u64,
            l2_population: false,
            arp_responder_enabled: false,
        }
    }
}
