//! A trace as the shell prints it: the packet, one line per step prefixed by its host, the
//! verdict, and the established connection's verdict.

use super::{Outcome, TraceResult, Verdict};

fn verdict_line(v: &Verdict) -> String {
    let word = match v.outcome {
        Outcome::Delivered => "DELIVERED",
        Outcome::LeftCloud => "LEFT THE CLOUD",
        Outcome::Dropped => "DROPPED",
        Outcome::Unknown => "UNKNOWN",
    };
    format!("{word}: {}", v.reason)
}

pub fn text(t: &TraceResult) -> String {
    let p = &t.packet;
    let mut s = format!(
        "trace {} → {} {} ({} → {})\n",
        t.request.from,
        t.request.to,
        p.service(),
        p.src_ip,
        p.dst_ip
    );
    let width = t.observations.iter().map(|o| o.host.len()).max().unwrap_or(0);
    for o in &t.observations {
        s.push_str(&format!("[{:<width$}] {}\n", o.host, o.text));
    }
    s.push_str(&verdict_line(&t.verdict));
    s.push('\n');
    if let Some(e) = &t.established {
        s.push_str(&format!("established connection: {}\n", verdict_line(e)));
    }
    s
}
