//! Port binding inside a write: looks up the host's Open vSwitch agent and asks the mechanism
//! driver ([`crate::ml2::binding`]) whether it reaches the network's segment. Also records the
//! port's changes in the change feed for the hosts concerned.

use neutrino_model::ApiResult;
use neutrino_model::agent::OVS_AGENT_TYPE;
use neutrino_model::network::Provider;
use neutrino_model::port::Port;

use super::unix_now;
use crate::ml2::binding::{AgentView, Binding, bind};
use crate::store::{Sql, agents, changes};

/// The binding a port on `host` gets on a network with `segment`.
pub fn binding_for(sql: &mut dyn Sql, host: &str, segment: &Provider, down_time: i64) -> ApiResult<Binding> {
    if host.is_empty() {
        return Ok(Binding::unbound());
    }
    let agent = agents::by_host(sql, OVS_AGENT_TYPE, host, unix_now(), down_time)?;
    let view = agent.map(|a| AgentView {
        alive: a.alive,
        admin_state_up: a.admin_state_up,
        configurations: a.l2_configurations().unwrap_or_default(),
    });
    Ok(bind(host, segment, view.as_ref()))
}

/// Applies a binding to a port; a new binding puts the port DOWN until its agent wires it.
pub fn apply(p: &mut Port, b: Binding) {
    if p.binding_vif_type != b.vif_type || p.binding_vif_details != b.vif_details {
        p.status = "DOWN".into();
    }
    p.binding_vif_type = b.vif_type;
    p.binding_vif_details = b.vif_details;
}

/// Records a port change for its old host and, if it moved, its new one.
pub fn record(sql: &mut dyn Sql, before: Option<&Port>, after: Option<&Port>) -> ApiResult<()> {
    let Some(p) = after.or(before) else { return Ok(()) };
    let old = before.map(|b| b.binding_host_id.as_str()).filter(|h| !h.is_empty());
    let new = after.map(|a| a.binding_host_id.as_str()).filter(|h| !h.is_empty());
    changes::record(sql, "port", &p.std.id, Some(&p.network_id), old.or(new))?;
    if let (Some(o), Some(n)) = (old, new)
        && o != n
    {
        changes::record(sql, "port", &p.std.id, Some(&p.network_id), Some(n))?;
    }
    Ok(())
}
