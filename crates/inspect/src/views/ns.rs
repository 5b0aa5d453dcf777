//! `ns [list | show NAME]`: the agent's `qrouter-`/`qdhcp-` namespaces with their router or
//! network, interfaces and addresses (`ip -j addr`), routes (`ip -j route`), the router's NAT
//! (the floating IP maps and every rule of its nftables table with its counter, `nft -j list
//! ruleset`) and the dnsmasq serving a network with its leases.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::cloud::{Cloud, label};
use crate::error::InspectError;
use crate::source::{HostSource, NsQuery};

use super::leases::{self, Lease};

/// What a namespace is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NsSummary {
    pub name: String,
    /// `router` or `dhcp`.
    pub kind: String,
    /// The router's or network's id and name.
    pub object_id: String,
    pub object: String,
    /// Interface → its addresses.
    pub interfaces: Vec<NsIface>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NsIface {
    pub name: String,
    pub mac: String,
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NsRoute {
    pub destination: String,
    pub gateway: Option<String>,
    pub dev: String,
}

/// One nftables rule with its counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NatRule {
    pub chain: String,
    pub rule: String,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FloatingPair {
    pub floating_ip: String,
    pub fixed_ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dnsmasq {
    pub pid: Option<u32>,
    pub leases: Vec<Lease>,
}

/// `ns show NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NsDetail {
    pub summary: NsSummary,
    pub routes: Vec<NsRoute>,
    pub floating_ips: Vec<FloatingPair>,
    pub nat: Vec<NatRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnsmasq: Option<Dnsmasq>,
}

/// `ns list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NsList {
    pub host: String,
    pub namespaces: Vec<NsSummary>,
}

fn json(src: &dyn HostSource, ns: &str, q: &NsQuery) -> Result<Value, InspectError> {
    let text = src.in_ns(ns, q)?;
    serde_json::from_str(&text).map_err(|e| InspectError::Invalid(format!("{ns}: {q:?} gave no JSON: {e}")))
}

fn ifaces(v: &Value) -> Vec<NsIface> {
    let mut out: Vec<NsIface> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let name = i.get("ifname")?.as_str()?.to_string();
            (name != "lo").then_some(())?;
            let addresses = i
                .get("addr_info")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|a| a.get("scope").and_then(Value::as_str) != Some("link"))
                .filter_map(|a| {
                    Some(format!("{}/{}", a.get("local")?.as_str()?, a.get("prefixlen")?.as_u64()?))
                })
                .collect();
            Some(NsIface {
                name,
                mac: i.get("address").and_then(Value::as_str).unwrap_or_default().into(),
                addresses,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn routes(v: &Value) -> Vec<NsRoute> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(NsRoute {
                destination: r.get("dst")?.as_str()?.to_string(),
                gateway: r.get("gateway").and_then(Value::as_str).map(str::to_string),
                dev: r.get("dev").and_then(Value::as_str).unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// A rule's expressions in nft's own words, roughly (`iifname "qg-…" … counter … dnat to …`).
fn words(expr: &Value) -> String {
    let mut out = vec![];
    for e in expr.as_array().into_iter().flatten() {
        let Some((k, v)) = e.as_object().and_then(|o| o.iter().next()) else { continue };
        out.push(match k.as_str() {
            "match" => {
                let side = |s: &Value| -> String {
                    if let Some(c) = s.get("ct") {
                        return format!("ct {}", c.get("key").and_then(Value::as_str).unwrap_or(""));
                    }
                    if let Some(m) = s.get("meta") {
                        return m.get("key").and_then(Value::as_str).unwrap_or("meta").to_string();
                    }
                    if let Some(p) = s.get("payload") {
                        return format!(
                            "{} {}",
                            p.get("protocol").and_then(Value::as_str).unwrap_or(""),
                            p.get("field").and_then(Value::as_str).unwrap_or("")
                        );
                    }
                    match s {
                        Value::String(x) => x.clone(),
                        other => other.to_string(),
                    }
                };
                let op = v.get("op").and_then(Value::as_str).unwrap_or("==");
                let op = if op == "==" { String::new() } else { format!("{op} ") };
                format!(
                    "{} {op}{}",
                    side(v.get("left").unwrap_or(&Value::Null)),
                    side(v.get("right").unwrap_or(&Value::Null))
                )
            }
            "counter" => continue,
            "mangle" => {
                let key = v.get("key").map(|k| {
                    k.get("meta")
                        .and_then(|m| m.get("key"))
                        .and_then(Value::as_str)
                        .map_or_else(|| k.to_string(), |m| format!("meta {m}"))
                });
                format!(
                    "{} set {}",
                    key.unwrap_or_default(),
                    v.get("value").map(|x| x.to_string()).unwrap_or_default()
                )
            }
            other => format!("{other} {}", compact(v)),
        });
    }
    out.join(" ")
}

fn compact(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            if let Some(a) = o.get("addr") {
                return match a {
                    Value::String(s) => format!("to {s}"),
                    Value::Object(m) if m.contains_key("map") => {
                        let data =
                            m.get("map").and_then(|x| x.get("data")).and_then(Value::as_str).unwrap_or("");
                        format!("to {data}")
                    }
                    other => other.to_string(),
                };
            }
            if let Some(p) = o.get("port") {
                return format!("to :{p}");
            }
            o.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(" ")
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The pairs of the nft map `name` in a ruleset (`nft -j list ruleset`): the router's floating
/// IP maps (`fip_dnat`: floating → fixed, `fip_snat`: fixed → floating).
pub fn nft_map(ruleset: &Value, name: &str) -> BTreeMap<String, String> {
    let items = ruleset.get("nftables").and_then(Value::as_array).cloned().unwrap_or_default();
    items
        .iter()
        .filter_map(|i| i.get("map"))
        .filter(|m| m.get("name").and_then(Value::as_str) == Some(name))
        .flat_map(|m| m.get("elem").and_then(Value::as_array).cloned().unwrap_or_default())
        .filter_map(|e| {
            let pair = e.as_array()?;
            Some((pair.first()?.as_str()?.to_string(), pair.get(1)?.as_str()?.to_string()))
        })
        .collect()
}

fn nat(v: &Value) -> (Vec<FloatingPair>, Vec<NatRule>) {
    let items: Vec<Value> = v.get("nftables").and_then(Value::as_array).cloned().unwrap_or_default();
    let pairs = nft_map(v, "fip_dnat")
        .into_iter()
        .map(|(floating_ip, fixed_ip)| FloatingPair { floating_ip, fixed_ip })
        .collect();
    let mut rules = vec![];
    for i in &items {
        if let Some(r) = i.get("rule") {
            let expr = r.get("expr").cloned().unwrap_or(Value::Null);
            let counter = expr
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|e| e.get("counter"))
                .map(|c| {
                    (
                        c.get("packets").and_then(Value::as_u64).unwrap_or(0),
                        c.get("bytes").and_then(Value::as_u64).unwrap_or(0),
                    )
                })
                .unwrap_or((0, 0));
            rules.push(NatRule {
                chain: r.get("chain").and_then(Value::as_str).unwrap_or_default().into(),
                rule: words(&expr),
                packets: counter.0,
                bytes: counter.1,
            });
        }
    }
    (pairs, rules)
}

/// Splits `<prefix>qrouter-<id>` / `<prefix>qdhcp-<id>`.
fn kind_of(prefix: &str, name: &str) -> Option<(&'static str, String)> {
    let rest = name.strip_prefix(prefix)?;
    if let Some(id) = rest.strip_prefix("qrouter-") {
        return Some(("router", id.to_string()));
    }
    rest.strip_prefix("qdhcp-").map(|id| ("dhcp", id.to_string()))
}

fn summary(src: &dyn HostSource, cloud: &Cloud, name: &str) -> Result<NsSummary, InspectError> {
    let (kind, id) = kind_of(src.namespace_prefix(), name).ok_or_else(|| {
        InspectError::NotFound(format!("{name} is not a qrouter-/qdhcp- namespace of {}", src.host()))
    })?;
    let object = match kind {
        "router" => cloud.router(&id).map(|r| label(&r.name, &r.id)),
        _ => cloud.network(&id).map(|n| label(&n.name, &n.id)),
    }
    .unwrap_or_else(|| format!("{} (not in the API)", label("", &id)));
    let interfaces = ifaces(&json(src, name, &NsQuery::Addresses)?);
    Ok(NsSummary { name: name.into(), kind: kind.into(), object_id: id, object, interfaces })
}

/// `ns list`.
pub fn list(src: &dyn HostSource, cloud: &Cloud) -> Result<NsList, InspectError> {
    let namespaces = src.namespaces()?.iter().map(|n| summary(src, cloud, n)).collect::<Result<_, _>>()?;
    Ok(NsList { host: src.host().into(), namespaces })
}

/// `ns show NAME` (NAME with or without the host's namespace prefix, or the router's or
/// network's name or id).
pub fn show(src: &dyn HostSource, cloud: &Cloud, what: &str) -> Result<NsDetail, InspectError> {
    let all = src.namespaces()?;
    let prefix = src.namespace_prefix();
    let name = all
        .iter()
        .find(|n| *n == what || n.strip_prefix(prefix) == Some(what))
        .or_else(|| {
            all.iter().find(|n| {
                kind_of(prefix, n).is_some_and(|(k, id)| {
                    id == what
                        || (k == "router" && cloud.router(&id).is_some_and(|r| r.name == what))
                        || (k == "dhcp" && cloud.network(&id).is_some_and(|x| x.name == what))
                })
            })
        })
        .ok_or_else(|| {
            InspectError::NotFound(format!("no namespace {what:?} on {} (ns list shows them)", src.host()))
        })?;
    let summary = summary(src, cloud, name)?;
    let routes = routes(&json(src, name, &NsQuery::Routes)?);
    let (floating_ips, nat) = match summary.kind.as_str() {
        "router" => nat(&json(src, name, &NsQuery::Ruleset)?),
        _ => (vec![], vec![]),
    };
    let dnsmasq = match summary.kind.as_str() {
        "dhcp" => Some(Dnsmasq {
            pid: src.dnsmasq_pid(&summary.object_id)?,
            leases: leases::parse(&src.leases(&summary.object_id)?.unwrap_or_default()),
        }),
        _ => None,
    };
    Ok(NsDetail { summary, routes, floating_ips, nat, dnsmasq })
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::ASCII_MARKDOWN).set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}

impl NsList {
    pub fn render(&self) -> String {
        let rows = self
            .namespaces
            .iter()
            .map(|n| {
                let addrs: Vec<String> =
                    n.interfaces.iter().map(|i| format!("{} {}", i.name, i.addresses.join(" "))).collect();
                vec![n.name.clone(), n.kind.clone(), n.object.clone(), addrs.join("\n")]
            })
            .collect();
        format!("namespaces of {}\n{}\n", self.host, table(&["namespace", "kind", "for", "interfaces"], rows))
    }
}

impl NsDetail {
    pub fn render(&self) -> String {
        let s = &self.summary;
        let mut out = format!("{} — {} {}\n\ninterfaces\n", s.name, s.kind, s.object);
        let rows =
            s.interfaces.iter().map(|i| vec![i.name.clone(), i.mac.clone(), i.addresses.join(" ")]).collect();
        out.push_str(&table(&["device", "MAC", "addresses"], rows));
        out.push_str("\n\nroutes\n");
        let rows = self
            .routes
            .iter()
            .map(|r| vec![r.destination.clone(), r.gateway.clone().unwrap_or_default(), r.dev.clone()])
            .collect();
        out.push_str(&table(&["destination", "via", "device"], rows));
        if s.kind == "router" {
            out.push_str("\n\nfloating IPs\n");
            let rows =
                self.floating_ips.iter().map(|f| vec![f.floating_ip.clone(), f.fixed_ip.clone()]).collect();
            out.push_str(&table(&["floating IP", "fixed IP"], rows));
            out.push_str("\n\nNAT (table ip neutrino-l3)\n");
            let rows = self
                .nat
                .iter()
                .map(|r| vec![r.chain.clone(), r.packets.to_string(), r.rule.clone()])
                .collect();
            out.push_str(&table(&["chain", "packets", "rule"], rows));
        }
        if let Some(d) = &self.dnsmasq {
            let pid = d.pid.map(|p| format!("pid {p}")).unwrap_or_else(|| "not running".into());
            out.push_str(&format!("\n\ndnsmasq: {pid}\n"));
            let rows = d
                .leases
                .iter()
                .map(|l| {
                    vec![
                        l.ip.to_string(),
                        l.mac.clone().unwrap_or_default(),
                        l.hostname.clone().unwrap_or_default(),
                        l.expiry_text(),
                    ]
                })
                .collect();
            out.push_str(&table(&["IP", "MAC", "host name", "expires"], rows));
        }
        out.push('\n');
        out
    }
}
