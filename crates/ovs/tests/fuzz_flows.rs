//! Property tests ("fuzzing" on stable Rust) of the `ovs-ofctl dump-flows` parser and the flow
//! normaliser (ovs-ofctl(8) "Flow Syntax", ovs-fields(7), ovs-actions(7)): a flow built from
//! generated match and action text survives `to_add_line` and a dump-flows line (with and
//! without statistics) unchanged, normalising is idempotent, and arbitrary lines give `Ok` or
//! `Err`, never a panic. `PROPTEST_CASES=N` runs N cases per property instead of the default.
//! Failing inputs are kept in `tests/corpus/flows/` and replayed by `tests/corpus.rs`.

use neutrino_ovs::flow::{DEFAULT_PRIORITY, Flow, normalize};
use proptest::prelude::*;

mod fuzz;

fn mac() -> impl Strategy<Value = String> {
    (any::<[u8; 6]>(), any::<bool>()).prop_map(|(m, upper)| {
        let s = m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        if upper { s.to_ascii_uppercase() } else { s }
    })
}

fn ipv4() -> impl Strategy<Value = String> {
    any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]))
}

fn num(max: u64) -> impl Strategy<Value = String> {
    (0..=max, any::<bool>()).prop_map(|(n, hex)| if hex { format!("{n:#x}") } else { n.to_string() })
}

/// An optional mask: none, a prefix length or a dotted/hex mask, as ovs-ofctl accepts.
fn ipv4_masked() -> impl Strategy<Value = String> {
    (ipv4(), prop_oneof![Just(None), (0u8..=32).prop_map(|l| Some(l.to_string())), ipv4().prop_map(Some)])
        .prop_map(|(a, m)| m.map_or(a.clone(), |m| format!("{a}/{m}")))
}

fn ipv6_masked() -> impl Strategy<Value = String> {
    (any::<u128>(), prop::option::of(0u8..=128)).prop_map(|(a, l)| {
        let a = std::net::Ipv6Addr::from(a);
        l.map_or(a.to_string(), |l| format!("{a}/{l}"))
    })
}

fn ct_state() -> impl Strategy<Value = String> {
    let flag = prop_oneof![
        Just("new"),
        Just("est"),
        Just("rel"),
        Just("rpl"),
        Just("inv"),
        Just("trk"),
        Just("snat"),
        Just("dnat")
    ];
    prop::collection::vec((any::<bool>(), flag), 1..4)
        .prop_map(|v| v.into_iter().map(|(plus, f)| format!("{}{f}", if plus { '+' } else { '-' })).collect())
}

/// One match token as the agent (or a person) may write it: protocol shorthands, field
/// aliases, masks, hex or decimal numbers.
fn match_token() -> impl Strategy<Value = String> {
    let proto = prop_oneof![
        Just("ip"),
        Just("ipv4"),
        Just("tcp"),
        Just("udp"),
        Just("icmp"),
        Just("sctp"),
        Just("ipv6"),
        Just("tcp6"),
        Just("udp6"),
        Just("icmp6"),
        Just("arp"),
        Just("rarp"),
        Just("mpls"),
        Just("IP"),
        Just("TCP")
    ];
    prop_oneof![
        proto.prop_map(String::from),
        (1u32..65280).prop_map(|p| format!("in_port={p}")),
        Just("in_port=LOCAL".to_string()),
        num(4095).prop_map(|v| format!("dl_vlan={v}")),
        Just("dl_vlan=0xffff".to_string()),
        (0u16..0x1000).prop_map(|v| format!("vlan_tci={:#06x}/0x1fff", 0x1000 | v)),
        (
            prop_oneof![Just("dl_src"), Just("dl_dst"), Just("eth_src"), Just("eth_dst")],
            mac(),
            prop::option::of(mac())
        )
            .prop_map(|(f, m, k)| k.map_or(format!("{f}={m}"), |k| format!("{f}={m}/{k}"))),
        (
            prop_oneof![Just("nw_src"), Just("nw_dst"), Just("ip_src"), Just("ipv4_dst"), Just("arp_spa")],
            ipv4_masked()
        )
            .prop_map(|(f, v)| format!("{f}={v}")),
        (prop_oneof![Just("ipv6_src"), Just("ipv6_dst")], ipv6_masked())
            .prop_map(|(f, v)| format!("{f}={v}")),
        (
            prop_oneof![Just("tp_src"), Just("tp_dst"), Just("udp_dst"), Just("tcp_src")],
            num(65535),
            prop::option::of(0u64..=0xffff)
        )
            .prop_map(|(f, v, m)| m.map_or(format!("{f}={v}"), |m| format!("{f}={v}/{m:#x}"))),
        (0u8..16, num(u64::from(u32::MAX)), prop::option::of(any::<u32>()))
            .prop_map(|(r, v, m)| m.map_or(format!("reg{r}={v}"), |m| format!("reg{r}={v}/{m:#x}"))),
        (prop_oneof![Just("tun_id"), Just("tunnel_id"), Just("metadata")], num(u64::MAX))
            .prop_map(|(f, v)| format!("{f}={v}")),
        (prop_oneof![Just("ct_mark"), Just("pkt_mark")], num(u64::from(u32::MAX)))
            .prop_map(|(f, v)| format!("{f}={v}")),
        ct_state().prop_map(|s| format!("ct_state={s}")),
        num(255).prop_map(|v| format!("nw_proto={v}")),
        prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x0806), Just(0x88cc), any::<u16>()]
            .prop_map(|v| format!("dl_type={v:#06x}")),
        num(65535).prop_map(|v| format!("ct_zone={v}")),
    ]
}

fn action_token() -> impl Strategy<Value = String> {
    let port = 1u32..65280;
    prop_oneof![
        port.clone().prop_map(|p| format!("output:{p}")),
        port.clone().prop_map(|p| p.to_string()),
        prop_oneof![
            Just("NORMAL"),
            Just("normal"),
            Just("output:NORMAL"),
            Just("LOCAL"),
            Just("IN_PORT"),
            Just("output:in_port"),
            Just("FLOOD"),
            Just("controller"),
            Just("strip_vlan"),
            Just("pop_vlan"),
            Just("drop"),
        ]
        .prop_map(String::from),
        (1u32..=65535).prop_map(|n| format!("controller:{n}")),
        num(4095).prop_map(|v| format!("mod_vlan_vid:{v}")),
        num(u64::MAX).prop_map(|v| format!("set_tunnel:{v}")),
        (num(u64::from(u32::MAX)), 0u8..16).prop_map(|(v, r)| format!("load:{v}->reg{r}")),
        (num(u64::from(u32::MAX)), 0u8..16).prop_map(|(v, r)| format!("set_field:{v}->reg{r}")),
        (0u8..16).prop_map(|r| format!("move:reg{r}[0..11]->vlan_tci[0..11]")),
        (mac(), prop_oneof![Just("eth_src"), Just("eth_dst")])
            .prop_map(|(m, f)| format!("set_field:{m}->{f}")),
        (mac(), prop_oneof![Just("mod_dl_src"), Just("mod_dl_dst")]).prop_map(|(m, f)| format!("{f}:{m}")),
        (0u8..=254).prop_map(|t| format!("goto_table:{t}")),
        (0u8..=254).prop_map(|t| format!("resubmit(,{t})")),
        (0u32..65536, num(u64::from(u32::MAX)))
            .prop_map(|(z, m)| format!("ct(commit,zone={z},exec(set_field:{m}->ct_mark))")),
        (0u8..=254).prop_map(|t| format!("ct(table={t},zone=NXM_NX_REG6[0..15])")),
        (0u8..=254).prop_map(|t| format!(
            "learn(table={t},idle_timeout=300,priority=2,NXM_OF_VLAN_TCI[0..11],\
             NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[])"
        )),
    ]
}

fn flow() -> impl Strategy<Value = Flow> {
    (
        any::<u8>(),
        prop_oneof![Just(DEFAULT_PRIORITY), Just(0u16), any::<u16>()],
        prop_oneof![Just(0u64), any::<u64>()],
        prop::collection::vec(match_token(), 0..6),
        prop::collection::vec(action_token(), 0..5),
    )
        .prop_map(|(t, p, c, m, a)| Flow::new(t, p, c, &m.join(","), &a.join(",")))
}

/// The flow as `ovs-ofctl dump-flows` prints it: statistics, and `cookie`, `table` and
/// `priority` left out at their defaults.
fn dump_line(f: &Flow, stats: bool) -> String {
    let mut head = vec![];
    if f.cookie != 0 {
        head.push(format!("cookie={:#x}", f.cookie));
    }
    if stats {
        head.push("duration=12.345s".into());
    }
    if f.table != 0 {
        head.push(format!("table={}", f.table));
    }
    if stats {
        head.extend(["n_packets=7".into(), "n_bytes=420".into(), "idle_age=3".into()]);
    }
    let mut spec = vec![];
    if f.priority != DEFAULT_PRIORITY {
        spec.push(format!("priority={}", f.priority));
    }
    if !f.matches.is_empty() {
        spec.push(f.matches.clone());
    }
    let actions = if f.actions.is_empty() { "drop" } else { &f.actions };
    let head = if head.is_empty() { String::new() } else { format!("{}, ", head.join(", ")) };
    format!(" {head}{} actions={actions}", spec.join(","))
}

/// Text that looks like flow syntax often enough to reach the deep branches.
fn flowish_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z_0-9=,:()\\[\\]./+\\->x ]{0,120}",
        "(cookie=0x[0-9a-f]{1,18}, )?(table=[0-9]{1,4}, )?(priority=[0-9]{1,6},)?[a-z_0-9=,:/.]{0,60} actions=[a-zA-Z_0-9=,:()\\[\\]./+\\->]{0,80}",
    ]
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    #[test]
    fn generated_flows_round_trip_through_add_lines(f in flow()) {
        prop_assert_eq!(Flow::parse_dump_line(&f.to_add_line()).unwrap(), f);
    }

    #[test]
    fn generated_flows_round_trip_through_dump_lines(f in flow(), stats in any::<bool>()) {
        let line = dump_line(&f, stats);
        prop_assert_eq!(Flow::parse_dump_line(&line).unwrap(), f, "{}", line);
    }

    #[test]
    fn normalising_generated_flows_is_idempotent(f in flow()) {
        prop_assert_eq!(normalize::matches(&f.matches), f.matches.clone());
        prop_assert_eq!(normalize::actions(&f.actions), f.actions.clone());
    }

    #[test]
    fn arbitrary_lines_parse_or_fail_and_reparse_the_same(line in flowish_text()) {
        fuzz::check_flow_line(&line);
    }
}
