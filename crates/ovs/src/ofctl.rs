//! Flow programming: the [`FlowProgrammer`] trait, its `ovs-ofctl` implementation
//! ([`OvsOfctl`]; ovs-ofctl(8): `dump-flows`, `dump-groups`, and `bundle` for atomic OpenFlow 1.5
//! bundles of flow and group mods) and an in-memory fake ([`FakeFlowProgrammer`]); plus the
//! canary flow that detects an ovs-vswitchd restart the way Neutron's OVS agent does
//! (`check_ovs_status`).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::flow::{AGENT_COOKIE_MASK, Flow, FlowDelta, FlowKey, FlowParseError, owned_by};
use crate::group::{Group, apply_mods, split_deletes};

/// Errors of flow programming.
#[derive(Debug, thiserror::Error)]
pub enum OfctlError {
    #[error("cannot run an Open vSwitch tool: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("{command} on {bridge} failed: {stderr}")]
    Failed { bridge: String, command: String, stderr: String },
    #[error(transparent)]
    Parse(#[from] FlowParseError),
}

/// Reads and atomically changes a bridge's OpenFlow tables.
pub trait FlowProgrammer: Send + Sync {
    /// The bridge's flows; with `Some(cookie)` only those of that cookie's agent (the same
    /// [`AGENT_COOKIE_MASK`] bits, see [`owned_by`]).
    fn dump(
        &self,
        bridge: &str,
        cookie: Option<u64>,
    ) -> impl Future<Output = Result<Vec<Flow>, OfctlError>> + Send;

    /// The bridge's groups, by id (all of them: groups carry no cookie).
    fn dump_groups(&self, bridge: &str) -> impl Future<Output = Result<Vec<Group>, OfctlError>> + Send;

    /// Applies all group changes, deletes and adds of `delta` as one transaction: all or
    /// nothing.
    fn apply(&self, bridge: &str, delta: &FlowDelta) -> impl Future<Output = Result<(), OfctlError>> + Send;

    /// Whether `flow` (same key, cookie and actions) is installed.
    fn has_flow(&self, bridge: &str, flow: &Flow) -> impl Future<Output = Result<bool, OfctlError>> + Send {
        async move { Ok(self.dump(bridge, Some(flow.cookie)).await?.contains(flow)) }
    }
}

/// Neutron's canary table on `br-int`: a flow there that vanished means ovs-vswitchd restarted
/// (OpenFlow tables live in its memory; OVSDB keeps no trace of the restart).
pub const CANARY_TABLE: u8 = 23;

/// The canary flow: table [`CANARY_TABLE`], priority 0, our cookie, `drop`.
pub fn canary_flow(cookie: u64) -> Flow {
    Flow::new(CANARY_TABLE, 0, cookie, "", "drop")
}

/// Installs the canary flow (after the agent programmed the bridge).
pub async fn ensure_canary<P: FlowProgrammer>(p: &P, bridge: &str, cookie: u64) -> Result<(), OfctlError> {
    p.apply(bridge, &FlowDelta { add: vec![canary_flow(cookie)], ..Default::default() }).await
}

/// `true` if the canary flow is gone, i.e. ovs-vswitchd lost its flows (restart) since
/// [`ensure_canary`]: the caller must reprogram every flow, then call `ensure_canary` again.
pub async fn restarted<P: FlowProgrammer>(p: &P, bridge: &str, cookie: u64) -> Result<bool, OfctlError> {
    Ok(!p.has_flow(bridge, &canary_flow(cookie)).await?)
}

/// The bundle file `apply` feeds to `ovs-ofctl -O OpenFlow15 bundle BR -`: the group adds
/// and bucket changes first (a flow added may output to a new group), then one
/// `flow delete_strict <table,priority,match>` line per delete and one `flow add <flow>` per
/// add, and the group deletes last (Open vSwitch deletes the flows using a deleted group).
pub fn bundle_text(delta: &FlowDelta) -> String {
    let mut s = String::new();
    let (changes, deletes) = split_deletes(&delta.groups);
    for m in changes {
        s.push_str(&m.bundle_line());
        s.push('\n');
    }
    for f in &delta.delete {
        s.push_str("flow delete_strict ");
        s.push_str(&f.strict_match());
        s.push('\n');
    }
    for f in &delta.add {
        s.push_str("flow add ");
        s.push_str(&f.to_add_line());
        s.push('\n');
    }
    for m in deletes {
        s.push_str(&m.bundle_line());
        s.push('\n');
    }
    s
}

/// [`FlowProgrammer`] running `ovs-ofctl` against the `<bridge>.mgmt` socket in `rundir`
/// (the `OVS_RUNDIR` of that ovs-vswitchd), from the current network namespace.
#[derive(Debug, Clone)]
pub struct OvsOfctl {
    rundir: PathBuf,
}

impl OvsOfctl {
    pub fn new(rundir: impl Into<PathBuf>) -> OvsOfctl {
        OvsOfctl { rundir: rundir.into() }
    }

    async fn run(
        &self,
        bridge: &str,
        command: &str,
        args: &[&str],
        stdin: Option<String>,
    ) -> Result<String, OfctlError> {
        run_tool("ovs-ofctl", &self.rundir, bridge, command, args, stdin).await
    }

    async fn dump_filtered(&self, bridge: &str, filter: Option<String>) -> Result<Vec<Flow>, OfctlError> {
        // OpenFlow 1.0 (+ NXM) output is the closest to what we write: with 1.3+ ovs-ofctl
        // prints `mod_vlan_vid` as `push_vlan`/`set_field` and so on.
        let mut args = vec!["-O", "OpenFlow10", "--no-names", "--no-stats", "dump-flows", bridge];
        if let Some(f) = filter.as_deref() {
            args.push(f);
        }
        Ok(Flow::parse_dump(&self.run(bridge, "dump-flows", &args, None).await?)?)
    }
}

/// Runs an Open vSwitch tool (`ovs-ofctl`, `ovs-appctl`) with `OVS_RUNDIR=rundir`, feeding it
/// `stdin`; its stdout, or [`OfctlError::Failed`] naming `target` and `command`.
pub(crate) async fn run_tool(
    program: &str,
    rundir: &std::path::Path,
    target: &str,
    command: &str,
    args: &[&str],
    stdin: Option<String>,
) -> Result<String, OfctlError> {
    let mut cmd = Command::new(program);
    cmd.env("OVS_RUNDIR", rundir)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // Write in a task so a large bundle cannot deadlock against a full stdout pipe.
        tokio::spawn(async move {
            let _ = pipe.write_all(text.as_bytes()).await;
        });
    }
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        return Err(OfctlError::Failed {
            bridge: target.to_string(),
            command: format!("{program} {command}"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl FlowProgrammer for OvsOfctl {
    async fn dump(&self, bridge: &str, cookie: Option<u64>) -> Result<Vec<Flow>, OfctlError> {
        self.dump_filtered(
            bridge,
            cookie.map(|c| format!("cookie={:#x}/{:#x}", c & AGENT_COOKIE_MASK, AGENT_COOKIE_MASK)),
        )
        .await
    }

    async fn apply(&self, bridge: &str, delta: &FlowDelta) -> Result<(), OfctlError> {
        if delta.is_empty() {
            return Ok(());
        }
        // OpenFlow 1.5: the first version with bucket ids (`insert_bucket`/`remove_bucket`).
        // `--no-names`: otherwise ovs-ofctl first asks the switch for every port's description
        // (to accept port names in the text), which costs tens of ms with a thousand ports.
        let args = ["-O", "OpenFlow15", "--no-names", "bundle", bridge, "-"];
        self.run(bridge, "bundle", &args, Some(bundle_text(delta))).await.map(|_| ())
    }

    async fn dump_groups(&self, bridge: &str) -> Result<Vec<Group>, OfctlError> {
        let args = ["-O", "OpenFlow15", "--no-names", "dump-groups", bridge];
        let mut groups = Group::parse_dump(&self.run(bridge, "dump-groups", &args, None).await?)?;
        groups.sort_by_key(|g| g.id);
        Ok(groups)
    }

    async fn has_flow(&self, bridge: &str, flow: &Flow) -> Result<bool, OfctlError> {
        // dump-flows filters are non-strict and take no priority: narrow, then compare exactly.
        let mut filter = format!("table={},cookie={:#x}/-1", flow.table, flow.cookie);
        if !flow.matches.is_empty() {
            filter.push(',');
            filter.push_str(&flow.matches);
        }
        Ok(self.dump_filtered(bridge, Some(filter)).await?.iter().any(|f| f == flow))
    }
}

/// In-memory per-bridge flow tables and groups for the agent's tests. Like Open vSwitch it
/// rejects a bundle whose flows output to a group that does not exist, and deleting a group
/// deletes the flows that output to it.
#[derive(Debug, Default)]
pub struct FakeFlowProgrammer {
    tables: Mutex<BTreeMap<String, BTreeMap<FlowKey, Flow>>>,
    groups: Mutex<BTreeMap<String, BTreeMap<u32, Group>>>,
    applies: AtomicUsize,
    fail_next: AtomicBool,
}

impl FakeFlowProgrammer {
    pub fn new() -> FakeFlowProgrammer {
        FakeFlowProgrammer::default()
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BTreeMap<FlowKey, Flow>>> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn group_tables(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BTreeMap<u32, Group>>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// All groups of a bridge, by id.
    pub fn groups(&self, bridge: &str) -> Vec<Group> {
        self.group_tables().get(bridge).map(|t| t.values().cloned().collect()).unwrap_or_default()
    }

    /// All flows of a bridge, in key order.
    pub fn flows(&self, bridge: &str) -> Vec<Flow> {
        self.tables().get(bridge).map(|t| t.values().cloned().collect()).unwrap_or_default()
    }

    /// Installs a flow directly (e.g. someone else's flow with another cookie).
    pub fn install(&self, bridge: &str, flow: Flow) {
        self.tables().entry(bridge.to_string()).or_default().insert(flow.key(), flow);
    }

    /// Forgets a bridge's flows and groups, as an ovs-vswitchd restart does.
    pub fn clear(&self, bridge: &str) {
        self.tables().remove(bridge);
        self.group_tables().remove(bridge);
    }

    /// Number of successful `apply` calls that changed something.
    pub fn apply_count(&self) -> usize {
        self.applies.load(Ordering::SeqCst)
    }

    /// Makes the next `apply` fail without changing anything, as a rejected bundle.
    pub fn fail_next_apply(&self) {
        self.fail_next.store(true, Ordering::SeqCst);
    }
}

impl FlowProgrammer for FakeFlowProgrammer {
    async fn dump(&self, bridge: &str, cookie: Option<u64>) -> Result<Vec<Flow>, OfctlError> {
        Ok(self.flows(bridge).into_iter().filter(|f| cookie.is_none_or(|c| owned_by(f.cookie, c))).collect())
    }

    async fn apply(&self, bridge: &str, delta: &FlowDelta) -> Result<(), OfctlError> {
        if delta.is_empty() {
            return Ok(());
        }
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(OfctlError::Failed {
                bridge: bridge.to_string(),
                command: "bundle".into(),
                stderr: "simulated bundle failure".into(),
            });
        }
        let mut tables = self.tables();
        let mut all_groups = self.group_tables();
        let mut groups = all_groups.get(bridge).cloned().unwrap_or_default();
        let (changes, deletes) = split_deletes(&delta.groups);
        apply_mods(&mut groups, changes);
        let mut table = tables.get(bridge).cloned().unwrap_or_default();
        for f in &delta.delete {
            table.remove(&f.key());
        }
        for f in &delta.add {
            if let Some(g) = output_group(&f.actions).filter(|g| !groups.contains_key(g)) {
                return Err(OfctlError::Failed {
                    bridge: bridge.to_string(),
                    command: "bundle".into(),
                    stderr: format!("OFPBAC_BAD_OUT_GROUP: {} outputs to group {g}, which does not exist", f),
                });
            }
            table.insert(f.key(), f.clone());
        }
        apply_mods(&mut groups, deletes);
        table.retain(|_, f| output_group(&f.actions).is_none_or(|g| groups.contains_key(&g)));
        tables.insert(bridge.to_string(), table);
        all_groups.insert(bridge.to_string(), groups);
        self.applies.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn dump_groups(&self, bridge: &str) -> Result<Vec<Group>, OfctlError> {
        Ok(self.groups(bridge))
    }
}

/// The group a flow's actions output to, if any (`group:N`).
fn output_group(actions: &str) -> Option<u32> {
    crate::flow::normalize::split_top(actions)
        .into_iter()
        .find_map(|a| a.strip_prefix("group:")?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::diff;
    use crate::group::GroupMod;

    #[test]
    fn bundle_text_orders_groups_around_flows() {
        let g = Group { id: 3, buckets: [(0, "output:1".to_string())].into() };
        let d = FlowDelta {
            add: vec![Flow::new(0, 1, 5, "", "group:3")],
            delete: vec![Flow::new(2, 3, 5, "ip", "drop")],
            groups: vec![GroupMod::Delete(4), GroupMod::Add(g)],
        };
        assert_eq!(
            bundle_text(&d),
            "group add_or_mod group_id=3,type=all,bucket=bucket_id:0,actions=output:1\n\
             flow delete_strict table=2,priority=3,ip\n\
             flow add table=0,priority=1,cookie=0x5,actions=group:3\n\
             group delete group_id=4\n"
        );
    }

    #[tokio::test]
    async fn the_fake_keeps_groups_and_the_flows_that_use_them_consistent() {
        let p = FakeFlowProgrammer::new();
        let flood = Flow::new(94, 10, 5, "dl_vlan=3", "group:3");
        let add_flow = FlowDelta { add: vec![flood.clone()], ..Default::default() };
        assert!(p.apply("br-int", &add_flow).await.is_err(), "no group 3 yet");
        assert!(p.flows("br-int").is_empty(), "a rejected bundle changes nothing");
        let g = Group { id: 3, buckets: [(0, "output:1".to_string())].into() };
        let both = FlowDelta { groups: vec![GroupMod::Add(g.clone())], ..add_flow };
        p.apply("br-int", &both).await.unwrap();
        assert_eq!((p.flows("br-int"), p.dump_groups("br-int").await.unwrap()), (vec![flood], vec![g]));
        let insert = GroupMod::InsertBuckets { group: 3, buckets: [(7, "output:7".to_string())].into() };
        p.apply("br-int", &FlowDelta { groups: vec![insert], ..Default::default() }).await.unwrap();
        assert_eq!(p.groups("br-int")[0].buckets.len(), 2);
        p.apply("br-int", &FlowDelta { groups: vec![GroupMod::Delete(3)], ..Default::default() })
            .await
            .unwrap();
        assert!(p.groups("br-int").is_empty());
        assert!(p.flows("br-int").is_empty(), "deleting a group deletes the flows that use it");
    }

    #[tokio::test]
    async fn fake_applies_deltas_and_detects_restart() {
        let p = FakeFlowProgrammer::new();
        p.install("br-int", Flow::new(0, 0, 0x1, "", "NORMAL"));
        let desired = vec![Flow::new(0, 10, 0x5, "in_port=1", "output:2"), Flow::new(0, 0, 0x5, "", "drop")];
        let d = diff(&desired, &p.dump("br-int", None).await.unwrap(), 0x5);
        p.fail_next_apply();
        assert!(p.apply("br-int", &d).await.is_err());
        assert_eq!(p.flows("br-int").len(), 1);
        p.apply("br-int", &d).await.unwrap();
        assert_eq!(p.dump("br-int", Some(0x5)).await.unwrap().len(), 2);
        assert!(diff(&desired, &p.dump("br-int", None).await.unwrap(), 0x5).is_empty());
        ensure_canary(&p, "br-int", 0x5).await.unwrap();
        assert!(!restarted(&p, "br-int", 0x5).await.unwrap());
        p.clear("br-int");
        assert!(restarted(&p, "br-int", 0x5).await.unwrap());
        assert_eq!(p.apply_count(), 2);
    }
}
