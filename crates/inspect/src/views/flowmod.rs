//! `addflow BRIDGE MATCH ACTIONS` and `delflow BRIDGE ID…`: the only changes the shell makes,
//! planned first as pure functions (what will be done, as `ovs-ofctl` flow text, with warnings:
//! a flow with an agent's cookie, or one that replaces or removes an agent's flow, is undone or
//! restored by the agent at its next sync) and then applied through a
//! [`HostSource`]. `delflow` resolves every id (a FlowId or an
//! unambiguous prefix of one) in the current dump before anything changes: an unknown id
//! changes nothing. Asking the operator before applying is the caller's.

use std::collections::BTreeMap;

use neutrino_ovs::flow::Flow;
use serde::Serialize;

use super::dump::{owner_of, unname_actions, unname_matches};
use super::plain;
use crate::owners::{Described, Owners, is_agent_cookie};
use crate::parse::flows::DumpedFlow;
use crate::source::{HostSource, SourceError};

/// A flow modification that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowModError {
    #[error("not a flow: {0}")]
    BadFlow(String),
    #[error("no flow {id} on {bridge}")]
    UnknownId { bridge: String, id: String },
    #[error("{id} is the start of several flows' ids on {bridge}: {candidates}")]
    Ambiguous { bridge: String, id: String, candidates: String },
    #[error("no flow ids given")]
    NoIds,
}

/// A flow the plan touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedFlow {
    /// Its FlowId.
    pub id: String,
    /// `ovs-ofctl add-flow` text (`table=…,priority=…,cookie=…,MATCH,actions=…`).
    pub flow: String,
    /// `table=…,priority=…,MATCH`: what `--strict del-flows` removes.
    pub strict_match: String,
    pub owner: Described,
}

impl PlannedFlow {
    fn of(flow: &Flow, owner: Described) -> PlannedFlow {
        PlannedFlow {
            id: flow.id().to_string(),
            flow: flow.to_add_line(),
            strict_match: flow.strict_match(),
            owner,
        }
    }
}

/// `addflow`'s plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddPlan {
    pub bridge: String,
    pub add: PlannedFlow,
    /// The installed flow of the same table, priority and match that the new one replaces.
    pub replaces: Option<PlannedFlow>,
    pub warnings: Vec<String>,
}

/// `delflow`'s plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DelPlan {
    pub bridge: String,
    /// The flows to delete, in the order their ids were given.
    pub delete: Vec<PlannedFlow>,
    pub warnings: Vec<String>,
}

fn agent_warning(what: &str, f: &PlannedFlow) -> String {
    format!(
        "{what} {} ({}) has the agent's cookie: the agent will {} at its next sync",
        f.id,
        f.owner.text,
        match what {
            "new flow" => "delete it",
            "deleted flow" => "add it back",
            _ => "put its own back",
        }
    )
}

/// Plans `addflow BRIDGE MATCH ACTIONS`. `matches` may carry `table=`, `priority=` and
/// `cookie=` (OpenFlow's defaults otherwise: table 0, priority 32768, cookie 0); interface
/// names (`in_port=tap1`, `output:tap1`) are taken as their port numbers from `names`.
pub fn plan_add(
    bridge: &str,
    matches: &str,
    actions: &str,
    current: &[DumpedFlow],
    names: &BTreeMap<i64, String>,
    owners: &Owners<'_>,
) -> Result<AddPlan, FlowModError> {
    let (matches, actions) = (matches.trim(), actions.trim());
    let actions = actions.strip_prefix("actions=").unwrap_or(actions);
    check_flow_text(matches, actions)?;
    let line = format!("{} actions={}", unname_matches(matches, names), unname_actions(actions, names));
    let flow = Flow::parse_dump_line(&line).map_err(|e| FlowModError::BadFlow(e.to_string()))?;
    let owner = match flow.cookie {
        0 => Described { kind: "manual", id: String::new(), text: "manual (cookie 0)".into() },
        c => owners.describe_cookie(c),
    };
    let add = PlannedFlow::of(&flow, owner);
    let replaces = current
        .iter()
        .find(|d| d.flow.key() == flow.key())
        .map(|d| PlannedFlow::of(&d.flow, owner_of(d, owners)));
    let mut warnings = vec![];
    if is_agent_cookie(flow.cookie) {
        warnings.push(agent_warning("new flow", &add));
    }
    if let Some(r) = &replaces {
        warnings.push(format!("replaces flow {} ({}): {}", r.id, r.owner.text, r.flow));
        if current.iter().any(|d| d.flow.key() == flow.key() && is_agent_cookie(d.flow.cookie))
            && !is_agent_cookie(flow.cookie)
        {
            warnings.push(agent_warning("replaced flow", r));
        }
    }
    Ok(AddPlan { bridge: bridge.to_string(), add, replaces, warnings })
}

/// What `Flow::parse_dump_line` would take silently but `ovs-ofctl add-flow` refuses or
/// misreads: empty actions, an `actions=` inside the match, a field without a name, a space,
/// unbalanced parentheses.
fn check_flow_text(matches: &str, actions: &str) -> Result<(), FlowModError> {
    let bad = |why: &str| Err(FlowModError::BadFlow(why.to_string()));
    if actions.is_empty() {
        return bad("no actions (write `drop` to drop)");
    }
    if matches.contains("actions=") {
        return bad("the match holds `actions=`: give the match and the actions apart");
    }
    if matches.split(',').any(|f| f.trim().is_empty() || f.trim().starts_with('=')) && !matches.is_empty() {
        return bad("the match has an empty field");
    }
    if matches.chars().chain(actions.chars()).any(char::is_whitespace) {
        return bad("flow text has spaces (separate fields with commas)");
    }
    let balanced = |s: &str| {
        s.chars()
            .try_fold(0i32, |d, c| {
                let d = d + i32::from(c == '(') - i32::from(c == ')');
                (d >= 0).then_some(d)
            })
            .is_some_and(|d| d == 0)
    };
    if !balanced(actions) || !balanced(matches) {
        return bad("unbalanced parentheses");
    }
    Ok(())
}

/// Plans `delflow BRIDGE ID…`: every id, a FlowId or a prefix of exactly one, found in
/// `current` (the bridge's parsed dump); any unknown or ambiguous id fails the whole plan.
pub fn plan_del(
    bridge: &str,
    ids: &[&str],
    current: &[DumpedFlow],
    owners: &Owners<'_>,
) -> Result<DelPlan, FlowModError> {
    if ids.is_empty() {
        return Err(FlowModError::NoIds);
    }
    let (mut delete, mut warnings): (Vec<PlannedFlow>, Vec<String>) = (vec![], vec![]);
    for raw in ids {
        let id = raw.trim().to_ascii_lowercase();
        let hits: Vec<&DumpedFlow> =
            current.iter().filter(|d| !id.is_empty() && d.id.to_string().starts_with(&id)).collect();
        let d = match hits.as_slice() {
            [one] => *one,
            [] => return Err(FlowModError::UnknownId { bridge: bridge.to_string(), id }),
            many => {
                let candidates = many.iter().map(|d| d.id.to_string()).collect::<Vec<_>>().join(", ");
                return Err(FlowModError::Ambiguous { bridge: bridge.to_string(), id, candidates });
            }
        };
        if delete.iter().any(|p| p.id == d.id.to_string()) {
            continue;
        }
        let planned = PlannedFlow::of(&d.flow, owner_of(d, owners));
        if is_agent_cookie(d.flow.cookie) {
            warnings.push(agent_warning("deleted flow", &planned));
        }
        delete.push(planned);
    }
    Ok(DelPlan { bridge: bridge.to_string(), delete, warnings })
}

impl AddPlan {
    /// Adds the flow (replacing the one of the same key, as `add-flow` does).
    pub fn apply(&self, host: &dyn HostSource) -> Result<(), SourceError> {
        host.add_flow(&self.bridge, &self.add.flow)
    }

    /// What will be done, then the warnings.
    pub fn render(&self) -> String {
        let mut out = format!("add to {}: {}  (id {})\n", self.bridge, self.add.flow, self.add.id);
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}

impl DelPlan {
    /// Deletes the flows strictly (by table, priority and match), in order.
    pub fn apply(&self, host: &dyn HostSource) -> Result<(), SourceError> {
        self.delete.iter().try_for_each(|p| host.del_flow(&self.bridge, &p.strict_match))
    }

    /// The flows to delete (ID, OWNER, FLOW), then the warnings.
    pub fn render(&self) -> String {
        let rows = self.delete.iter().map(|p| vec![p.id.clone(), p.owner.text.clone(), p.flow.clone()]);
        let mut out = format!("delete from {}:\n", self.bridge);
        out.push_str(&plain::table(&["ID", "OWNER", "FLOW"], rows));
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_text_that_ofctl_would_refuse_is_an_error() {
        assert!(check_flow_text("table=5,ip", "").is_err());
        assert!(check_flow_text("table=5,ip,actions=drop", "drop").is_err());
        assert!(check_flow_text("table=5,,ip", "drop").is_err());
        assert!(check_flow_text("table=5, ip", "drop").is_err());
        assert!(check_flow_text("ip", "ct(commit").is_err());
        assert!(check_flow_text("", "drop").is_ok());
        assert!(check_flow_text("table=5,priority=7,ip,nw_dst=10.0.0.0/24", "ct(commit),output:2").is_ok());
    }
}
