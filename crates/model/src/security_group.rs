//! Security groups and their rules (`/v2.0/security-groups`, `/v2.0/security-group-rules`;
//! neutron-lib `api/definitions/security_groups.py`, neutron `extensions/securitygroup.py` and
//! `db/securitygroups_db.py`): response shapes, the validated create/update requests, protocol
//! normalisation and the checks of a rule that need no store, with upstream's exception names.

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use crate::attrs::{self, Op};
use crate::common::Standard;
use crate::convert::{self, NAME_MAX_LEN};
use crate::error::ApiError;
use crate::network::{name_desc, project_of};

/// The name and description of every project's default group.
pub const DEFAULT_NAME: &str = "default";
pub const DEFAULT_DESCRIPTION: &str = "Default security group";

pub const ETHERTYPES: &[&str] = &["IPv4", "IPv6"];
pub const DIRECTIONS: &[&str] = &["ingress", "egress"];

/// Protocol names a rule accepts (neutron-lib `IP_PROTOCOL_MAP` and the legacy `icmpv6`), with
/// their numbers.
pub const PROTOCOLS: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

/// Protocols with ports: TCP, UDP, DCCP, SCTP, UDP-Lite.
const PORT_PROTOCOLS: &[u8] = &[6, 17, 33, 132, 136];
/// Upstream's `valid_port_protocols` wording.
const PORT_PROTOCOL_NAMES: &str = "DCCP, SCTP, TCP, UDP, UDPLITE";
/// Protocols only IPv6 rules may have.
const IPV6_ONLY: &[u8] = &[41, 43, 44, 58, 59, 60];

/// A security group as stored and returned, with its rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityGroup {
    pub std: Standard,
    pub stateful: bool,
    pub rules: Vec<SecurityGroupRule>,
}

impl SecurityGroup {
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        self.std.write(&mut m);
        m.insert("stateful".into(), json!(self.stateful));
        let rules: Vec<Value> = self.rules.iter().map(|r| Value::Object(r.to_json())).collect();
        m.insert("security_group_rules".into(), Value::Array(rules));
        m
    }
}

/// A rule as stored and returned. Rules have the standard attributes but no name and no tags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityGroupRule {
    pub id: String,
    pub project_id: String,
    pub security_group_id: String,
    pub direction: String,
    pub ethertype: String,
    /// The protocol as normalised (a lower-case name or a number as text); `None` is any.
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    /// The prefix as given, with its length (`10.0.0.5` → `10.0.0.5/32`).
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: i64,
}

impl SecurityGroupRule {
    /// The prefix without host bits (`security-groups-normalized-cidr`).
    pub fn normalized_cidr(&self) -> Option<String> {
        self.remote_ip_prefix.as_deref().and_then(|p| p.parse::<IpNet>().ok()).map(|n| n.trunc().to_string())
    }

    /// The protocol's IP protocol number (`None`: any protocol).
    pub fn protocol_number(&self) -> Option<u8> {
        self.protocol.as_deref().and_then(|p| u8::try_from(protocol_number(p)).ok())
    }

    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("project_id".into(), json!(self.project_id));
        m.insert("tenant_id".into(), json!(self.project_id));
        m.insert("security_group_id".into(), json!(self.security_group_id));
        m.insert("direction".into(), json!(self.direction));
        m.insert("ethertype".into(), json!(self.ethertype));
        m.insert("protocol".into(), json!(self.protocol));
        m.insert("port_range_min".into(), json!(self.port_range_min));
        m.insert("port_range_max".into(), json!(self.port_range_max));
        m.insert("remote_ip_prefix".into(), json!(self.remote_ip_prefix));
        m.insert("normalized_cidr".into(), json!(self.normalized_cidr()));
        m.insert("remote_group_id".into(), json!(self.remote_group_id));
        m.insert("description".into(), json!(self.description));
        m.insert("created_at".into(), json!(self.created_at));
        m.insert("updated_at".into(), json!(self.updated_at));
        m.insert("revision_number".into(), json!(self.revision_number));
        m
    }

    /// What makes two rules of a group the same rule (upstream `_rule_to_key`): an any-address
    /// prefix is no prefix, protocols compare by number, prefixes without their host bits.
    pub fn key(&self) -> String {
        let prefix = self.normalized_cidr().filter(|p| p != "0.0.0.0/0" && p != "::/0");
        let proto = self.protocol.as_deref().map(protocol_number);
        format!(
            "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{}",
            self.direction,
            self.ethertype,
            self.port_range_max,
            self.port_range_min,
            proto,
            self.remote_group_id,
            prefix,
            self.security_group_id
        )
    }
}

/// The number of a normalised protocol (a name of [`PROTOCOLS`] or a number).
fn protocol_number(p: &str) -> i64 {
    PROTOCOLS
        .iter()
        .find(|(n, _)| *n == p)
        .map_or_else(|| p.parse().unwrap_or(-1), |(_, num)| i64::from(*num))
}

fn sg_error(status: u16, kind: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, kind, message)
}

/// 404 `SecurityGroupNotFound`.
pub fn group_not_found(id: &str) -> ApiError {
    sg_error(404, "SecurityGroupNotFound", format!("Security group {id} does not exist"))
}

/// 404 `SecurityGroupRuleNotFound`.
pub fn rule_not_found(id: &str) -> ApiError {
    sg_error(404, "SecurityGroupRuleNotFound", format!("Security group rule {id} does not exist"))
}

/// 409 `SecurityGroupRuleExists`, naming the rule already there.
pub fn rule_exists(id: &str) -> ApiError {
    sg_error(409, "SecurityGroupRuleExists", format!("Security group rule already exists. Rule id is {id}."))
}

/// 409 `DuplicateSecurityGroupRuleInPost`.
pub fn duplicate_in_post() -> ApiError {
    sg_error(409, "DuplicateSecurityGroupRuleInPost", "Duplicate Security Group Rule in POST.")
}

/// 409 `SecurityGroupCannotRemoveDefault`.
pub fn cannot_remove_default() -> ApiError {
    sg_error(
        409,
        "SecurityGroupCannotRemoveDefault",
        "Insufficient rights for removing default security group.",
    )
}

/// 409 `SecurityGroupCannotUpdateDefault`.
pub fn cannot_update_default() -> ApiError {
    sg_error(409, "SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
}

/// 409 `SecurityGroupInUse`.
pub fn in_use(id: &str) -> ApiError {
    sg_error(409, "SecurityGroupInUse", format!("Security Group {id} in use."))
}

/// The changes a group create or update asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityGroupChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub stateful: Option<bool>,
}

impl SecurityGroupChanges {
    /// Validates a `{"security_group": {...}}` inner object. The name `default` is taken
    /// (409 `SecurityGroupDefaultAlreadyExists`, upstream's `type:name_not_default`).
    pub fn parse(body: &Map<String, Value>, op: Op) -> Result<Self, ApiError> {
        attrs::check_body(&attrs::SECURITY_GROUP, body, op)?;
        let (name, description) = name_desc(body)?;
        if name.as_deref() == Some(DEFAULT_NAME) {
            return Err(sg_error(
                409,
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
        let stateful = body.get("stateful").map(|v| convert::to_bool("stateful", v)).transpose()?;
        Ok(Self { name, description, project_id: project_of(body)?, stateful })
    }
}

/// A rule create request, validated and normalised; the store checks (group, remote group,
/// duplicates) are the service's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleRequest {
    pub project_id: Option<String>,
    pub rule: SecurityGroupRule,
}

fn opt<'a>(body: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    body.get(k).filter(|v| !v.is_null())
}

/// `convert_protocol` and the IPv6 ICMP canonicalisation: `None`/`any` is any protocol, names
/// are lower-cased, numbers (0 to 255, also as text) are kept as text; on IPv6 the legacy
/// ICMP names and number 1 become `ipv6-icmp` and 58.
pub fn normalize_protocol(v: Option<&Value>, ethertype: &str) -> Result<Option<String>, ApiError> {
    let bad = |p: &str| {
        let names: Vec<&str> = PROTOCOLS.iter().map(|(n, _)| *n).collect();
        sg_error(
            400,
            "SecurityGroupRuleInvalidProtocol",
            format!(
                "Security group rule protocol {p} not supported. Only protocol values [None, '{}'] and integer representations [0 to 255] are supported.",
                names.join("', '")
            ),
        )
    };
    let p = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) if (0..=255).contains(&i) => i.to_string(),
            _ => return Err(bad(&n.to_string())),
        },
        Some(Value::String(s)) => {
            let lower = s.trim().to_ascii_lowercase();
            if lower == "any" {
                return Ok(None);
            }
            match lower.parse::<i64>() {
                Ok(i) if (0..=255).contains(&i) => i.to_string(),
                Ok(_) => return Err(bad(s)),
                Err(_) if PROTOCOLS.iter().any(|(n, _)| *n == lower) => lower,
                Err(_) => return Err(bad(s)),
            }
        }
        Some(other) => return Err(bad(&other.to_string())),
    };
    if ethertype == "IPv6" {
        if matches!(p.as_str(), "icmp" | "icmpv6") {
            return Ok(Some("ipv6-icmp".into()));
        }
        if p == "1" {
            return Ok(Some("58".into()));
        }
    }
    Ok(Some(p))
}

/// A port (or ICMP type/code) value: an integer 0 to 65535 (`convert_validate_port_value`).
fn port_value(v: Option<&Value>) -> Result<Option<i64>, ApiError> {
    let bad = |v: &Value| {
        let shown = v.as_str().map_or_else(|| v.to_string(), String::from);
        sg_error(400, "SecurityGroupInvalidPortValue", format!("Invalid value for port {shown}"))
    };
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(None) };
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| bad(v))?;
    if (0..=65535).contains(&n) { Ok(Some(n)) } else { Err(bad(v)) }
}

/// `_validate_port_range`: ports need a protocol; port protocols need `1 <= min <= max`;
/// ICMP takes a type (min) and code (max) of 0 to 255, and no code without a type; other
/// protocols take no ports.
fn check_ports(protocol: Option<&str>, min: Option<i64>, max: Option<i64>) -> Result<(), ApiError> {
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    let Some(proto) = protocol else {
        return Err(sg_error(
            400,
            "SecurityGroupProtocolRequiredWithPorts",
            "Must also specify protocol if port range is given.",
        ));
    };
    let number = protocol_number(proto);
    if PORT_PROTOCOLS.iter().any(|p| i64::from(*p) == number) {
        if min == Some(0) || max == Some(0) {
            return Err(sg_error(400, "SecurityGroupInvalidPortValue", "Invalid value for port 0"));
        }
        match (min, max) {
            (Some(a), Some(b)) if a <= b => Ok(()),
            _ => Err(sg_error(
                400,
                "SecurityGroupInvalidPortRange",
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
            )),
        }
    } else if number == 1 || number == 58 {
        for (value, attr, field) in [(min, "port_range_min", "type"), (max, "port_range_max", "code")] {
            if let Some(v) = value.filter(|v| !(0..=255).contains(v)) {
                return Err(sg_error(
                    400,
                    "SecurityGroupInvalidIcmpValue",
                    format!("Invalid value for ICMP {field} ({attr}) {v}. It must be 0 to 255."),
                ));
            }
        }
        if let (None, Some(code)) = (min, max) {
            return Err(sg_error(
                400,
                "SecurityGroupMissingIcmpType",
                format!(
                    "ICMP code (port-range-max) {code} is provided but ICMP type (port-range-min) is missing."
                ),
            ));
        }
        Ok(())
    } else {
        Err(sg_error(
            400,
            "SecurityGroupInvalidProtocolForPort",
            format!(
                "Invalid protocol {number} for port range, only supported for {PORT_PROTOCOL_NAMES} protocols."
            ),
        ))
    }
}

impl RuleRequest {
    /// Validates a `{"security_group_rule": {...}}` inner object in upstream's order:
    /// attribute conversions, then ports, prefix, ethertype against protocol, and prefix
    /// against remote group.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        attrs::check_body(&attrs::SECURITY_GROUP_RULE, body, Op::Create)?;
        let null = Value::Null;
        let get = |k: &str| body.get(k).unwrap_or(&null);
        let security_group_id = convert::to_uuid("security_group_id", get("security_group_id"))?;
        let direction = convert::to_string("direction", get("direction"), 16)
            .ok()
            .filter(|d| DIRECTIONS.contains(&d.as_str()))
            .ok_or_else(|| {
                let v = get("direction");
                let shown = v.as_str().map_or_else(|| v.to_string(), String::from);
                ApiError::invalid_attr("direction", format!("'{shown}' is not in ['ingress', 'egress']"))
            })?;
        let ethertype = match opt(body, "ethertype") {
            None => "IPv4".to_string(),
            Some(v) => {
                let given = v.as_str().unwrap_or_default();
                ETHERTYPES.iter().find(|e| e.eq_ignore_ascii_case(given)).map(|e| e.to_string()).ok_or_else(
                    || {
                        let shown = v.as_str().map_or_else(|| v.to_string(), String::from);
                        sg_error(
                            400,
                            "SecurityGroupRuleInvalidEtherType",
                            format!(
                                "Security group rule for ethertype '{shown}' not supported. Allowed values are ['IPv4', 'IPv6']."
                            ),
                        )
                    },
                )?
            }
        };
        let protocol = normalize_protocol(body.get("protocol"), &ethertype)?;
        let port_range_min = port_value(body.get("port_range_min"))?;
        let port_range_max = port_value(body.get("port_range_max"))?;
        let remote_ip_prefix = match opt(body, "remote_ip_prefix") {
            None => None,
            Some(v) => Some(convert::to_cidr("remote_ip_prefix", v, false).map_err(|_| {
                let shown = v.as_str().map_or_else(|| v.to_string(), String::from);
                sg_error(400, "InvalidCIDR", format!("Invalid CIDR {shown} given as IP prefix."))
            })?),
        };
        // Upstream does not validate the id's form: an id that names no group is a 404 later.
        let remote_group_id = opt(body, "remote_group_id")
            .map(|v| convert::to_string("remote_group_id", v, NAME_MAX_LEN))
            .transpose()?;
        let description = opt(body, "description")
            .map(|v| convert::to_string("description", v, NAME_MAX_LEN))
            .transpose()?
            .unwrap_or_default();
        check_ports(protocol.as_deref(), port_range_min, port_range_max)?;
        if let Some(net) = &remote_ip_prefix {
            let version = if net.addr().is_ipv4() { "IPv4" } else { "IPv6" };
            if version != ethertype {
                return Err(sg_error(
                    400,
                    "SecurityGroupRuleParameterConflict",
                    format!("Conflicting value ethertype {ethertype} for CIDR {net}"),
                ));
            }
        }
        if ethertype == "IPv4"
            && let Some(p) = protocol.as_deref()
            && IPV6_ONLY.iter().any(|n| i64::from(*n) == protocol_number(p))
        {
            return Err(sg_error(
                400,
                "SecurityGroupEthertypeConflictWithProtocol",
                format!("Invalid ethertype {ethertype} for protocol {p}."),
            ));
        }
        if remote_ip_prefix.is_some() && remote_group_id.is_some() {
            return Err(sg_error(
                400,
                "SecurityGroupRemoteGroupAndRemoteIpPrefix",
                "Only remote_ip_prefix or remote_group_id may be provided.",
            ));
        }
        Ok(Self {
            project_id: project_of(body)?,
            rule: SecurityGroupRule {
                security_group_id,
                direction,
                ethertype,
                protocol,
                port_range_min,
                port_range_max,
                remote_ip_prefix: remote_ip_prefix.map(|n| n.to_string()),
                remote_group_id,
                description,
                ..Default::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: Value) -> Result<RuleRequest, ApiError> {
        RuleRequest::parse(v.as_object().unwrap())
    }

    const SG: &str = "a87cc70a-3e15-4acf-8205-9b711a3531b7";

    #[test]
    fn protocols_are_normalised() {
        let p = |v: Value, e: &str| normalize_protocol(Some(&v), e).unwrap();
        assert_eq!(p(json!("TCP"), "IPv4").as_deref(), Some("tcp"));
        assert_eq!(p(json!(6), "IPv4").as_deref(), Some("6"));
        assert_eq!(p(json!("17"), "IPv4").as_deref(), Some("17"));
        assert_eq!(p(json!("any"), "IPv4"), None);
        assert_eq!(p(json!("icmp"), "IPv6").as_deref(), Some("ipv6-icmp"));
        assert_eq!(p(json!("icmpv6"), "IPv6").as_deref(), Some("ipv6-icmp"));
        assert_eq!(p(json!(1), "IPv6").as_deref(), Some("58"));
        assert_eq!(
            normalize_protocol(Some(&json!(256)), "IPv4").unwrap_err().kind,
            "SecurityGroupRuleInvalidProtocol"
        );
        assert_eq!(normalize_protocol(Some(&json!("foo")), "IPv4").unwrap_err().status, 400);
    }

    #[test]
    fn rules_are_checked_like_upstream() {
        let kind = |v: Value| rule(v).unwrap_err().kind;
        let base = |extra: Value| {
            let mut m = json!({"security_group_id": SG, "direction": "ingress"});
            m.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            m
        };
        assert_eq!(
            kind(base(json!({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80}))),
            "SecurityGroupInvalidPortRange"
        );
        assert_eq!(
            kind(base(json!({"protocol": "gre", "port_range_min": 1}))),
            "SecurityGroupInvalidProtocolForPort"
        );
        assert_eq!(kind(base(json!({"port_range_min": 1}))), "SecurityGroupProtocolRequiredWithPorts");
        assert_eq!(
            kind(base(json!({"protocol": "icmp", "port_range_min": 256}))),
            "SecurityGroupInvalidIcmpValue"
        );
        assert_eq!(
            kind(base(json!({"protocol": "icmp", "port_range_max": 3}))),
            "SecurityGroupMissingIcmpType"
        );
        assert_eq!(
            kind(base(json!({"remote_ip_prefix": "fd00::/64"}))),
            "SecurityGroupRuleParameterConflict"
        );
        assert_eq!(
            kind(base(json!({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": SG}))),
            "SecurityGroupRemoteGroupAndRemoteIpPrefix"
        );
        assert_eq!(
            kind(base(json!({"protocol": "ipv6-icmp"}))),
            "SecurityGroupEthertypeConflictWithProtocol"
        );
        assert_eq!(
            kind(base(json!({"port_range_min": 70000, "protocol": "tcp"}))),
            "SecurityGroupInvalidPortValue"
        );
        let r = rule(base(json!({"ethertype": "ipv4", "remote_ip_prefix": "10.1.2.3"}))).unwrap().rule;
        assert_eq!(r.ethertype, "IPv4");
        assert_eq!(r.remote_ip_prefix.as_deref(), Some("10.1.2.3/32"));
        let r = rule(base(json!({"remote_ip_prefix": "10.1.2.3/8"}))).unwrap().rule;
        assert_eq!(r.normalized_cidr().as_deref(), Some("10.0.0.0/8"));
    }

    #[test]
    fn keys_ignore_any_address_and_protocol_spelling() {
        let mut a = SecurityGroupRule { protocol: Some("tcp".into()), ..Default::default() };
        let mut b = SecurityGroupRule { protocol: Some("6".into()), ..Default::default() };
        assert_eq!(a.key(), b.key());
        a.remote_ip_prefix = Some("0.0.0.0/0".into());
        assert_eq!(a.key(), b.key());
        b.remote_ip_prefix = Some("10.0.0.0/8".into());
        assert_ne!(a.key(), b.key());
    }
}
