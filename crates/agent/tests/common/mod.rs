//! Shared pieces of the agent's tier-2 tests: the in-memory fakes behind `Arc`s (so that a
//! second reconciler — a restarted agent — can run on the same "Open vSwitch"), a test host
//! that feeds interface events to its reconciler the way `run_once` does, and builders of
//! desired state.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use neutrino_agent::config::AgentConfig;
use neutrino_agent::flows::{self, Layout, LocalNet, LocalPort, PhysLayout, TunLayout};
use neutrino_agent::reconcile::{OWNER_KEY, Reconciler, StatusChanges, SyncError};
use neutrino_model::NetworkType;
use neutrino_model::internal::{Delta, HostState, L2Delta, L2State, NetworkState, PortState, RuleState};
use neutrino_ovs::flow::{Flow, FlowDelta};
use neutrino_ovs::group::Group;
use neutrino_ovs::ofctl::{FakeFlowProgrammer, FlowProgrammer, OfctlError, OvsOfctl};
use neutrino_ovs::vswitch::{FakeVswitch, InterfaceEvent, PortInfo, PortSpec, StrMap, Vswitch, VswitchError};
use tokio::sync::mpsc;

pub mod dhcp;
pub mod l3;

pub const HOST: &str = "host-a";
pub const LOCAL_IP: &str = "172.31.0.1";
pub const PEER_B: &str = "172.31.0.2";
pub const PEER_C: &str = "172.31.0.3";

/// A [`FakeVswitch`] shared between the test and (successive) reconcilers.
#[derive(Debug, Clone)]
pub struct SharedVswitch(pub Arc<FakeVswitch>);

impl Vswitch for SharedVswitch {
    async fn ensure_bridge(
        &self,
        name: &str,
        datapath_type: &str,
        external_ids: &StrMap,
        fail_mode: Option<&str>,
    ) -> Result<(), VswitchError> {
        self.0.ensure_bridge(name, datapath_type, external_ids, fail_mode).await
    }

    async fn delete_bridge(&self, name: &str) -> Result<(), VswitchError> {
        self.0.delete_bridge(name).await
    }

    async fn ensure_port(&self, bridge: &str, port: &str, spec: &PortSpec) -> Result<(), VswitchError> {
        self.0.ensure_port(bridge, port, spec).await
    }

    async fn delete_port(&self, bridge: &str, port: &str) -> Result<(), VswitchError> {
        self.0.delete_port(bridge, port).await
    }

    async fn list_ports(&self, bridge: &str) -> Result<Vec<PortInfo>, VswitchError> {
        self.0.list_ports(bridge).await
    }

    async fn ofport(&self, iface: &str, timeout: Duration) -> Result<Option<i64>, VswitchError> {
        self.0.ofport(iface, timeout).await
    }

    async fn monitor_interfaces(&self) -> Result<mpsc::UnboundedReceiver<InterfaceEvent>, VswitchError> {
        self.0.monitor_interfaces().await
    }
}

/// A [`FakeFlowProgrammer`] shared between the test and (successive) reconcilers.
#[derive(Debug, Clone)]
pub struct SharedFlows(pub Arc<FakeFlowProgrammer>);

impl FlowProgrammer for SharedFlows {
    async fn dump(&self, bridge: &str, cookie: Option<u64>) -> Result<Vec<Flow>, OfctlError> {
        self.0.dump(bridge, cookie).await
    }

    async fn apply(&self, bridge: &str, delta: &FlowDelta) -> Result<(), OfctlError> {
        self.0.apply(bridge, delta).await
    }

    async fn dump_groups(&self, bridge: &str) -> Result<Vec<Group>, OfctlError> {
        self.0.dump_groups(bridge).await
    }
}

/// What the fake Open vSwitch holds: every bridge's flows (sorted) and `br-int`'s groups (by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub flows: BTreeMap<String, Vec<Flow>>,
    pub groups: Vec<Group>,
}

/// The configuration of the host under test: VXLAN tunnels and one physical network.
pub fn config() -> AgentConfig {
    AgentConfig {
        host: HOST.into(),
        tunnel_types: vec![NetworkType::Vxlan],
        local_ip: Some(LOCAL_IP.into()),
        datapath_type: "netdev".into(),
        bridge_mappings: BTreeMap::from([("physnet1".to_string(), "br-eth1".to_string())]),
        ..Default::default()
    }
}

/// One "Open vSwitch" (database and flow tables) that survives agent restarts.
#[derive(Debug, Clone, Default)]
pub struct Ovs {
    pub vs: Arc<FakeVswitch>,
    pub of: Arc<FakeFlowProgrammer>,
}

impl Ovs {
    pub fn new() -> Ovs {
        Ovs::default()
    }

    /// Plugs a VM interface into `br-int` as Nova does.
    pub fn plug(&self, iface: &str, port_id: &str) {
        self.vs.plug_vm_interface("br-int", iface, port_id, "fa:16:3e:00:00:01", "vm-1").expect("plug");
    }

    /// The local VLAN a port's traffic is put on: read from its ingress flow on `br-int`
    /// (the agent tags by OpenFlow, not OVSDB); [`DEAD_VLAN`] when it has none (its traffic is
    /// dropped). `None` if the port does not exist.
    pub fn tag(&self, port: &str) -> Option<u16> {
        let ofport = self.vs.port(port).and_then(|(_, p)| p.ofport)?;
        let vlans = neutrino_agent::flows::ingress_vlans(&self.of.flows("br-int"));
        Some(vlans.get(&ofport).copied().unwrap_or(neutrino_agent::vlan::DEAD_VLAN))
    }

    /// The ofport of a port (the fake assigns one at once).
    pub fn ofport(&self, port: &str) -> i64 {
        self.vs.port(port).and_then(|(_, p)| p.ofport).expect("ofport")
    }

    /// Flows of a bridge, sorted.
    pub fn flows(&self, bridge: &str) -> Vec<Flow> {
        sorted(self.of.flows(bridge))
    }

    /// All bridges' flows, and `br-int`'s groups.
    pub fn all_flows(&self) -> Installed {
        Installed {
            flows: ["br-eth1", "br-int", "br-tun"].iter().map(|b| (b.to_string(), self.flows(b))).collect(),
            groups: self.of.groups("br-int"),
        }
    }

    /// The layout the reconciler should have learnt, read from the fake.
    pub async fn layout(&self, cookie: u64) -> Layout {
        let mut tun = None;
        if self.vs.port("patch-int").is_some() {
            let ports = self.tunnel_ports().await.into_iter().map(|p| {
                let remote = p.options.get("remote_ip").cloned().unwrap_or_default();
                let kind = p.iface_type.parse().expect("a tunnel type");
                ((kind, remote), p.ofport.unwrap_or(-1))
            });
            tun = Some(TunLayout {
                bridge: "br-tun".into(),
                patch_int: self.ofport("patch-int"),
                int_patch: self.ofport("patch-tun"),
                ports: ports.collect(),
            });
        }
        let phys = BTreeMap::from([(
            "physnet1".to_string(),
            PhysLayout {
                bridge: "br-eth1".into(),
                int_ofport: self.ofport("int-br-eth1"),
                phy_ofport: self.ofport("phy-br-eth1"),
            },
        )]);
        Layout { cookie, int_bridge: "br-int".into(), tun, phys }
    }

    /// The tunnel ports on `br-tun` owned by this host's agent.
    pub async fn tunnel_ports(&self) -> Vec<PortInfo> {
        self.vs
            .list_ports("br-tun")
            .await
            .expect("br-tun")
            .into_iter()
            .filter(|p| p.external_ids.get(OWNER_KEY).is_some_and(|h| h == HOST))
            .collect()
    }

    /// Names of all ports of a bridge.
    pub async fn port_names(&self, bridge: &str) -> Vec<String> {
        self.vs.list_ports(bridge).await.expect("bridge").into_iter().map(|p| p.name).collect()
    }
}

/// Sorts flows by key, as the fake keeps them.
pub fn sorted(mut flows: Vec<Flow>) -> Vec<Flow> {
    flows.sort_by_key(Flow::key);
    flows
}

/// An agent on a host: its reconciler on the shared fakes plus its interface monitor.
pub struct Agent {
    pub r: Reconciler<SharedVswitch, SharedFlows>,
    events: mpsc::UnboundedReceiver<InterfaceEvent>,
}

impl Agent {
    /// Starts an agent as `run_once` does: setup, then the monitor's initial events.
    pub async fn start(ovs: &Ovs) -> Agent {
        Agent::start_with(ovs, config()).await
    }

    pub async fn start_with(ovs: &Ovs, cfg: AgentConfig) -> Agent {
        let mut r = Reconciler::new(cfg, SharedVswitch(ovs.vs.clone()), SharedFlows(ovs.of.clone()));
        r.setup().await.expect("setup");
        let events = ovs.vs.monitor_interfaces().await.expect("monitor");
        let mut a = Agent { r, events };
        a.pump();
        a
    }

    /// Feeds pending interface events to the reconciler.
    pub fn pump(&mut self) {
        while let Ok(ev) = self.events.try_recv() {
            self.r.on_interface(ev);
        }
    }

    /// Interface events, then a sync.
    pub async fn sync(&mut self) -> Result<StatusChanges, SyncError> {
        self.pump();
        self.r.sync().await
    }

    /// A sync that must succeed.
    pub async fn synced(&mut self) -> StatusChanges {
        self.sync().await.expect("sync")
    }

    pub fn cookie(&self) -> u64 {
        self.r.cookie()
    }

    /// The flows (and `br-int` groups) the fake must hold for the host the test describes: its networks with their
    /// local VLANs and plugged ports (see [`local`]) and their peers. Only the layout (the
    /// ofports ovs-vswitchd assigned) is read from the fake, never the installed flows.
    pub async fn expected_flows(
        &self,
        ovs: &Ovs,
        nets: &[LocalNet],
        peers: &BTreeMap<String, Vec<String>>,
    ) -> Installed {
        let set = flows::generate(&ovs.layout(self.cookie()).await, nets, peers, &Default::default());
        let groups = set.groups().remove("br-int").unwrap_or_default();
        Installed { flows: set.into_flows().into_iter().map(|(b, f)| (b, sorted(f))).collect(), groups }
    }
}

pub fn net_vxlan(id: &str, seg: i64) -> NetworkState {
    NetworkState {
        id: id.into(),
        network_type: NetworkType::Vxlan,
        physical_network: None,
        segmentation_id: Some(seg),
        mtu: 1450,
        admin_state_up: true,
    }
}

pub fn net_vlan(id: &str, seg: i64) -> NetworkState {
    NetworkState {
        id: id.into(),
        network_type: NetworkType::Vlan,
        physical_network: Some("physnet1".into()),
        segmentation_id: Some(seg),
        mtu: 1500,
        admin_state_up: true,
    }
}

pub fn net_flat(id: &str) -> NetworkState {
    NetworkState {
        id: id.into(),
        network_type: NetworkType::Flat,
        physical_network: Some("physnet1".into()),
        segmentation_id: None,
        mtu: 1500,
        admin_state_up: true,
    }
}

/// The MAC of a test port, derived from its id (unique per id, as the API makes it).
pub fn mac_of(id: &str) -> String {
    let h = id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff)
}

pub fn port(id: &str, net: &str) -> PortState {
    PortState {
        id: id.into(),
        network_id: net.into(),
        mac_address: mac_of(id),
        fixed_ips: vec![],
        admin_state_up: true,
        device_owner: "compute:nova".into(),
        device_id: "vm-1".into(),
        // The L2 tests are about wiring: no firewall in the way (its own tests set groups).
        port_security_enabled: false,
        security_groups: vec![],
        allowed_address_pairs: vec![],
    }
}

pub fn state(
    revision: i64,
    ports: Vec<PortState>,
    networks: Vec<NetworkState>,
    peers: &[(&str, &[&str])],
) -> HostState {
    HostState { revision, l2: L2State { ports, networks, peers: peer_map(peers) }, ..Default::default() }
}

pub fn peer_map(peers: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    peers.iter().map(|(n, ips)| (n.to_string(), ips.iter().map(|s| s.to_string()).collect())).collect()
}

pub fn delta(revision: i64) -> Delta {
    Delta { revision, ..Default::default() }
}

/// A delta with ports and networks added or changed.
pub fn changes(revision: i64, ports: Vec<PortState>, networks: Vec<NetworkState>) -> Delta {
    Delta {
        revision,
        resync: false,
        l2: L2Delta { ports, networks, ..Default::default() },
        ..Default::default()
    }
}

/// A local network as the flows see it, as the test describes it: its local VLAN and its
/// plugged ports as (interface, port id) — the MAC is the port's ([`mac_of`]), the ofport the
/// one the fake assigned to the interface.
pub fn local(ovs: &Ovs, n: &NetworkState, vlan: u16, ports: &[(&str, &str)]) -> LocalNet {
    local_with(n, vlan, ports, |iface| ovs.ofport(iface))
}

/// [`local`] with the ofports from `ofport` (a real switch's, for the tests on Open vSwitch).
pub fn local_with(
    n: &NetworkState,
    vlan: u16,
    ports: &[(&str, &str)],
    ofport: impl Fn(&str) -> i64,
) -> LocalNet {
    LocalNet {
        id: n.id.clone(),
        network_type: n.network_type,
        physical_network: n.physical_network.clone(),
        segmentation_id: n.segmentation_id,
        local_vlan: vlan,
        ports: ports
            .iter()
            .map(|(iface, id)| LocalPort {
                ofport: ofport(iface),
                mac: mac_of(id),
                id: id.to_string(),
                filter: None,
            })
            .collect(),
    }
}

/// The real programmer, counting the bundles that changed something.
#[derive(Clone)]
pub struct Counting(pub OvsOfctl, pub Arc<AtomicUsize>);

impl FlowProgrammer for Counting {
    async fn dump(&self, bridge: &str, cookie: Option<u64>) -> Result<Vec<Flow>, OfctlError> {
        self.0.dump(bridge, cookie).await
    }
    async fn dump_groups(&self, bridge: &str) -> Result<Vec<Group>, OfctlError> {
        self.0.dump_groups(bridge).await
    }
    async fn apply(&self, bridge: &str, delta: &FlowDelta) -> Result<(), OfctlError> {
        if !delta.is_empty() {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
        self.0.apply(bridge, delta).await
    }
}

/// An IPv4 rule of any protocol from anywhere, or from members of `remote`.
pub fn rule(id: &str, direction: &str, remote: Option<&str>) -> RuleState {
    RuleState {
        id: id.into(),
        direction: direction.into(),
        ethertype: "IPv4".into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote.map(String::from),
    }
}
