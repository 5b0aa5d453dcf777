//! The agent resource (`/v2.0/agents`, neutron-lib `api/definitions/agent.py`): what agents
//! report by heartbeat and what admins see; timestamps in upstream's `YYYY-MM-DD HH:MM:SS`.

use serde_json::{Map, Value, json};

/// Agent type and binary of the Open vSwitch agent, as upstream names them.
pub const OVS_AGENT_TYPE: &str = "Open vSwitch agent";
pub const OVS_AGENT_BINARY: &str = "neutron-openvswitch-agent";

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
