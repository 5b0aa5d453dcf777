//! Attribute maps of the core resources (neutron-lib `api/definitions/{network,subnet,port}.py`
//! and the extensions we advertise): which attributes may be set on create or update, which are
//! admin-only, which are filters and sort keys; and the generic checks of a request body.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// How a list filter on an attribute compares values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// Not a filter.
    None,
    /// Text equality.
    Text,
    /// Booleans (`True`, `true`, `1`, …).
    Bool,
    /// Integers.
    Int,
}

/// One attribute of a resource.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    /// Settable on create.
    pub post: bool,
    /// Updatable.
    pub put: bool,
    /// Must be given on create.
    pub required: bool,
    /// Only admins may set it (403 otherwise).
    pub admin_write: bool,
    /// Only admins see it (stripped otherwise).
    pub admin_read: bool,
    pub filter: FilterKind,
    /// The store column for filters and sorting, when it has one.
    pub column: Option<&'static str>,
    pub sort: bool,
}

const fn a(name: &'static str) -> Attr {
    Attr {
        name,
        post: false,
        put: false,
        required: false,
        admin_write: false,
        admin_read: false,
        filter: FilterKind::None,
        column: None,
        sort: false,
    }
}

impl Attr {
    const fn cu(mut self) -> Self {
        self.post = true;
        self.put = true;
        self
    }
    const fn c(mut self) -> Self {
        self.post = true;
        self
    }
    const fn u(mut self) -> Self {
        self.put = true;
        self
    }
    const fn req(mut self) -> Self {
        self.post = true;
        self.required = true;
        self
    }
    const fn admin(mut self) -> Self {
        self.admin_write = true;
        self
    }
    const fn admin_read(mut self) -> Self {
        self.admin_read = true;
        self.admin_write = true;
        self
    }
    /// Filterable and sortable on a store column of the same name.
    const fn col(mut self, kind: FilterKind) -> Self {
        self.filter = kind;
        self.column = Some(self.name);
        self.sort = true;
        self
    }
    const fn col_as(mut self, kind: FilterKind, column: &'static str) -> Self {
        self.filter = kind;
        self.column = Some(column);
        self.sort = true;
        self
    }
    /// Filterable by a special rule of the resource's list query (no column).
    const fn special_filter(mut self) -> Self {
        self.filter = FilterKind::Text;
        self
    }
}

use FilterKind::{Bool, Int, Text};

/// Attributes every standard-attribute resource has.
macro_rules! standard {
    () => {
        [
            a("id").col(Text),
            a("name").cu().col(Text),
            a("description").cu().col(Text),
            a("project_id").c().col(Text),
            a("tenant_id").c().col_as(Text, "project_id"),
            a("created_at").col(Text),
            a("updated_at").col(Text),
            a("revision_number").col(Int),
            a("tags").special_filter(),
        ]
    };
}

pub static NETWORK: [Attr; 20] = {
    let s = standard!();
    [
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        s[6],
        s[7],
        s[8],
        a("admin_state_up").cu().col(Bool),
        a("status").col(Text),
        a("subnets"),
        a("shared").cu().admin().col(Bool),
        a("mtu").col(Int),
        a("router:external").cu().admin().col_as(Bool, "router_external"),
        a("provider:network_type").cu().admin_read().col_as(Text, "network_type"),
        a("provider:physical_network").cu().admin_read().col_as(Text, "physical_network"),
        a("provider:segmentation_id").cu().admin_read().col_as(Int, "segmentation_id"),
        a("port_security_enabled").cu().col(Bool),
        a("availability_zone_hints").c(),
    ]
};

pub static SUBNET: [Attr; 23] = {
    let s = standard!();
    [
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        s[6],
        s[7],
        s[8],
        a("network_id").req().col(Text),
        a("ip_version").req().col(Int),
        a("cidr").c().col(Text),
        a("gateway_ip").cu().col(Text),
        a("allocation_pools").cu(),
        a("dns_nameservers").cu(),
        a("host_routes").cu(),
        a("enable_dhcp").cu().col(Bool),
        a("ipv6_ra_mode").c().col(Text),
        a("ipv6_address_mode").c().col(Text),
        a("subnetpool_id").c(),
        a("prefixlen").c(),
        a("use_default_subnetpool").c(),
        a("router:external"),
    ]
};

pub static PORT: [Attr; 26] = {
    let s = standard!();
    [
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        s[6],
        s[7],
        s[8],
        a("network_id").req().col(Text),
        a("admin_state_up").cu().col(Bool),
        a("mac_address").cu().col(Text),
        a("fixed_ips").cu().special_filter(),
        a("device_id").cu().col(Text),
        a("device_owner").cu().col(Text),
        a("status").col(Text),
        a("port_security_enabled").cu(),
        a("security_groups").cu().special_filter(),
        a("allowed_address_pairs").cu(),
        a("binding:host_id").cu().admin_read().col_as(Text, "binding_host_id"),
        a("binding:profile").cu().admin_read(),
        a("binding:vif_type").admin_read().col_as(Text, "binding_vif_type"),
        a("binding:vif_details").admin_read(),
        a("binding:vnic_type").cu().col_as(Text, "binding_vnic_type"),
        a("ip_allocation"),
        a("extra_dhcp_opts").cu(),
    ]
};

pub static ROUTER: [Attr; 14] = {
    let s = standard!();
    [
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        s[6],
        s[7],
        s[8],
        a("admin_state_up").cu().col(Bool),
        a("status").col(Text),
        a("external_gateway_info").cu(),
        a("routes").u(),
        a("availability_zone_hints").c(),
    ]
};

pub static SECURITY_GROUP: [Attr; 10] = {
    let s = standard!();
    [s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], a("stateful").cu().col(Bool)]
};

/// Rules have the standard attributes but no name and no tags, and cannot be updated.
pub static SECURITY_GROUP_RULE: [Attr; 16] = [
    a("id").col(Text),
    a("description").c().col(Text),
    a("project_id").c().col(Text),
    a("tenant_id").c().col_as(Text, "project_id"),
    a("created_at").col(Text),
    a("updated_at").col(Text),
    a("revision_number").col(Int),
    a("security_group_id").req().col(Text),
    a("direction").req().col(Text),
    a("ethertype").c().col(Text),
    a("protocol").c().col(Text),
    a("port_range_min").c().col(Int),
    a("port_range_max").c().col(Int),
    a("remote_ip_prefix").c().col(Text),
    a("normalized_cidr").col(Text),
    a("remote_group_id").c().col(Text),
];

/// Floating IPs (neutron-lib `api/definitions/l3.py` `floatingips`, with `fip-port-details`):
/// no name; `subnet_id` is taken on create and never shown; `port_id` is stored as the
/// association's `fixed_port_id`.
pub static FLOATINGIP: [Attr; 16] = [
    a("id").col(Text),
    a("description").cu().col(Text),
    a("project_id").c().col(Text),
    a("tenant_id").c().col_as(Text, "project_id"),
    a("created_at").col(Text),
    a("updated_at").col(Text),
    a("revision_number").col(Int),
    a("tags").special_filter(),
    a("floating_network_id").req().col(Text),
    a("floating_ip_address").c().admin().col(Text),
    a("subnet_id").c(),
    a("port_id").cu().col_as(Text, "fixed_port_id"),
    a("fixed_ip_address").cu().col(Text),
    a("router_id").col(Text),
    a("status").col(Text),
    a("port_details"),
];

/// Whether a body is for a create or an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
}

/// Looks an attribute up by name.
pub fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name == name)
}

/// The generic checks of a body against an attribute map, in upstream's order: unknown keys,
/// read-only keys, then required keys. Admin-only keys are the policy layer's business.
pub fn check_body(attrs: &[Attr], body: &Map<String, Value>, op: Op) -> Result<(), ApiError> {
    let mut unknown: Vec<&str> = Vec::new();
    let mut known: Vec<(&str, &Attr)> = Vec::new();
    for key in body.keys() {
        match find(attrs, key) {
            Some(attr) => known.push((key, attr)),
            None => unknown.push(key),
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{}'", unknown.join(", "))));
    }
    for (key, attr) in known {
        match op {
            Op::Create if !attr.post => {
                return Err(ApiError::bad_request(format!("Attribute '{key}' not allowed in POST")));
            }
            Op::Update if !attr.put => {
                return Err(ApiError::bad_request(format!("Cannot update read-only attribute {key}")));
            }
            _ => {}
        }
    }
    if op == Op::Create {
        for attr in attrs.iter().filter(|a| a.required) {
            if !body.contains_key(attr.name) {
                return Err(missing_required(attr.name));
            }
        }
    }
    Ok(())
}

/// Upstream's answer to a create body without required attribute `name`.
pub fn missing_required(name: &str) -> ApiError {
    ApiError::bad_request(format!("Failed to parse request. Required attribute '{name}' not specified"))
}

/// The admin-only attributes a body sets, for the policy check.
pub fn admin_only_keys<'a>(attrs: &'a [Attr], body: &Map<String, Value>) -> Vec<&'a str> {
    attrs.iter().filter(|a| a.admin_write && body.contains_key(a.name)).map(|a| a.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn unknown_attribute_is_rejected() {
        let e = check_body(&NETWORK, &obj(json!({"name": "a", "bogus": 1})), Op::Create).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.message, "Unrecognized attribute(s) 'bogus'");
    }

    #[test]
    fn read_only_attribute_is_rejected_on_create_and_update() {
        let e = check_body(&NETWORK, &obj(json!({"status": "DOWN"})), Op::Create).unwrap_err();
        assert_eq!(e.message, "Attribute 'status' not allowed in POST");
        let e = check_body(&SUBNET, &obj(json!({"cidr": "10.0.0.0/24"})), Op::Update).unwrap_err();
        assert_eq!(e.message, "Cannot update read-only attribute cidr");
    }

    #[test]
    fn required_attribute_is_named() {
        let e = check_body(&PORT, &obj(json!({"name": "p"})), Op::Create).unwrap_err();
        assert_eq!(e.message, "Failed to parse request. Required attribute 'network_id' not specified");
    }

    #[test]
    fn admin_only_keys_are_listed() {
        let keys = admin_only_keys(&NETWORK, &obj(json!({"shared": true, "name": "x"})));
        assert_eq!(keys, vec!["shared"]);
    }
}
