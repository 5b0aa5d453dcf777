//! OpenAPI operations of the `dhcp_agent_scheduler` extension as routed in
//! `http/dhcp_agents.rs`: the networks of a DHCP agent and the DHCP agents of a network.

use serde_json::{Map, Value, json};

use super::paths::{body, no_content, path_param, with};
use super::{errors, json_response, op, schema_ref};

const TAG: &str = "agents";

pub fn paths() -> Map<String, Value> {
    let agent = path_param("agent_id", "The DHCP agent's id.");
    let nets = json!({"type": "object", "required": ["networks"],
        "properties": {"networks": {"type": "array", "items": schema_ref("Network")}}});
    let list = op(
        "listDhcpAgentNetworks",
        "The networks a DHCP agent hosts (admins)",
        TAG,
        vec![agent.clone()],
        None,
        json_response("200", "The networks.", nets, errors(&with(&[403, 404]))),
    );
    let add_body = json!({"type": "object", "required": ["network_id"],
        "properties": {"network_id": {"type": "string", "format": "uuid"}}});
    let mut added = errors(&with(&[400, 403, 404, 409, 413]));
    added.insert(
        "201".into(),
        json!({"description": "Scheduled (the body is `null`, as upstream's).",
            "content": {"application/json": {"schema": {"type": "object", "nullable": true}}}}),
    );
    let add = op(
        "addDhcpAgentNetwork",
        "Schedule a network to a DHCP agent (admins; 404 `InvalidDHCPAgent` for an agent that is not an enabled DHCP agent, 409 `NetworkHostedByDHCPAgent`)",
        TAG,
        vec![agent.clone()],
        Some(body(add_body, json!({"network_id": "a87cc70a-3e15-4acf-8205-9b711a3531b7"}))),
        added,
    );
    let mut removed = errors(&with(&[403, 404, 409]));
    removed.insert("204".into(), no_content("Removed; its DHCP port is kept as `reserved_dhcp_port`."));
    let remove = op(
        "removeDhcpAgentNetwork",
        "Remove a network from a DHCP agent (admins; 409 `NetworkNotHostedByDhcpAgent`)",
        TAG,
        vec![agent, path_param("network_id", "The network's id.")],
        None,
        removed,
    );
    let agents = json!({"type": "object", "required": ["agents"],
        "properties": {"agents": {"type": "array", "items": schema_ref("Agent")}}});
    let hosting = op(
        "listNetworkDhcpAgents",
        "The DHCP agents hosting a network (admins; none for an unknown network)",
        TAG,
        vec![path_param("network_id", "The network's id.")],
        None,
        json_response("200", "The agents.", agents, errors(&with(&[403]))),
    );
    let mut p = Map::new();
    p.insert("/v2.0/agents/{agent_id}/dhcp-networks".into(), json!({"get": list, "post": add}));
    p.insert("/v2.0/agents/{agent_id}/dhcp-networks/{network_id}".into(), json!({"delete": remove}));
    p.insert("/v2.0/networks/{network_id}/dhcp-agents".into(), json!({"get": hosting}));
    p
}
