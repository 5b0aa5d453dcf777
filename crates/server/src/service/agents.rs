//! Agents (`/v2.0/agents`, admin only: list, show, update `admin_state_up`/`description`,
//! delete) and their heartbeats (internal API): an agent is alive while its last heartbeat is
//! newer than `agent_down_time`, as upstream's `agents_db` decides.

use neutrino_model::agent::{Agent, agent_timestamp};
use neutrino_model::common::new_id;
use neutrino_model::{ApiError, ApiResult, convert};
use serde_json::{Map, Value, json};

pub use neutrino_model::internal::Report;

use super::dhcp::{self, Scheduling};
use super::{Services, l3, unix_now};
use crate::context::RequestContext;
use crate::store::dhcp::DhcpAgent;
use crate::store::{agents as rows, changes};

fn agent_not_found(id: &str) -> ApiError {
    ApiError::not_found("AgentNotFound", format!("Agent {id} could not be found."))
}

/// `GET /v2.0/agents`: everything for admins, nothing for others (upstream filters the
/// collection by policy).
pub async fn list(
    svc: &Services,
    ctx: &RequestContext,
    filters: Vec<(String, String)>,
) -> ApiResult<Vec<Agent>> {
    if !ctx.is_admin() {
        return Ok(vec![]);
    }
    let down = svc.agent_down_time();
    let all = svc.store.read(move |sql| Ok(rows::all(sql, unix_now(), down)?)).await?;
    // Filters compare with the attributes as the API shows them; text without regard to case,
    // as upstream's database (MySQL's default collation) does: Tempest asks for
    // `agent_type=DHCP Agent`.
    Ok(all
        .into_iter()
        .filter(|a| {
            let m = a.to_json();
            filters.iter().all(|(k, v)| match m.get(k) {
                Some(Value::String(s)) => s.to_lowercase() == v.to_lowercase(),
                Some(Value::Bool(b)) => convert::parse_bool_str(v) == Some(*b),
                _ => k == "fields",
            })
        })
        .collect())
}

pub async fn show(svc: &Services, ctx: &RequestContext, id: &str) -> ApiResult<Agent> {
    if !ctx.is_admin() {
        return Err(agent_not_found(id));
    }
    let (down, id) = (svc.agent_down_time(), id.to_string());
    svc.store
        .read(move |sql| rows::get(sql, &id, unix_now(), down)?.ok_or_else(|| agent_not_found(&id)))
        .await
}

/// `PUT /v2.0/agents/{id}`: only `admin_state_up` and `description` change.
pub async fn update(
    svc: &Services,
    ctx: &RequestContext,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult<Agent> {
    if !ctx.is_admin() {
        return Err(agent_not_found(id));
    }
    if let Some(k) = body.keys().find(|k| !matches!(k.as_str(), "admin_state_up" | "description")) {
        return Err(ApiError::bad_request(format!("Cannot update read-only attribute {k}")));
    }
    let admin = body.get("admin_state_up").map(|v| convert::to_bool("admin_state_up", v)).transpose()?;
    let desc = body.get("description").map(|v| convert::to_string("description", v, 255)).transpose()?;
    let (down, id) = (svc.agent_down_time(), id.to_string());
    let out = svc
        .store
        .write(move |sql| {
            let mut a = rows::get(sql, &id, unix_now(), down)?.ok_or_else(|| agent_not_found(&id))?;
            if let Some(v) = admin {
                a.admin_state_up = v;
            }
            if let Some(v) = desc {
                a.description = v;
            }
            rows::update(sql, &a)?;
            changes::record(sql, "agent", &a.id, None, Some(&a.host))?;
            Ok(a)
        })
        .await?;
    svc.changed();
    Ok(out)
}

pub async fn delete(svc: &Services, ctx: &RequestContext, id: &str) -> ApiResult<()> {
    if !ctx.is_admin() {
        return Err(agent_not_found(id));
    }
    let (id, sched, down) = (id.to_string(), Scheduling::of(svc), svc.agent_down_time());
    svc.store
        .write(move |sql| {
            let Some(host) = rows::host_of(sql, &id)? else { return Err(agent_not_found(&id)) };
            // Its networks move to the live DHCP agents (upstream's bindings go with the row).
            dhcp::forget_agent(sql, sched, &DhcpAgent { id: id.clone(), host: host.clone() })?;
            crate::store::dhcp::unbind_agent(sql, &id)?;
            // Its routers move to the live L3 agents.
            l3::forget_agent(sql, &id, down)?;
            crate::store::l3::unbind_agent(sql, &id)?;
            rows::delete(sql, &id)?;
            changes::record(sql, "agent", &id, None, Some(&host))?;
            Ok(())
        })
        .await?;
    svc.changed();
    Ok(())
}

/// Records a heartbeat: creates the agent on its first report, refreshes it afterwards. A
/// change of configuration (tunnel endpoint, mappings) goes to the change feed, since other
/// hosts' tunnels and this host's bindings depend on it.
pub async fn report(svc: &Services, r: Report) -> ApiResult<Value> {
    if r.host.is_empty() || r.host.len() > 255 || r.agent_type.is_empty() {
        return Err(ApiError::bad_request("a report needs a host and an agent_type"));
    }
    let (down, sched) = (svc.agent_down_time(), Scheduling::of(svc));
    let (out, changed) = svc
        .store
        .write(move |sql| {
            let now = unix_now();
            let ts = agent_timestamp(now);
            let existing = rows::by_host(sql, &r.agent_type, &r.host, now, down)?;
            let (agent, changed) = match existing {
                Some(mut a) => {
                    let revived = !a.alive;
                    let changed = a.configurations != r.configurations || revived;
                    a.configurations = r.configurations.clone();
                    a.binary = r.binary.clone();
                    a.topic = r.topic.clone();
                    a.availability_zone = r.availability_zone.clone();
                    a.heartbeat_at = now;
                    a.heartbeat_timestamp = ts.clone();
                    if r.start_flag {
                        a.started_at = ts;
                    }
                    a.alive = true;
                    rows::update(sql, &a)?;
                    (a, changed)
                }
                None => {
                    let a = Agent {
                        id: new_id(),
                        agent_type: r.agent_type.clone(),
                        binary: r.binary.clone(),
                        host: r.host.clone(),
                        topic: r.topic.clone(),
                        admin_state_up: true,
                        description: String::new(),
                        availability_zone: r.availability_zone.clone(),
                        configurations: r.configurations.clone(),
                        heartbeat_at: now,
                        heartbeat_timestamp: ts.clone(),
                        started_at: ts.clone(),
                        created_at: ts,
                        alive: true,
                    };
                    rows::insert(sql, &a)?;
                    (a, true)
                }
            };
            if changed {
                changes::record(sql, "agent", &agent.id, None, Some(&agent.host))?;
            }
            // A start, a first report or a return from the dead schedules networks to a DHCP
            // agent (upstream's `network_auto_schedule`).
            let woke = changed || r.start_flag;
            let me = DhcpAgent { id: agent.id.clone(), host: agent.host.clone() };
            let scheduled = dhcp::on_report(sql, sched, &agent.agent_type, &me, agent.admin_state_up, woke)?;
            // ... and routers to an L3 agent (upstream's `auto_schedule_routers`).
            let routed =
                l3::on_report(sql, down, &agent.agent_type, &agent.host, agent.admin_state_up, woke)?;
            let changed = changed || scheduled || routed;
            Ok((json!({"id": agent.id, "alive": true, "admin_state_up": agent.admin_state_up}), changed))
        })
        .await?;
    if changed {
        svc.changed();
    }
    Ok(out)
}
