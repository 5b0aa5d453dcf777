//! OpenAPI schemas of the networking resources, derived from the attribute maps of
//! `neutrino_model::attrs` (settable on POST/PUT, required, admin-only) and each attribute's wire
//! type (neutron-lib `api/definitions/{network,subnet,port,l3,agent}.py`); the `NeutronError` body.

use neutrino_model::attrs::{
    Attr, FLOATINGIP, NETWORK, PORT, ROUTER, SECURITY_GROUP, SECURITY_GROUP_RULE, SUBNET,
};
use neutrino_model::convert::NAME_MAX_LEN;
use neutrino_model::network::NETWORK_TYPES;
use neutrino_model::port::VNIC_TYPES;
use neutrino_model::port_security::MAX_ADDRESS_PAIRS;
use neutrino_model::subnet::{MAX_DNS_NAMESERVERS, MAX_HOST_ROUTES};
use serde_json::{Map, Value, json};

use crate::service::tags::{MAX_TAG_LEN, MAX_TAGS};

/// A resource collection under `/v2.0/{plural}`.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    pub singular: &'static str,
    pub plural: &'static str,
    /// The schema name (`Network`).
    pub title: &'static str,
    pub attrs: &'static [Attr],
    /// The collection's name in URLs (`security-groups`).
    pub path: &'static str,
    /// Whether members can be updated (`PUT`) and tagged.
    pub updatable: bool,
}

const fn res(
    singular: &'static str,
    plural: &'static str,
    title: &'static str,
    attrs: &'static [Attr],
) -> Resource {
    Resource { singular, plural, title, attrs, path: plural, updatable: true }
}

pub const RESOURCES: [Resource; 7] = [
    res("network", "networks", "Network", &NETWORK),
    res("subnet", "subnets", "Subnet", &SUBNET),
    res("port", "ports", "Port", &PORT),
    Resource {
        path: "security-groups",
        ..res("security_group", "security_groups", "SecurityGroup", &SECURITY_GROUP)
    },
    Resource {
        path: "security-group-rules",
        updatable: false,
        ..res("security_group_rule", "security_group_rules", "SecurityGroupRule", &SECURITY_GROUP_RULE)
    },
    res("router", "routers", "Router", &ROUTER),
    res("floatingip", "floatingips", "FloatingIp", &FLOATINGIP),
];

/// Attributes accepted on create but never returned (upstream `is_visible: False`).
const WRITE_ONLY: &[(&str, &str)] =
    &[("subnet", "prefixlen"), ("subnet", "use_default_subnetpool"), ("floatingip", "subnet_id")];

/// Attributes returned that are not in the attribute map (computed, never settable).
fn computed(singular: &str) -> Vec<(&'static str, Value)> {
    match singular {
        "network" | "router" => vec![("availability_zones", array(text()))],
        "security_group" => {
            vec![("security_group_rules", array(json!({"$ref": "#/components/schemas/SecurityGroupRule"})))]
        }
        _ => vec![],
    }
}

fn text() -> Value {
    json!({"type": "string", "maxLength": NAME_MAX_LEN})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn integer() -> Value {
    json!({"type": "integer"})
}

fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

fn nullable(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.insert("nullable".into(), Value::Bool(true));
        if let Some(Value::Array(e)) = m.get_mut("enum") {
            e.push(Value::Null);
        }
    }
    v
}

/// An IPv4 or IPv6 address.
fn ip() -> Value {
    json!({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]})
}

/// A CIDR (`10.0.0.0/24`, `fd00::/64`); the server checks the address and the prefix length.
fn cidr() -> Value {
    json!({"type": "string", "pattern": "^[0-9A-Fa-f:.]+/[0-9]{1,3}$", "example": "10.0.0.0/24"})
}

/// A MAC address (`fa:16:3e:12:34:56`).
fn mac() -> Value {
    json!({"type": "string", "example": "fa:16:3e:12:34:56", "pattern": "^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$"})
}

fn one_of_strings(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

/// One tag (`standard-attr-tag`): 1 to 255 characters, no comma.
pub fn tag() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": MAX_TAG_LEN, "pattern": "^[^,]+$"})
}

/// `{"tags": [...]}` as `PUT`/`POST .../tags` take and return it.
pub fn tags_body() -> Value {
    json!({"type": "object", "required": ["tags"], "additionalProperties": false,
        "properties": {"tags": {"type": "array", "maxItems": MAX_TAGS, "items": tag()}}})
}

/// The wire type of attribute `name` of `singular`, in requests and responses alike; `None` for
/// an attribute this module does not know (a unit test keeps that from happening).
pub fn attr_type(singular: &str, name: &str) -> Option<Value> {
    let common = match name {
        "id" => uuid(),
        "name" | "description" | "project_id" | "tenant_id" => text(),
        "created_at" | "updated_at" => json!({"type": "string", "format": "date-time"}),
        "revision_number" => integer(),
        "tags" => array(tag()),
        "admin_state_up" | "port_security_enabled" => boolean(),
        "status" => string(),
        _ => Value::Null,
    };
    if !common.is_null() {
        return Some(common);
    }
    Some(match (singular, name) {
        ("network", "subnets") => array(uuid()),
        ("network", "shared") | ("network", "router:external") => boolean(),
        ("network", "mtu") => integer(),
        ("network", "provider:network_type") => nullable(one_of_strings(NETWORK_TYPES)),
        ("network", "provider:physical_network") => nullable(json!({"type": "string", "maxLength": 64})),
        ("network", "provider:segmentation_id") => nullable(integer()),
        ("network", "availability_zone_hints") => array(text()),
        ("subnet" | "port", "network_id") => uuid(),
        ("subnet", "ip_version") => json!({"type": "integer", "enum": [4, 6]}),
        ("subnet", "cidr") => cidr(),
        ("subnet", "gateway_ip") => nullable(ip()),
        ("subnet", "allocation_pools") => array(pair(&[("start", ip()), ("end", ip())], &["start", "end"])),
        ("subnet", "dns_nameservers") => json!({"type": "array", "maxItems": MAX_DNS_NAMESERVERS,
            "uniqueItems": true, "items": ip()}),
        ("subnet", "host_routes") => json!({"type": "array", "maxItems": MAX_HOST_ROUTES,
            "items": pair(&[("destination", cidr()), ("nexthop", ip())], &["destination", "nexthop"])}),
        ("subnet", "enable_dhcp") | ("subnet", "router:external") => boolean(),
        ("subnet", "ipv6_ra_mode" | "ipv6_address_mode") => {
            nullable(one_of_strings(&["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]))
        }
        ("subnet", "subnetpool_id") => nullable(uuid()),
        ("subnet", "prefixlen") => integer(),
        ("subnet", "use_default_subnetpool") => boolean(),
        ("port", "mac_address") => mac(),
        ("port", "fixed_ips") => array(pair(&[("subnet_id", uuid()), ("ip_address", ip())], &[])),
        ("port", "device_id" | "device_owner") => text(),
        ("port", "binding:host_id") => nullable(text()),
        ("port", "binding:profile") => nullable(json!({"type": "object", "additionalProperties": true})),
        ("port", "binding:vif_type") => string(),
        ("port", "binding:vif_details") => json!({"type": "object", "additionalProperties": true}),
        ("port", "binding:vnic_type") => one_of_strings(VNIC_TYPES),
        ("port", "ip_allocation") => string(),
        ("port", "security_groups") => json!({"type": "array", "uniqueItems": true, "items": uuid()}),
        ("port", "allowed_address_pairs") => json!({"type": "array", "maxItems": MAX_ADDRESS_PAIRS,
            "items": pair(&[("ip_address", json!({"type": "string", "example": "10.0.0.0/24",
                "description": "An IP address, or a CIDR without host bits."})), ("mac_address", mac())],
                &["ip_address"])}),
        ("port", "extra_dhcp_opts") => nullable(json!({"type": "array", "items": {"type": "object",
            "required": ["opt_name", "opt_value"], "additionalProperties": false,
            "properties": {"opt_name": {"type": "string", "minLength": 1, "maxLength": 64},
                "opt_value": {"type": "string", "maxLength": 255, "nullable": true,
                    "description": "null (on update) removes the option; blank only for `router` and `classless-static-route`."},
                "ip_version": {"type": "integer", "enum": [4, 6], "default": 4}}}})),
        ("security_group", "stateful") => boolean(),
        ("router", "external_gateway_info") => {
            nullable(json!({"type": "object", "additionalProperties": false,
            "description": "`{}` or null clears the gateway; `network_id` names a `router:external` network.",
            "properties": {"network_id": uuid(), "enable_snat": boolean(),
                "external_fixed_ips": array(pair(&[("subnet_id", uuid()), ("ip_address", ip())], &[]))}}))
        }
        ("router", "routes") => {
            array(pair(&[("destination", cidr()), ("nexthop", ip())], &["destination", "nexthop"]))
        }
        ("router", "availability_zone_hints") => array(text()),
        ("security_group_rule", "security_group_id") => uuid(),
        ("security_group_rule", "remote_group_id") => nullable(uuid()),
        ("security_group_rule", "direction") => one_of_strings(&["ingress", "egress"]),
        ("security_group_rule", "ethertype") => one_of_strings(&["IPv4", "IPv6"]),
        ("security_group_rule", "protocol") => nullable(json!({"type": "string",
            "description": "A name (`tcp`, `udp`, `icmp`, `ipv6-icmp`, …, `any`) or a number 0 to 255 (also as an integer); returned normalised (lower-case name, number as text, null for any)."})),
        ("security_group_rule", "port_range_min" | "port_range_max") => {
            nullable(json!({"type": "integer", "minimum": 0, "maximum": 65535,
                "description": "A port, or for ICMP the type (min) and code (max), 0 to 255."}))
        }
        ("security_group_rule", "remote_ip_prefix" | "normalized_cidr") => nullable(json!({"type": "string",
            "example": "10.0.0.0/24"})),
        ("floatingip", "floating_network_id" | "subnet_id") => uuid(),
        ("floatingip", "floating_ip_address") => ip(),
        ("floatingip", "port_id" | "router_id") => nullable(uuid()),
        ("floatingip", "fixed_ip_address") => nullable(ip()),
        ("floatingip", "port_details") => nullable(json!({"type": "object", "properties": {
            "name": text(), "network_id": uuid(), "mac_address": mac(), "admin_state_up": boolean(),
            "status": string(), "device_id": text(), "device_owner": text()}})),
        _ => return None,
    })
}

/// One entry of `GET /v2.0/floatingip_pools`.
pub fn floatingip_pool() -> Value {
    json!({"type": "object", "additionalProperties": true, "properties": {
        "subnet_id": uuid(), "subnet_name": text(), "network_id": uuid(), "network_name": text(),
        "cidr": cidr(), "project_id": text(), "tenant_id": text()}})
}

/// An object of the members `keys`, `required` of them mandatory, nothing else.
fn pair(keys: &[(&str, Value)], required: &[&str]) -> Value {
    let props: Map<String, Value> = keys.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let mut v =
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
    if required.is_empty() {
        v["minProperties"] = json!(1);
    }
    v
}

fn described(mut schema: Value, a: &Attr, request: bool) -> Value {
    let mut notes = vec![];
    if a.admin_read {
        notes.push("Only admins see it (stripped from other callers' responses).");
    }
    if a.admin_write && request {
        notes.push("Only admins may set it (403 otherwise).");
    }
    if !request && !a.post && !a.put {
        notes.push("Read-only.");
    }
    if request && a.name.starts_with("provider:") {
        notes.push("An update may only restate the network's segment (400 otherwise).");
    }
    if !notes.is_empty()
        && let Some(m) = schema.as_object_mut()
    {
        m.insert("description".into(), Value::String(notes.join(" ")));
    }
    schema
}

fn typed(r: &Resource, a: &Attr) -> Value {
    attr_type(r.singular, a.name).unwrap_or_else(|| json!({}))
}

/// The resource as returned: every visible attribute typed, none required (`fields=` and
/// admin-only attributes leave some out), and open to attributes added later.
pub fn resource(r: &Resource) -> Value {
    let mut props = Map::new();
    for a in r.attrs.iter().filter(|a| !WRITE_ONLY.contains(&(r.singular, a.name))) {
        props.insert(a.name.into(), described(typed(r, a), a, false));
    }
    for (name, schema) in computed(r.singular) {
        props.insert(name.into(), schema);
    }
    json!({"type": "object", "properties": props, "additionalProperties": true})
}

/// The inner object of a create (`post`) or an update: exactly the attributes the server accepts.
pub fn request(r: &Resource, create: bool) -> Value {
    let mut props = Map::new();
    let mut required = vec![];
    for a in r.attrs.iter().filter(|a| if create { a.post } else { a.put }) {
        props.insert(a.name.into(), described(typed(r, a), a, true));
        if create && a.required {
            required.push(a.name);
        }
    }
    let mut s = json!({"type": "object", "properties": props, "additionalProperties": false});
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    s
}

/// `{"network": {...}}` with `inner` (a `$ref`).
pub fn wrapped(key: &str, inner: Value) -> Value {
    json!({"type": "object", "required": [key], "properties": {key: inner}, "additionalProperties": false})
}

/// A create body: one resource or a bulk list (items bare or wrapped, all or nothing).
pub fn create_body(r: &Resource, create_ref: Value) -> Value {
    let item = json!({"anyOf": [create_ref.clone(), wrapped(r.singular, create_ref.clone())]});
    json!({"oneOf": [
        wrapped(r.singular, create_ref),
        wrapped(r.plural, json!({"type": "array", "minItems": 1, "items": item})),
    ]})
}

/// `{"networks": [...], "networks_links": [...]}`.
pub fn list_body(r: &Resource, item_ref: Value) -> Value {
    let links = format!("{}_links", r.plural);
    json!({"type": "object", "required": [r.plural], "properties": {
        r.plural: {"type": "array", "items": item_ref},
        links: {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
    }})
}

/// The agent resource (`/v2.0/agents`).
pub fn agent() -> Value {
    json!({"type": "object", "additionalProperties": true, "properties": {
        "id": uuid(), "agent_type": string(), "binary": string(), "host": string(), "topic": string(),
        "admin_state_up": boolean(), "description": text(), "availability_zone": nullable(string()),
        "configurations": {"type": "object", "additionalProperties": true},
        "heartbeat_timestamp": string(), "started_at": string(), "created_at": string(),
        "alive": boolean(), "resources_synced": nullable(boolean()),
    }})
}

/// What `PUT /v2.0/agents/{id}` may change.
pub fn agent_update() -> Value {
    json!({"type": "object", "additionalProperties": false,
        "properties": {"admin_state_up": boolean(), "description": text()}})
}

/// The shared schemas: links, extensions, discovery documents and the error body.
pub fn common() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "Link".into(),
        json!({"type": "object", "required": ["href", "rel"],
            "properties": {"href": string(), "rel": string()}}),
    );
    m.insert(
        "Extension".into(),
        json!({"type": "object", "required": ["alias", "name", "description", "updated", "links"],
            "properties": {"alias": string(), "name": string(), "description": string(),
                "updated": string(), "links": array(json!({}))}}),
    );
    m.insert(
        "Versions".into(),
        json!({"type": "object", "required": ["versions"], "properties": {"versions": array(json!({
            "type": "object", "required": ["id", "status", "links"], "properties": {
                "id": string(), "status": string(),
                "links": array(json!({"$ref": "#/components/schemas/Link"}))}}))}}),
    );
    m.insert(
        "Resources".into(),
        json!({"type": "object", "required": ["resources"], "properties": {"resources": array(json!({
            "type": "object", "required": ["name", "collection", "links"], "properties": {
                "name": string(), "collection": string(),
                "links": array(json!({"$ref": "#/components/schemas/Link"}))}}))}}),
    );
    m.insert("Tags".into(), tags_body());
    m.insert(
        "NeutronError".into(),
        json!({"type": "object", "required": ["NeutronError"], "properties": {"NeutronError": {
            "type": "object", "required": ["type", "message", "detail"], "properties": {
                "type": {"type": "string", "description": "The upstream exception class name.",
                    "example": "NetworkNotFound"},
                "message": string(),
                "detail": {"type": "string", "description": "Always empty."}}}}}),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attribute_of_every_resource_has_a_type() {
        for r in RESOURCES {
            for a in r.attrs {
                assert!(
                    attr_type(r.singular, a.name).is_some(),
                    "{}.{} has no OpenAPI type",
                    r.singular,
                    a.name
                );
            }
        }
    }

    #[test]
    fn requests_follow_the_attribute_map() {
        let subnet = &RESOURCES[1];
        let create = request(subnet, true);
        assert_eq!(create["required"], json!(["network_id", "ip_version"]));
        assert!(create["properties"]["cidr"].is_object());
        assert!(create["properties"].get("status").is_none());
        let update = request(subnet, false);
        assert!(update["properties"].get("cidr").is_none(), "cidr is create-only");
        assert!(update["properties"]["gateway_ip"].is_object());
        let net = request(&RESOURCES[0], true);
        assert!(net["properties"]["shared"]["description"].as_str().unwrap().contains("admins"));
    }

    #[test]
    fn nullable_enums_admit_null() {
        let t = attr_type("subnet", "ipv6_ra_mode").unwrap();
        assert_eq!(t["nullable"], json!(true));
        assert!(t["enum"].as_array().unwrap().contains(&Value::Null));
    }
}
