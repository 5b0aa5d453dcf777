//! The port attributes of the `security-group`, `port-security` and `allowed-address-pairs`
//! extensions (neutron-lib `api/definitions/{securitygroup,port_security,allowedaddresspairs}.py`
//! and their validators): parsing `security_groups` and `allowed_address_pairs`, and the errors
//! upstream gives when they meet a port without port security.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Value, json};

use crate::convert;
use crate::error::ApiError;

/// Upstream's `max_allowed_address_pair` default.
pub const MAX_ADDRESS_PAIRS: usize = 10;

/// An allowed address pair as stored: `ip_address` is an IP or a CIDR without host bits; the
/// MAC is the port's own when the request gave none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddressPair {
    pub ip_address: String,
    pub mac_address: String,
}

impl AddressPair {
    pub fn to_json(&self) -> Value {
        json!({"ip_address": self.ip_address, "mac_address": self.mac_address})
    }
}

/// A value as upstream's messages print it (strings without quotes).
fn show(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), String::from)
}

/// An allowed address pair as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPairRequest {
    pub ip_address: String,
    pub mac_address: Option<String>,
}

impl AddressPairRequest {
    /// The pair stored for a port with MAC `port_mac`.
    pub fn resolve(&self, port_mac: &str) -> AddressPair {
        AddressPair {
            ip_address: self.ip_address.clone(),
            mac_address: self.mac_address.clone().unwrap_or_else(|| port_mac.to_string()),
        }
    }
}

/// Whether ports of this owner belong to the service (DHCP, routers, floating IPs): upstream's
/// "trusted" ports, which get no security groups.
pub fn is_trusted(device_owner: &str) -> bool {
    device_owner.starts_with("network:")
}

/// `security_groups`: a list of distinct UUIDs (`null` is the empty list).
pub fn parse_security_groups(v: &Value) -> Result<Vec<String>, ApiError> {
    const ATTR: &str = "security_groups";
    if v.is_null() {
        return Ok(vec![]);
    }
    let list = convert::to_list(ATTR, v)?;
    let mut out: Vec<String> = vec![];
    for item in list {
        let id = convert::to_uuid(ATTR, item)?;
        if out.contains(&id) {
            return Err(ApiError::invalid_attr(ATTR, format!("Duplicate items in the list: '{id}'")));
        }
        out.push(id);
    }
    Ok(out)
}

/// `allowed_address_pairs`: at most [`MAX_ADDRESS_PAIRS`] dictionaries with an `ip_address`
/// (an IP, or a CIDR without host bits) and an optional `mac_address`, no pair twice (`null`
/// is the empty list). Errors as upstream's validator raises them.
pub fn parse_address_pairs(v: &Value) -> Result<Vec<AddressPairRequest>, ApiError> {
    if v.is_null() {
        return Ok(vec![]);
    }
    let Some(list) = v.as_array() else {
        return Err(
            ApiError::bad_request("Allowed address pairs must be a list.").with_kind("HTTPBadRequest")
        );
    };
    if list.len() > MAX_ADDRESS_PAIRS {
        return Err(ApiError::bad_request(format!(
            "The number of allowed address pair exceeds the maximum {MAX_ADDRESS_PAIRS}."
        ))
        .with_kind("AllowedAddressPairExhausted"));
    }
    let mut out: Vec<AddressPairRequest> = vec![];
    for item in list {
        let Some(d) = item.as_object() else {
            return Err(ApiError::invalid_attr(
                "allowed_address_pairs",
                format!("'{item}' is not a dictionary"),
            ));
        };
        // Upstream's validator raises these with the bare reason, not "Invalid input for …".
        let http = |m: String| ApiError::bad_request(m);
        let mac_address = match d.get("mac_address") {
            None => None,
            Some(m) => Some(
                convert::to_mac("mac_address", m)
                    .map_err(|_| http(format!("'{}' is not a valid MAC address", show(m))))?,
            ),
        };
        let Some(ip) = d.get("ip_address") else {
            return Err(ApiError::bad_request("AllowedAddressPair must contain ip_address")
                .with_kind("AllowedAddressPairsMissingIP"));
        };
        let ip_str = ip.as_str().unwrap_or_default();
        let pair = AddressPairRequest { ip_address: ip_str.to_string(), mac_address };
        if out.contains(&pair) {
            return Err(ApiError::bad_request(format!(
                "Request contains duplicate address pair: mac_address {} ip_address {}.",
                pair.mac_address.as_deref().unwrap_or("None"),
                pair.ip_address
            ))
            .with_kind("DuplicateAddressPairInRequest"));
        }
        let mut unknown: Vec<&str> =
            d.keys().map(String::as_str).filter(|k| !["mac_address", "ip_address"].contains(k)).collect();
        if !unknown.is_empty() {
            unknown.sort();
            return Err(http(format!("Unrecognized attribute(s) '{}'", unknown.join(", "))));
        }
        if ip_str.contains('/') {
            match ip_str.parse::<IpNet>() {
                Ok(net) if net.trunc() == net => {}
                Ok(net) => {
                    return Err(http(format!(
                        "'{ip_str}' isn't a recognized IP subnet cidr, '{}' is recommended",
                        net.trunc()
                    )));
                }
                Err(_) => return Err(http(format!("'{ip_str}' is not a valid IP subnet"))),
            }
        } else if ip_str.parse::<IpAddr>().is_err() {
            return Err(http(format!("'{}' is not a valid IP address", show(ip))));
        }
        out.push(pair);
    }
    Ok(out)
}

/// 409 `AddressPairAndPortSecurityRequired`: address pairs on a port without port security.
pub fn pairs_need_port_security() -> ApiError {
    ApiError::conflict(
        "AddressPairAndPortSecurityRequired",
        "Port Security must be enabled in order to have allowed address pairs on a port.",
    )
}

/// 400 `PortSecurityAndIPRequiredForSecurityGroups`: groups on a port without port security.
pub fn groups_need_port_security() -> ApiError {
    ApiError::bad_request(
        "Port security must be enabled and port must have an IP address in order to use security groups.",
    )
    .with_kind("PortSecurityAndIPRequiredForSecurityGroups")
}

/// 409 `PortSecurityPortHasSecurityGroup`: turning port security off while groups remain.
pub fn port_has_groups() -> ApiError {
    ApiError::conflict(
        "PortSecurityPortHasSecurityGroup",
        "Port has security group associated. Cannot disable port security or IP address until security group is removed",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(v: Value) -> String {
        parse_address_pairs(&v).unwrap_err().kind
    }

    #[test]
    fn address_pairs_are_validated_as_upstream() {
        let ok = parse_address_pairs(&json!([{"ip_address": "10.0.0.0/24"}, {"ip_address": "10.0.0.9", "mac_address": "FA:16:3E:00:00:01"}])).unwrap();
        assert_eq!(ok[1].mac_address.as_deref(), Some("fa:16:3e:00:00:01"));
        assert_eq!(ok[0].resolve("fa:16:3e:aa:bb:cc").mac_address, "fa:16:3e:aa:bb:cc");
        assert!(parse_address_pairs(&Value::Null).unwrap().is_empty());
        assert_eq!(kind(json!("x")), "HTTPBadRequest");
        assert_eq!(kind(json!([{"mac_address": "fa:16:3e:00:00:01"}])), "AllowedAddressPairsMissingIP");
        assert_eq!(kind(json!([{"ip_address": "10.0.0.5/24"}])), "HTTPBadRequest");
        assert_eq!(kind(json!([{"ip_address": "10.0.0.300"}])), "HTTPBadRequest");
        assert_eq!(kind(json!([{"ip_address": "10.0.0.5", "foo": 1}])), "HTTPBadRequest");
        assert_eq!(
            kind(json!([{"ip_address": "10.0.0.5"}, {"ip_address": "10.0.0.5"}])),
            "DuplicateAddressPairInRequest"
        );
        let many: Vec<Value> = (0..11).map(|i| json!({"ip_address": format!("10.0.0.{i}")})).collect();
        assert_eq!(kind(Value::Array(many)), "AllowedAddressPairExhausted");
        assert_eq!(kind(json!([5])), "HTTPBadRequest");
        let e = parse_address_pairs(&json!([{"ip_address": "10.0.0.5/24"}])).unwrap_err();
        assert_eq!(
            e.message,
            "'10.0.0.5/24' isn't a recognized IP subnet cidr, '10.0.0.0/24' is recommended"
        );
    }

    #[test]
    fn security_groups_are_distinct_uuids() {
        let id = "6b1d8e6e-0f55-4e3a-9d1b-2b0c7c0c1d2e";
        assert_eq!(parse_security_groups(&json!([id])).unwrap(), vec![id.to_string()]);
        assert!(parse_security_groups(&Value::Null).unwrap().is_empty());
        assert!(parse_security_groups(&json!([id, id])).is_err());
        assert!(parse_security_groups(&json!(["default"])).is_err());
        assert!(parse_security_groups(&json!(id)).is_err());
    }
}
