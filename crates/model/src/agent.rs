//! The agent resource (`/v2.0/agents`, neutron-lib `api/definitions/agent.py`): what agents
//! report by heartbeat and what admins see; timestamps in upstream's `YYYY-MM-DD HH:MM:SS`.
//! Also the roles a Neutrino agent serves (each one a row, named as upstream's agent) and the
//! typed `configurations` of the `l2` role, shared by the agent that writes them and the
//! server that binds ports and computes tunnel peers with them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::network_type::NetworkType;

/// Agent type and binary of the Open vSwitch agent (the `l2` role), as upstream names them.
pub const OVS_AGENT_TYPE: &str = "Open vSwitch agent";
pub const OVS_AGENT_BINARY: &str = "neutron-openvswitch-agent";
/// Agent type and binary of the L3 agent (the `l3` role).
pub const L3_AGENT_TYPE: &str = "L3 agent";
pub const L3_AGENT_BINARY: &str = "neutron-l3-agent";
/// Agent type and binary of the DHCP agent (the `dhcp` role).
pub const DHCP_AGENT_TYPE: &str = "DHCP agent";
pub const DHCP_AGENT_BINARY: &str = "neutron-dhcp-agent";

/// A role of the Neutrino agent; one process serves all the roles of its host, and each role
/// appears in `GET /v2.0/agents` as the upstream agent that plays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    L2,
    L3,
    Dhcp,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::L2, Role::L3, Role::Dhcp];

    /// The configuration string (`l2`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::L2 => "l2",
            Role::L3 => "l3",
            Role::Dhcp => "dhcp",
        }
    }

    /// The `agent_type` of its row.
    pub fn agent_type(self) -> &'static str {
        match self {
            Role::L2 => OVS_AGENT_TYPE,
            Role::L3 => L3_AGENT_TYPE,
            Role::Dhcp => DHCP_AGENT_TYPE,
        }
    }

    /// The `binary` of its row.
    pub fn binary(self) -> &'static str {
        match self {
            Role::L2 => OVS_AGENT_BINARY,
            Role::L3 => L3_AGENT_BINARY,
            Role::Dhcp => DHCP_AGENT_BINARY,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `configurations` of the `l2` role (upstream's Open vSwitch agent reports these keys).
/// Missing keys read as their defaults: no mappings, no tunnels, `br-int` on the `system`
/// datapath.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct L2Configurations {
    /// Physical network → the bridge that carries it (`physnet1: br-eth1`).
    pub bridge_mappings: BTreeMap<String, String>,
    pub tunnel_types: Vec<NetworkType>,
    /// The host's tunnel endpoint; empty without tunnels.
    pub tunneling_ip: String,
    pub integration_bridge: String,
    /// `system` (kernel module) or `netdev` (userspace).
    pub datapath_type: String,
    /// Interfaces with an `iface-id` on the integration bridge.
    pub devices: u64,
    pub l2_population: bool,
    pub arp_responder_enabled: bool,
}

impl Default for L2Configurations {
    fn default() -> Self {
        Self {
            bridge_mappings: BTreeMap::new(),
            tunnel_types: vec![],
            tunneling_ip: String::new(),
            integration_bridge: "br-int".into(),
            datapath_type: "system".into(),
            devices: 0,
            l2_population: false,
            arp_responder_enabled: false,
        }
    }
}

impl L2Configurations {
    /// Reads what an Open vSwitch agent reported; `None` if it is not this shape.
    pub fn from_value(v: &Value) -> Option<Self> {
        Self::deserialize(v).ok()
    }

    /// The JSON object reported in a heartbeat.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The tunnel endpoint, if the agent has one.
    pub fn tunnel_endpoint(&self) -> Option<&str> {
        Some(self.tunneling_ip.as_str()).filter(|ip| !ip.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: String,
    pub agent_type: String,
    pub binary: String,
    pub host: String,
    pub topic: String,
    pub admin_state_up: bool,
    pub description: String,
    pub availability_zone: Option<String>,
    /// What the agent reported, shown as reported; [`Agent::l2_configurations`] reads it.
    pub configurations: Value,
    /// Unix seconds of the last heartbeat.
    pub heartbeat_at: i64,
    pub heartbeat_timestamp: String,
    pub started_at: String,
    pub created_at: String,
    /// Computed: heartbeat newer than `agent_down_time`.
    pub alive: bool,
}

impl Agent {
    /// The typed configurations of an Open vSwitch agent (the `l2` role); `None` for another
    /// agent type or a shape that is not upstream's.
    pub fn l2_configurations(&self) -> Option<L2Configurations> {
        (self.agent_type == OVS_AGENT_TYPE)
            .then(|| L2Configurations::from_value(&self.configurations))
            .flatten()
    }

    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("agent_type".into(), json!(self.agent_type));
        m.insert("binary".into(), json!(self.binary));
        m.insert("host".into(), json!(self.host));
        m.insert("topic".into(), json!(self.topic));
        m.insert("admin_state_up".into(), json!(self.admin_state_up));
        m.insert("description".into(), json!(self.description));
        m.insert("availability_zone".into(), json!(self.availability_zone));
        m.insert("configurations".into(), self.configurations.clone());
        m.insert("heartbeat_timestamp".into(), json!(self.heartbeat_timestamp));
        m.insert("started_at".into(), json!(self.started_at));
        m.insert("created_at".into(), json!(self.created_at));
        m.insert("alive".into(), json!(self.alive));
        m.insert("resources_synced".into(), Value::Null);
        m
    }
}

/// Agent timestamps: `2017-09-12 19:40:38`.
pub fn agent_timestamp(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default().format("%Y-%m-%d %H:%M:%S").to_string()
}
