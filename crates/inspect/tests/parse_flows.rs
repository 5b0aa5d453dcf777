//! `parse::flows` on real `ovs-ofctl dump-flows` output of Open vSwitch 3.1 (recorded from a
//! private userspace switch into `fixtures/flows/`), and its properties: no input makes it
//! panic, and counters never change a flow's id.

mod parse_support;

use neutrino_inspect::parse::flows::{DumpedFlow, parse_dump, parse_dump_line};
use neutrino_ovs::flow::Flow;
use proptest::prelude::*;

const BR_INT: &str = include_str!("fixtures/flows/br-int.txt");
const BR_INT_OF13: &str = include_str!("fixtures/flows/br-int-of13.txt");
const BR_TUN_OF13: &str = include_str!("fixtures/flows/br-tun-of13.txt");
const BR_SIMPLE: &str = include_str!("fixtures/flows/br-simple.txt");
const BR_CONTROLLER: &str = include_str!("fixtures/flows/br-controller.txt");
const FIXTURES: &[&str] = &[BR_INT, BR_INT_OF13, BR_TUN_OF13, BR_SIMPLE, BR_CONTROLLER];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

/// One line per flow: what `dump` shows.
fn render(flows: &[DumpedFlow]) -> String {
    flows
        .iter()
        .map(|d| {
            format!(
                "{} table={} priority={} cookie={:#x} n_packets={} n_bytes={} duration={} idle_age={} hard_age={} idle_timeout={} hard_timeout={}\n    match: {}\n    actions: {}\n",
                d.id,
                d.flow.table,
                d.flow.priority,
                d.flow.cookie,
                d.n_packets,
                d.n_bytes,
                opt(d.duration),
                opt(d.idle_age),
                opt(d.hard_age),
                opt(d.idle_timeout),
                opt(d.hard_timeout),
                d.flow.matches,
                d.flow.actions
            )
        })
        .collect()
}

#[test]
fn snapshots_of_real_dumps() {
    for (name, text) in [
        ("br-int", BR_INT),
        ("br-int-of13", BR_INT_OF13),
        ("br-tun-of13", BR_TUN_OF13),
        ("br-simple", BR_SIMPLE),
        ("br-controller", BR_CONTROLLER),
    ] {
        let flows = parse_dump(text).unwrap();
        assert_eq!(flows.len(), text.lines().count() - 1, "{name}: one flow per line after the header");
        insta::assert_snapshot!(name, render(&flows));
    }
    // A bridge without flows: only the header.
    assert!(parse_dump("NXST_FLOW reply (xid=0x4):\n").unwrap().is_empty());
}

#[test]
fn openflow_versions_name_the_same_flows() {
    // OpenFlow 1.0 and 1.3 print actions differently (load vs set_field); the ids are the same.
    let ids = |t| parse_dump(t).unwrap().into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(BR_INT), ids(BR_INT_OF13));
}

#[test]
fn json_shape() {
    let flows = parse_dump(BR_SIMPLE).unwrap();
    insta::assert_snapshot!("br-simple-json", serde_json::to_string_pretty(&flows[..2]).unwrap());
}

proptest! {
    #[test]
    fn any_text_never_panics(text in parse_support::any_text()) {
        let _ = parse_dump(&text);
        let _ = parse_dump_line(&text);
    }

    #[test]
    fn mutated_dumps_never_panic(text in parse_support::mutated(FIXTURES)) {
        let _ = parse_dump(&text);
    }

    #[test]
    fn counters_do_not_change_the_id(
        line in prop::sample::select(BR_INT.lines().skip(1).collect::<Vec<_>>()),
        packets in any::<u64>(),
        bytes in any::<u64>(),
        secs in 0u32..10_000_000,
        age in any::<u32>(),
    ) {
        let original = parse_dump_line(line).unwrap();
        let recounted = line
            .split(", ")
            .map(|f| match f.split_once('=') {
                Some(("n_packets", _)) => format!("n_packets={packets}"),
                Some(("n_bytes", _)) => format!("n_bytes={bytes}"),
                Some(("duration", _)) => format!("duration={secs}.5s"),
                Some(("idle_age", _)) => format!("idle_age={age}"),
                _ => f.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let d = parse_dump_line(&recounted).unwrap();
        prop_assert_eq!(d.id, original.id);
        prop_assert_eq!(&d.flow, &original.flow);
        prop_assert_eq!((d.n_packets, d.n_bytes, d.idle_age), (packets, bytes, Some(u64::from(age))));
        prop_assert_eq!(d.duration, Some(f64::from(secs) + 0.5));
    }

    #[test]
    fn a_dumped_flow_reads_back_as_its_add_line(line in prop::sample::select(BR_INT.lines().skip(1).collect::<Vec<_>>())) {
        let d = parse_dump_line(line).unwrap();
        let again = Flow::parse_dump_line(&d.flow.to_add_line()).unwrap();
        prop_assert_eq!(again.id(), d.id);
    }
}
