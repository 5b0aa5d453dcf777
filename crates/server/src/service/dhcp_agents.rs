//! The `dhcp_agent_scheduler` extension (upstream `extensions/dhcpagentscheduler.py`, admin
//! only): the networks a DHCP agent hosts (list, add, remove) and the DHCP agents hosting a
//! network, with upstream's errors (`InvalidDHCPAgent`, `NetworkHostedByDHCPAgent`,
//! `NetworkNotHostedByDhcpAgent`).

use neutrino_model::agent::{Agent, DHCP_AGENT_TYPE};
use neutrino_model::network::Network;
use neutrino_model::{ApiError, ApiResult, convert};
use serde_json::{Map, Value};

use super::dhcp::{self, Scheduling, agent_not_found};
use super::{Services, unix_now};
use crate::context::RequestContext;
use crate::store::dhcp::{self as rows, DhcpAgent};
use crate::store::{agents, networks as net_rows};

fn admin(ctx: &RequestContext, rule: &str) -> ApiResult<()> {
    if ctx.is_admin() { Ok(()) } else { Err(ApiError::policy(rule)) }
}

/// `GET /v2.0/agents/{id}/dhcp-networks`.
pub async fn networks(svc: &Services, ctx: &RequestContext, agent_id: &str) -> ApiResult<Vec<Network>> {
    admin(ctx, "get_dhcp-networks")?;
    let (id, down) = (agent_id.to_string(), svc.agent_down_time());
    svc.store
        .read(move |sql| {
            agents::get(sql, &id, unix_now(), down)?.ok_or_else(|| agent_not_found(&id))?;
            let ids = rows::networks_of_agent(sql, &id)?;
            let mut nets = net_rows::rows(sql, &ids)?;
            net_rows::fill(sql, &mut nets)?;
            Ok(nets)
        })
        .await
}

/// The `network_id` of a `POST …/dhcp-networks` body.
fn network_id_of(body: &Map<String, Value>) -> ApiResult<String> {
    let v = body.get("network_id").ok_or_else(|| {
        ApiError::bad_request("Failed to parse request. Required attribute 'network_id' not specified")
    })?;
    convert::to_uuid("network_id", v)
}

/// `POST /v2.0/agents/{id}/dhcp-networks` (upstream's `add_network_to_dhcp_agent`).
pub async fn add(
    svc: &Services,
    ctx: &RequestContext,
    agent_id: &str,
    body: Map<String, Value>,
) -> ApiResult<()> {
    admin(ctx, "create_dhcp-network")?;
    let network_id = network_id_of(&body)?;
    let (id, sched) = (agent_id.to_string(), Scheduling::of(svc));
    svc.store
        .write(move |sql| {
            net_rows::row(sql, &network_id)?.ok_or_else(|| ApiError::network_not_found(&network_id))?;
            let a = agents::get(sql, &id, unix_now(), sched.down)?.ok_or_else(|| agent_not_found(&id))?;
            if a.agent_type != DHCP_AGENT_TYPE || !a.admin_state_up {
                return Err(ApiError::not_found(
                    "InvalidDHCPAgent",
                    format!("Agent {id} is not a valid DHCP Agent or has been disabled."),
                ));
            }
            if rows::is_bound(sql, &network_id, &id)? {
                return Err(ApiError::conflict(
                    "NetworkHostedByDHCPAgent",
                    format!("The network {network_id} has been already hosted by the DHCP Agent {id}."),
                ));
            }
            dhcp::host(sql, sched, &network_id, &DhcpAgent { id: a.id, host: a.host })
        })
        .await?;
    svc.changed();
    Ok(())
}

/// `DELETE /v2.0/agents/{id}/dhcp-networks/{network_id}` (upstream's
/// `remove_network_from_dhcp_agent`: the DHCP port is kept, reserved).
pub async fn remove(svc: &Services, ctx: &RequestContext, agent_id: &str, network_id: &str) -> ApiResult<()> {
    admin(ctx, "delete_dhcp-network")?;
    let (id, net, down) = (agent_id.to_string(), network_id.to_string(), svc.agent_down_time());
    svc.store
        .write(move |sql| {
            let a = agents::get(sql, &id, unix_now(), down)?.ok_or_else(|| agent_not_found(&id))?;
            if !dhcp::release(sql, &net, &DhcpAgent { id: a.id, host: a.host })? {
                return Err(ApiError::conflict(
                    "NetworkNotHostedByDhcpAgent",
                    format!("The network {net} is not hosted by the DHCP Agent {id}."),
                ));
            }
            Ok(())
        })
        .await?;
    svc.changed();
    Ok(())
}

/// `GET /v2.0/networks/{id}/dhcp-agents`: the agents hosting it (none for an unknown network,
/// as upstream).
pub async fn hosting(svc: &Services, ctx: &RequestContext, network_id: &str) -> ApiResult<Vec<Agent>> {
    admin(ctx, "get_dhcp-agents")?;
    let (net, down) = (network_id.to_string(), svc.agent_down_time());
    svc.store
        .read(move |sql| {
            let now = unix_now();
            let mut out = vec![];
            for a in rows::hosting(sql, &net)? {
                out.extend(agents::get(sql, &a.id, now, down)?);
            }
            Ok(out)
        })
        .await
}
