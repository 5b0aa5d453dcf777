//! The floating IP resource (`/v2.0/floatingips`, neutron-lib `api/definitions/l3.py` with
//! `fip-port-details`) and the floating IP pools of `floatingip-pools`: response shapes and the
//! validated create/update requests.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use crate::attrs::{self, Op};
use crate::common::Standard;
use crate::convert::{self, NAME_MAX_LEN};
use crate::error::ApiError;
use crate::network::project_of;

/// The owner of the port that holds a floating IP's address on the external network.
pub const OWNER_FLOATINGIP: &str = "network:floatingip";

/// Floating IP statuses: `DOWN` until the L3 agent has its NAT in place.
pub const STATUS_DOWN: &str = "DOWN";
pub const STATUS_ACTIVE: &str = "ACTIVE";
pub const STATUS_ERROR: &str = "ERROR";

/// What `fip-port-details` shows of the associated port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortDetails {
    pub name: String,
    pub network_id: String,
    pub mac_address: String,
    pub admin_state_up: bool,
    pub status: String,
    pub device_id: String,
    pub device_owner: String,
}

/// A floating IP as stored and returned (`std.name` is unused: floating IPs have no name).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FloatingIp {
    pub std: Standard,
    pub floating_network_id: String,
    /// The `network:floatingip` port holding the address.
    pub floating_port_id: String,
    pub floating_ip_address: String,
    /// The associated port (`port_id` on the wire).
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
    pub router_id: Option<String>,
    pub status: String,
    /// Filled from the associated port when the floating IP is shown.
    pub port_details: Option<PortDetails>,
}

impl FloatingIp {
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        self.std.write(&mut m);
        m.remove("name");
        m.insert("floating_network_id".into(), json!(self.floating_network_id));
        m.insert("floating_ip_address".into(), json!(self.floating_ip_address));
        m.insert("port_id".into(), json!(self.port_id));
        m.insert("fixed_ip_address".into(), json!(self.fixed_ip_address));
        m.insert("router_id".into(), json!(self.router_id));
        m.insert("status".into(), json!(self.status));
        let details = self.port_details.as_ref().map(|d| {
            json!({"name": d.name, "network_id": d.network_id, "mac_address": d.mac_address,
                "admin_state_up": d.admin_state_up, "status": d.status, "device_id": d.device_id,
                "device_owner": d.device_owner})
        });
        m.insert("port_details".into(), details.unwrap_or(Value::Null));
        m
    }
}

/// What a create or update asks for. `port_id: Some(None)` is an explicit `null`
/// (disassociate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FloatingIpChanges {
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub floating_network_id: Option<String>,
    pub floating_ip_address: Option<IpAddr>,
    pub subnet_id: Option<String>,
    pub port_id: Option<Option<String>>,
    pub fixed_ip_address: Option<Option<IpAddr>>,
}

fn nullable<T>(
    body: &Map<String, Value>,
    key: &str,
    f: impl Fn(&str, &Value) -> Result<T, ApiError>,
) -> Result<Option<Option<T>>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => f(key, v).map(|t| Some(Some(t))),
    }
}

impl FloatingIpChanges {
    pub fn parse(body: &Map<String, Value>, op: Op) -> Result<Self, ApiError> {
        attrs::check_body(&attrs::FLOATINGIP, body, op)?;
        let description = body
            .get("description")
            .map(|v| convert::to_string("description", v, NAME_MAX_LEN))
            .transpose()?;
        let uuid = |k: &str| body.get(k).map(|v| convert::to_uuid(k, v)).transpose();
        Ok(Self {
            description,
            project_id: project_of(body)?,
            floating_network_id: uuid("floating_network_id")?,
            floating_ip_address: nullable(body, "floating_ip_address", convert::to_ip)?.flatten(),
            subnet_id: nullable(body, "subnet_id", convert::to_uuid)?.flatten(),
            port_id: nullable(body, "port_id", convert::to_uuid)?,
            fixed_ip_address: nullable(body, "fixed_ip_address", convert::to_ip)?,
        })
    }
}

/// One entry of `GET /v2.0/floatingip_pools`: an IPv4 subnet of an external network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatingIpPool {
    pub subnet_id: String,
    pub subnet_name: String,
    pub network_id: String,
    pub network_name: String,
    pub cidr: String,
    /// The caller's project, as upstream fills it.
    pub project_id: String,
}

impl FloatingIpPool {
    pub fn to_json(&self) -> Map<String, Value> {
        let v = json!({"subnet_id": self.subnet_id, "subnet_name": self.subnet_name,
            "network_id": self.network_id, "network_name": self.network_name, "cidr": self.cidr,
            "project_id": self.project_id, "tenant_id": self.project_id});
        v.as_object().cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn null_port_id_is_an_explicit_disassociation() {
        let c = FloatingIpChanges::parse(&obj(json!({"port_id": null})), Op::Update).unwrap();
        assert_eq!(c.port_id, Some(None));
        let c = FloatingIpChanges::parse(&obj(json!({"description": "x"})), Op::Update).unwrap();
        assert_eq!(c.port_id, None);
    }

    #[test]
    fn bad_values_and_read_only_keys_are_refused() {
        let net = uuid::Uuid::new_v4().to_string();
        for body in [
            json!({"floating_network_id": "nope"}),
            json!({"floating_network_id": net, "floating_ip_address": "300.1.1.1"}),
            json!({"floating_network_id": net, "status": "ACTIVE"}),
            json!({"floating_network_id": net, "name": "x"}),
            json!({"floating_network_id": net, "fixed_ip_address": 5}),
        ] {
            assert!(FloatingIpChanges::parse(&obj(body.clone()), Op::Create).is_err(), "{body}");
        }
        assert!(FloatingIpChanges::parse(&obj(json!({})), Op::Create).is_err(), "network required");
        let e = FloatingIpChanges::parse(&obj(json!({"floating_network_id": net})), Op::Update).unwrap_err();
        assert_eq!(e.message, "Cannot update read-only attribute floating_network_id");
    }

    #[test]
    fn wire_form_has_no_name_and_null_details_when_unassociated() {
        let f = FloatingIp { status: STATUS_DOWN.into(), ..Default::default() };
        let m = f.to_json();
        assert!(!m.contains_key("name"));
        assert_eq!(m["port_details"], Value::Null);
        assert_eq!(m["port_id"], Value::Null);
        assert_eq!(m["status"], "DOWN");
    }
}
