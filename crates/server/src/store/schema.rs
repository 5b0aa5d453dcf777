//! Versioned schema migrations. Each migration is portable SQL; the store records the version it
//! applied and refuses to start on a database newer than it knows.

/// `(version, name, statements)`, in order. Never edit a released migration: add one.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "core-networks-subnets-ports", V1),
    (2, "ml2-segments-agents-changes", V2),
    (3, "security-groups", V3),
    (4, "port-security-groups-address-pairs", V4),
    (5, "quotas", V5),
    (6, "dhcp-agent-scheduling-extra-dhcp-opts", V6),
    (7, "routers-floatingips-l3-agent-scheduling", V7),
];

/// The schema version this build expects.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

const V1: &str = "
CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up INTEGER NOT NULL,
    status TEXT NOT NULL,
    shared INTEGER NOT NULL,
    mtu INTEGER NOT NULL,
    router_external INTEGER NOT NULL,
    network_type TEXT,
    physical_network TEXT,
    segmentation_id INTEGER,
    port_security_enabled INTEGER NOT NULL,
    availability_zone_hints TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX networks_project ON networks (project_id);
CREATE TABLE subnets (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    ip_version INTEGER NOT NULL,
    cidr TEXT NOT NULL,
    gateway_ip TEXT,
    allocation_pools TEXT NOT NULL,
    dns_nameservers TEXT NOT NULL,
    host_routes TEXT NOT NULL,
    enable_dhcp INTEGER NOT NULL,
    ipv6_ra_mode TEXT,
    ipv6_address_mode TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX subnets_network ON subnets (network_id);
CREATE INDEX subnets_project ON subnets (project_id);
CREATE TABLE ports (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    admin_state_up INTEGER NOT NULL,
    mac_address TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_owner TEXT NOT NULL,
    status TEXT NOT NULL,
    port_security_enabled INTEGER NOT NULL,
    binding_host_id TEXT NOT NULL,
    binding_profile TEXT NOT NULL,
    binding_vif_type TEXT NOT NULL,
    binding_vif_details TEXT NOT NULL,
    binding_vnic_type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    UNIQUE (network_id, mac_address)
);
CREATE INDEX ports_network ON ports (network_id);
CREATE INDEX ports_project ON ports (project_id);
CREATE INDEX ports_device ON ports (device_id);
CREATE TABLE ip_allocations (
    port_id TEXT NOT NULL REFERENCES ports (id),
    subnet_id TEXT NOT NULL REFERENCES subnets (id),
    network_id TEXT NOT NULL,
    ip_address TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX ip_allocations_port ON ip_allocations (port_id);
CREATE INDEX ip_allocations_ip ON ip_allocations (ip_address);
CREATE TABLE tags (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (resource_type, resource_id, tag)
);
CREATE INDEX tags_tag ON tags (resource_type, tag);
";

/// ML2 segment allocations, agents, and the change feed agents watch.
const V2: &str = "
CREATE TABLE segment_allocations (
    network_type TEXT NOT NULL,
    physical_network TEXT NOT NULL,
    segmentation_id BIGINT NOT NULL,
    network_id TEXT NOT NULL,
    PRIMARY KEY (network_type, physical_network, segmentation_id)
);
CREATE INDEX segment_allocations_network ON segment_allocations (network_id);
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    agent_type TEXT NOT NULL,
    agent_binary TEXT NOT NULL,
    host TEXT NOT NULL,
    topic TEXT NOT NULL,
    admin_state_up INTEGER NOT NULL,
    description TEXT NOT NULL,
    availability_zone TEXT,
    configurations TEXT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    started_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    heartbeat_timestamp TEXT NOT NULL,
    UNIQUE (agent_type, host)
);
CREATE TABLE changes (
    revision BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    network_id TEXT,
    host TEXT
);
CREATE INDEX ports_host ON ports (binding_host_id);
";

/// Security groups, their rules, and each project's default group.
const V3: &str = "
CREATE TABLE security_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    stateful INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX security_groups_project ON security_groups (project_id);
CREATE TABLE security_group_rules (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id),
    direction TEXT NOT NULL,
    ethertype TEXT NOT NULL,
    protocol TEXT,
    port_range_min INTEGER,
    port_range_max INTEGER,
    remote_ip_prefix TEXT,
    normalized_cidr TEXT,
    remote_group_id TEXT REFERENCES security_groups (id),
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX security_group_rules_group ON security_group_rules (security_group_id);
CREATE INDEX security_group_rules_remote ON security_group_rules (remote_group_id);
CREATE INDEX security_group_rules_project ON security_group_rules (project_id);
CREATE TABLE default_security_groups (
    project_id TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id)
);
";

const V4: &str = "
CREATE TABLE port_security_groups (
    port_id TEXT NOT NULL REFERENCES ports (id),
    security_group_id TEXT NOT NULL REFERENCES security_groups (id),
    PRIMARY KEY (port_id, security_group_id)
);
CREATE INDEX port_security_groups_group ON port_security_groups (security_group_id);
CREATE TABLE port_address_pairs (
    port_id TEXT NOT NULL REFERENCES ports (id),
    ip_address TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    PRIMARY KEY (port_id, ip_address, mac_address)
);
";

/// Per-project quota limits (neutron `quotas`): one row per project and resource whose limit
/// an admin set; absent rows mean the configured default.
const V5: &str = "
CREATE TABLE quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
";

/// Networks scheduled to DHCP agents (upstream `networkdhcpagentbindings`: one row per network
/// and agent row hosting it), and the per-port DHCP options of the `extra_dhcp_opt` extension
/// (upstream `extradhcpopts`: unique per port, option name and IP version).
const V6: &str = "
CREATE TABLE network_dhcp_agents (
    network_id TEXT NOT NULL REFERENCES networks (id),
    agent_id TEXT NOT NULL REFERENCES agents (id),
    PRIMARY KEY (network_id, agent_id)
);
CREATE INDEX network_dhcp_agents_agent ON network_dhcp_agents (agent_id);
CREATE TABLE port_extra_dhcp_opts (
    port_id TEXT NOT NULL REFERENCES ports (id),
    opt_name TEXT NOT NULL,
    opt_value TEXT NOT NULL,
    ip_version INTEGER NOT NULL,
    PRIMARY KEY (port_id, opt_name, ip_version)
);
";

/// Routers (upstream `routers`; `gw_port_id` is the `network:router_gateway` port, `enable_snat`
/// its `external_gateway_info.enable_snat`), the ports each router owns (upstream
/// `routerports`: interfaces and the gateway, `port_type` their device_owner), extra routes
/// (upstream `routerroutes`), floating IPs (upstream `floatingips`: `floating_port_id` the
/// `network:floatingip` port on the external network holding the address, `fixed_port_id` and
/// `fixed_ip_address` the association, `router_id` the router that serves it while associated),
/// and routers scheduled to L3 agents (upstream `routerl3agentbindings`, one agent per router).
const V7: &str = "
CREATE TABLE routers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up INTEGER NOT NULL,
    status TEXT NOT NULL,
    gw_port_id TEXT REFERENCES ports (id),
    enable_snat INTEGER NOT NULL,
    availability_zone_hints TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX routers_project ON routers (project_id);
CREATE TABLE router_ports (
    port_id TEXT PRIMARY KEY REFERENCES ports (id),
    router_id TEXT NOT NULL REFERENCES routers (id),
    port_type TEXT NOT NULL
);
CREATE INDEX router_ports_router ON router_ports (router_id);
CREATE TABLE router_routes (
    router_id TEXT NOT NULL REFERENCES routers (id),
    destination TEXT NOT NULL,
    nexthop TEXT NOT NULL,
    PRIMARY KEY (router_id, destination, nexthop)
);
CREATE TABLE floatingips (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    description TEXT NOT NULL,
    floating_network_id TEXT NOT NULL REFERENCES networks (id),
    floating_port_id TEXT NOT NULL REFERENCES ports (id),
    floating_ip_address TEXT NOT NULL,
    fixed_port_id TEXT REFERENCES ports (id),
    fixed_ip_address TEXT,
    router_id TEXT REFERENCES routers (id),
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    UNIQUE (floating_network_id, floating_ip_address)
);
CREATE INDEX floatingips_project ON floatingips (project_id);
CREATE INDEX floatingips_router ON floatingips (router_id);
CREATE INDEX floatingips_fixed_port ON floatingips (fixed_port_id);
CREATE TABLE router_l3_agents (
    router_id TEXT PRIMARY KEY REFERENCES routers (id),
    agent_id TEXT NOT NULL REFERENCES agents (id)
);
CREATE INDEX router_l3_agents_agent ON router_l3_agents (agent_id);
";
