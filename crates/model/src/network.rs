//! The network resource (`/v2.0/networks`, neutron-lib `api/definitions/network.py` with the
//! `external-net`, `provider`, `net-mtu` and `port-security` extensions): response shape and
//! the validated create/update requests.

use serde_json::{Map, Value, json};

use crate::attrs::{self, Op};
use crate::common::Standard;
use crate::convert::{self, NAME_MAX_LEN};
use crate::error::ApiError;
use crate::network_type::NetworkType;

/// Network types the `provider` extension accepts ([`NetworkType::ALL`] as strings).
pub const NETWORK_TYPES: &[&str] = &["local", "flat", "vlan", "vxlan", "gre", "geneve"];

/// A network as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Network {
    pub std: Standard,
    pub admin_state_up: bool,
    pub status: String,
    pub shared: bool,
    pub mtu: i64,
    pub router_external: bool,
    pub provider: Provider,
    pub port_security_enabled: bool,
    pub availability_zone_hints: Vec<String>,
    pub subnets: Vec<String>,
}

/// The `provider:*` attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provider {
    pub network_type: Option<NetworkType>,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<i64>,
}

impl Network {
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        self.std.write(&mut m);
        m.insert("admin_state_up".into(), json!(self.admin_state_up));
        m.insert("status".into(), json!(self.status));
        m.insert("shared".into(), json!(self.shared));
        m.insert("mtu".into(), json!(self.mtu));
        m.insert("router:external".into(), json!(self.router_external));
        m.insert("provider:network_type".into(), json!(self.provider.network_type));
        m.insert("provider:physical_network".into(), json!(self.provider.physical_network));
        m.insert("provider:segmentation_id".into(), json!(self.provider.segmentation_id));
        m.insert("port_security_enabled".into(), json!(self.port_security_enabled));
        m.insert("availability_zone_hints".into(), json!(self.availability_zone_hints));
        m.insert("availability_zones".into(), json!([]));
        m.insert("subnets".into(), json!(self.subnets));
        m
    }
}

/// The changes a create or update asks for; `None` leaves the attribute alone (or default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    pub router_external: Option<bool>,
    pub provider: Option<Provider>,
    pub port_security_enabled: Option<bool>,
    pub availability_zone_hints: Option<Vec<String>>,
}

/// Reads `project_id`/`tenant_id`, which must agree when both are given.
pub fn project_of(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let p = body.get("project_id").map(|v| convert::to_string("project_id", v, NAME_MAX_LEN)).transpose()?;
    let t = body.get("tenant_id").map(|v| convert::to_string("tenant_id", v, NAME_MAX_LEN)).transpose()?;
    match (p, t) {
        (Some(p), Some(t)) if p != t => Err(ApiError::bad_request(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
        )),
        (p, t) => Ok(p.or(t)),
    }
}

/// Reads `name` and `description`.
pub fn name_desc(body: &Map<String, Value>) -> Result<(Option<String>, Option<String>), ApiError> {
    let name = body.get("name").map(|v| convert::to_string("name", v, NAME_MAX_LEN)).transpose()?;
    let desc =
        body.get("description").map(|v| convert::to_string("description", v, NAME_MAX_LEN)).transpose()?;
    Ok((name, desc))
}

impl NetworkChanges {
    /// Validates a `{"network": {...}}` inner object.
    pub fn parse(body: &Map<String, Value>, op: Op) -> Result<Self, ApiError> {
        attrs::check_body(&attrs::NETWORK, body, op)?;
        let (name, description) = name_desc(body)?;
        let b = |k: &str| body.get(k).map(|v| convert::to_bool(k, v)).transpose();
        let mut provider = None;
        let keys = ["provider:network_type", "provider:physical_network", "provider:segmentation_id"];
        if keys.iter().any(|k| body.contains_key(*k)) {
            let network_type = body
                .get(keys[0])
                .map(|v| convert::to_opt_string(keys[0], v, 32))
                .transpose()?
                .flatten()
                .map(|t| {
                    t.parse::<NetworkType>().map_err(|_| {
                        ApiError::invalid_input(format!("network_type value '{t}' not supported"))
                    })
                })
                .transpose()?;
            let physical_network =
                body.get(keys[1]).map(|v| convert::to_opt_string(keys[1], v, 64)).transpose()?.flatten();
            let segmentation_id = match body.get(keys[2]) {
                None | Some(Value::Null) => None,
                Some(v) => Some(convert::to_int(keys[2], v)?),
            };
            provider = Some(Provider { network_type, physical_network, segmentation_id });
        }
        let availability_zone_hints = body
            .get("availability_zone_hints")
            .map(|v| {
                convert::to_list("availability_zone_hints", v)?
                    .iter()
                    .map(|z| convert::to_string("availability_zone_hints", z, NAME_MAX_LEN))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Self {
            name,
            description,
            project_id: project_of(body)?,
            admin_state_up: b("admin_state_up")?,
            shared: b("shared")?,
            router_external: b("router:external")?,
            provider,
            port_security_enabled: b("port_security_enabled")?,
            availability_zone_hints,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_create() {
        let body = json!({"name": "n", "admin_state_up": "false", "shared": true,
            "provider:network_type": "vlan", "provider:physical_network": "physnet1",
            "provider:segmentation_id": 101});
        let c = NetworkChanges::parse(body.as_object().unwrap(), Op::Create).unwrap();
        assert_eq!(c.admin_state_up, Some(false));
        let p = c.provider.unwrap();
        assert_eq!(p.network_type, Some(NetworkType::Vlan));
        assert_eq!(p.segmentation_id, Some(101));
    }

    #[test]
    fn refuses_unknown_network_type_and_mismatched_project() {
        let body = json!({"provider:network_type": "token-ring"});
        let e = NetworkChanges::parse(body.as_object().unwrap(), Op::Create).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.message, "Invalid input for operation: network_type value 'token-ring' not supported.");
        let body = json!({"project_id": "a", "tenant_id": "b"});
        assert_eq!(NetworkChanges::parse(body.as_object().unwrap(), Op::Create).unwrap_err().status, 400);
    }

    #[test]
    fn response_mirrors_tenant_id() {
        let mut n = Network::default();
        n.std.project_id = "p".into();
        let j = n.to_json();
        assert_eq!(j["tenant_id"], json!("p"));
        assert_eq!(j["router:external"], json!(false));
    }
}
