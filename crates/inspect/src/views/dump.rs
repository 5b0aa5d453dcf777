//! `dump BRIDGE [filter]`: a bridge's flow table compactly, as EasyOVS's `dump` but with
//! stable ids — each flow's [`FlowId`](neutrino_ovs::flow::FlowId) (a hash of table, priority
//! and normalised match, so counters, cookies and other flows never change it), its table with
//! the stage name of the bridge's role (`neutrino_agent::flows::tables`), packets, priority,
//! match and actions with OpenFlow port numbers shown as interface names, and the API object the
//! flow exists for (its cookie's owner, [`crate::owners`]). Sorted by table, then priority
//! (highest first), then match. What it reads of a bridge (the dump and the bridge's port
//! names from OVSDB) is [`read_bridge`]'s.

use std::collections::BTreeMap;

use neutrino_agent::flows::tables;
use neutrino_ovs::flow::normalize::split_top;
use serde::Serialize;

use super::plain;
use crate::owners::{Described, Owners};
use crate::parse::ParseError;
use crate::parse::flows::{DumpedFlow, parse_dump};
use crate::parse::ovsdb::{Row, parse_list};
use crate::source::{HostSource, SourceError};

/// What a bridge is for, which names its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BridgeRole {
    /// The integration bridge (`br-int`): stages of `tables::int_stage`.
    Integration,
    /// The tunnel bridge (`br-tun`): stages of `tables::tun_stage`.
    Tunnel,
    /// Physical and other bridges: tables have no stage names.
    Other,
}

impl BridgeRole {
    /// The role of `bridge` on a host whose integration and tunnel bridges are named so.
    pub fn of(bridge: &str, integration: &str, tunnel: Option<&str>) -> BridgeRole {
        match bridge {
            b if b == integration => BridgeRole::Integration,
            b if Some(b) == tunnel => BridgeRole::Tunnel,
            _ => BridgeRole::Other,
        }
    }

    /// The stage name of a table on a bridge of this role.
    pub fn stage(self, table: u8) -> Option<&'static str> {
        match self {
            BridgeRole::Integration => tables::int_stage(table),
            BridgeRole::Tunnel => tables::tun_stage(table),
            BridgeRole::Other => None,
        }
    }

    /// The table a stage name stands for on a bridge of this role.
    pub fn table_of_stage(self, name: &str) -> Option<u8> {
        (0..=u8::MAX).find(|t| self.stage(*t) == Some(name))
    }
}

/// Interface name by OpenFlow port number on one bridge (OpenFlow port numbers are per bridge),
/// from OVSDB's `Bridge` (`name`, `ports`), `Port` (`interfaces`) and `Interface` (`name`,
/// `ofport`) rows; interfaces without a port number yet are left out.
pub fn port_names(bridge: &str, bridges: &[Row], ports: &[Row], interfaces: &[Row]) -> BTreeMap<i64, String> {
    let Some(b) = bridges.iter().find(|b| b.str("name") == Some(bridge)) else { return BTreeMap::new() };
    let port_ids = b.set_of_uuids("ports");
    let iface_ids: Vec<&str> = ports
        .iter()
        .filter(|p| p.uuid().is_some_and(|u| port_ids.contains(&u)))
        .flat_map(|p| p.set_of_uuids("interfaces"))
        .collect();
    interfaces
        .iter()
        .filter(|i| i.uuid().is_some_and(|u| iface_ids.contains(&u)))
        .filter_map(|i| Some((i.int("ofport").filter(|p| *p > 0)?, i.str("name")?.to_string())))
        .collect()
}

/// Reading a bridge's flows or port names from a host failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// What the flow views read of one bridge: its parsed dump and its port names.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeFlows {
    pub flows: Vec<DumpedFlow>,
    pub names: BTreeMap<i64, String>,
}

/// Reads `bridge`'s flows (`dump-flows`) and port names (OVSDB `Bridge`, `Port`, `Interface`)
/// from a host.
pub fn read_bridge(host: &dyn HostSource, bridge: &str) -> Result<BridgeFlows, ReadError> {
    let flows = parse_dump(&host.dump_flows(bridge)?)?;
    let table = |t: &str| -> Result<Vec<Row>, ReadError> { Ok(parse_list(&host.ovsdb_list(t)?)?) };
    let names = port_names(bridge, &table("Bridge")?, &table("Port")?, &table("Interface")?);
    Ok(BridgeFlows { flows, names })
}

/// `in_port=N` of a match with N's interface name.
pub fn name_matches(matches: &str, names: &BTreeMap<i64, String>) -> String {
    let named = |f: &str| -> Option<String> {
        let n: i64 = f.strip_prefix("in_port=")?.parse().ok()?;
        Some(format!("in_port={}", names.get(&n)?))
    };
    matches.split(',').map(|f| named(f).unwrap_or_else(|| f.to_string())).collect::<Vec<_>>().join(",")
}

/// `output:N` of an action list with N's interface name (registers are left as numbers).
pub fn name_actions(actions: &str, names: &BTreeMap<i64, String>) -> String {
    let named = |a: &str| -> Option<String> {
        let n: i64 = a.strip_prefix("output:")?.parse().ok()?;
        Some(format!("output:{}", names.get(&n)?))
    };
    split_top(actions)
        .into_iter()
        .map(|a| named(a).unwrap_or_else(|| a.to_string()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The reverse of [`name_matches`] on a match an operator typed: `in_port=NAME` as its number.
pub fn unname_matches(matches: &str, names: &BTreeMap<i64, String>) -> String {
    split_top(matches)
        .into_iter()
        .map(|f| match f.strip_prefix("in_port=").and_then(|n| number_of(n, names)) {
            Some(p) => format!("in_port={p}"),
            None => f.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The reverse of [`name_actions`] on actions an operator typed: `output:NAME` (or a bare
/// `NAME`) as `output:` its number.
pub fn unname_actions(actions: &str, names: &BTreeMap<i64, String>) -> String {
    split_top(actions)
        .into_iter()
        .map(|a| match number_of(a.strip_prefix("output:").unwrap_or(a), names) {
            Some(p) => format!("output:{p}"),
            None => a.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn number_of(name: &str, names: &BTreeMap<i64, String>) -> Option<i64> {
    names.iter().find(|(_, n)| n.as_str() == name).map(|(p, _)| *p)
}

/// Actions as the table shows them: a `learn(…)` by its target table only (`learn(table=94,…)`;
/// the JSON keeps it whole), so that the table stays readable.
pub fn compact_actions(actions: &str) -> String {
    split_top(actions)
        .into_iter()
        .map(|a| match a.strip_prefix("learn(").map(split_top).as_deref() {
            Some([first, _, ..]) => format!("learn({first},…)"),
            _ => a.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Which rows a `dump` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpFilter {
    /// One table: `72`, `table=72` or a stage name of the bridge's role (`rules-egress`).
    Table(u8),
    /// A FlowId prefix, or text found (case-insensitively) in the match, the actions (named or
    /// not) or the owner's description or id.
    Text(String),
}

impl DumpFilter {
    /// A filter as typed. A number up to 255 is a table (a FlowId prefix needs a letter or
    /// more digits).
    pub fn parse(text: &str, role: BridgeRole) -> DumpFilter {
        let t = text.trim();
        let number = t.strip_prefix("table=").unwrap_or(t);
        if let Ok(n) = number.parse::<u8>() {
            return DumpFilter::Table(n);
        }
        match role.table_of_stage(t) {
            Some(n) => DumpFilter::Table(n),
            None => DumpFilter::Text(t.to_ascii_lowercase()),
        }
    }

    fn keeps(&self, row: &DumpRow) -> bool {
        match self {
            DumpFilter::Table(n) => row.table == *n,
            DumpFilter::Text(t) => {
                row.id.starts_with(t.as_str())
                    || [
                        &row.matches,
                        &row.actions,
                        &row.raw_matches,
                        &row.raw_actions,
                        &row.owner.text,
                        &row.owner.id,
                    ]
                    .iter()
                    .any(|s| s.to_ascii_lowercase().contains(t.as_str()))
            }
        }
    }
}

/// One flow of a dump.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DumpRow {
    /// The flow's stable id (16 hex digits).
    pub id: String,
    pub table: u8,
    /// The table's stage name for the bridge's role, if it has one.
    pub stage: Option<&'static str>,
    pub n_packets: u64,
    pub n_bytes: u64,
    pub priority: u16,
    /// The match with `in_port` as an interface name.
    pub matches: String,
    /// The actions with `output:` ports as interface names.
    pub actions: String,
    /// The cookie as `0x…`.
    pub cookie: String,
    /// The match and actions as the switch printed them (normalised).
    pub raw_matches: String,
    pub raw_actions: String,
    pub duration: Option<f64>,
    pub idle_timeout: Option<u64>,
    pub hard_timeout: Option<u64>,
    /// The API object the flow exists for.
    pub owner: Described,
}

/// `dump BRIDGE [filter]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dump {
    pub bridge: String,
    pub role: BridgeRole,
    /// The filter as typed, if any.
    pub filter: Option<String>,
    pub rows: Vec<DumpRow>,
}

/// A flow's owner: its cookie's, or `learnt` for a cookie-0 flow with a timeout (written by a
/// `learn` action), or `manual` for a cookie-0 flow without (added by hand).
pub fn owner_of(flow: &DumpedFlow, owners: &Owners<'_>) -> Described {
    let d = owners.describe_cookie(flow.flow.cookie);
    let learnt = flow.idle_timeout.is_some() || flow.hard_timeout.is_some();
    match (d.kind, learnt) {
        ("learnt", false) => {
            Described { kind: "manual", id: String::new(), text: "manual (cookie 0)".into() }
        }
        _ => d,
    }
}

impl Dump {
    /// The view of `flows` (one bridge's parsed dump), port numbers named by `names`.
    pub fn new(
        bridge: &str,
        role: BridgeRole,
        flows: &[DumpedFlow],
        names: &BTreeMap<i64, String>,
        owners: &Owners<'_>,
        filter: Option<&str>,
    ) -> Dump {
        let mut sorted: Vec<&DumpedFlow> = flows.iter().collect();
        sorted.sort_by(|a, b| {
            let key =
                |d: &DumpedFlow| (d.flow.table, std::cmp::Reverse(d.flow.priority), d.flow.matches.clone());
            key(a).cmp(&key(b))
        });
        let parsed = filter.map(|f| DumpFilter::parse(f, role));
        let rows = sorted
            .into_iter()
            .map(|d| DumpRow {
                id: d.id.to_string(),
                table: d.flow.table,
                stage: role.stage(d.flow.table),
                n_packets: d.n_packets,
                n_bytes: d.n_bytes,
                priority: d.flow.priority,
                matches: name_matches(&d.flow.matches, names),
                actions: name_actions(&d.flow.actions, names),
                cookie: format!("{:#x}", d.flow.cookie),
                raw_matches: d.flow.matches.clone(),
                raw_actions: d.flow.actions.clone(),
                duration: d.duration,
                idle_timeout: d.idle_timeout,
                hard_timeout: d.hard_timeout,
                owner: owner_of(d, owners),
            })
            .filter(|r| parsed.as_ref().is_none_or(|f| f.keeps(r)))
            .collect();
        Dump { bridge: bridge.to_string(), role, filter: filter.map(str::to_string), rows }
    }

    /// The table: ID, TABLE (with its stage), PACKETS, PRIO, MATCH, ACTIONS, OWNER.
    pub fn render(&self) -> String {
        let rows = self.rows.iter().map(|r| {
            let table = match r.stage {
                Some(s) => format!("{} {s}", r.table),
                None => r.table.to_string(),
            };
            let matches = if r.matches.is_empty() { "*".to_string() } else { r.matches.clone() };
            vec![
                r.id.clone(),
                table,
                r.n_packets.to_string(),
                r.priority.to_string(),
                matches,
                compact_actions(&r.actions),
                r.owner.text.clone(),
            ]
        });
        plain::table(&["ID", "TABLE", "PACKETS", "PRIO", "MATCH", "ACTIONS", "OWNER"], rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> BTreeMap<i64, String> {
        BTreeMap::from([(1, "patch-tun".to_string()), (3, "tap1234".to_string())])
    }

    #[test]
    fn port_numbers_read_as_names_and_back() {
        assert_eq!(name_matches("ip,in_port=3,reg5=0x3", &names()), "ip,in_port=tap1234,reg5=0x3");
        assert_eq!(name_matches("in_port=9", &names()), "in_port=9");
        assert_eq!(
            name_actions("load:0x3->NXM_NX_REG5[],output:3,ct(commit,exec(output:1)),output:9", &names()),
            "load:0x3->NXM_NX_REG5[],output:tap1234,ct(commit,exec(output:1)),output:9"
        );
        assert_eq!(unname_matches("in_port=tap1234,ip", &names()), "in_port=3,ip");
        assert_eq!(
            unname_actions("strip_vlan,output:patch-tun,tap1234", &names()),
            "strip_vlan,output:1,output:3"
        );
    }

    #[test]
    fn learn_actions_are_shortened_in_the_table() {
        let a = "mod_vlan_vid:2,learn(table=94,idle_timeout=300,priority=2,NXM_OF_VLAN_TCI[0..11],output:NXM_OF_IN_PORT[]),resubmit(,60)";
        assert_eq!(compact_actions(a), "mod_vlan_vid:2,learn(table=94,…),resubmit(,60)");
        assert_eq!(compact_actions("output:3"), "output:3");
    }

    #[test]
    fn filters_are_tables_stages_or_text() {
        let r = BridgeRole::Integration;
        assert_eq!(DumpFilter::parse("72", r), DumpFilter::Table(72));
        assert_eq!(DumpFilter::parse("table=0", r), DumpFilter::Table(0));
        assert_eq!(DumpFilter::parse("rules-egress", r), DumpFilter::Table(72));
        assert_eq!(DumpFilter::parse("flood-to-tun", BridgeRole::Tunnel), DumpFilter::Table(22));
        assert_eq!(DumpFilter::parse("Web-1", r), DumpFilter::Text("web-1".into()));
        assert_eq!(BridgeRole::of("br-tun", "br-int", Some("br-tun")), BridgeRole::Tunnel);
        assert_eq!(BridgeRole::of("br-eth1", "br-int", Some("br-tun")), BridgeRole::Other);
    }
}
