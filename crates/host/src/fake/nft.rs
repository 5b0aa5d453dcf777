//! The fake's nftables ([`crate::Nftables`]): it parses a batch (libnftables-json(5)) enough
//! to keep tables, chains, rules, sets and maps as data, with nft's rules — `add` is
//! idempotent and `create` is not, deleting or flushing what is missing fails, a rule's
//! `@set` and `jump` targets must exist, statements must be ones nft knows — and applies it
//! all or nothing, as `nft -f` does.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result, ns_label};
use crate::fake::FakeHost;
use crate::nft::{FAMILIES, NftChain, NftRule, NftTable, Nftables, base_chain, batch_commands, set_of};

/// Statements a rule's `expr` may hold (libnftables-json(5), STATEMENTS).
const STATEMENTS: [&str; 33] = [
    "accept",
    "drop",
    "continue",
    "return",
    "jump",
    "goto",
    "match",
    "counter",
    "mangle",
    "quota",
    "limit",
    "fwd",
    "notrack",
    "dup",
    "snat",
    "dnat",
    "masquerade",
    "redirect",
    "reject",
    "set",
    "map",
    "log",
    "ct helper",
    "meter",
    "queue",
    "vmap",
    "ct count",
    "ct timeout",
    "ct expectation",
    "xt",
    "synproxy",
    "tproxy",
    "secmark",
];

type Tables = BTreeMap<(String, String), NftTable>;

struct Batch<'a> {
    tables: Tables,
    next_handle: &'a mut u64,
}

fn refuse(reason: impl Into<String>) -> Error {
    Error::InvalidBatch { netns: String::new(), reason: reason.into() }
}

fn text<'v>(body: &'v Value, key: &str) -> Result<&'v str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refuse(format!("`{key}` missing in {body}")))
}

/// The one key of a `{"verb": …}` or `{"object": …}` object.
fn single(value: &Value) -> Result<(&str, &Value)> {
    match value.as_object().map(Map::iter).map(|mut it| (it.next(), it.next())) {
        Some((Some((k, v)), None)) => Ok((k.as_str(), v)),
        _ => Err(refuse(format!("expected an object with one key: {value}"))),
    }
}

impl Batch<'_> {
    fn table_key(body: &Value, name_key: &str) -> Result<(String, String)> {
        let family = text(body, "family")?;
        if !FAMILIES.contains(&family) {
            return Err(refuse(format!("unknown family `{family}`")));
        }
        Ok((family.into(), text(body, name_key)?.into()))
    }

    fn table_mut(&mut self, body: &Value) -> Result<&mut NftTable> {
        let key = Self::table_key(body, "table")?;
        self.tables.get_mut(&key).ok_or_else(|| refuse(format!("no table {} {}", key.0, key.1)))
    }

    fn handle(&mut self) -> u64 {
        let h = *self.next_handle;
        *self.next_handle += 1;
        h
    }

    fn command(&mut self, verb: &str, object: &str, body: &Value) -> Result<()> {
        match (verb, object) {
            ("add" | "create", "table") => {
                let key = Self::table_key(body, "name")?;
                if self.tables.contains_key(&key) {
                    return if verb == "create" {
                        Err(refuse(format!("table {} {} exists", key.0, key.1)))
                    } else {
                        Ok(())
                    };
                }
                self.tables
                    .insert(key.clone(), NftTable { family: key.0, name: key.1, ..Default::default() });
                Ok(())
            }
            ("delete", "table") => {
                let key = Self::table_key(body, "name")?;
                self.tables
                    .remove(&key)
                    .map(drop)
                    .ok_or_else(|| refuse(format!("no table {} {}", key.0, key.1)))
            }
            ("flush", "table") => {
                let key = Self::table_key(body, "name")?;
                let t = self
                    .tables
                    .get_mut(&key)
                    .ok_or_else(|| refuse(format!("no table {} {}", key.0, key.1)))?;
                // As nft 1.0.6 does: the chains' rules go, sets and maps keep their elements.
                t.chains.values_mut().for_each(|c| c.rules.clear());
                Ok(())
            }
            ("add" | "create", "chain") => {
                let name = text(body, "name")?.to_string();
                let base = base_chain(body).map_err(|e| refuse(e.to_string()))?;
                let t = self.table_mut(body)?;
                match t.chains.get(&name) {
                    Some(_) if verb == "create" => Err(refuse(format!("chain {name} exists"))),
                    Some(c) if base.is_some() && c.base != base => {
                        Err(refuse(format!("chain {name} exists with another hook")))
                    }
                    Some(_) => Ok(()),
                    None => {
                        t.chains.insert(name, NftChain { base, rules: vec![] });
                        Ok(())
                    }
                }
            }
            ("delete" | "flush", "chain") => {
                let name = text(body, "name")?.to_string();
                let t = self.table_mut(body)?;
                if !t.chains.contains_key(&name) {
                    return Err(refuse(format!("no chain {name}")));
                }
                if verb == "flush" {
                    t.chains.get_mut(&name).into_iter().for_each(|c| c.rules.clear());
                } else if jumps_to(t, &name) {
                    return Err(refuse(format!("chain {name} is the target of a jump")));
                } else {
                    t.chains.remove(&name);
                }
                Ok(())
            }
            ("add" | "insert" | "replace", "rule") => self.rule(verb, body),
            ("delete", "rule") => {
                let chain = text(body, "chain")?.to_string();
                let handle = body
                    .get("handle")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| refuse("deleting a rule needs its handle"))?;
                let c = self
                    .table_mut(body)?
                    .chains
                    .get_mut(&chain)
                    .ok_or_else(|| refuse(format!("no chain {chain}")))?;
                let before = c.rules.len();
                c.rules.retain(|r| r.handle != handle);
                if c.rules.len() == before {
                    Err(refuse(format!("no rule with handle {handle}")))
                } else {
                    Ok(())
                }
            }
            ("add" | "create", "set" | "map") => {
                let name = text(body, "name")?.to_string();
                let set = set_of(body, object == "map").map_err(|e| refuse(e.to_string()))?;
                let t = self.table_mut(body)?;
                if t.sets.contains_key(&name) {
                    return if verb == "create" { Err(refuse(format!("set {name} exists"))) } else { Ok(()) };
                }
                let elements = set.elements.clone();
                t.sets.insert(name.clone(), crate::nft::NftSet { elements: vec![], ..set });
                self.elements("add", body, &name, &elements)
            }
            ("delete" | "flush", "set" | "map") => {
                let name = text(body, "name")?.to_string();
                let t = self.table_mut(body)?;
                if !t.sets.contains_key(&name) {
                    return Err(refuse(format!("no set {name}")));
                }
                if verb == "flush" {
                    t.sets.get_mut(&name).into_iter().for_each(|s| s.elements.clear());
                } else if t.chains.values().flat_map(|c| &c.rules).any(|r| refers_to(&r.expr, &name)) {
                    return Err(refuse(format!("set {name} is used by a rule")));
                } else {
                    t.sets.remove(&name);
                }
                Ok(())
            }
            ("add" | "create" | "delete", "element") => {
                let name = text(body, "name")?.to_string();
                let elements = body
                    .get("elem")
                    .and_then(Value::as_array)
                    .cloned()
                    .ok_or_else(|| refuse("`elem` must be a list"))?;
                self.elements(verb, body, &name, &elements)
            }
            _ => Err(refuse(format!("`{verb} {object}` is not a command this batch may hold"))),
        }
    }

    fn rule(&mut self, verb: &str, body: &Value) -> Result<()> {
        let chain = text(body, "chain")?.to_string();
        let expr = body
            .get("expr")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| refuse("a rule needs an `expr` list"))?;
        let handle = body.get("handle").and_then(Value::as_u64);
        let new_handle = self.handle();
        let t = self.table_mut(body)?;
        for statement in &expr {
            let (name, _) = single(statement)?;
            if !STATEMENTS.contains(&name) {
                return Err(refuse(format!("unknown statement `{name}`")));
            }
        }
        for target in set_refs(&expr) {
            if !t.sets.contains_key(&target) {
                return Err(refuse(format!("no set @{target}")));
            }
        }
        for target in jump_targets(&expr) {
            if !t.chains.contains_key(&target) {
                return Err(refuse(format!("no chain {target} to jump to")));
            }
        }
        let comment = body.get("comment").and_then(Value::as_str).map(str::to_string);
        let c = t.chains.get_mut(&chain).ok_or_else(|| refuse(format!("no chain {chain}")))?;
        let at = |h: u64| {
            c.rules
                .iter()
                .position(|r| r.handle == h)
                .ok_or_else(|| refuse(format!("no rule with handle {h}")))
        };
        match (verb, handle) {
            ("add", None) => c.rules.push(NftRule { handle: new_handle, expr, comment }),
            ("add", Some(h)) => {
                let i = at(h)?;
                c.rules.insert(i + 1, NftRule { handle: new_handle, expr, comment });
            }
            ("insert", None) => c.rules.insert(0, NftRule { handle: new_handle, expr, comment }),
            ("insert", Some(h)) => {
                let i = at(h)?;
                c.rules.insert(i, NftRule { handle: new_handle, expr, comment });
            }
            ("replace", Some(h)) => {
                let i = at(h)?;
                c.rules[i] = NftRule { handle: h, expr, comment };
            }
            _ => return Err(refuse("replacing a rule needs its handle")),
        }
        Ok(())
    }

    fn elements(&mut self, verb: &str, body: &Value, name: &str, elements: &[Value]) -> Result<()> {
        let set = self.table_mut(body)?.sets.get_mut(name).ok_or_else(|| refuse(format!("no set {name}")))?;
        for e in elements {
            if set.map.is_some() && !matches!(e, Value::Array(pair) if pair.len() == 2) {
                return Err(refuse(format!("a map element is a [key, value] pair: {e}")));
            }
            let key = set.key_of(e).clone();
            let existing = set.elements.iter().position(|x| *set.key_of(x) == key);
            match (verb, existing) {
                ("delete", Some(i)) => {
                    set.elements.remove(i);
                }
                ("delete", None) => return Err(refuse(format!("no element {key} in {name}"))),
                ("create", Some(_)) => return Err(refuse(format!("element {key} exists in {name}"))),
                (_, Some(i)) if set.elements[i] != *e => {
                    return Err(refuse(format!("element {key} exists in {name} with another value")));
                }
                (_, Some(_)) => {}
                (_, None) => set.elements.push(e.clone()),
            }
        }
        Ok(())
    }
}

/// Every string of `value` (recursively) that satisfies `f`.
fn strings(value: &Value, out: &mut Vec<String>, f: &dyn Fn(&str, &str) -> Option<String>, parent: &str) {
    match value {
        Value::String(s) => out.extend(f(parent, s)),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out, f, parent)),
        Value::Object(map) => map.iter().for_each(|(k, v)| strings(v, out, f, k)),
        _ => {}
    }
}

fn set_refs(expr: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    strings(&Value::Array(expr.to_vec()), &mut out, &|_, s| s.strip_prefix('@').map(str::to_string), "");
    out
}

fn jump_targets(expr: &[Value]) -> Vec<String> {
    expr.iter()
        .filter_map(|s| s.get("jump").or_else(|| s.get("goto")))
        .filter_map(|j| j.get("target").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn refers_to(expr: &[Value], set: &str) -> bool {
    set_refs(expr).iter().any(|s| s == set)
}

fn jumps_to(table: &NftTable, chain: &str) -> bool {
    table.chains.values().flat_map(|c| &c.rules).any(|r| jump_targets(&r.expr).iter().any(|t| t == chain))
}

impl Nftables for FakeHost {
    fn nft_apply(&self, netns: Option<&str>, batch: &Value) -> Result<()> {
        let label = ns_label(netns);
        let with_ns = |e: Error| match e {
            Error::InvalidBatch { reason, .. } => Error::InvalidBatch { netns: label.clone(), reason },
            other => other,
        };
        let commands = batch_commands(batch).map_err(with_ns)?;
        self.transact(|s| {
            let mut next_handle = s.next_handle;
            let ns = s.ns_mut(netns)?;
            let mut b = Batch { tables: ns.nft.clone(), next_handle: &mut next_handle };
            for (i, command) in commands.iter().enumerate() {
                let (verb, body) = single(command).map_err(with_ns)?;
                if verb == "metainfo" {
                    continue;
                }
                let (object, body) = single(body).map_err(with_ns)?;
                b.command(verb, object, body).map_err(|e| {
                    with_ns(refuse(format!("command {i} ({verb} {object}): {}", reason_of(e))))
                })?;
            }
            ns.nft = b.tables;
            s.next_handle = next_handle;
            Ok(())
        })
    }

    fn nft_table(&self, netns: Option<&str>, family: &str, name: &str) -> Result<Option<NftTable>> {
        if !FAMILIES.contains(&family) {
            return Err(Error::Invalid { what: "nftables family", reason: family.into() });
        }
        Ok(self.lock().ns(netns)?.table(family, name).cloned())
    }

    fn nft_tables(&self, netns: Option<&str>) -> Result<Vec<(String, String)>> {
        Ok(self.lock().ns(netns)?.nft.keys().cloned().collect())
    }
}

fn reason_of(e: Error) -> String {
    match e {
        Error::InvalidBatch { reason, .. } => reason,
        other => other.to_string(),
    }
}
