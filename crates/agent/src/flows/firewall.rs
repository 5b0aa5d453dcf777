//! The firewall stages of `br-int` (Neutron's `openvswitch` firewall tables 71-73, 81-82,
//! 91-94), today as pass-through: every port's traffic goes through them — egress 71 → 72 → 73
//! → 91 → switching, ingress 81 → 82 → output — and nothing is filtered. Security groups add
//! their flows to these tables at higher priorities.

use neutrino_ovs::flow::Flow;

use super::tables::{self, REG_PORT, priority as prio};
use super::{LocalPort, f};

/// The stages' defaults: each passes to the next; ingress ends by outputting to the port in
/// [`REG_PORT`]; the accepted-ingress and dropped hooks drop.
pub fn base(cookie: u64) -> Vec<Flow> {
    let next = |table: u8, to: u8| f(table, prio::DEFAULT, cookie, "", format!("resubmit(,{to})"));
    vec![
        next(tables::BASE_EGRESS, tables::RULES_EGRESS),
        next(tables::RULES_EGRESS, tables::ACCEPT_OR_INGRESS),
        next(tables::ACCEPT_OR_INGRESS, tables::ACCEPTED_EGRESS),
        next(tables::ACCEPTED_EGRESS, tables::SWITCHING),
        next(tables::BASE_INGRESS, tables::RULES_INGRESS),
        f(tables::RULES_INGRESS, prio::DEFAULT, cookie, "", format!("output:{REG_PORT}")),
        f(tables::ACCEPTED_INGRESS, prio::DEFAULT, cookie, "", "drop"),
        f(tables::DROPPED, prio::DEFAULT, cookie, "", "drop"),
    ]
}

/// A port's flow in the accept-or-ingress stage: accepted egress to this port's MAC on its
/// network goes straight to its ingress firewall (canonical form, as [`super::local::port`]).
/// It matches the local VLAN rather than upstream's `reg6`: the same network, and OpenFlow 1.4
/// accepts `strip_vlan` only where the match proves a VLAN header.
pub fn port(cookie: u64, lv: u16, p: &LocalPort) -> Flow {
    Flow {
        table: tables::ACCEPT_OR_INGRESS,
        priority: prio::TO_PORT,
        cookie,
        matches: format!("dl_dst={},dl_vlan={lv}", p.mac.to_ascii_lowercase()),
        actions: format!("load:{:#x}->{REG_PORT},strip_vlan,resubmit(,{})", p.ofport, tables::BASE_INGRESS),
    }
}
