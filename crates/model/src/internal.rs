//! Types of the internal API between the server and its agents (DESIGN.md "Server ↔ agent"):
//! the desired state of a host, the deltas a watch returns, and port status reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A port the host must wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortState {
    pub id: String,
    pub network_id: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIpState>,
    pub admin_state_up: bool,
    pub device_owner: String,
    pub device_id: String,
    pub port_security_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIpState {
    pub subnet_id: String,
    pub ip_address: String,
}

/// A network the host has ports on, with its segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkState {
    pub id: String,
    pub network_type: String,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<i64>,
    pub mtu: i64,
    pub admin_state_up: bool,
}

/// Everything one host must realise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    pub revision: i64,
    pub ports: Vec<PortState>,
    pub networks: Vec<NetworkState>,
    /// Tunnel networks → tunnel endpoints of the other hosts with ports on them.
    pub peers: BTreeMap<String, Vec<String>>,
}

/// The answer to a watch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub revision: i64,
    /// The revision is too old (or the feed too busy): list the whole state again.
    pub resync: bool,
    pub ports: Vec<PortState>,
    pub removed_ports: Vec<String>,
    pub networks: Vec<NetworkState>,
    /// Recomputed peer lists of the networks whose peers may have changed.
    pub peers: BTreeMap<String, Vec<String>>,
}

/// A port status report from the agent of `host`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StatusReport {
    pub host: String,
    #[serde(default)]
    pub up: Vec<String>,
    #[serde(default)]
    pub down: Vec<String>,
}

/// A heartbeat (`report_state`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Report {
    pub host: String,
    pub agent_type: String,
    pub binary: String,
    #[serde(default = "na")]
    pub topic: String,
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub configurations: Value,
    /// True on the first report after the agent (re)started.
    #[serde(default)]
    pub start_flag: bool,
}

fn na() -> String {
    "N/A".into()
}
