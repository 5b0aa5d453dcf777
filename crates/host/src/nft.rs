//! nftables: the [`Nftables`] trait (apply one JSON batch atomically with `nft -j -f -`
//! inside a namespace, list a table), the tables as data ([`NftTable`]) and the real
//! implementation. The JSON follows libnftables-json(5).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::Cmd;
use crate::error::{Error, Result, ns_label};
use crate::linux::{LinuxHost, check, parse_json};

/// The address families a table may have.
pub const FAMILIES: [&str; 6] = ["ip", "ip6", "inet", "arp", "bridge", "netdev"];

/// One table with its chains (rules in order) and its sets and maps (elements).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftTable {
    pub family: String,
    pub name: String,
    pub chains: BTreeMap<String, NftChain>,
    /// Sets and maps by name.
    pub sets: BTreeMap<String, NftSet>,
}

/// A chain; `base` is set for a chain attached to a hook.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftChain {
    pub base: Option<BaseChain>,
    pub rules: Vec<NftRule>,
}

/// `type nat hook prerouting priority -100; policy accept;`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseChain {
    pub kind: String,
    pub hook: String,
    pub prio: i64,
    pub policy: Option<String>,
}

/// A rule: its handle and its statements, as JSON expressions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftRule {
    pub handle: u64,
    pub expr: Vec<Value>,
    pub comment: Option<String>,
}

/// A set, or a map when `map` (the data type) is set; elements as nft's JSON shows them
/// (`[key, value]` pairs for a map).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftSet {
    pub key_type: Value,
    pub map: Option<Value>,
    pub flags: Vec<String>,
    pub elements: Vec<Value>,
}

impl NftSet {
    /// The key of element `e`: the first of a map's `[key, value]` pair, else `e` itself.
    pub fn key_of<'a>(&self, e: &'a Value) -> &'a Value {
        match (&self.map, e) {
            (Some(_), Value::Array(pair)) if pair.len() == 2 => &pair[0],
            _ => e,
        }
    }
}

impl NftTable {
    /// The table in `nft -j list table` output (the objects of its `nftables` array).
    pub fn from_listing(objects: &[Value]) -> Result<Option<NftTable>> {
        let mut table: Option<NftTable> = None;
        for object in objects {
            let Some((kind, body)) = object.as_object().and_then(|o| o.iter().next()) else { continue };
            let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
            match kind.as_str() {
                "table" => {
                    table = Some(NftTable {
                        family: text("family").unwrap_or_default(),
                        name: text("name").unwrap_or_default(),
                        ..Default::default()
                    })
                }
                "chain" => {
                    let Some(t) = table.as_mut() else { continue };
                    t.chains.insert(
                        text("name").unwrap_or_default(),
                        NftChain { base: base_chain(body)?, rules: vec![] },
                    );
                }
                "rule" => {
                    let Some(t) = table.as_mut() else { continue };
                    let chain = t.chains.entry(text("chain").unwrap_or_default()).or_default();
                    chain.rules.push(NftRule {
                        handle: body.get("handle").and_then(Value::as_u64).unwrap_or_default(),
                        expr: body.get("expr").and_then(Value::as_array).cloned().unwrap_or_default(),
                        comment: text("comment"),
                    });
                }
                "set" | "map" => {
                    let Some(t) = table.as_mut() else { continue };
                    t.sets.insert(text("name").unwrap_or_default(), set_of(body, kind == "map")?);
                }
                _ => {}
            }
        }
        Ok(table)
    }
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidBatch { netns: String::new(), reason: reason.into() }
}

/// The hook of a chain object, if it is a base chain.
pub(crate) fn base_chain(body: &Value) -> Result<Option<BaseChain>> {
    let (kind, hook, prio) = (body.get("type"), body.get("hook"), body.get("prio"));
    if kind.is_none() && hook.is_none() && prio.is_none() {
        return Ok(None);
    }
    let kind = kind.and_then(Value::as_str).filter(|k| ["filter", "nat", "route"].contains(k));
    let hook = hook.and_then(Value::as_str);
    let prio = prio.and_then(Value::as_i64);
    match (kind, hook, prio) {
        (Some(kind), Some(hook), Some(prio)) => Ok(Some(BaseChain {
            kind: kind.into(),
            hook: hook.into(),
            prio,
            policy: body.get("policy").and_then(Value::as_str).map(str::to_string),
        })),
        _ => Err(invalid(format!("a base chain needs type (filter, nat, route), hook and prio: {body}"))),
    }
}

/// A set or map object (without its elements' validation).
pub(crate) fn set_of(body: &Value, is_map: bool) -> Result<NftSet> {
    let key_type = body.get("type").cloned().ok_or_else(|| invalid(format!("a set needs a type: {body}")))?;
    let map = body.get("map").cloned();
    if is_map && map.is_none() {
        return Err(invalid(format!("a map needs its data type (`map`): {body}")));
    }
    let flags = match body.get("flags") {
        Some(Value::String(f)) => vec![f.clone()],
        Some(Value::Array(fs)) => fs.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => vec![],
    };
    let elements = body.get("elem").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(NftSet { key_type, map, flags, elements })
}

/// nftables rulesets of namespaces (`None`: the root namespace).
pub trait Nftables: Send + Sync + fmt::Debug {
    /// Applies one batch (`{"nftables": [{"add": {"table": …}}, …]}`) as one transaction:
    /// all of it or, with [`Error::InvalidBatch`], none of it.
    fn nft_apply(&self, netns: Option<&str>, batch: &Value) -> Result<()>;
    /// Table `family name`, or `None` when there is none.
    fn nft_table(&self, netns: Option<&str>, family: &str, name: &str) -> Result<Option<NftTable>>;
    /// `(family, name)` of every table.
    fn nft_tables(&self, netns: Option<&str>) -> Result<Vec<(String, String)>>;
}

/// The commands of a batch, after checking its outer shape.
pub(crate) fn batch_commands(batch: &Value) -> Result<&Vec<Value>> {
    batch
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("a batch is an object with an `nftables` array"))
}

fn nft(netns: Option<&str>) -> Cmd {
    Cmd::in_optional_netns(netns, "nft").arg("-j")
}

#[derive(Deserialize)]
struct Listing {
    nftables: Vec<Value>,
}

impl Nftables for LinuxHost {
    fn nft_apply(&self, netns: Option<&str>, batch: &Value) -> Result<()> {
        batch_commands(batch)?;
        let cmd = nft(netns).args(["-f", "-"]).stdin(batch.to_string());
        let out = crate::command::run(&cmd)?;
        check(&cmd, out, netns, |stderr| {
            Some(Error::InvalidBatch { netns: ns_label(netns), reason: stderr.to_string() })
        })?;
        Ok(())
    }

    fn nft_table(&self, netns: Option<&str>, family: &str, name: &str) -> Result<Option<NftTable>> {
        if !FAMILIES.contains(&family) {
            return Err(Error::Invalid { what: "nftables family", reason: family.into() });
        }
        let cmd = nft(netns).args(["list", "table", family, name]);
        let out = crate::command::run(&cmd)?;
        if !out.success() && out.stderr.contains("No such file or directory") {
            return Ok(None);
        }
        let out = check(&cmd, out, netns, |_| None)?;
        let listing: Listing = parse_json(&cmd, &out)?;
        NftTable::from_listing(&listing.nftables)
    }

    fn nft_tables(&self, netns: Option<&str>) -> Result<Vec<(String, String)>> {
        let cmd = nft(netns).args(["list", "tables"]);
        let out = check(&cmd, crate::command::run(&cmd)?, netns, |_| None)?;
        let listing: Listing = parse_json(&cmd, &out)?;
        Ok(listing
            .nftables
            .iter()
            .filter_map(|o| o.get("table"))
            .map(|t| {
                let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                (s("family"), s("name"))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listing_becomes_a_table() {
        // What `nft -j list table ip neutrino-l3` printed on this project's machines.
        let listing = json!([
            {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"table": {"family": "ip", "name": "neutrino-l3", "handle": 1}},
            {"map": {"family": "ip", "name": "fip", "table": "neutrino-l3", "type": "ipv4_addr", "handle": 2,
                     "map": "ipv4_addr", "elem": [["203.0.113.10", "10.0.0.5"]]}},
            {"chain": {"family": "ip", "table": "neutrino-l3", "name": "prerouting", "handle": 1, "type": "nat",
                       "hook": "prerouting", "prio": -100, "policy": "accept"}},
            {"rule": {"family": "ip", "table": "neutrino-l3", "chain": "prerouting", "handle": 3,
                      "expr": [{"dnat": {"addr": {"map": {"key": {"payload": {"protocol": "ip", "field": "daddr"}},
                                                          "data": "@fip"}}}}]}}
        ]);
        let t = NftTable::from_listing(listing.as_array().unwrap()).unwrap().unwrap();
        assert_eq!((t.family.as_str(), t.name.as_str()), ("ip", "neutrino-l3"));
        let chain = &t.chains["prerouting"];
        assert_eq!(chain.base.as_ref().map(|b| (b.kind.as_str(), b.prio)), Some(("nat", -100)));
        assert_eq!(chain.rules[0].handle, 3);
        let fip = &t.sets["fip"];
        assert_eq!(fip.key_of(&fip.elements[0]), &json!("203.0.113.10"));
        assert_eq!(NftTable::from_listing(&[]).unwrap(), None);
    }

    #[test]
    fn base_chains_need_all_three() {
        assert_eq!(base_chain(&json!({"name": "c"})).unwrap(), None);
        assert!(base_chain(&json!({"type": "nat", "hook": "prerouting"})).is_err());
        assert!(base_chain(&json!({"type": "bogus", "hook": "input", "prio": 0})).is_err());
    }
}
