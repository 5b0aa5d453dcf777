//! The `l3_agent_scheduler` extension (upstream `extensions/l3agentscheduler.py`, admin only):
//! the routers an L3 agent runs (list, add, remove) and the L3 agent running a router, with
//! upstream's errors (`InvalidL3Agent`, `RouterHostedByL3Agent`, `RouterNotHostedByL3Agent`).

use neutrino_model::agent::{Agent, L3_AGENT_TYPE};
use neutrino_model::router::Router;
use neutrino_model::{ApiError, ApiResult, convert};
use serde_json::{Map, Value};

use super::dhcp::agent_not_found;
use super::routers::not_found;
use super::{Services, l3, unix_now};
use crate::context::RequestContext;
use crate::store::l3::{self as rows, L3Agent};
use crate::store::{agents, routers as router_rows};

fn admin(ctx: &RequestContext, rule: &str) -> ApiResult<()> {
    if ctx.is_admin() { Ok(()) } else { Err(ApiError::policy(rule)) }
}

/// `GET /v2.0/agents/{id}/l3-routers`.
pub async fn routers(svc: &Services, ctx: &RequestContext, agent_id: &str) -> ApiResult<Vec<Router>> {
    admin(ctx, "get_l3-routers")?;
    let (id, down) = (agent_id.to_string(), svc.agent_down_time());
    svc.store
        .read(move |sql| {
            agents::get(sql, &id, unix_now(), down)?.ok_or_else(|| agent_not_found(&id))?;
            let mut out = vec![];
            for r in rows::routers_of_agent(sql, &id)? {
                out.extend(router_rows::get(sql, &r)?);
            }
            Ok(out)
        })
        .await
}

/// `POST /v2.0/agents/{id}/l3-routers` (upstream `add_router_to_l3_agent`): already there is
/// fine, on another agent a 409.
pub async fn add(
    svc: &Services,
    ctx: &RequestContext,
    agent_id: &str,
    body: Map<String, Value>,
) -> ApiResult<()> {
    admin(ctx, "create_l3-router")?;
    let v = body.get("router_id").ok_or_else(|| neutrino_model::attrs::missing_required("router_id"))?;
    let router_id = convert::to_uuid("router_id", v)?;
    let (id, down) = (agent_id.to_string(), svc.agent_down_time());
    svc.store
        .write(move |sql| {
            router_rows::row(sql, &router_id)?.ok_or_else(|| not_found(&router_id))?;
            let a = agents::get(sql, &id, unix_now(), down)?.ok_or_else(|| agent_not_found(&id))?;
            if a.agent_type != L3_AGENT_TYPE || !a.admin_state_up {
                return Err(ApiError::not_found(
                    "InvalidL3Agent",
                    format!("Agent {id} is not a L3 Agent or has been disabled"),
                ));
            }
            match rows::agent_of(sql, &router_id)? {
                Some(cur) if cur.id == id => Ok(()),
                Some(cur) => Err(ApiError::conflict(
                    "RouterHostedByL3Agent",
                    format!("The router {router_id} has been already hosted by the L3 Agent {}.", cur.id),
                )),
                None => l3::move_to(sql, &router_id, Some(&L3Agent { id: a.id, host: a.host }), down),
            }
        })
        .await?;
    svc.changed();
    Ok(())
}

/// `DELETE /v2.0/agents/{id}/l3-routers/{router_id}`: the router runs nowhere until scheduled
/// again (an L3 agent starting, or the router's next interface or gateway).
pub async fn remove(svc: &Services, ctx: &RequestContext, agent_id: &str, router_id: &str) -> ApiResult<()> {
    admin(ctx, "delete_l3-router")?;
    let (id, router, down) = (agent_id.to_string(), router_id.to_string(), svc.agent_down_time());
    svc.store
        .write(move |sql| {
            agents::get(sql, &id, unix_now(), down)?.ok_or_else(|| agent_not_found(&id))?;
            if rows::agent_of(sql, &router)?.is_none_or(|a| a.id != id) {
                return Err(ApiError::conflict(
                    "RouterNotHostedByL3Agent",
                    format!("The router {router} is not hosted by L3 agent {id}."),
                ));
            }
            l3::move_to(sql, &router, None, down)
        })
        .await?;
    svc.changed();
    Ok(())
}

/// `GET /v2.0/routers/{id}/l3-agents`.
pub async fn hosting(svc: &Services, ctx: &RequestContext, router_id: &str) -> ApiResult<Vec<Agent>> {
    admin(ctx, "get_l3-agents")?;
    let (router, down) = (router_id.to_string(), svc.agent_down_time());
    svc.store
        .read(move |sql| {
            router_rows::row(sql, &router)?.ok_or_else(|| not_found(&router))?;
            let mut out = vec![];
            if let Some(a) = rows::agent_of(sql, &router)? {
                out.extend(agents::get(sql, &a.id, unix_now(), down)?);
            }
            Ok(out)
        })
        .await
}
