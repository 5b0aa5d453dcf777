//! The API's objects as the shell joins them with what a host holds: networks, subnets, ports,
//! security groups with their rules, routers, floating IPs and agents, in their OpenStack
//! Networking API v2.0 wire shape (only the attributes the views use; others are ignored), read
//! once per command ([`Cloud::fetch`]) or from a JSON file of the same shape (the snapshot
//! tests' fixed inputs, [`Cloud::from_json`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Reading the API failed.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("API: {0}")]
    Api(#[from] neutrino_client::Error),
    #[error("API answered {status} to GET {path}: {body}")]
    Status { status: u16, path: String, body: String },
    #[error("cannot read the API's {what}: {reason}")]
    Decode { what: String, reason: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub project_id: String,
    #[serde(rename = "provider:network_type")]
    pub network_type: Option<String>,
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    #[serde(rename = "provider:segmentation_id")]
    pub segmentation_id: Option<i64>,
    #[serde(rename = "router:external")]
    pub external: bool,
    pub subnets: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub network_id: String,
    pub cidr: String,
    pub ip_version: u8,
    pub gateway_ip: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddressPair {
    pub ip_address: String,
    pub mac_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Port {
    pub id: String,
    pub name: String,
    pub network_id: String,
    pub project_id: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub device_owner: String,
    pub device_id: String,
    pub status: String,
    pub admin_state_up: bool,
    pub port_security_enabled: Option<bool>,
    pub security_groups: Vec<String>,
    pub allowed_address_pairs: Vec<AddressPair>,
    #[serde(rename = "binding:host_id")]
    pub host: Option<String>,
    #[serde(rename = "binding:vif_type")]
    pub vif_type: Option<String>,
}

impl Port {
    /// The port's addresses, in API order.
    pub fn ips(&self) -> impl Iterator<Item = &str> {
        self.fixed_ips.iter().map(|f| f.ip_address.as_str())
    }

    /// Its name, or its id's first 8 characters when it has none.
    pub fn label(&self) -> String {
        label(&self.name, &self.id)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub security_group_rules: Vec<SecurityGroupRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityGroupRule {
    pub id: String,
    pub security_group_id: String,
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalFixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayInfo {
    pub network_id: String,
    pub enable_snat: Option<bool>,
    pub external_fixed_ips: Vec<ExternalFixedIp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Route {
    pub destination: String,
    pub nexthop: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Router {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub status: String,
    pub external_gateway_info: Option<GatewayInfo>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FloatingIp {
    pub id: String,
    pub floating_ip_address: String,
    pub floating_network_id: String,
    pub fixed_ip_address: Option<String>,
    pub port_id: Option<String>,
    pub router_id: Option<String>,
    pub status: String,
}

/// An agent row of `/v2.0/agents` (its `configurations` kept as they are).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Agent {
    pub id: String,
    pub agent_type: String,
    pub host: String,
    pub alive: bool,
    pub configurations: Value,
}

impl Agent {
    /// The tunnel endpoint an Open vSwitch agent reported (`configurations.tunneling_ip`).
    pub fn tunneling_ip(&self) -> Option<&str> {
        self.configurations.get("tunneling_ip").and_then(Value::as_str).filter(|s| !s.is_empty())
    }
}

/// Every object the views join with a host's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cloud {
    pub networks: Vec<Network>,
    pub subnets: Vec<Subnet>,
    pub ports: Vec<Port>,
    pub security_groups: Vec<SecurityGroup>,
    pub routers: Vec<Router>,
    pub floatingips: Vec<FloatingIp>,
    pub agents: Vec<Agent>,
}

/// `name`, or the first 8 characters of `id` when the name is empty.
pub fn label(name: &str, id: &str) -> String {
    match name.is_empty() {
        true => id.chars().take(8).collect(),
        false => name.to_string(),
    }
}

const COLLECTIONS: [&str; 7] =
    ["networks", "subnets", "ports", "security_groups", "routers", "floatingips", "agents"];

impl Cloud {
    /// Reads every collection from the API (an admin sees every project's objects and the ports'
    /// bindings; anyone else sees theirs).
    pub async fn fetch(client: &neutrino_client::Client) -> Result<Cloud, CloudError> {
        let mut body = serde_json::Map::new();
        for plural in COLLECTIONS {
            // URLs spell the collection with a hyphen (`security-groups`), bodies with `_`.
            let path = format!("/v2.0/{}", plural.replace('_', "-"));
            let (status, v) = client.call(neutrino_client::Method::GET, &path, None).await?;
            if status == 403 || status == 404 {
                // Agents are admin-only: a project member's view simply has none.
                continue;
            }
            if status != 200 {
                return Err(CloudError::Status { status, path, body: v.to_string() });
            }
            let list = v.get(plural).cloned().unwrap_or(Value::Array(vec![]));
            body.insert(plural.to_string(), list);
        }
        Cloud::from_value(Value::Object(body))
    }

    /// A cloud from `{"networks": [...], "ports": [...], ...}` (missing lists are empty).
    pub fn from_value(v: Value) -> Result<Cloud, CloudError> {
        serde_json::from_value(v)
            .map_err(|e| CloudError::Decode { what: "objects".into(), reason: e.to_string() })
    }

    /// A cloud from the JSON text of [`Cloud::from_value`].
    pub fn from_json(text: &str) -> Result<Cloud, CloudError> {
        Cloud::from_value(
            serde_json::from_str(text)
                .map_err(|e| CloudError::Decode { what: "objects".into(), reason: e.to_string() })?,
        )
    }

    pub fn port(&self, id: &str) -> Option<&Port> {
        self.ports.iter().find(|p| p.id == id)
    }

    pub fn network(&self, id: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.id == id)
    }

    pub fn subnet(&self, id: &str) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.id == id)
    }

    pub fn security_group(&self, id: &str) -> Option<&SecurityGroup> {
        self.security_groups.iter().find(|g| g.id == id)
    }

    pub fn router(&self, id: &str) -> Option<&Router> {
        self.routers.iter().find(|r| r.id == id)
    }

    /// A security group rule and its group, by rule id.
    pub fn rule(&self, id: &str) -> Option<(&SecurityGroup, &SecurityGroupRule)> {
        self.security_groups
            .iter()
            .find_map(|g| g.security_group_rules.iter().find(|r| r.id == id).map(|r| (g, r)))
    }

    /// The network's name, or its id's first 8 characters.
    pub fn network_label(&self, id: &str) -> String {
        self.network(id).map(|n| label(&n.name, &n.id)).unwrap_or_else(|| label("", id))
    }

    pub fn group_label(&self, id: &str) -> String {
        self.security_group(id).map(|g| label(&g.name, &g.id)).unwrap_or_else(|| label("", id))
    }

    pub fn router_label(&self, id: &str) -> String {
        self.router(id).map(|r| label(&r.name, &r.id)).unwrap_or_else(|| label("", id))
    }

    /// The ports holding `ip` as a fixed IP (on different networks an address can repeat).
    pub fn ports_with_ip(&self, ip: &str) -> Vec<&Port> {
        self.ports.iter().filter(|p| p.ips().any(|a| a == ip)).collect()
    }

    /// The port a user names: its id, an id prefix of 8 or more characters, its name, or one of
    /// its fixed IPs; `Err` lists the candidates when the name is ambiguous.
    pub fn find_port(&self, what: &str) -> Result<&Port, Vec<&Port>> {
        if let Some(p) = self.port(what) {
            return Ok(p);
        }
        let hits: Vec<&Port> = self
            .ports
            .iter()
            .filter(|p| {
                p.name == what || p.ips().any(|a| a == what) || (what.len() >= 8 && p.id.starts_with(what))
            })
            .collect();
        match hits.len() {
            1 => Ok(hits[0]),
            _ => Err(hits),
        }
    }

    /// The router owning an interface or gateway port.
    pub fn router_of_port(&self, port: &Port) -> Option<&Router> {
        port.device_owner.starts_with("network:router").then(|| self.router(&port.device_id)).flatten()
    }

    /// Floating IP address → the fixed address it maps to, of associated floating IPs.
    pub fn floating_map(&self) -> BTreeMap<&str, &str> {
        self.floatingips
            .iter()
            .filter_map(|f| Some((f.floating_ip_address.as_str(), f.fixed_ip_address.as_deref()?)))
            .collect()
    }

    /// The host whose Open vSwitch agent reported `tunnel_ip` as its endpoint.
    pub fn host_of_tunnel_ip(&self, tunnel_ip: &str) -> Option<&str> {
        self.agents.iter().find(|a| a.tunneling_ip() == Some(tunnel_ip)).map(|a| a.host.as_str())
    }
}
