//! The `openvswitch` mechanism driver's port binding (upstream `mech_agent.py` +
//! `mech_openvswitch.py`): a port on host H binds only if a live, enabled Open vSwitch agent on
//! H can reach the network's segment — its `bridge_mappings` name the physical network
//! (flat, VLAN) or its `tunnel_types` include the type (GRE, VXLAN), read from the agent's
//! typed [`L2Configurations`].

use neutrino_model::NetworkType;
use neutrino_model::agent::L2Configurations;
use neutrino_model::network::Provider;
use serde_json::{Value, json};

/// `binding:vif_type` values.
pub const VIF_OVS: &str = "ovs";
pub const VIF_UNBOUND: &str = "unbound";
pub const VIF_FAILED: &str = "binding_failed";

/// What the binding needs to know of the host's agent.
#[derive(Debug, Clone)]
pub struct AgentView {
    pub alive: bool,
    pub admin_state_up: bool,
    /// The configuration the agent reported (defaults if it reported none of upstream's shape).
    pub configurations: L2Configurations,
}

/// The result of binding: `binding:vif_type` and `binding:vif_details`.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub vif_type: String,
    pub vif_details: Value,
}

impl Binding {
    pub fn unbound() -> Self {
        Self { vif_type: VIF_UNBOUND.into(), vif_details: json!({}) }
    }
    fn failed() -> Self {
        Self { vif_type: VIF_FAILED.into(), vif_details: json!({}) }
    }
}

/// Whether the agent's configuration can carry the segment.
pub fn reaches(configurations: &L2Configurations, segment: &Provider) -> bool {
    match segment.network_type {
        Some(NetworkType::Local) => true,
        Some(NetworkType::Flat | NetworkType::Vlan) => segment
            .physical_network
            .as_deref()
            .is_some_and(|p| configurations.bridge_mappings.contains_key(p)),
        Some(t @ (NetworkType::Vxlan | NetworkType::Gre)) => {
            configurations.tunnel_types.contains(&t) && configurations.tunnel_endpoint().is_some()
        }
        Some(NetworkType::Geneve) | None => false,
    }
}

/// Binds a port on `host` (empty: unbound) to a network with `segment`.
pub fn bind(host: &str, segment: &Provider, agent: Option<&AgentView>) -> Binding {
    if host.is_empty() {
        return Binding::unbound();
    }
    let Some(agent) = agent.filter(|a| a.alive && a.admin_state_up) else {
        return Binding::failed();
    };
    if !reaches(&agent.configurations, segment) {
        return Binding::failed();
    }
    let datapath = &agent.configurations.datapath_type;
    let bridge = &agent.configurations.integration_bridge;
    Binding {
        vif_type: VIF_OVS.into(),
        vif_details: json!({
            "port_filter": true,
            "ovs_hybrid_plug": false,
            "datapath_type": datapath,
            "bridge_name": bridge,
            "connectivity": "l2",
            "bound_drivers": {"0": "openvswitch"},
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(t: &str, p: Option<&str>) -> Provider {
        Provider {
            network_type: Some(t.parse().unwrap()),
            physical_network: p.map(String::from),
            segmentation_id: Some(7),
        }
    }
    fn agent(alive: bool) -> AgentView {
        AgentView {
            alive,
            admin_state_up: true,
            configurations: L2Configurations::from_value(&json!({"bridge_mappings": {"physnet1": "br-eth1"},
                "tunnel_types": ["vxlan"], "tunneling_ip": "172.31.0.1", "datapath_type": "netdev",
                "integration_bridge": "br-int"}))
            .unwrap(),
        }
    }

    #[test]
    fn binds_when_the_agent_reaches_the_segment() {
        let b = bind("h1", &seg("vxlan", None), Some(&agent(true)));
        assert_eq!(b.vif_type, "ovs");
        assert_eq!(b.vif_details["datapath_type"], "netdev");
        assert_eq!(bind("h1", &seg("vlan", Some("physnet1")), Some(&agent(true))).vif_type, "ovs");
    }

    #[test]
    fn fails_without_mapping_tunnel_type_or_live_agent() {
        assert_eq!(bind("h1", &seg("vlan", Some("physnet2")), Some(&agent(true))).vif_type, "binding_failed");
        assert_eq!(bind("h1", &seg("gre", None), Some(&agent(true))).vif_type, "binding_failed");
        assert_eq!(bind("h1", &seg("vxlan", None), Some(&agent(false))).vif_type, "binding_failed");
        assert_eq!(bind("h1", &seg("vxlan", None), None).vif_type, "binding_failed");
        let mut off = agent(true);
        off.admin_state_up = false;
        assert_eq!(bind("h1", &seg("vxlan", None), Some(&off)).vif_type, "binding_failed");
    }

    #[test]
    fn no_host_is_unbound() {
        assert_eq!(bind("", &seg("vxlan", None), Some(&agent(true))), Binding::unbound());
    }
}
