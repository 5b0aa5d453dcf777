//! The conntrack state machine of a port with port security in tables 72 (egress) and 82
//! (ingress), as upstream's `openvswitch` firewall (`_initialize_tracked_egress`,
//! `_initialize_tracked_ingress`): at priority 50 a connection marked `ct_mark=1` is dropped,
//! replies and related packets of an unmarked one are accepted; rules (70-77) admit new
//! connections (`+new-est`) and each further packet of an established one (`+est-rel-rpl`); at
//! priority 40 what no rule admitted is dropped, and an established connection no rule admits
//! any more is marked `ct_mark=1` — which is how removing a rule cuts the connections it let in.

use neutrino_ovs::flow::Flow;

use super::super::{LocalPort, f, tables};
use super::{CT_MARK_INVALID, ZONE, priority as prio};

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
    let reg = format!("reg5={:#x}", p.ofport);
    let dropped = format!("resubmit(,{})", tables::DROPPED);
    let mut out = vec![];
    for table in [tables::RULES_EGRESS, tables::RULES_INGRESS] {
        let ok = accept(table, p);
        let mut flow = |priority: u16, m: String, a: String| out.push(f(table, priority, cookie, m, a));
        flow(prio::CT_STATE, format!("{reg},ct_mark={CT_MARK_INVALID:#x}"), dropped.clone());
        flow(prio::CT_STATE, format!("{reg},ct_state=+est-rel+rpl,ct_mark=0"), ok.clone());
        flow(prio::CT_STATE, format!("{reg},ct_state=-new-est+rel-inv,ct_mark=0"), ok);
        flow(prio::CT_DROP, format!("{reg},ct_state=-est"), dropped.clone());
        for eth in ["ip", "ipv6"] {
            flow(
                prio::CT_DROP,
                format!("{eth},{reg},ct_state=+est"),
                format!("ct(commit,zone={ZONE},exec(load:{CT_MARK_INVALID:#x}->NXM_NX_CT_MARK[]))"),
            );
        }
    }
    out
}
