//! `bench-api`: drives the Networking API over HTTP and prints ops/s and p50/p99 latency for
//! network+subnet create, port create (to 1,000 and 10,000 ports on one network), port list at
//! 1,000 and 10,000 ports, port show and port delete, at concurrency 1 and 8; and a network show
//! with no other connection open, then next to 1,000 idle connections (`--idle-only` runs just
//! that). By default it starts a server in this process on a SQLite file (the embedded
//! default, noauth) on its own runtime; `--url` points it at a running server instead (noauth
//! mode), and `--server-bin PATH` starts the `neutrino` binary as a child process. When the
//! server's pid is known (`--server-bin`, or `--server-pid` with `--url`), each row also gives
//! the server's CPU time per operation (and per listed port for lists).

mod child;
mod cpu;
mod idle;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Upstream Neutron on the same kind of machine (issue #2): port create p50 80 ms and
/// 11 creates/s; list of 1,000 ports 560 ms.
const NEUTRON_PORT_CREATE_P50_MS: f64 = 80.0;
const NEUTRON_PORT_CREATES_PER_S: f64 = 11.0;
const NEUTRON_LIST_1000_MS: f64 = 560.0;

struct Row {
    op: String,
    conc: usize,
    n: usize,
    ops: f64,
    p50: f64,
    p99: f64,
    /// The server's CPU time over the phase, when its pid is known.
    server_cpu: Option<Duration>,
    /// Ports each operation lists (list phases only).
    listed: usize,
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    cpu: Option<cpu::ServerCpu>,
}

impl Api {
    /// The server's CPU time so far, when its pid is known.
    fn server_cpu(&self) -> Result<Option<Duration>> {
        self.cpu.as_ref().map(cpu::ServerCpu::total).transpose()
    }

    /// GETs `path` and reads the whole body without parsing it (as `curl` would): list latency
    /// is the server's, not the client's JSON decoding.
    async fn fetch(&self, path: &str) -> Result<usize> {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            bail!("{path}: {status}");
        }
        Ok(bytes.len())
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{path}: {status}: {text}");
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
    }
}

#[allow(clippy::cast_possible_truncation, reason = "p is a fraction in [0, 1], so the index is below len")]
fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs `n` calls of `f(i)` with `conc` workers; returns the row.
async fn measure<F, Fut>(api: &Api, op: &str, conc: usize, n: usize, f: F) -> Result<Row>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = api.server_cpu()?;
    let start = Instant::now();
    let mut tasks = vec![];
    for _ in 0..conc {
        let (f, next) = (f.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                f(i).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await??);
    }
    let wall = start.elapsed().as_secs_f64();
    let server_cpu = match (cpu_before, api.server_cpu()?) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    all.sort();
    Ok(Row {
        op: op.into(),
        conc,
        n,
        ops: n as f64 / wall,
        p50: pct(&all, 0.5),
        p99: pct(&all, 0.99),
        server_cpu,
        listed: 0,
    })
}

async fn network_with_subnet(api: &Api, cidr: &str) -> Result<String> {
    let net = api
        .call(reqwest::Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "bench"}})))
        .await?;
    let id = net["network"]["id"].as_str().context("network id")?.to_string();
    api.call(
        reqwest::Method::POST,
        "/v2.0/subnets",
        Some(json!({"subnet": {"network_id": id, "ip_version": 4, "cidr": cidr}})),
    )
    .await?;
    Ok(id)
}

async fn port_rows(api: &Api, conc: usize, rows: &mut Vec<Row>, ports: &mut Vec<String>) -> Result<()> {
    let net = network_with_subnet(api, "10.0.0.0/16").await?;
    let created = Arc::new(parking_lot_free::Bag::default());
    for (label, upto) in [("port create (0 to 1,000)", 1_000usize), ("port create (1,000 to 10,000)", 10_000)]
    {
        let from = created.len();
        let (a, n, bag) = (api.clone(), net.clone(), created.clone());
        rows.push(
            measure(api, label, conc, upto - from, move |_| {
                let (a, n, bag) = (a.clone(), n.clone(), bag.clone());
                async move {
                    let p = a
                        .call(reqwest::Method::POST, "/v2.0/ports", Some(json!({"port": {"network_id": n}})))
                        .await?;
                    bag.push(p["port"]["id"].as_str().context("port id")?.to_string());
                    Ok(())
                }
            })
            .await?,
        );
        let label = if upto == 1_000 { "port list (1,000 ports)" } else { "port list (10,000 ports)" };
        list_row(api, conc, &net, label, created.len(), rows).await?;
    }
    ports.extend(created.take());
    Ok(())
}

/// Lists the `ports` ports of network `net`.
async fn list_row(
    api: &Api,
    conc: usize,
    net: &str,
    label: &str,
    ports: usize,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let (a, path) = (api.clone(), format!("/v2.0/ports?network_id={net}"));
    let n = if label.contains("10,000") { 20 } else { 100 };
    let row = measure(api, label, conc, n, move |_| {
        let (a, path) = (a.clone(), path.clone());
        async move {
            a.fetch(&path).await?;
            Ok(())
        }
    })
    .await?;
    rows.push(Row { listed: ports, ..row });
    Ok(())
}

/// A tiny thread-safe collection without extra dependencies.
mod parking_lot_free {
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct Bag(Mutex<Vec<String>>);

    impl Bag {
        pub fn push(&self, s: String) {
            self.lock().push(s);
        }
        pub fn len(&self) -> usize {
            self.lock().len()
        }
        pub fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.lock())
        }
        /// The list, also after a worker panicked holding it: a push leaves it whole.
        fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }
}

/// The server on a SQLite file in `dir`, noauth, on its own runtime.
/// Its connection cap is above the idle connections opened (so the figure is about serving
/// next to them, not about refusing them), and its header and idle timeouts outlast the run.
fn start_server(dir: &std::path::Path) -> Result<String> {
    let mut config = neutrino_server::config::Config::default();
    config.auth.mode = neutrino_server::auth::AuthMode::Noauth;
    config.server.data_dir = dir.to_path_buf();
    config.http.max_connections = Some(idle::IDLE + 100);
    config.http.header_read_timeout_secs = 3600;
    config.http.idle_timeout_secs = 3600;
    // The benchmarks make thousands of ports in one project.
    config.quotas = neutrino_server::config::QuotaConfig::unlimited();
    let store = neutrino_server::store::Store::open(&format!("sqlite:{}", dir.join("bench.db").display()))?;
    Ok(neutrino_server::run::spawn_local(config, store)?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // Both ends of the idle connections are in this process, plus the server's own files.
    let fd_limit = idle::raise_fd_limit();
    let idle_count = idle::IDLE.min(usize::try_from(fd_limit).unwrap_or(usize::MAX).saturating_sub(300) / 2);
    if idle_count < idle::IDLE {
        eprintln!(
            "open-files limit {fd_limit}: measuring with {idle_count} idle connections, not {}",
            idle::IDLE
        );
    }
    let dir = tempfile::tempdir()?;
    let server_pid = match flag(&args, "--server-pid")? {
        Some(p) => Some(p.parse::<u32>().context("--server-pid must be a process id")?),
        None => None,
    };
    // Declared after `dir`, so dropped (the child killed) before its data directory goes.
    let (base, pid, server_child) = match (flag(&args, "--url")?, flag(&args, "--server-bin")?) {
        (Some(_), Some(_)) => bail!("--url and --server-bin exclude each other"),
        (Some(url), None) => (url.trim_end_matches('/').to_string(), server_pid, None),
        (None, _) if server_pid.is_some() => bail!("--server-pid goes with --url (the pid of that server)"),
        (None, Some(bin)) => {
            let (child, url) =
                child::ServerChild::start(std::path::Path::new(bin), dir.path(), idle::IDLE + 100).await?;
            (url, Some(child.pid()), Some(child))
        }
        (None, None) => (start_server(dir.path())?, None, None),
    };
    let cpu = pid.map(cpu::ServerCpu::new).transpose()?;
    let api = Api { http: reqwest::Client::builder().pool_max_idle_per_host(16).build()?, base, cpu };
    let mut rows = vec![];
    let (idle_rows, still_open) = idle::rows(&api, idle_count).await?;
    if args.iter().any(|a| a == "--idle-only") {
        print_table(&idle_rows);
        idle::summary(&idle_rows, idle_count, still_open);
        cpu_note(&api);
        return Ok(());
    }
    for conc in [1usize, 8] {
        let a = api.clone();
        let third = conc * 1000;
        rows.push(
            measure(&api, "create network+subnet", conc, 200, move |i| {
                let a = a.clone();
                async move {
                    let cidr = format!("10.{}.{}.0/24", 100 + (third + i) / 256 % 100, (third + i) % 256);
                    network_with_subnet(&a, &cidr).await.map(|_| ())
                }
            })
            .await?,
        );
        let mut ports = vec![];
        port_rows(&api, conc, &mut rows, &mut ports).await?;
        let ids = Arc::new(ports);
        let (a, show_ids) = (api.clone(), ids.clone());
        rows.push(
            measure(&api, "port show", conc, 2_000, move |i| {
                let (a, id) = (a.clone(), show_ids[i % show_ids.len()].clone());
                async move { a.call(reqwest::Method::GET, &format!("/v2.0/ports/{id}"), None).await.map(|_| ()) }
            })
            .await?,
        );
        let (a, del_ids) = (api.clone(), ids.clone());
        rows.push(
            measure(&api, "port delete", conc, 1_000, move |i| {
                let (a, id) = (a.clone(), del_ids[i].clone());
                async move {
                    a.call(reqwest::Method::DELETE, &format!("/v2.0/ports/{id}"), None).await.map(|_| ())
                }
            })
            .await?,
        );
    }
    rows.extend(idle_rows);
    print_table(&rows);
    idle::summary(&rows, idle_count, still_open);
    cpu_note(&api);
    drop(server_child);
    Ok(())
}

/// The value after flag `name`, if it is given.
fn flag<'a>(args: &'a [String], name: &str) -> Result<Option<&'a str>> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(Some(args.get(i + 1).with_context(|| format!("{name} needs a value"))?)),
        None => Ok(None),
    }
}

/// Without the server's pid, says once where the CPU figures are.
fn cpu_note(api: &Api) {
    if api.cpu.is_none() {
        println!(
            "server CPU per operation: needs --server-bin PATH or --server-pid PID (with --url); \
             an in-process server shares this process's CPU time with the client"
        );
    }
}

/// The server CPU figures appended to a row's line, when they were measured.
fn cpu_cell(r: &Row) -> String {
    let Some(cpu) = r.server_cpu else { return String::new() };
    let per_op = cpu.as_secs_f64() * 1e6 / r.n.max(1) as f64;
    let mut cell = format!("  server CPU {per_op:.1} µs per op");
    if r.listed > 0 {
        cell += &format!(", {:.1} µs per listed port", per_op / r.listed as f64);
    }
    cell
}

fn print_table(rows: &[Row]) {
    println!("{:<32} {:>4} {:>7} {:>10} {:>9} {:>9}", "operation", "conc", "n", "ops/s", "p50 ms", "p99 ms");
    for r in rows {
        println!(
            "{:<32} {:>4} {:>7} {:>10.0} {:>9.2} {:>9.2}{}",
            r.op,
            r.conc,
            r.n,
            r.ops,
            r.p50,
            r.p99,
            cpu_cell(r)
        );
    }
    println!();
    let find = |op: &str, conc: usize| rows.iter().find(|r| r.op.starts_with(op) && r.conc == conc);
    if let Some(r) = find("port create (0 to 1,000)", 1) {
        println!(
            "port create p50 at concurrency 1: {:.2} ms (target < 2 ms; Neutron {NEUTRON_PORT_CREATE_P50_MS} ms, {:.0}x faster)",
            r.p50,
            NEUTRON_PORT_CREATE_P50_MS / r.p50
        );
    }
    if let Some(r) = find("port create (0 to 1,000)", 8) {
        println!(
            "port creates/s at concurrency 8: {:.0} (target > 1,000; Neutron {NEUTRON_PORT_CREATES_PER_S}/s, {:.0}x)",
            r.ops,
            r.ops / NEUTRON_PORT_CREATES_PER_S
        );
    }
    if let Some(r) = find("port list (1,000 ports)", 1) {
        println!(
            "list of 1,000 ports p50: {:.2} ms (target < 20 ms; Neutron {NEUTRON_LIST_1000_MS} ms, {:.0}x faster)",
            r.p50,
            NEUTRON_LIST_1000_MS / r.p50
        );
    }
}
