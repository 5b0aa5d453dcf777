//! Converters and validators for attribute values, with the messages of neutron-lib
//! (`api/validators`, `api/converters`): booleans, strings, UUIDs, IPs, CIDRs and MACs.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Maximum length of names, descriptions and other free strings.
pub const NAME_MAX_LEN: usize = 255;

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Converts like `convert_to_boolean`: JSON booleans, `true/false` in any case, `0/1`.
pub fn to_bool(attr: &str, v: &Value) -> Result<bool, ApiError> {
    let parsed = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => parse_bool_str(s),
        _ => None,
    };
    parsed
        .ok_or_else(|| ApiError::invalid_attr(attr, format!("'{}' cannot be converted to boolean", show(v))))
}

/// Parses a boolean as written in a query string or a body string.
pub fn parse_bool_str(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// A string of at most `max` characters.
pub fn to_string(attr: &str, v: &Value, max: usize) -> Result<String, ApiError> {
    let s = v
        .as_str()
        .ok_or_else(|| ApiError::invalid_attr(attr, format!("'{}' is not a valid string", show(v))))?;
    if s.chars().count() > max {
        return Err(ApiError::invalid_attr(attr, format!("'{s}' exceeds maximum length of {max}")));
    }
    Ok(s.to_string())
}

/// A string or null (`null` → `None`).
pub fn to_opt_string(attr: &str, v: &Value, max: usize) -> Result<Option<String>, ApiError> {
    if v.is_null() { Ok(None) } else { to_string(attr, v, max).map(Some) }
}

/// A UUID, returned in its canonical lower-case hyphenated form.
pub fn to_uuid(attr: &str, v: &Value) -> Result<String, ApiError> {
    v.as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(|u| u.hyphenated().to_string())
        .ok_or_else(|| ApiError::invalid_attr(attr, format!("'{}' is not a valid UUID", show(v))))
}

/// An integer.
pub fn to_int(attr: &str, v: &Value) -> Result<i64, ApiError> {
    let parsed = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| ApiError::invalid_attr(attr, format!("'{}' is not an integer", show(v))))
}

/// An IP address in its canonical text form.
pub fn to_ip(attr: &str, v: &Value) -> Result<IpAddr, ApiError> {
    v.as_str()
        .and_then(|s| s.parse::<IpAddr>().ok())
        .ok_or_else(|| ApiError::invalid_attr(attr, format!("'{}' is not a valid IP address", show(v))))
}

/// A CIDR. With `strict`, host bits must be zero (`'10.0.0.5/24' isn't a recognized IP subnet
/// cidr, '10.0.0.0/24' is recommended`), as subnet CIDRs must be.
pub fn to_cidr(attr: &str, v: &Value, strict: bool) -> Result<IpNet, ApiError> {
    let s = v
        .as_str()
        .ok_or_else(|| ApiError::invalid_attr(attr, format!("'{}' is not a valid IP subnet", show(v))))?;
    let net: IpNet = match s.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => match s.parse::<IpAddr>() {
            // A bare address is a host route: /32 or /128.
            Ok(ip) if !strict => IpNet::from(ip),
            _ => return Err(ApiError::invalid_attr(attr, format!("'{s}' is not a valid IP subnet"))),
        },
    };
    if strict && net.trunc() != net {
        return Err(ApiError::invalid_attr(
            attr,
            format!("'{s}' isn't a recognized IP subnet cidr, '{}' is recommended", net.trunc()),
        ));
    }
    Ok(net)
}

/// A MAC address, normalised to lower case with colons.
pub fn to_mac(attr: &str, v: &Value) -> Result<String, ApiError> {
    let bad = || ApiError::invalid_attr(attr, format!("'{}' is not a valid MAC address", show(v)));
    let s = v.as_str().ok_or_else(bad)?;
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2 || u8::from_str_radix(p, 16).is_err()) {
        return Err(bad());
    }
    let bytes: Vec<u8> = parts.iter().map(|p| u8::from_str_radix(p, 16).unwrap_or(0)).collect();
    // Neither the all-zero address nor a multicast/broadcast address may name a port.
    if bytes.iter().all(|b| *b == 0) || bytes[0] & 1 == 1 {
        return Err(bad());
    }
    Ok(parts.join(":").to_ascii_lowercase())
}

/// A list (JSON array).
pub fn to_list<'a>(attr: &str, v: &'a Value) -> Result<&'a Vec<Value>, ApiError> {
    v.as_array().ok_or_else(|| ApiError::invalid_attr(attr, format!("'{}' is not a list", show(v))))
}

/// A dictionary whose keys are all in `allowed`; `required` keys must be present.
pub fn to_dict<'a>(
    attr: &str,
    v: &'a Value,
    allowed: &[&str],
    required: &[&str],
) -> Result<&'a Map<String, Value>, ApiError> {
    let m = v
        .as_object()
        .ok_or_else(|| ApiError::invalid_attr(attr, format!("'{}' is not a dictionary", show(v))))?;
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::invalid_attr(attr, format!("Unexpected keys supplied: {k}")));
    }
    if let Some(k) = required.iter().find(|k| !m.contains_key(**k)) {
        return Err(ApiError::invalid_attr(
            attr,
            format!("Validation of dictionary's keys failed. Expected keys: {{'{k}'}}"),
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn booleans_convert_like_upstream() {
        assert!(to_bool("x", &json!("True")).unwrap());
        assert!(!to_bool("x", &json!(0)).unwrap());
        let e = to_bool("admin_state_up", &json!("abc")).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid input for admin_state_up. Reason: 'abc' cannot be converted to boolean."
        );
    }

    #[test]
    fn strings_are_length_checked() {
        assert!(to_string("name", &json!("a".repeat(256)), 255).is_err());
        assert!(to_string("name", &json!(5), 255).is_err());
    }

    #[test]
    fn cidr_with_host_bits_is_refused_when_strict() {
        let e = to_cidr("cidr", &json!("10.0.0.5/24"), true).unwrap_err();
        assert!(e.message.contains("'10.0.0.0/24' is recommended"), "{}", e.message);
        assert!(to_cidr("cidr", &json!("10.0.0.0/33"), true).is_err());
        assert_eq!(to_cidr("d", &json!("10.0.0.5"), false).unwrap().to_string(), "10.0.0.5/32");
    }

    #[test]
    fn macs_are_normalised_and_checked() {
        assert_eq!(to_mac("m", &json!("FA:16:3E:00:00:01")).unwrap(), "fa:16:3e:00:00:01");
        assert!(to_mac("m", &json!("ff:ff:ff:ff:ff:ff")).is_err());
        assert!(to_mac("m", &json!("00:00:00:00:00:00")).is_err());
        assert!(to_mac("m", &json!("fa:16:3e:00:00")).is_err());
    }

    #[test]
    fn uuids_are_canonical() {
        let u = "6B1D8E6E-0F55-4E3A-9D1B-2B0C7C0C1D2E";
        assert_eq!(to_uuid("id", &json!(u)).unwrap(), u.to_ascii_lowercase());
        assert!(to_uuid("id", &json!("nope")).is_err());
    }
}
