//! `parse::trace` on real `ovs-appctl ofproto/trace` output of Open vSwitch 3.1 (recorded from
//! a private userspace switch into `fixtures/trace/`: NORMAL bridges, resubmits, conntrack with
//! and without `--ct-next`, patch ports, a VXLAN tunnel, a conjunction, no match, controller),
//! and its properties: no input makes it panic.

mod parse_support;

use std::collections::BTreeSet;
use std::fmt::Write;

use neutrino_inspect::parse::flows::parse_dump;
use neutrino_inspect::parse::trace::{Trace, parse_trace};
use neutrino_inspect::parse::{ParseError, TunnelKind};
use proptest::prelude::*;

macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("fixtures/trace/", $name, ".txt")))),*]
    };
}

const FIXTURES: &[(&str, &str)] = fixtures![
    "broadcast",
    "conjunction",
    "controller",
    "ct_next_est",
    "ct_next_inv",
    "ct_next_new",
    "ct_no_next",
    "ct_two_recirc",
    "from_tunnel",
    "no_match",
    "normal_flood",
    "normal_learned",
    "patch_vxlan",
    "resubmit_arp",
    "resubmit_missing_table",
];

const TEXTS: &[&str] = &fixture_texts!(FIXTURES);

fn fixture(name: &str) -> Trace {
    let text = FIXTURES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).unwrap();
    parse_trace(text).unwrap()
}

/// The trace as the `trace` view needs it, one fact a line.
fn render(t: &Trace) -> String {
    let mut s = String::new();
    for (i, sec) in t.sections.iter().enumerate() {
        let recirc = sec.recirc.as_ref().map_or("-".to_string(), |r| {
            format!("id={:?} ct_state={:?} default={}", r.id, r.ct_state, r.default_ct_state)
        });
        let _ = writeln!(s, "section {i} recirc: {recirc}");
        let _ = writeln!(s, "  flow: {}", sec.flow);
        for n in &sec.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        for st in &sec.steps {
            let id = st.flow_id().map_or("-".to_string(), |id| id.to_string());
            let _ = writeln!(
                s,
                "  step {}[{}] table={} priority={} cookie={:#x} no_match={} id={id} match={:?}",
                st.bridge, st.depth, st.table, st.priority, st.cookie, st.no_match, st.matches
            );
            for a in &st.actions {
                let _ = writeln!(s, "    {}{}", "  ".repeat(a.depth), a.text);
            }
            for n in &st.notes {
                let _ = writeln!(s, "    note {n}");
            }
        }
        let _ = writeln!(s, "  final_flow: {:?}", sec.final_flow);
        let _ = writeln!(s, "  megaflow: {:?}", sec.megaflow);
        let _ = writeln!(s, "  datapath_actions: {}", sec.datapath_actions);
        let _ = writeln!(
            s,
            "  drop={} outputs={:?} ct={:?} recircs={:?}",
            sec.is_drop(),
            sec.output_ports(),
            sec.ct(),
            sec.recircs()
        );
        for tun in sec.tunnels() {
            let _ = writeln!(s, "  tunnel: {tun:?}");
        }
    }
    s
}

#[test]
fn snapshots_of_real_traces() {
    for (name, text) in FIXTURES {
        let trace = parse_trace(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_snapshot!(*name, render(&trace));
    }
}

#[test]
fn json_shape() {
    insta::assert_snapshot!(
        "ct_next_est-json",
        serde_json::to_string_pretty(&fixture("ct_next_est")).unwrap()
    );
}

#[test]
fn the_view_helpers_answer_the_operators_questions() {
    let t = fixture("patch_vxlan");
    let last = t.last_step().unwrap();
    assert_eq!((last.bridge.as_str(), last.table), ("br-phy", 0));
    assert!(!t.is_drop());
    let tunnels = t.final_section().unwrap().tunnels();
    assert_eq!(tunnels.len(), 1);
    assert_eq!((tunnels[0].kind, tunnels[0].vni), (TunnelKind::Native, Some(1001)));
    assert_eq!(tunnels[0].dst, Some("10.0.0.2".parse().unwrap()));
    assert_eq!(
        t.steps().map(|s| s.bridge.as_str()).collect::<Vec<_>>(),
        ["br-int", "br-int", "br-int", "br-tun", "br-tun", "br-phy"]
    );

    let inv = fixture("ct_next_inv");
    assert!(inv.is_drop());
    assert_eq!(inv.sections.len(), 2);
    assert_eq!(inv.sections[0].recircs(), [inv.sections[1].recirc.as_ref().unwrap().id.unwrap()]);
    assert_eq!(inv.sections[0].ct(), ["zone=3"]);
    let default = fixture("ct_no_next");
    assert!(default.sections[1].recirc.as_ref().unwrap().default_ct_state);
    assert_eq!(fixture("ct_two_recirc").sections.len(), 3);
    assert!(fixture("no_match").last_step().unwrap().no_match);
}

#[test]
fn nested_bridge_blocks_give_actions_back_to_their_step() {
    // broadcast: table 60 outputs to the patch port mid-actions, so br-tun and br-phy are
    // nested, and the rest of table 60's actions follow them.
    let t = fixture("broadcast");
    let steps: Vec<_> = t.steps().map(|s| (s.bridge.as_str(), s.depth, s.table)).collect();
    assert_eq!(
        steps,
        [
            ("br-int", 0, 0),
            ("br-int", 0, 10),
            ("br-int", 0, 60),
            ("br-tun", 1, 0),
            ("br-tun", 1, 2),
            ("br-phy", 2, 0)
        ]
    );
    let t60 = t.steps().nth(2).unwrap();
    let actions: Vec<_> = t60.actions.iter().map(|a| a.text.as_str()).collect();
    assert_eq!(actions, ["output:10", "pop_vlan", "output:1", "output:2"]);
    assert_eq!(t60.notes, [">> skipping output to input port"]);
    assert_eq!(t.final_section().unwrap().output_ports(), [9, 3]);
}

#[test]
fn step_ids_are_the_dumped_flows_ids() {
    // The traces were recorded against the flows of the br-int dump fixture.
    let dumped: BTreeSet<_> =
        parse_dump(include_str!("fixtures/flows/br-int.txt")).unwrap().into_iter().map(|d| d.id).collect();
    for name in ["resubmit_arp", "ct_next_new", "ct_next_est", "ct_two_recirc", "conjunction"] {
        for step in fixture(name).steps() {
            assert!(dumped.contains(&step.flow_id().unwrap()), "{name}: {step:?}");
        }
    }
}

#[test]
fn what_is_not_a_trace_is_an_error() {
    assert!(matches!(parse_trace(""), Err(ParseError::Incomplete(_))));
    assert!(matches!(parse_trace("ovs-appctl: cannot connect"), Err(ParseError::Line { line: 1, .. })));
    let text = FIXTURES[0].1;
    let cut = &text[..text.find("Datapath actions").unwrap()];
    assert!(matches!(parse_trace(cut), Err(ParseError::Incomplete(_))));
    let bad_priority = text.replacen("priority 100", "priority high", 1);
    assert!(matches!(parse_trace(&bad_priority), Err(ParseError::Line { line: 5, .. })));
    let bad_table = text.replacen(" 0. in_port", "300. in_port", 1);
    assert!(parse_trace(&bad_table).is_err());
}

proptest! {
    #[test]
    fn any_text_never_panics(text in parse_support::any_text()) {
        let _ = parse_trace(&text);
        let _ = parse_trace(&format!("Flow: x\n{text}\nDatapath actions: {text}")).map(|t| (t.is_drop(), t.sections[0].tunnels()));
    }

    #[test]
    fn mutated_traces_never_panic(text in parse_support::mutated(TEXTS)) {
        if let Ok(t) = parse_trace(&text) {
            for s in &t.sections {
                let _ = (s.is_drop(), s.output_ports(), s.tunnels(), s.ct(), s.recircs());
            }
            let _: Vec<_> = t.steps().map(|s| s.flow_id()).collect();
        }
    }

    #[test]
    fn a_removed_action_or_note_line_keeps_the_rest(
        which in any::<prop::sample::Index>(),
        line in any::<prop::sample::Index>(),
    ) {
        // Deleting one action or note line (indented, not a step) still parses, with the
        // same steps and the same datapath actions.
        let text = TEXTS[which.index(TEXTS.len())];
        let lines: Vec<&str> = text.lines().collect();
        let candidates: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with("    ") && !lines[i].trim_start().starts_with(|c: char| c.is_ascii_digit()) && !lines[i].contains("bridge(") && !lines[i].trim().starts_with('-'))
            .collect();
        prop_assume!(!candidates.is_empty());
        let gone = candidates[line.index(candidates.len())];
        let edited: String = lines.iter().enumerate().filter(|(i, _)| *i != gone).map(|(_, l)| format!("{l}\n")).collect();
        let (a, b) = (parse_trace(text).unwrap(), parse_trace(&edited).unwrap());
        let keys = |t: &Trace| t.steps().map(|s| (s.bridge.clone(), s.table, s.flow_id())).collect::<Vec<_>>();
        prop_assert_eq!(keys(&a), keys(&b));
        let dp = |t: &Trace| t.sections.iter().map(|s| s.datapath_actions.clone()).collect::<Vec<_>>();
        prop_assert_eq!(dp(&a), dp(&b));
    }
}
