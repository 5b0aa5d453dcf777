//! OpenAPI operations of the router actions and the `l3_agent_scheduler` extension as routed
//! in `http/routers.rs`: interfaces, atomic extra routes, the routers of an L3 agent and the
//! L3 agents of a router.

use serde_json::{Map, Value, json};

use super::paths::{body, no_content, path_param, with};
use super::{errors, json_response, op, schema_ref};

fn interface_ops() -> (Value, Value) {
    let router = path_param("router_id", "The router's id.");
    let req = json!({"type": "object", "additionalProperties": true,
        "description": "Exactly one of `subnet_id` and `port_id` (on removal `port_id` wins, and a `subnet_id` given too must be on it).",
        "properties": {"subnet_id": {"type": "string", "format": "uuid"}, "port_id": {"type": "string", "format": "uuid"}}});
    let answer = json!({"type": "object", "required": ["id", "port_id", "network_id", "subnet_id", "subnet_ids"],
        "properties": {"id": {"type": "string", "format": "uuid"}, "tenant_id": {"type": "string"},
            "project_id": {"type": "string"}, "port_id": {"type": "string", "format": "uuid"},
            "network_id": {"type": "string", "format": "uuid"},
            "subnet_id": {"type": "string", "format": "uuid", "nullable": true},
            "subnet_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}}}});
    let example = json!({"subnet_id": "a87cc70a-3e15-4acf-8205-9b711a3531b7"});
    let add = op(
        "addRouterInterface",
        "Attach a subnet (a new `network:router_interface` port holding its gateway address) or an unowned port (400 overlapping or already attached subnet, 409 `PortInUse`)",
        "routers",
        vec![router.clone()],
        Some(body(req.clone(), example.clone())),
        json_response("200", "The interface.", answer.clone(), errors(&with(&[400, 403, 404, 409, 413]))),
    );
    let remove = op(
        "removeRouterInterface",
        "Detach a subnet or port (404 `RouterInterfaceNotFound[ForSubnet]`, 409 `RouterInterfaceInUseByFloatingIP` / `RouterInterfaceInUseByRoute`)",
        "routers",
        vec![router],
        Some(body(req, example)),
        json_response("200", "The interface removed.", answer, errors(&with(&[400, 403, 404, 409, 413]))),
    );
    (add, remove)
}

fn route_op(id: &str, summary: &str) -> Value {
    let routes = json!({"type": "object", "required": ["router"], "properties": {"router": {"type": "object",
        "required": ["routes"], "additionalProperties": false, "properties": {"routes": {"type": "array",
            "items": {"type": "object", "required": ["destination", "nexthop"], "additionalProperties": false,
                "properties": {"destination": {"type": "string"}, "nexthop": {"type": "string"}}}}}}}});
    let example = json!({"router": {"routes": [{"destination": "10.1.0.0/24", "nexthop": "10.0.0.10"}]}});
    let router =
        json!({"type": "object", "required": ["router"], "properties": {"router": schema_ref("Router")}});
    op(
        id,
        summary,
        "routers",
        vec![path_param("router_id", "The router's id.")],
        Some(body(routes, example)),
        json_response("200", "The whole router.", router, errors(&with(&[400, 403, 404, 413]))),
    )
}

pub fn paths() -> Map<String, Value> {
    let (add, remove) = interface_ops();
    let mut p = Map::new();
    p.insert("/v2.0/routers/{router_id}/add_router_interface".into(), json!({"put": add}));
    p.insert("/v2.0/routers/{router_id}/remove_router_interface".into(), json!({"put": remove}));
    p.insert(
        "/v2.0/routers/{router_id}/add_extraroutes".into(),
        json!({"put": route_op("addExtraRoutes", "Add extra routes in one step (`extraroute-atomic`; 400 `InvalidRoutes`)")}),
    );
    p.insert(
        "/v2.0/routers/{router_id}/remove_extraroutes".into(),
        json!({"put": route_op("removeExtraRoutes", "Remove extra routes in one step (`extraroute-atomic`)")}),
    );
    let agent = path_param("agent_id", "The L3 agent's id.");
    let routers = json!({"type": "object", "required": ["routers"],
        "properties": {"routers": {"type": "array", "items": schema_ref("Router")}}});
    let list = op(
        "listL3AgentRouters",
        "The routers an L3 agent runs (admins)",
        "agents",
        vec![agent.clone()],
        None,
        json_response("200", "The routers.", routers, errors(&with(&[403, 404]))),
    );
    let add_body = json!({"type": "object", "required": ["router_id"],
        "properties": {"router_id": {"type": "string", "format": "uuid"}}});
    let mut added = errors(&with(&[400, 403, 404, 409, 413]));
    added.insert(
        "201".into(),
        json!({"description": "Scheduled (the body is `null`, as upstream's).",
            "content": {"application/json": {"schema": {"type": "object", "nullable": true}}}}),
    );
    let add = op(
        "addL3AgentRouter",
        "Schedule a router to an L3 agent (admins; 404 `InvalidL3Agent`, 409 `RouterHostedByL3Agent` when another agent runs it)",
        "agents",
        vec![agent.clone()],
        Some(body(add_body, json!({"router_id": "a87cc70a-3e15-4acf-8205-9b711a3531b7"}))),
        added,
    );
    let mut removed = errors(&with(&[403, 404, 409]));
    removed.insert("204".into(), no_content("Removed; the router runs nowhere until scheduled again."));
    let remove = op(
        "removeL3AgentRouter",
        "Remove a router from an L3 agent (admins; 409 `RouterNotHostedByL3Agent`)",
        "agents",
        vec![agent, path_param("router_id", "The router's id.")],
        None,
        removed,
    );
    let agents = json!({"type": "object", "required": ["agents"],
        "properties": {"agents": {"type": "array", "items": schema_ref("Agent")}}});
    let hosting = op(
        "listRouterL3Agents",
        "The L3 agent running a router (admins)",
        "agents",
        vec![path_param("router_id", "The router's id.")],
        None,
        json_response("200", "The agents.", agents, errors(&with(&[403, 404]))),
    );
    p.insert("/v2.0/agents/{agent_id}/l3-routers".into(), json!({"get": list, "post": add}));
    p.insert("/v2.0/agents/{agent_id}/l3-routers/{router_id}".into(), json!({"delete": remove}));
    p.insert("/v2.0/routers/{router_id}/l3-agents".into(), json!({"get": hosting}));
    p
}
