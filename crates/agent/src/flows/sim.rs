//! A small interpreter of the generated flows (tests only): it follows one packet through a
//! bridge's tables and groups — the matches and actions the generators use, with OpenFlow's
//! rules (highest priority first, `resubmit` returns, no output to the in_port, a group of type
//! `all` runs each bucket on its own copy of the packet, conjunctive matches) — and records the
//! tables it passed and the ports it left by, so that tests assert paths, not flow text. A
//! small connection tracker ([`Ct`]) gives `ct()` its states: a lookup of an unknown
//! connection is `+trk+new`, a committed one `+trk+est` (`+rpl` the other way once it was
//! answered: before that, like Linux and Open vSwitch, the original direction stays `+new`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use neutrino_ovs::flow::Flow;
use neutrino_ovs::flow::normalize::split_top;
use neutrino_ovs::group::Group;

/// The "port" a `NORMAL` action outputs to, in a [`Trace`].
pub const NORMAL: i64 = -2;

/// A packet as the flows see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packet {
    pub in_port: i64,
    pub dl_dst: String,
    pub vlan: Option<u16>,
    pub tun_id: Option<u64>,
    pub regs: BTreeMap<u8, u64>,
    /// `dl_src`, `dl_type` (number), `nw_proto`, `nw_src`, `nw_dst`, `ipv6_src`, `ipv6_dst`,
    /// `tp_src`, `tp_dst`, `arp_spa`, `arp_sha`, `icmp_type`, `icmp_code`, `nd_target`.
    pub fields: BTreeMap<String, String>,
    /// The conntrack flags (`trk`, `new`, `est`, `rpl`, `inv`, `rel`); empty: untracked.
    pub ct_state: BTreeSet<&'static str>,
    pub ct_mark: u32,
}

impl Packet {
    /// A packet with these header fields (`dl_type` as a number).
    pub fn with(mut self, fields: &[(&str, &str)]) -> Packet {
        self.fields.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    fn tuple(&self) -> (String, String, String, String, String) {
        let g = |k: &str| self.fields.get(k).cloned().unwrap_or_default();
        let (src, dst) = match self.fields.contains_key("ipv6_src") {
            true => (g("ipv6_src"), g("ipv6_dst")),
            false => (g("nw_src"), g("nw_dst")),
        };
        (g("nw_proto"), src, dst, g("tp_src"), g("tp_dst"))
    }
}

/// A connection: protocol, source, destination, source and destination port.
type Tuple = (String, String, String, String, String);

fn reverse(t: &Tuple) -> Tuple {
    (t.0.clone(), t.2.clone(), t.1.clone(), t.4.clone(), t.3.clone())
}

/// Committed connections, by zone and original tuple: (mark, answered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ct(pub BTreeMap<(u64, Tuple), (u32, bool)>);

impl Ct {
    fn lookup(&mut self, zone: u64, p: &mut Packet) {
        let t = p.tuple();
        p.ct_state = ["trk"].into();
        if let Some((mark, answered)) = self.0.get(&(zone, t.clone())) {
            p.ct_state.insert(if *answered { "est" } else { "new" });
            p.ct_mark = *mark;
        } else if let Some((mark, answered)) = self.0.get_mut(&(zone, reverse(&t))) {
            *answered = true;
            p.ct_state.extend(["est", "rpl"]);
            p.ct_mark = *mark;
        } else {
            p.ct_state.insert("new");
            p.ct_mark = 0;
        }
    }

    fn commit(&mut self, zone: u64, p: &Packet, mark: Option<u32>) {
        let t = p.tuple();
        let key = match self.0.contains_key(&(zone, reverse(&t))) {
            true => (zone, reverse(&t)),
            false => (zone, t),
        };
        let e = self.0.entry(key).or_insert((0, false));
        if let Some(m) = mark {
            e.0 = m;
        }
    }
}

/// Where a packet went: `(ofport, vlan, tun_id)` per copy output, and the tables passed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub outputs: Vec<(i64, Option<u16>, Option<u64>)>,
    pub tables: Vec<u8>,
}

impl Trace {
    pub fn ports(&self) -> Vec<i64> {
        self.outputs.iter().map(|o| o.0).collect()
    }
}

fn mac_bytes(s: &str) -> Option<u64> {
    let parts: Vec<u64> = s.split(':').map(|p| u64::from_str_radix(p, 16)).collect::<Result<_, _>>().ok()?;
    (parts.len() == 6).then(|| parts.iter().fold(0, |a, b| a << 8 | b))
}

fn num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    }
    .unwrap_or_else(|_| panic!("not a number: {s}"))
}

fn reg(field: &str) -> u8 {
    let n = field.trim_start_matches("NXM_NX_REG").trim_start_matches("reg").trim_end_matches("[]");
    n.parse().unwrap_or_else(|_| panic!("not a register: {field}"))
}

const PROTOCOLS: &[(&str, u16, Option<u8>)] = &[
    ("ip", 0x0800, None),
    ("icmp", 0x0800, Some(1)),
    ("tcp", 0x0800, Some(6)),
    ("udp", 0x0800, Some(17)),
    ("ipv6", 0x86dd, None),
    ("tcp6", 0x86dd, Some(6)),
    ("udp6", 0x86dd, Some(17)),
    ("icmp6", 0x86dd, Some(58)),
    ("arp", 0x0806, None),
    ("rarp", 0x8035, None),
];

fn in_prefix(value: &str, have: Option<&String>) -> bool {
    let Some(have) = have else { return false };
    let (net, len) = value.split_once('/').unwrap_or((value, ""));
    if let (Ok(net), Ok(addr)) = (net.parse::<Ipv4Addr>(), have.parse::<Ipv4Addr>()) {
        let len: u32 = if len.is_empty() { 32 } else { len.parse().unwrap_or(32) };
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        return u32::from(net) & mask == u32::from(addr) & mask;
    }
    if let (Ok(net), Ok(addr)) = (net.parse::<Ipv6Addr>(), have.parse::<Ipv6Addr>()) {
        let len: u32 = if len.is_empty() { 128 } else { len.parse().unwrap_or(128) };
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        return u128::from(net) & mask == u128::from(addr) & mask;
    }
    false
}

fn masked(value: &str, have: Option<&String>) -> bool {
    let Some(have) = have else { return false };
    let have = num(have);
    match value.split_once('/') {
        Some((v, m)) => have & num(m) == num(v) & num(m),
        None => have == num(value),
    }
}

fn ct_flags(value: &str, p: &Packet) -> bool {
    let mut rest = value;
    while let Some(sign) = rest.chars().next() {
        rest = &rest[1..];
        let end = rest.find(['+', '-']).unwrap_or(rest.len());
        let set = p.ct_state.contains(&rest[..end]);
        if set != (sign == '+') {
            return false;
        }
        rest = &rest[end..];
    }
    true
}

fn matches(m: &str, p: &Packet, conj: Option<u32>) -> bool {
    split_top(m).into_iter().all(|field| {
        let (name, value) = field.split_once('=').unwrap_or((field, ""));
        if let Some((_, eth, proto)) = PROTOCOLS.iter().find(|(n, _, _)| *n == name && value.is_empty()) {
            let dl_type = p.fields.get("dl_type").map(|t| num(t));
            let nw_proto = p.fields.get("nw_proto").map(|t| num(t));
            return dl_type == Some(u64::from(*eth)) && proto.is_none_or(|x| nw_proto == Some(u64::from(x)));
        }
        match name {
            "conj_id" => conj == Some(u32::try_from(num(value)).unwrap_or(0)),
            "ct_state" => ct_flags(value, p),
            "ct_mark" => u64::from(p.ct_mark) == num(value),
            "dl_src" | "arp_sha" => p.fields.get(name).is_some_and(|v| *v == value),
            "nw_src" | "nw_dst" | "arp_spa" | "ipv6_src" | "ipv6_dst" | "nd_target" => {
                in_prefix(value, p.fields.get(name))
            }
            "tp_src" | "tp_dst" | "nw_proto" | "icmp_type" | "icmp_code" => masked(value, p.fields.get(name)),
            "in_port" => num(value) == u64::try_from(p.in_port).unwrap_or(u64::MAX),
            "dl_vlan" => p.vlan == Some(u16::try_from(num(value)).unwrap_or(u16::MAX)),
            "vlan_tci" if value == "0x0000/0x1fff" => p.vlan.is_none(),
            "tun_id" => p.tun_id == Some(num(value)),
            "dl_dst" => match value.split_once('/') {
                Some((v, mask)) => {
                    let (v, mask, dst) = (mac_bytes(v), mac_bytes(mask), mac_bytes(&p.dl_dst));
                    matches!((v, mask, dst), (Some(v), Some(m), Some(d)) if d & m == v & m)
                }
                None => p.dl_dst == value,
            },
            n if n.starts_with("reg") => p.regs.get(&reg(n)).copied().unwrap_or(0) == num(value),
            other => panic!("the interpreter does not know the match {other:?}"),
        }
    })
}

/// A bridge's flows and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bridge {
    pub flows: Vec<Flow>,
    pub groups: Vec<Group>,
}

/// Follows `packet` from table 0 of `bridge`, with an empty connection tracker.
pub fn run(bridge: &Bridge, packet: Packet) -> Trace {
    run_ct(bridge, packet, &mut Ct::default())
}

/// Follows `packet` from table 0 of `bridge` with the connection tracker `ct`.
pub fn run_ct(bridge: &Bridge, packet: Packet, ct: &mut Ct) -> Trace {
    let mut trace = Trace::default();
    let mut p = packet;
    let mut cx = Cx { b: bridge, ct, trace: &mut trace };
    table(&mut cx, 0, &mut p, 0);
    trace
}

struct Cx<'a> {
    b: &'a Bridge,
    ct: &'a mut Ct,
    trace: &'a mut Trace,
}

/// The conjunctions `(id, k, n)` of an action list.
fn conjunctions(actions: &str) -> Vec<(u32, u32, u32)> {
    split_top(actions)
        .into_iter()
        .filter_map(|a| {
            let inner = a.strip_prefix("conjunction(")?.strip_suffix(')')?;
            let (id, dim) = inner.split_once(',')?;
            let (k, n) = dim.split_once('/')?;
            Some((id.parse().ok()?, k.parse().ok()?, n.parse().ok()?))
        })
        .collect()
}

/// The flow a packet hits in table `t`: by priority, a plain flow, else a satisfied
/// conjunction's `conj_id` flow at that priority.
fn lookup<'a>(b: &'a Bridge, t: u8, p: &Packet) -> Option<&'a Flow> {
    let in_t: Vec<&Flow> = b.flows.iter().filter(|f| f.table == t).collect();
    // `conj_id` flows match nothing here: only once their conjunction is satisfied.
    let mut hits: Vec<&Flow> = in_t.iter().copied().filter(|f| matches(&f.matches, p, None)).collect();
    hits.sort_by_key(|f| std::cmp::Reverse(f.priority));
    let mut prios: Vec<u16> = hits.iter().map(|f| f.priority).collect();
    prios.dedup();
    for prio in prios {
        let at: Vec<&Flow> = hits.iter().copied().filter(|f| f.priority == prio).collect();
        if let Some(f) = at.iter().find(|f| conjunctions(&f.actions).is_empty()) {
            return Some(f);
        }
        let mut dims: BTreeMap<u32, (u32, BTreeSet<u32>)> = BTreeMap::new();
        for f in &at {
            for (id, k, n) in conjunctions(&f.actions) {
                dims.entry(id).or_insert((n, BTreeSet::new())).1.insert(k);
            }
        }
        for (id, (n, hit)) in dims {
            if hit.len() == n as usize
                && let Some(f) = in_t.iter().find(|f| {
                    f.priority == prio && f.matches.contains("conj_id=") && matches(&f.matches, p, Some(id))
                })
            {
                return Some(f);
            }
        }
    }
    None
}

fn table(cx: &mut Cx<'_>, t: u8, p: &mut Packet, depth: usize) {
    assert!(depth < 64, "resubmit loop: {:?}", cx.trace.tables);
    cx.trace.tables.push(t);
    let Some(hit) = lookup(cx.b, t, p) else { return };
    actions(cx, &hit.actions, p, depth);
}

fn ct_action(cx: &mut Cx<'_>, args: &str, p: &mut Packet, depth: usize) {
    let zone = p.regs.get(&6).copied().unwrap_or(0) & 0xffff;
    let args = split_top(args);
    let mark = args.iter().find_map(|a| {
        let ex = a.strip_prefix("exec(")?.strip_suffix(')')?;
        let v = ex.strip_prefix("load:")?.split_once("->")?.0;
        u32::try_from(num(v)).ok()
    });
    if args.contains(&"commit") {
        cx.ct.commit(zone, p, mark);
    }
    if let Some(next) = args.iter().find_map(|a| a.strip_prefix("table=")) {
        cx.ct.lookup(zone, p);
        table(cx, u8::try_from(num(next)).unwrap_or(u8::MAX), p, depth + 1);
    }
}

fn actions(cx: &mut Cx<'_>, list: &str, p: &mut Packet, depth: usize) {
    for a in split_top(list) {
        if let Some(args) = a.strip_prefix("ct(").and_then(|r| r.strip_suffix(')')) {
            ct_action(cx, args, p, depth);
            continue;
        }
        let (name, arg) = a.split_once(':').unwrap_or((a, ""));
        match name {
            "drop" => return,
            // The physical bridge's switch: towards the NIC.
            "NORMAL" => cx.trace.outputs.push((NORMAL, p.vlan, p.tun_id)),
            "mod_vlan_vid" => p.vlan = Some(u16::try_from(num(arg)).unwrap_or(u16::MAX)),
            "strip_vlan" | "pop_vlan" => p.vlan = None,
            "set_field" => {
                let (v, field) = arg.split_once("->").unwrap_or_else(|| panic!("bad set_field {a}"));
                assert!(field.starts_with("reg"), "the interpreter does not set {field}");
                p.regs.insert(reg(field), num(v));
            }
            "group" => {
                let id: u32 = arg.parse().unwrap_or_else(|_| panic!("bad group {a}"));
                let g = cx.b.groups.iter().find(|g| g.id == id).unwrap_or_else(|| panic!("no group {id}"));
                for bucket in g.buckets.values() {
                    let mut copy = p.clone();
                    actions(cx, bucket, &mut copy, depth + 1);
                }
            }
            "load" => {
                let (v, field) = arg.split_once("->").unwrap_or_else(|| panic!("bad load {a}"));
                match field {
                    "NXM_NX_TUN_ID[]" => p.tun_id = Some(num(v)),
                    f if f.starts_with("NXM_NX_REG") => {
                        p.regs.insert(reg(f), num(v));
                    }
                    other => panic!("the interpreter does not load {other}"),
                }
            }
            "output" => {
                let port = match arg {
                    "NXM_NX_REG5[]" => i64::try_from(p.regs.get(&5).copied().unwrap_or(0)).unwrap_or(-1),
                    n => i64::try_from(num(n)).unwrap_or(-1),
                };
                // OpenFlow never outputs a packet to the port it came in on.
                if port != p.in_port {
                    cx.trace.outputs.push((port, p.vlan, p.tun_id));
                }
            }
            _ if a.starts_with("resubmit(,") => {
                let next = a.trim_start_matches("resubmit(,").trim_end_matches(')');
                table(cx, u8::try_from(num(next)).unwrap_or(u8::MAX), p, depth + 1);
            }
            _ if a.starts_with("learn(") => {}
            "ct_clear" => {
                p.ct_state.clear();
                p.ct_mark = 0;
            }
            other => panic!("the interpreter does not know the action {other:?}"),
        }
    }
}
