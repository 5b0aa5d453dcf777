//! Discovery documents: `GET /` (versions), `GET /v2.0/` (resources) and the extension list
//! (`GET /v2.0/extensions[/{alias}]`) naming exactly what this server implements.

use serde_json::{Value, json};

/// `(alias, name, description)` of each extension implemented. Not `stateful-security-group`:
/// the agents enforce every group statefully, so a group's `stateful: false` is kept but not
/// honoured.
pub const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("tag", "Tag support", "Enables to set tag on resources."),
    ("agent", "agent", "The agent management extension."),
    ("dhcp_agent_scheduler", "DHCP Agent Scheduler", "Schedule networks among dhcp agents"),
    (
        "router",
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
    ),
    (
        "ext-gw-mode",
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
    ),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    (
        "extraroute-atomic",
        "Atomically add/remove extra routes",
        "Edit extra routes of a router on server side by atomically adding/removing extra routes",
    ),
    ("l3_agent_scheduler", "L3 Agent Scheduler", "Schedule routers among l3 agents"),
    (
        "ip-substring-filtering",
        "IP address substring filtering",
        "Provides IP address substring filtering when listing ports",
    ),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    (
        "standard-attr-tag",
        "Tag support for resources with standard attribute: network, subnet, port",
        "Enables to set tag on resources with standard attribute.",
    ),
    (
        "revision-if-match",
        "If-Match constraints based on revision_number",
        "Extension indicating that If-Match based on revision_number is supported.",
    ),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("filter-validation", "Filter parameters validation", "Provides validation on filter parameters."),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("port-security", "Port Security", "Provides port security"),
    ("security-group", "security-group", "The security groups extension."),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    (
        "extra_dhcp_opt",
        "Neutron Extra DHCP options",
        "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)",
    ),
    (
        "security-groups-normalized-cidr",
        "Security group normalized CIDR",
        "Add new field with normalized remote_ip_prefix cidr in SG rule",
    ),
    (
        "port-security-groups-filtering",
        "Port filtering on security groups",
        "Provides security groups filtering when listing ports",
    ),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    (
        "quota_details",
        "Quota details management support",
        "Expose functions for quotas usage statistics per project",
    ),
    (
        "fip-port-details",
        "Floating IP Port Details Extension",
        "Add port_details attribute to Floating IP resource",
    ),
    ("floatingip-pools", "Floating IP pools", "Provides a floating IP pools API."),
    (
        "subnet-external-network",
        "Subnet External Network",
        "Informs if the subnet is associated to an external network.",
    ),
];

const UPDATED: &str = "2024-01-01T00:00:00-00:00";

fn ext(e: &(&str, &str, &str)) -> Value {
    json!({"alias": e.0, "name": e.1, "description": e.2, "updated": UPDATED, "links": []})
}

pub fn versions(base: &str) -> Value {
    json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"href": format!("{base}/v2.0/"), "rel": "self"}]}]})
}

pub fn resources(base: &str) -> Value {
    let items: Vec<Value> = [
        ("network", "networks"),
        ("subnet", "subnets"),
        ("port", "ports"),
        ("security_group", "security-groups"),
        ("security_group_rule", "security-group-rules"),
        ("router", "routers"),
        ("floatingip", "floatingips"),
    ]
        .iter()
        .map(|(name, coll)| json!({"name": name, "collection": coll, "links": [{"href": format!("{base}/v2.0/{coll}"), "rel": "self"}]}))
        .collect();
    json!({"resources": items})
}

pub fn extensions() -> Value {
    json!({"extensions": EXTENSIONS.iter().map(ext).collect::<Vec<_>>()})
}

pub fn extension(alias: &str) -> Option<Value> {
    EXTENSIONS.iter().find(|e| e.0 == alias).map(|e| json!({"extension": ext(e)}))
}
