//! The port resource (`/v2.0/ports`, neutron-lib `api/definitions/port.py` with `binding`,
//! `port-security`, `security-group` and `allowed-address-pairs`, whose attributes
//! [`crate::port_security`] parses, and `extra_dhcp_opt` ([`crate::extra_dhcp_opt`])): response shape, validated create/update requests, MAC
//! generation with the `fa:16:3e` base MAC.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use crate::attrs::{self, Op};
use crate::common::Standard;
use crate::convert::{self, NAME_MAX_LEN};
use crate::error::ApiError;
use crate::extra_dhcp_opt::{self, ExtraDhcpOpt, ExtraDhcpOptRequest};
use crate::network::{name_desc, project_of};
use crate::port_security::{self, AddressPair, AddressPairRequest};

/// `binding:vnic_type` values upstream accepts.
pub const VNIC_TYPES: &[&str] = &[
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "accelerator-direct",
    "accelerator-direct-physical",
    "remote-managed",
];

/// Owners whose ports are the service's own (deleted with their network, no security groups).
pub const OWNER_DHCP: &str = "network:dhcp";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: IpAddr,
}

/// A port as stored and returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub std: Standard,
    pub network_id: String,
    pub admin_state_up: bool,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub device_id: String,
    pub device_owner: String,
    pub status: String,
    pub port_security_enabled: bool,
    /// Security group ids, sorted.
    pub security_groups: Vec<String>,
    /// Sorted.
    pub allowed_address_pairs: Vec<AddressPair>,
    pub binding_host_id: String,
    pub binding_profile: Value,
    pub binding_vif_type: String,
    pub binding_vif_details: Value,
    pub binding_vnic_type: String,
    /// Sorted by name and IP version.
    pub extra_dhcp_opts: Vec<ExtraDhcpOpt>,
}

impl Port {
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        self.std.write(&mut m);
        m.insert("network_id".into(), json!(self.network_id));
        m.insert("admin_state_up".into(), json!(self.admin_state_up));
        m.insert("mac_address".into(), json!(self.mac_address));
        m.insert(
            "fixed_ips".into(),
            Value::Array(
                self.fixed_ips
                    .iter()
                    .map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address.to_string()}))
                    .collect(),
            ),
        );
        m.insert("device_id".into(), json!(self.device_id));
        m.insert("device_owner".into(), json!(self.device_owner));
        m.insert("status".into(), json!(self.status));
        m.insert("port_security_enabled".into(), json!(self.port_security_enabled));
        m.insert("security_groups".into(), json!(self.security_groups));
        m.insert(
            "allowed_address_pairs".into(),
            Value::Array(self.allowed_address_pairs.iter().map(AddressPair::to_json).collect()),
        );
        m.insert("binding:host_id".into(), json!(self.binding_host_id));
        m.insert("binding:profile".into(), self.binding_profile.clone());
        m.insert("binding:vif_type".into(), json!(self.binding_vif_type));
        m.insert("binding:vif_details".into(), self.binding_vif_details.clone());
        m.insert("binding:vnic_type".into(), json!(self.binding_vnic_type));
        m.insert("ip_allocation".into(), json!("immediate"));
        m.insert(
            "extra_dhcp_opts".into(),
            Value::Array(self.extra_dhcp_opts.iter().map(ExtraDhcpOpt::to_json).collect()),
        );
        m
    }
}

/// One requested fixed IP: a subnet, an address, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedIpRequest {
    pub subnet_id: Option<String>,
    pub ip_address: Option<IpAddr>,
}

/// What a create or update asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub network_id: Option<String>,
    pub admin_state_up: Option<bool>,
    pub mac_address: Option<String>,
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    pub port_security_enabled: Option<bool>,
    pub security_groups: Option<Vec<String>>,
    pub allowed_address_pairs: Option<Vec<AddressPairRequest>>,
    pub binding_host_id: Option<String>,
    pub binding_profile: Option<Value>,
    pub binding_vnic_type: Option<String>,
    pub extra_dhcp_opts: Option<Vec<ExtraDhcpOptRequest>>,
}

/// Parses the `fixed_ips` list.
pub fn parse_fixed_ips(v: &Value) -> Result<Vec<FixedIpRequest>, ApiError> {
    let list = convert::to_list("fixed_ips", v)?;
    list.iter()
        .map(|item| {
            let d = convert::to_dict("fixed_ips", item, &["subnet_id", "ip_address"], &[])?;
            let subnet_id = d.get("subnet_id").map(|s| convert::to_uuid("fixed_ips", s)).transpose()?;
            let ip_address = d.get("ip_address").map(|s| convert::to_ip("fixed_ips", s)).transpose()?;
            if subnet_id.is_none() && ip_address.is_none() {
                return Err(ApiError::invalid_attr(
                    "fixed_ips",
                    "Exactly one of subnet_id or ip_address or both must be specified",
                ));
            }
            Ok(FixedIpRequest { subnet_id, ip_address })
        })
        .collect()
}

impl PortChanges {
    pub fn parse(body: &Map<String, Value>, op: Op) -> Result<Self, ApiError> {
        attrs::check_body(&attrs::PORT, body, op)?;
        let (name, description) = name_desc(body)?;
        let s = |k: &str| body.get(k).map(|v| convert::to_string(k, v, NAME_MAX_LEN)).transpose();
        let b = |k: &str| body.get(k).map(|v| convert::to_bool(k, v)).transpose();
        let binding_profile = match body.get("binding:profile") {
            None => None,
            Some(Value::Null) => Some(json!({})),
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(v) => {
                return Err(ApiError::invalid_attr("binding:profile", format!("'{v}' is not a dictionary")));
            }
        };
        let binding_vnic_type = s("binding:vnic_type")?;
        if let Some(t) = &binding_vnic_type
            && !VNIC_TYPES.contains(&t.as_str())
        {
            return Err(ApiError::invalid_attr(
                "binding:vnic_type",
                format!("'{t}' is not in {VNIC_TYPES:?}"),
            ));
        }
        Ok(Self {
            name,
            description,
            project_id: project_of(body)?,
            network_id: body.get("network_id").map(|v| convert::to_uuid("network_id", v)).transpose()?,
            admin_state_up: b("admin_state_up")?,
            mac_address: body.get("mac_address").map(|v| convert::to_mac("mac_address", v)).transpose()?,
            fixed_ips: body.get("fixed_ips").map(parse_fixed_ips).transpose()?,
            device_id: s("device_id")?,
            device_owner: s("device_owner")?,
            port_security_enabled: b("port_security_enabled")?,
            security_groups: body
                .get("security_groups")
                .map(port_security::parse_security_groups)
                .transpose()?,
            allowed_address_pairs: body
                .get("allowed_address_pairs")
                .map(port_security::parse_address_pairs)
                .transpose()?,
            binding_host_id: match body.get("binding:host_id") {
                Some(Value::Null) => Some(String::new()),
                _ => s("binding:host_id")?,
            },
            binding_profile,
            binding_vnic_type,
            extra_dhcp_opts: body.get("extra_dhcp_opts").map(extra_dhcp_opt::parse).transpose()?,
        })
    }
}

/// A random MAC with upstream's base MAC `fa:16:3e:00:00:00`.
pub fn random_mac() -> String {
    let tail: [u8; 3] = rand::random();
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", tail[0], tail[1], tail[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_macs_have_the_base_prefix() {
        for _ in 0..100 {
            let m = random_mac();
            assert!(m.starts_with("fa:16:3e:"));
            assert!(convert::to_mac("m", &json!(m)).is_ok());
        }
    }

    #[test]
    fn fixed_ips_need_a_subnet_or_an_address() {
        assert!(parse_fixed_ips(&json!([{}])).is_err());
        assert!(parse_fixed_ips(&json!([{"ip_address": "300.1.1.1"}])).is_err());
        assert!(parse_fixed_ips(&json!([{"subnet": "x"}])).is_err());
        let f = parse_fixed_ips(&json!([{"ip_address": "10.0.0.5"}])).unwrap();
        assert_eq!(f[0].ip_address.unwrap().to_string(), "10.0.0.5");
    }

    #[test]
    fn bad_vnic_type_and_profile_are_refused() {
        let id = uuid::Uuid::new_v4().to_string();
        let body = json!({"network_id": id, "binding:vnic_type": "weird"});
        assert!(PortChanges::parse(body.as_object().unwrap(), Op::Create).is_err());
        let body = json!({"network_id": id, "binding:profile": "x"});
        assert!(PortChanges::parse(body.as_object().unwrap(), Op::Create).is_err());
    }
}
