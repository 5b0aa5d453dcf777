//! The figures of one run and their table: absolute values, ratios and the targets.

use std::time::Duration;

use crate::binding::Level;
use crate::resync::Resync;

/// Upstream Neutron's OVS agent polls for new devices every ~2 s (`polling_interval`);
/// context only, not measured here.
const NEUTRON_POLLING_S: f64 = 2.0;

pub struct Figures {
    pub levels: Vec<Level>,
    pub resync: Resync,
    pub vm_bps: f64,
    pub veth_bps: f64,
    pub mtu: u32,
}

#[allow(clippy::cast_possible_truncation, reason = "p is a fraction in [0, 1], so the index is below len")]
pub fn pct(samples: &[Duration], p: f64) -> f64 {
    let mut s = samples.to_vec();
    s.sort();
    if s.is_empty() {
        return 0.0;
    }
    let i = ((s.len() as f64 - 1.0) * p).round() as usize;
    s[i].as_secs_f64() * 1000.0
}

pub fn ms_summary(samples: &[Duration]) -> String {
    format!("p50 {:.1} ms, p99 {:.1} ms (n={})", pct(samples, 0.5), pct(samples, 0.99), samples.len())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

pub fn print(f: &Figures) {
    println!("## binding:host_id set on a plugged port -> ACTIVE (h1)");
    println!(
        "{:>14} {:>4} {:>9} {:>9} {:>9} {:>14}",
        "ports on h1", "n", "p50 ms", "p99 ms", "max ms", "vswitchd ms"
    );
    for l in &f.levels {
        println!(
            "{:>14} {:>4} {:>9.1} {:>9.1} {:>9.1} {:>14.1}",
            format!("{}..{}", l.ports_before, l.ports_before + l.samples.len() - 1),
            l.samples.len(),
            pct(&l.samples, 0.5),
            pct(&l.samples, 0.99),
            pct(&l.samples, 1.0),
            l.vswitchd_apply.as_secs_f64() * 1e3,
        );
    }
    println!(
        "(vswitchd ms: median time of `ovs-vsctl set port <tap> tag=N`, which waits until ovs-vswitchd applied it)"
    );
    if let (Some(first), Some(last)) = (f.levels.first(), f.levels.last()) {
        let (p0, p1) = (pct(&first.samples, 0.5), pct(&last.samples, 0.5));
        let ratio = p1 / p0;
        println!(
            "p50 at {} ports: {p1:.1} ms (target < 100 ms: {}); p50 at {} ports / at {} port(s): {ratio:.2} (target <= 2: {})",
            last.ports_before,
            verdict(p1 < 100.0),
            last.ports_before,
            first.ports_before,
            verdict(ratio <= 2.0),
        );
        println!(
            "context (not measured): upstream Neutron's OVS agent polls every ~{NEUTRON_POLLING_S:.0} s, so a new port waits ~{:.0} ms on average before it is even seen",
            NEUTRON_POLLING_S * 500.0
        );
    }
    println!();
    println!("## OpenFlow rules on h1");
    println!("{:>12} {:>8} {:>8} {:>8} {:>10}", "ports on h1", "br-int", "br-tun", "total", "per port");
    for l in &f.levels {
        let total = l.flows.0 + l.flows.1;
        println!(
            "{:>12} {:>8} {:>8} {:>8} {:>10.3}",
            l.ports_before,
            l.flows.0,
            l.flows.1,
            total,
            total as f64 / l.ports_before.max(1) as f64
        );
    }
    println!();
    let r = &f.resync;
    let lost = r.sent - r.received;
    println!("## h1 agent restart with {} ports on h1, ping a (h1) -> b (h2) every 50 ms", r.ports);
    println!(
        "stop (SIGTERM to exit): {:.0} ms; start to `agent in sync`: {:.0} ms (target < 2,000 ms: {})",
        r.stop.as_secs_f64() * 1e3,
        r.resync.as_secs_f64() * 1e3,
        verdict(r.resync < Duration::from_secs(2)),
    );
    println!(
        "pings: {} sent, {} received, {lost} lost (target 0: {})",
        r.sent,
        r.received,
        verdict(lost == 0)
    );
    println!();
    println!("## TCP throughput (iperf3 -t 5, median of 3)");
    println!(
        "VM a (h1) -> VM b (h2) over VXLAN, MTU {}: {:.2} Gbit/s; plain veth pair, MTU {}: {:.2} Gbit/s; ratio {:.3}",
        f.mtu,
        f.vm_bps / 1e9,
        f.mtu,
        f.veth_bps / 1e9,
        f.vm_bps / f.veth_bps
    );
    eprintln!("\n--- restarted h1 agent log up to `agent in sync`\n{}", strip_ansi(r.log.trim_end()));
}

/// The text without ANSI colour sequences (`ESC [ … m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
