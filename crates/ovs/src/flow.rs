//! The OpenFlow flow model: [`Flow`] with its `ovs-ofctl` text (ovs-ofctl(8) "Flow Syntax"),
//! a parser of `ovs-ofctl dump-flows` lines, [`diff`] of desired against installed flows, and
//! [`FlowId`], a flow's stable name for people. Matches and actions are normalised
//! ([`normalize`]) so generated and dumped flows compare equal. A cookie's high 32 bits
//! ([`AGENT_COOKIE_MASK`]) say which agent owns a flow (only its owner deletes it); its low 32
//! bits are the owner's to use (the agent names the object a flow exists for there).

pub mod normalize;

use std::collections::BTreeMap;
use std::fmt;

use crate::group::GroupMod;

/// A flow. `matches` and `actions` are `ovs-ofctl` text; [`Flow::new`] normalises them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow {
    pub table: u8,
    pub priority: u16,
    pub cookie: u64,
    pub matches: String,
    pub actions: String,
}

/// A flow's identity in a table: OpenFlow allows one flow per (table, priority, match).
pub type FlowKey = (u8, u16, String);

/// A flow's stable identity for people (`dump` columns, `delflow` arguments): a hash of its key
/// (table, priority, normalised match), so the same flow has the same id in every dump, on
/// every host and across restarts, whatever its actions, cookie or counters. The hash is 64-bit
/// FNV-1a, written out here because std's hasher promises no stability across releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u64);

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for FlowId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(FlowId)
    }
}

/// What to change to go from the installed flows (and groups) to the desired ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowDelta {
    /// Flows to add; an add replaces an installed flow with the same key.
    pub add: Vec<Flow>,
    /// Flows to remove (strictly, by key).
    pub delete: Vec<Flow>,
    /// Group changes, in order ([`crate::group::diff_groups`]).
    pub groups: Vec<GroupMod>,
}

impl FlowDelta {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.delete.is_empty() && self.groups.is_empty()
    }
}

/// A `dump-flows` line (or flow text) that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse flow {line:?}: {reason}")]
pub struct FlowParseError {
    pub line: String,
    pub reason: String,
}

/// The bits of a cookie that name the agent owning a flow; the other bits are free for the agent
/// (it tags each flow with the object it exists for).
pub const AGENT_COOKIE_MASK: u64 = 0xffff_ffff_0000_0000;

/// Whether a flow with `cookie` belongs to the agent whose cookie is `agent`.
pub fn owned_by(cookie: u64, agent: u64) -> bool {
    cookie & AGENT_COOKIE_MASK == agent & AGENT_COOKIE_MASK
}

/// OpenFlow's default priority, which `ovs-ofctl` leaves out of its output.
pub const DEFAULT_PRIORITY: u16 = 32768;

impl Flow {
    /// A flow with normalised match and action text.
    pub fn new(table: u8, priority: u16, cookie: u64, matches: &str, actions: &str) -> Flow {
        Flow {
            table,
            priority,
            cookie,
            matches: normalize::matches(matches),
            actions: normalize::actions(actions),
        }
    }

    pub fn key(&self) -> FlowKey {
        (self.table, self.priority, self.matches.clone())
    }

    /// The flow's [`FlowId`].
    pub fn id(&self) -> FlowId {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let key = format!("{},{},{}", self.table, self.priority, self.matches);
        FlowId(key.bytes().fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME)))
    }

    /// The flow as an `ovs-ofctl add-flow` argument (without the `add` keyword).
    pub fn to_add_line(&self) -> String {
        let actions = if self.actions.is_empty() { "drop" } else { &self.actions };
        format!("{},actions={actions}", self.match_spec_with_cookie())
    }

    /// `table=..,priority=..,<matches>`: the strict key, as `delete_strict` wants it.
    pub fn strict_match(&self) -> String {
        let mut s = format!("table={},priority={}", self.table, self.priority);
        if !self.matches.is_empty() {
            s.push(',');
            s.push_str(&self.matches);
        }
        s
    }

    fn match_spec_with_cookie(&self) -> String {
        format!(
            "table={},priority={},cookie={:#x}{}{}",
            self.table,
            self.priority,
            self.cookie,
            if self.matches.is_empty() { "" } else { "," },
            self.matches
        )
    }

    /// Parses one line of `ovs-ofctl dump-flows` output (with or without `--no-stats`).
    /// Statistics (`duration`, `n_packets`, `n_bytes`, `idle_age`, `hard_age`) and timeouts
    /// are dropped; `table` and `cookie` default to 0 and priority to 32768 as ovs-ofctl
    /// omits them then.
    pub fn parse_dump_line(line: &str) -> Result<Flow, FlowParseError> {
        let err = |reason: &str| FlowParseError { line: line.to_string(), reason: reason.to_string() };
        let text = line.trim();
        let (head, actions) = text.split_once("actions=").ok_or_else(|| err("no actions="))?;
        let (mut table, mut priority, mut cookie) = (0u8, DEFAULT_PRIORITY, 0u64);
        let mut matches = Vec::new();
        for field in head.split([',', ' ']).map(str::trim).filter(|f| !f.is_empty()) {
            let (name, value) = match field.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (field, None),
            };
            match (name, value) {
                ("table", Some(v)) => table = v.parse().map_err(|_| err("bad table"))?,
                ("priority", Some(v)) => priority = v.parse().map_err(|_| err("bad priority"))?,
                ("cookie", Some(v)) => {
                    let v = v.split('/').next().unwrap_or(v);
                    cookie = normalize::parse_u64(v).ok_or_else(|| err("bad cookie"))?;
                }
                (
                    "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" | "idle_timeout"
                    | "hard_timeout" | "importance",
                    Some(_),
                ) => {}
                (
                    "reset_counts" | "send_flow_rem" | "check_overlap" | "no_packet_counts"
                    | "no_byte_counts" | "no_readonly_table",
                    None,
                ) => {}
                _ => matches.push(field),
            }
        }
        Ok(Flow {
            table,
            priority,
            cookie,
            matches: normalize::matches(&matches.join(",")),
            actions: normalize::actions(actions.trim()),
        })
    }

    /// Parses a whole `dump-flows` output, skipping the reply header lines.
    pub fn parse_dump(text: &str) -> Result<Vec<Flow>, FlowParseError> {
        text.lines().map(str::trim).filter(|l| l.contains("actions=")).map(Flow::parse_dump_line).collect()
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_add_line())
    }
}

/// The changes that turn `installed` into `desired`. Only installed flows whose cookie is
/// [`owned_by`] `cookie` are ours to delete; everything else is left alone. A desired flow whose key is installed
/// with different actions (or another cookie) is added again, which replaces it.
pub fn diff(desired: &[Flow], installed: &[Flow], cookie: u64) -> FlowDelta {
    let installed_by_key: BTreeMap<FlowKey, &Flow> = installed.iter().map(|f| (f.key(), f)).collect();
    let desired_by_key: BTreeMap<FlowKey, &Flow> = desired.iter().map(|f| (f.key(), f)).collect();
    let mut delta = FlowDelta::default();
    for (key, want) in &desired_by_key {
        match installed_by_key.get(key) {
            Some(have) if have.actions == want.actions && have.cookie == want.cookie => {}
            _ => delta.add.push((*want).clone()),
        }
    }
    for (key, have) in &installed_by_key {
        if owned_by(have.cookie, cookie) && !desired_by_key.contains_key(key) {
            delta.delete.push((*have).clone());
        }
    }
    delta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dump_lines_with_and_without_stats() {
        let a = Flow::parse_dump_line(
            " cookie=0x5, duration=0.116s, table=0, n_packets=0, n_bytes=0, idle_age=9, priority=10,in_port=1,dl_vlan=5 actions=mod_vlan_vid:7,output:2",
        )
        .unwrap();
        assert_eq!(a, Flow::new(0, 10, 5, "in_port=1,dl_vlan=5", "mod_vlan_vid:7,output:2"));
        let b = Flow::parse_dump_line(" cookie=0x7, table=7, ip actions=drop").unwrap();
        assert_eq!((b.table, b.priority, b.cookie, b.matches.as_str()), (7, 32768, 7, "ip"));
        let c = Flow::parse_dump_line(" priority=0 actions=NORMAL").unwrap();
        assert_eq!((c.table, c.cookie, c.matches.as_str(), c.actions.as_str()), (0, 0, "", "NORMAL"));
        assert!(Flow::parse_dump_line("NXST_FLOW reply (xid=0x4):").is_err());
        assert!(Flow::parse_dump_line("table=x, actions=drop").is_err());
        let all = Flow::parse_dump("NXST_FLOW reply (xid=0x4):\n priority=0 actions=drop\n").unwrap();
        assert_eq!(all.len(), 1);
    }

    #[test]
    fn add_line_round_trips() {
        let f = Flow::new(3, 5, 0x1234, "arp,dl_vlan=4", "strip_vlan,output:1");
        assert_eq!(
            f.to_add_line(),
            "table=3,priority=5,cookie=0x1234,arp,dl_vlan=4,actions=strip_vlan,output:1"
        );
        assert_eq!(Flow::parse_dump_line(&f.to_add_line()).unwrap(), f);
        let empty = Flow::new(0, 0, 0, "", "");
        assert_eq!(empty.to_add_line(), "table=0,priority=0,cookie=0x0,actions=drop");
        // An empty action list is `drop`, which is how ovs-ofctl dumps it back.
        assert_eq!(Flow::parse_dump_line(" priority=0 actions=drop").unwrap(), empty);
        assert_eq!(Flow::parse_dump_line(&empty.to_add_line()).unwrap(), empty);
        assert_eq!(empty.strict_match(), "table=0,priority=0");
    }

    #[test]
    fn ids_name_the_key_and_are_stable() {
        let a = Flow::new(60, 90, 0x1, "dl_vlan=3,dl_dst=FA:16:3E:00:00:01", "output:2");
        // Another spelling of the same match, other actions, another cookie: the same flow.
        let b = Flow::new(60, 90, 0x2, "dl_dst=fa:16:3e:00:00:01,dl_vlan=3", "drop");
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), Flow::new(60, 91, 0x1, &a.matches, &a.actions).id());
        assert_ne!(a.id(), Flow::new(61, 90, 0x1, &a.matches, &a.actions).id());
        // Pinned: an id printed today names the same flow tomorrow.
        assert_eq!(Flow::new(0, 0, 0, "", "drop").id().to_string(), "d08fcdf962c07ae5");
        assert_eq!(a.id().to_string().parse::<FlowId>(), Ok(a.id()));
        assert_eq!(a.id().to_string().len(), 16);
    }

    #[test]
    fn diff_only_deletes_our_cookie_and_readds_changed_actions() {
        let ours = 0xabc_0000_0000;
        let keep = Flow::new(0, 1, ours, "", "NORMAL");
        let change_want = Flow::new(0, 10, ours, "in_port=1", "output:2");
        let change_have = Flow::new(0, 10, ours, "in_port=1", "output:3");
        // Ours whatever its low 32 bits (the agent's tag of the flow's object).
        let stale = Flow::new(1, 5, ours | 0x77, "dl_vlan=4", "drop");
        let foreign = Flow::new(1, 6, 0x1, "dl_vlan=4", "drop");
        let new = Flow::new(2, 5, ours, "ip", "resubmit(,3)");
        let d = diff(
            &[keep.clone(), change_want.clone(), new.clone()],
            &[keep, change_have, stale.clone(), foreign],
            ours,
        );
        assert_eq!(d.add, vec![change_want, new]);
        assert_eq!(d.delete, vec![stale]);
        assert!(diff(&[], &[], ours).is_empty());
    }
}
