//! The conntrack state machine of a port with port security in tables 72 (egress) and 82
//! (ingress), as upstream's `openvswitch` firewall (`_initialize_tracked_egress`,
//! `_initialize_tracked_ingress`): at priority 50 a connection marked `ct_mark=1` is dropped,
//! replies and related packets of an unmarked one are accepted; rules (70-77) admit new
//! connections (`+new-est`) and each further packet of an established one (`+est-rel-rpl`); at
//! priority 40 what no rule admitted is dropped, and an established connection no rule admits
//! any more is marked `ct_mark=1` — which is how removing a rule cuts the connections it let in.

use neutrino_ovs::flow::Flow;

use super::super::{LocalPort, tables};
use super::{CT_MARK_INVALID, ZONE, ct, flow, priority as prio, reg_port};

/// What a table accepts with: egress goes on to 73, ingress is output to the port.
pub fn accept(table: u8, p: &LocalPort) -> String {
    match table == tables::RULES_EGRESS {
        true => format!("resubmit(,{})", tables::ACCEPT_OR_INGRESS),
        false => format!("output:{}", p.ofport),
    }
}

/// What a table does with a new connection a rule admitted: egress goes on to 73 (committed
/// there or by the local port's ingress), ingress commits it and outputs it.
pub fn accept_new(table: u8, p: &LocalPort) -> String {
    match table == tables::RULES_EGRESS {
        true => accept(table, p),
        false => {
            format!("ct(commit,zone={ZONE}),output:{},resubmit(,{})", p.ofport, tables::ACCEPTED_INGRESS)
        }
    }
}

/// The state machine's flows of one port in 72 and 82.
pub fn port(cookie: u64, p: &LocalPort) -> Vec<Flow> {
    let reg = reg_port(p);
    let dropped = format!("resubmit(,{})", tables::DROPPED);
    let mark = |v: u32| ("ct_mark", format!("{v:#x}"));
    let state = |v: &str| ("ct_state", v.to_string());
    let mut out = vec![];
    for table in [tables::RULES_EGRESS, tables::RULES_INGRESS] {
        let ok = accept(table, p);
        let mut add = |priority: u16, head: &str, mut fields: Vec<(&'static str, String)>, a: String| {
            fields.push(reg.clone());
            out.push(flow(table, priority, cookie, head, fields, a));
        };
        add(prio::CT_STATE, "", vec![mark(CT_MARK_INVALID)], dropped.clone());
        add(prio::CT_STATE, "", vec![state(ct::EST_REPLY), mark(0)], ok.clone());
        add(prio::CT_STATE, "", vec![state(ct::RELATED), mark(0)], ok);
        add(prio::CT_DROP, "", vec![state(ct::NOT_EST)], dropped.clone());
        for eth in ["ip", "ipv6"] {
            let a = format!("ct(commit,zone={ZONE},exec(load:{CT_MARK_INVALID:#x}->NXM_NX_CT_MARK[]))");
            add(prio::CT_DROP, eth, vec![state(ct::EST)], a);
        }
    }
    out
}
