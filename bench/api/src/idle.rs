//! The "normal GET next to idle connections" figures: `GET /v2.0/networks/{id}` at concurrency 1
//! with no other connection open, and while 1,000 connections that never send a byte are
//! open (what a slowloris client or a crowd of stale keep-alive clients leaves behind). The
//! two conditions alternate over several rounds and each figure pools its rounds, so that
//! drift of a shared machine weighs on both alike. The server's CPU time (when its pid is
//! known) is summed over the same GETs, not over opening and closing the idle connections.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;
use tokio::net::TcpStream;

use crate::{Api, Row, pct};

/// Idle connections opened for the second figure.
pub const IDLE: usize = 1_000;
/// Rounds of (without, with) and GETs per condition per round.
const ROUNDS: usize = 5;
const GETS: usize = 1_000;

/// Raises this process's open-files limit so that both ends of the idle connections (an
/// in-process server; a child server inherits the limit) fit; returns the soft limit now in
/// force.
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(8192).unwrap_or(1024)
}

/// GETs `path` `GETS` times; adds the latencies to `lat` and the server's CPU time to `cpu`.
async fn gets(api: &Api, path: &str, lat: &mut Vec<Duration>, cpu: &mut Option<Duration>) -> Result<()> {
    let before = api.server_cpu()?;
    for _ in 0..GETS {
        let t = Instant::now();
        api.fetch(path).await?;
        lat.push(t.elapsed());
    }
    if let (Some(before), Some(after)) = (before, api.server_cpu()?) {
        *cpu = Some(cpu.unwrap_or_default() + after.saturating_sub(before));
    }
    Ok(())
}

fn row(op: String, mut lat: Vec<Duration>, server_cpu: Option<Duration>) -> Row {
    lat.sort();
    let total: f64 = lat.iter().map(Duration::as_secs_f64).sum();
    Row {
        op,
        conc: 1,
        n: lat.len(),
        ops: lat.len() as f64 / total,
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
        server_cpu,
        listed: 0,
    }
}

/// The two rows, and the fewest idle connections still open at the end of a round.
pub async fn rows(api: &Api, idle: usize) -> Result<(Vec<Row>, usize)> {
    let net =
        api.call(reqwest::Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "idle"}}))).await?;
    let path = format!("/v2.0/networks/{}", net["network"]["id"].as_str().context("network id")?);
    let addr: SocketAddr =
        api.base.trim_start_matches("http://").parse().context("--url must be http://IP:PORT")?;
    let (mut quiet, mut busy) = (vec![], vec![]);
    let (mut quiet_cpu, mut busy_cpu) = (None, None);
    let mut still_open = idle;
    for _ in 0..ROUNDS {
        gets(api, &path, &mut quiet, &mut quiet_cpu).await?;
        let mut open = Vec::with_capacity(idle);
        for _ in 0..idle {
            open.push(TcpStream::connect(addr).await.context("opening an idle connection")?);
        }
        // Let the server accept them all before measuring.
        tokio::time::sleep(Duration::from_secs(1)).await;
        gets(api, &path, &mut busy, &mut busy_cpu).await?;
        let mut byte = [0u8; 1];
        let open_now = open
            .iter()
            .filter(|s| matches!(s.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock))
            .count();
        still_open = still_open.min(open_now);
        drop(open);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok((
        vec![
            row("network show, 0 idle conns".into(), quiet, quiet_cpu),
            row(format!("network show, {idle} idle conns"), busy, busy_cpu),
        ],
        still_open,
    ))
}

/// The comparison line under the table.
pub fn summary(rows: &[Row], idle: usize, still_open: usize) {
    let quiet = rows.iter().find(|r| r.op.ends_with(", 0 idle conns"));
    let busy = rows.iter().find(|r| r.op.ends_with(&format!(", {idle} idle conns")));
    let (Some(quiet), Some(busy)) = (quiet, busy) else { return };
    println!(
        "network show at concurrency 1 ({ROUNDS} alternating rounds of {GETS}): with {idle} idle connections open p50 {:.2} ms, p99 {:.2} ms; \
         without p50 {:.2} ms, p99 {:.2} ms; p99 ratio {:.2}x (at least {still_open} of {idle} idle connections were still open at the end of each round)",
        busy.p50,
        busy.p99,
        quiet.p50,
        quiet.p99,
        busy.p99 / quiet.p99
    );
}
