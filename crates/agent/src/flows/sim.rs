//! A small interpreter of the generated flows (tests only): it follows one packet through a
//! bridge's tables and groups — the matches and actions the generators use, with OpenFlow's
//! rules (highest priority first, `resubmit` returns, no output to the in_port, a group of type
//! `all` runs each bucket on its own copy of the packet) — and records the
//! tables it passed and the ports it left by, so that tests assert paths, not flow text.

use std::collections::BTreeMap;

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

fn matches(m: &str, p: &Packet) -> bool {
    m.split(',').filter(|s| !s.is_empty()).all(|field| {
        let (name, value) = field.split_once('=').unwrap_or((field, ""));
        match name {
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

/// Follows `packet` from table 0 of `bridge`.
pub fn run(bridge: &Bridge, packet: Packet) -> Trace {
    let mut trace = Trace::default();
    let mut p = packet;
    table(bridge, 0, &mut p, &mut trace, 0);
    trace
}

fn table(b: &Bridge, t: u8, p: &mut Packet, trace: &mut Trace, depth: usize) {
    assert!(depth < 64, "resubmit loop: {:?}", trace.tables);
    trace.tables.push(t);
    let hit = b.flows.iter().filter(|f| f.table == t && matches(&f.matches, p)).max_by_key(|f| f.priority);
    let Some(hit) = hit else { return };
    actions(b, &hit.actions, p, trace, depth);
}

fn actions(b: &Bridge, list: &str, p: &mut Packet, trace: &mut Trace, depth: usize) {
    for a in split_top(list) {
        let (name, arg) = a.split_once(':').unwrap_or((a, ""));
        match name {
            "drop" => return,
            // The physical bridge's switch: towards the NIC.
            "NORMAL" => trace.outputs.push((NORMAL, p.vlan, p.tun_id)),
            "mod_vlan_vid" => p.vlan = Some(u16::try_from(num(arg)).unwrap_or(u16::MAX)),
            "strip_vlan" | "pop_vlan" => p.vlan = None,
            "set_field" => {
                let (v, field) = arg.split_once("->").unwrap_or_else(|| panic!("bad set_field {a}"));
                assert!(field.starts_with("reg"), "the interpreter does not set {field}");
                p.regs.insert(reg(field), num(v));
            }
            "group" => {
                let id: u32 = arg.parse().unwrap_or_else(|_| panic!("bad group {a}"));
                let g = b.groups.iter().find(|g| g.id == id).unwrap_or_else(|| panic!("no group {id}"));
                for bucket in g.buckets.values() {
                    let mut copy = p.clone();
                    actions(b, bucket, &mut copy, trace, depth + 1);
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
                    trace.outputs.push((port, p.vlan, p.tun_id));
                }
            }
            _ if a.starts_with("resubmit(,") => {
                let next = a.trim_start_matches("resubmit(,").trim_end_matches(')');
                table(b, u8::try_from(num(next)).unwrap_or(u8::MAX), p, trace, depth + 1);
            }
            _ if a.starts_with("learn(") => {}
            other => panic!("the interpreter does not know the action {other:?}"),
        }
    }
}
