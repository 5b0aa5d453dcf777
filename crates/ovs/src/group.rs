//! OpenFlow groups of type `all` (ovs-ofctl(8) "Group Syntax", with OpenFlow 1.5 bucket ids):
//! [`Group`] and its text, a parser of `ovs-ofctl -O OpenFlow15 dump-groups`, and
//! [`diff_groups`], which turns a change of members into bucket-level changes
//! (`insert_bucket`/`remove_bucket`) so that one member joining a group of a thousand is one
//! bucket in the bundle, not the whole group rewritten.
//!
//! Bucket actions are kept as text in the form `dump-groups` prints them under OpenFlow 1.5
//! (`set_field:0x5->reg6`, `pop_vlan`, …): whoever builds a group writes that form, so that a
//! dumped group compares equal to the one that was written.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::flow::FlowParseError;

/// A group of type `all`: every bucket gets its own copy of the packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group {
    pub id: u32,
    /// Bucket id → the bucket's actions.
    pub buckets: BTreeMap<u32, String>,
}

/// One change to a bridge's groups, as a line of an OpenFlow 1.5 bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupMod {
    /// Creates a group (or replaces it whole: `add_or_mod`).
    Add(Group),
    /// Adds buckets to an existing group, after its others.
    InsertBuckets { group: u32, buckets: BTreeMap<u32, String> },
    /// Removes one bucket of an existing group.
    RemoveBucket { group: u32, bucket: u32 },
    /// Deletes a group. Open vSwitch also deletes the flows that output to it.
    Delete(u32),
}

fn buckets_text(buckets: &BTreeMap<u32, String>) -> String {
    let mut s = String::new();
    for (id, actions) in buckets {
        let actions = if actions.is_empty() { "drop" } else { actions };
        let _ = write!(s, ",bucket=bucket_id:{id},actions={actions}");
    }
    s
}

impl Group {
    /// The group as `group_id=..,type=all,bucket=..` text.
    pub fn spec(&self) -> String {
        format!("group_id={},type=all{}", self.id, buckets_text(&self.buckets))
    }

    /// Parses one group line of `ovs-ofctl -O OpenFlow15 dump-groups`.
    pub fn parse_dump_line(line: &str) -> Result<Group, FlowParseError> {
        let err = |reason: &str| FlowParseError { line: line.to_string(), reason: reason.to_string() };
        let text = line.trim();
        let mut parts = text.split(",bucket=");
        let head = parts.next().unwrap_or_default();
        let mut id = None;
        for field in head.split(',') {
            match field.split_once('=') {
                Some(("group_id", v)) => id = Some(v.parse().map_err(|_| err("bad group_id"))?),
                Some(("type", "all")) => {}
                Some(("type", _)) => return Err(err("not a group of type all")),
                _ => {}
            }
        }
        let mut buckets = BTreeMap::new();
        for b in parts {
            let rest = b.strip_prefix("bucket_id:").ok_or_else(|| err("a bucket without bucket_id"))?;
            let (bid, actions) =
                rest.split_once(",actions=").ok_or_else(|| err("a bucket without actions"))?;
            let actions = if actions == "drop" { "" } else { actions };
            buckets.insert(bid.parse().map_err(|_| err("bad bucket_id"))?, actions.to_string());
        }
        Ok(Group { id: id.ok_or_else(|| err("no group_id"))?, buckets })
    }

    /// Parses a whole `dump-groups` output, skipping the reply header.
    pub fn parse_dump(text: &str) -> Result<Vec<Group>, FlowParseError> {
        text.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("group_id="))
            .map(Group::parse_dump_line)
            .collect()
    }
}

impl GroupMod {
    /// The mod as a line of an `ovs-ofctl -O OpenFlow15 bundle` file.
    pub fn bundle_line(&self) -> String {
        match self {
            GroupMod::Add(g) => format!("group add_or_mod {}", g.spec()),
            GroupMod::InsertBuckets { group, buckets } => {
                format!(
                    "group insert_bucket group_id={group},command_bucket_id=last{}",
                    buckets_text(buckets)
                )
            }
            GroupMod::RemoveBucket { group, bucket } => {
                format!("group remove_bucket group_id={group},command_bucket_id={bucket}")
            }
            GroupMod::Delete(id) => format!("group delete group_id={id}"),
        }
    }
}

/// The changes that turn the `installed` groups into the `desired` ones: a new group is added
/// whole, a gone one deleted, and a kept one changed bucket by bucket (a bucket whose actions
/// changed is removed and inserted again). Adds and bucket changes come first in the result,
/// deletes last: a flow may be added that outputs to a new group, and deleting a group takes
/// the flows that use it along.
pub fn diff_groups(desired: &[Group], installed: &[Group]) -> Vec<GroupMod> {
    let have: BTreeMap<u32, &Group> = installed.iter().map(|g| (g.id, g)).collect();
    let want: BTreeMap<u32, &Group> = desired.iter().map(|g| (g.id, g)).collect();
    let mut out = vec![];
    for (id, w) in &want {
        let Some(h) = have.get(id) else {
            out.push(GroupMod::Add((*w).clone()));
            continue;
        };
        let mut insert = BTreeMap::new();
        for (bid, actions) in &w.buckets {
            match h.buckets.get(bid) {
                Some(a) if a == actions => {}
                Some(_) => {
                    out.push(GroupMod::RemoveBucket { group: *id, bucket: *bid });
                    insert.insert(*bid, actions.clone());
                }
                None => {
                    insert.insert(*bid, actions.clone());
                }
            }
        }
        for bid in h.buckets.keys().filter(|b| !w.buckets.contains_key(b)) {
            out.push(GroupMod::RemoveBucket { group: *id, bucket: *bid });
        }
        if !insert.is_empty() {
            out.push(GroupMod::InsertBuckets { group: *id, buckets: insert });
        }
    }
    out.extend(have.keys().filter(|id| !want.contains_key(id)).map(|id| GroupMod::Delete(*id)));
    out
}

/// `mods` split as a bundle orders them: the adds and bucket changes (before the flows, which
/// may output to a new group), then the deletes (after them: a deleted group takes the flows
/// that use it along).
pub fn split_deletes(mods: &[GroupMod]) -> (Vec<&GroupMod>, Vec<&GroupMod>) {
    mods.iter().partition(|m| !matches!(m, GroupMod::Delete(_)))
}

/// Applies `mods` to a bridge's groups held in memory (the fakes, and tests of [`diff_groups`]).
pub fn apply_mods<'a>(groups: &mut BTreeMap<u32, Group>, mods: impl IntoIterator<Item = &'a GroupMod>) {
    for m in mods {
        match m {
            GroupMod::Add(g) => {
                groups.insert(g.id, g.clone());
            }
            GroupMod::InsertBuckets { group, buckets } => {
                if let Some(g) = groups.get_mut(group) {
                    g.buckets.extend(buckets.iter().map(|(k, v)| (*k, v.clone())));
                }
            }
            GroupMod::RemoveBucket { group, bucket } => {
                if let Some(g) = groups.get_mut(group) {
                    g.buckets.remove(bucket);
                }
            }
            GroupMod::Delete(id) => {
                groups.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: u32, buckets: &[(u32, &str)]) -> Group {
        Group { id, buckets: buckets.iter().map(|(b, a)| (*b, a.to_string())).collect() }
    }

    #[test]
    fn parses_what_dump_groups_prints() {
        let text = "OFPST_GROUP_DESC reply (OF1.5) (xid=0x2):\n group_id=5,type=all,bucket=bucket_id:0,\
                    actions=output:3,bucket=bucket_id:7,actions=set_field:0x5->reg6,pop_vlan,\
                    set_field:0x7->reg5,resubmit(,81)\n group_id=9,type=all\n";
        let got = Group::parse_dump(text).unwrap();
        let want = vec![
            group(
                5,
                &[(0, "output:3"), (7, "set_field:0x5->reg6,pop_vlan,set_field:0x7->reg5,resubmit(,81)")],
            ),
            group(9, &[]),
        ];
        assert_eq!(got, want);
        assert_eq!(Group::parse_dump_line(&got[0].spec()).unwrap(), got[0]);
        assert!(Group::parse_dump_line("group_id=1,type=select,bucket=bucket_id:0,actions=drop").is_err());
        assert!(Group::parse_dump_line("group_id=x,type=all").is_err());
    }

    #[test]
    fn a_member_joining_is_one_bucket() {
        let big: Vec<(u32, String)> = (1..=1000).map(|p| (p, format!("output:{p}"))).collect();
        let have = Group { id: 3, buckets: big.iter().cloned().collect() };
        let mut want = have.clone();
        want.buckets.insert(1001, "output:1001".into());
        let mods = diff_groups(std::slice::from_ref(&want), std::slice::from_ref(&have));
        assert_eq!(
            mods,
            vec![GroupMod::InsertBuckets { group: 3, buckets: [(1001, "output:1001".into())].into() }]
        );
        assert!(mods[0].bundle_line().len() < 100, "{}", mods[0].bundle_line());
        // And leaving is one bucket too.
        assert_eq!(
            diff_groups(std::slice::from_ref(&have), std::slice::from_ref(&want)),
            vec![GroupMod::RemoveBucket { group: 3, bucket: 1001 }]
        );
        assert!(diff_groups(std::slice::from_ref(&have), std::slice::from_ref(&have)).is_empty());
    }

    #[test]
    fn diff_then_apply_reaches_the_desired_groups() {
        let installed = vec![group(1, &[(0, "output:1"), (2, "output:2")]), group(2, &[(0, "output:9")])];
        let desired = vec![group(1, &[(0, "output:1"), (2, "output:3"), (4, "output:4")]), group(3, &[])];
        let mods = diff_groups(&desired, &installed);
        assert_eq!(mods.last(), Some(&GroupMod::Delete(2)), "deletes come last");
        let mut groups: BTreeMap<u32, Group> = installed.into_iter().map(|g| (g.id, g)).collect();
        apply_mods(&mut groups, &mods);
        assert_eq!(groups.into_values().collect::<Vec<_>>(), desired);
    }

    #[test]
    fn bundle_lines() {
        let g = group(4, &[(0, "output:1"), (3, "")]);
        assert_eq!(
            GroupMod::Add(g).bundle_line(),
            "group add_or_mod group_id=4,type=all,bucket=bucket_id:0,actions=output:1,bucket=bucket_id:3,actions=drop"
        );
        assert_eq!(
            GroupMod::RemoveBucket { group: 4, bucket: 3 }.bundle_line(),
            "group remove_bucket group_id=4,command_bucket_id=3"
        );
        assert_eq!(GroupMod::Delete(4).bundle_line(), "group delete group_id=4");
    }
}
