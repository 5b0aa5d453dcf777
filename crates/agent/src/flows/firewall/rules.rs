//! Security group rules as flows, following upstream's `openvswitch_firewall/rules.py`: a rule
//! of a port becomes, for each of the two conntrack states it admits (`+est-rel-rpl`, each
//! packet of an established connection; `+new-est`, a new one), flows in 72 (egress) or 82
//! (ingress) matching the port (`reg5`), the ethertype, the protocol, the destination port
//! range as bitwise masks (upstream's `port_rule_masking`) or the ICMP type and code, and the
//! remote prefix (the source of ingress, the destination of egress). The priority says how
//! specific the rule is (upstream's `flow_priority_offset`); rules with a remote group are
//! conjunctions ([`super::conj`]) at 70-73, the others at 74-77.

use neutrino_model::internal::RuleState;
use neutrino_ovs::flow::Flow;

use super::super::{LocalPort, tables};
use super::state::{accept, accept_new};
use super::{canon_addr, ct, flow, priority as prio, reg_port};

/// The two conntrack states a rule admits: each packet of an established connection in its
/// direction, and a new connection.
pub const CT_STATES: [&str; 2] = [ct::EST_NOT_REPLY, ct::NEW];

const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// Whether the rule is for IPv6.
pub fn is_v6(rule: &RuleState) -> bool {
    rule.ethertype.eq_ignore_ascii_case("IPv6")
}

/// The table of the rule's direction.
pub fn table(rule: &RuleState) -> u8 {
    match rule.direction.as_str() {
        "egress" => tables::RULES_EGRESS,
        _ => tables::RULES_INGRESS,
    }
}

/// Upstream's priority offset: 0 any protocol, 1 ICMP without a type, 2 ICMP without a code,
/// 3 anything more specific; plain (non-conjunction) rules add 4.
pub fn offset(rule: &RuleState, conjunction: bool) -> u16 {
    let base = if conjunction { 0 } else { 4 };
    match rule.protocol {
        None => base,
        Some(ICMP | ICMPV6) if rule.port_range_min.is_none() => base + 1,
        Some(ICMP | ICMPV6) if rule.port_range_max.is_none() => base + 2,
        Some(_) => base + 3,
    }
}

/// `[min, max]` as bitwise `value/mask` matches (upstream's `port_rule_masking`): the fewest
/// aligned power-of-two blocks that cover the range exactly.
pub fn port_masks(min: u16, max: u16) -> Vec<(u16, u16)> {
    let (mut lo, hi) = (u32::from(min), u32::from(max.max(min)));
    let mut out = vec![];
    while lo <= hi {
        // The largest aligned block starting at `lo` that does not pass `hi`.
        let mut size = if lo == 0 { 1 << 16 } else { 1u32 << lo.trailing_zeros() };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        let mask = u16::try_from(0xffffu32 & !(size - 1)).unwrap_or(0);
        out.push((u16::try_from(lo).unwrap_or(u16::MAX), mask));
        lo += size;
    }
    out
}

/// A match: the protocol head (`tcp`, `ip`, …) and the other fields (see [`super::flow`]).
pub type Match = (&'static str, Vec<(&'static str, String)>);

/// The protocol head of an ethertype and protocol, and the `nw_proto` field when no
/// shorthand names the pair (as `ovs-ofctl` prints them).
fn head(v6: bool, proto: Option<u8>) -> (&'static str, Option<(&'static str, String)>) {
    let named = match (v6, proto) {
        (false, None) => Some("ip"),
        (true, None) => Some("ipv6"),
        (false, Some(ICMP)) => Some("icmp"),
        (true, Some(ICMPV6)) => Some("icmp6"),
        (false, Some(6)) => Some("tcp"),
        (true, Some(6)) => Some("tcp6"),
        (false, Some(17)) => Some("udp"),
        (true, Some(17)) => Some("udp6"),
        (false, Some(132)) => Some("sctp"),
        (true, Some(132)) => Some("sctp6"),
        _ => None,
    };
    match (named, proto) {
        (Some(h), _) => (h, None),
        (None, p) => (if v6 { "ipv6" } else { "ip" }, p.map(|p| ("nw_proto", p.to_string()))),
    }
}

/// The match of a rule for one port without the conntrack state, one per port mask: the port,
/// ethertype and protocol, destination ports or ICMP type/code, and (unless `skip_remote`, for
/// conjunctions) the remote prefix. A prefix of the other ethertype matches nothing (`None`).
pub fn matches(p: &LocalPort, rule: &RuleState, skip_remote: bool) -> Option<Vec<Match>> {
    let v6 = is_v6(rule);
    let (h, nw_proto) = head(v6, rule.protocol);
    let mut m = vec![reg_port(p)];
    m.extend(nw_proto);
    if !skip_remote
        && let Some(prefix) = rule.remote_ip_prefix.as_deref()
        && !matches!(prefix, "0.0.0.0/0" | "::/0")
    {
        if prefix.contains(':') != v6 {
            return None;
        }
        let field = match (rule.direction.as_str(), v6) {
            ("egress", false) => "nw_dst",
            ("egress", true) => "ipv6_dst",
            (_, false) => "nw_src",
            (_, true) => "ipv6_src",
        };
        m.push((field, canon_addr(prefix)));
    }
    let Some(proto) = rule.protocol else { return Some(vec![(h, m)]) };
    match proto {
        ICMP | ICMPV6 => {
            if let Some(t) = rule.port_range_min {
                m.push(("icmp_type", t.to_string()));
                if let Some(c) = rule.port_range_max {
                    m.push(("icmp_code", c.to_string()));
                }
            }
            Some(vec![(h, m)])
        }
        6 | 17 | 132 => match (rule.port_range_min, rule.port_range_max) {
            (Some(lo), hi) if !(lo <= 1 && hi == Some(u16::MAX)) => Some(
                port_masks(lo, hi.unwrap_or(lo))
                    .into_iter()
                    .map(|(v, mask)| {
                        let tp = match mask {
                            0xffff => v.to_string(),
                            _ => format!("{v:#x}/{mask:#x}"),
                        };
                        let mut m = m.clone();
                        m.push(("tp_dst", tp));
                        (h, m)
                    })
                    .collect(),
            ),
            _ => Some(vec![(h, m)]),
        },
        _ => Some(vec![(h, m)]),
    }
}

/// A plain rule's flows on a port: for each match, the established and the new state.
pub fn flows(cookie: u64, p: &LocalPort, rule: &RuleState) -> Vec<Flow> {
    let t = table(rule);
    let priority = prio::RULE_BASE + offset(rule, false);
    let Some(ms) = matches(p, rule, false) else { return vec![] };
    let mut out = vec![];
    for (h, m) in ms {
        let with = |state: &str| {
            let mut m = m.clone();
            m.push(("ct_state", state.to_string()));
            m
        };
        out.push(flow(t, priority, cookie, h, with(CT_STATES[0]), accept(t, p)));
        out.push(flow(t, priority, cookie, h, with(CT_STATES[1]), accept_new(t, p)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_become_the_fewest_masks() {
        assert_eq!(port_masks(22, 22), vec![(22, 0xffff)]);
        assert_eq!(port_masks(16, 23), vec![(16, 0xfff8)]);
        // Upstream's example: 40-105 = 40-47, 48-63, 64-95, 96-103, 104-105.
        assert_eq!(
            port_masks(40, 105),
            vec![(40, 0xfff8), (48, 0xfff0), (64, 0xffe0), (96, 0xfff8), (104, 0xfffe)]
        );
        assert_eq!(port_masks(0, u16::MAX), vec![(0, 0)]);
        assert_eq!(port_masks(1024, u16::MAX).len(), 6);
        // Every port of a range is covered once, and nothing outside it.
        for (lo, hi) in [(1, 1000), (80, 8080), (5000, 5001), (65534, 65535)] {
            let masks = port_masks(lo, hi);
            for port in 0..=u16::MAX {
                let hits = masks.iter().filter(|(v, m)| port & m == *v).count();
                assert_eq!(hits, usize::from((lo..=hi).contains(&port)), "{lo}-{hi} at {port}");
            }
        }
    }
}
