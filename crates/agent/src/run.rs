//! `neutrino agent`'s run loop (docs/design.md "Agent: drivers and roles"), generic over the control plane
//! and the drivers of the configured roles: heartbeats for every role (from the start, off the
//! loop), a listing handed to every driver, then watch deltas (a fresh listing after a gap, a
//! restart or an error) and driver wake-ups, each followed by a sync and a port status report.
//! How a driver realises its section is its own business ([`crate::driver`]).

use std::time::Duration;

use neutrino_model::agent::Role;
use neutrino_model::internal::{Delta, HostState, Report, StatusReport};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::config::{AgentConfig, ConfigError};
use crate::control::{ControlError, ControlPlane, HttpControlPlane};
use crate::driver::{Driver, DriverError, StatusChanges, Wake};
use crate::metadata::Instances;

/// Why the agent stopped (it restarts its loop on these, see [`run`]).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error("metadata service on {path}: {message}")]
    Metadata { path: String, message: String },
}

/// What the loop needs besides its control plane and drivers.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub host: String,
    /// Time between heartbeats.
    pub report_interval: Duration,
    /// How long one watch waits for a change.
    pub watch_timeout: Duration,
    /// Pause after a failed watch or listing before trying again.
    pub retry_delay: Duration,
}

impl LoopOptions {
    pub fn new(host: &str, report_interval: Duration) -> Self {
        Self {
            host: host.to_string(),
            report_interval: report_interval.max(Duration::from_secs(1)),
            watch_timeout: Duration::from_secs(30),
            retry_delay: Duration::from_secs(1),
        }
    }
}

enum Msg {
    Full(HostState),
    Delta(Delta),
}

/// The `configurations` of every role, for heartbeats.
type Configurations = Vec<(Role, Value)>;

fn configurations(drivers: &[Box<dyn Driver>]) -> Configurations {
    drivers.iter().map(|d| (d.role(), d.configurations())).collect()
}

async fn heartbeat<C: ControlPlane>(cp: &C, host: &str, confs: &Configurations, start: bool) {
    for (role, conf) in confs {
        if let Err(e) = cp.report(&Report::new(host, *role, conf.clone(), start)).await {
            tracing::warn!(error = %e, role = %role, "heartbeat failed");
        }
    }
}

/// Sends heartbeats with the latest configurations, off the loop (a slow sync must not make
/// the agent look dead).
async fn beats<C: ControlPlane>(cp: C, opts: LoopOptions, confs: watch::Receiver<Configurations>) {
    let mut tick = tokio::time::interval(opts.report_interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        let c = confs.borrow().clone();
        heartbeat(&cp, &opts.host, &c, false).await;
    }
}

/// Long-polls the server and forwards what it learns; lists again after a gap or an error.
async fn watcher<C: ControlPlane>(cp: C, opts: LoopOptions, mut since: i64, tx: mpsc::Sender<Msg>) {
    let host = opts.host.as_str();
    loop {
        match cp.watch(host, since, opts.watch_timeout).await {
            Ok(d) if d.resync => match cp.host_state(host).await {
                Ok(st) => {
                    since = st.revision;
                    if tx.send(Msg::Full(st)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listing the host state failed");
                    tokio::time::sleep(opts.retry_delay).await;
                }
            },
            Ok(d) => {
                if d.revision > since {
                    since = d.revision;
                    if tx.send(Msg::Delta(d)).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "watch failed; listing again");
                tokio::time::sleep(opts.retry_delay).await;
                if let Ok(st) = cp.host_state(host).await {
                    since = st.revision;
                    if tx.send(Msg::Full(st)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Syncs one driver and reports the ports it wired or unwired.
async fn sync<C: ControlPlane>(cp: &C, host: &str, d: &mut Box<dyn Driver>) -> Result<(), DriverError> {
    let ch: StatusChanges = d.sync().await?;
    if ch.is_empty() {
        return Ok(());
    }
    let rep = StatusReport {
        host: host.to_string(),
        up: ch.up.clone(),
        down: ch.down.clone(),
        floatingips: ch.floatingips.clone(),
    };
    if let Err(e) = cp.port_status(&rep).await {
        tracing::warn!(error = %e, role = %d.role(), "port status report failed; will retry");
        d.retry_status(&ch);
    } else {
        tracing::info!(
            up = ch.up.len(),
            down = ch.down.len(),
            floatingips = ch.floatingips.len(),
            role = %d.role(),
            "reported port status"
        );
    }
    Ok(())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One life of the run loop with `drivers`: returns on a shutdown signal, or an error to start
/// again from.
pub async fn serve<C: ControlPlane + Clone>(
    cp: C,
    opts: &LoopOptions,
    drivers: &mut [Box<dyn Driver>],
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), AgentError> {
    let host = opts.host.as_str();
    let (wake_tx, mut wake_rx) = mpsc::unbounded_channel();
    for (i, d) in drivers.iter_mut().enumerate() {
        d.start(Wake::new(i, wake_tx.clone())).await?;
    }
    let confs = configurations(drivers);
    heartbeat(&cp, host, &confs, true).await;
    let (conf_tx, conf_rx) = watch::channel(confs);
    let _beats = AbortOnDrop(tokio::spawn(beats(cp.clone(), opts.clone(), conf_rx)));

    let mut st = cp.host_state(host).await?;
    let since = st.revision;
    for d in drivers.iter_mut() {
        d.load(&mut st);
    }
    for d in drivers.iter_mut() {
        sync(&cp, host, d).await?;
    }
    tracing::info!(revision = since, "agent in sync");

    let (tx, mut rx) = mpsc::channel(64);
    let _watcher = AbortOnDrop(tokio::spawn(watcher(cp.clone(), opts.clone(), since, tx)));
    let mut dirty = vec![false; drivers.len()];
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            msg = rx.recv() => {
                let Some(first) = msg else {
                    return Err(ControlError::Transport("watcher stopped".into()).into());
                };
                for m in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                    match m {
                        Msg::Full(mut st) => drivers.iter_mut().for_each(|d| d.load(&mut st)),
                        Msg::Delta(mut delta) => drivers.iter_mut().for_each(|d| d.apply(&mut delta)),
                    }
                }
                dirty.fill(true);
                while wake_rx.try_recv().is_ok() {}
            }
            Some(i) = wake_rx.recv() => {
                for i in std::iter::once(i).chain(std::iter::from_fn(|| wake_rx.try_recv().ok())) {
                    if let Some(d) = dirty.get_mut(i) {
                        *d = true;
                    }
                }
            }
        }
        for (d, dirty) in drivers.iter_mut().zip(dirty.iter_mut()) {
            if std::mem::take(dirty) {
                sync(&cp, host, d).await?;
            }
        }
        let _ = conf_tx.send(configurations(drivers));
    }
}

/// One life of the agent: the control plane and the drivers of the configured roles.
pub async fn run_once(
    cfg: &AgentConfig,
    instances: &Instances,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), AgentError> {
    let cp = HttpControlPlane::new(&cfg.server, &cfg.token()?)?;
    let mut drivers = crate::drivers::build(cfg, instances).await?;
    let opts = LoopOptions::new(&cfg.host, Duration::from_secs(cfg.report_interval));
    serve(cp, &opts, &mut drivers, shutdown).await
}

/// Binds the metadata service's socket (`[dhcp] metadata_socket`) and starts it.
fn start_metadata(
    cfg: &AgentConfig,
    instances: &Instances,
) -> Result<crate::metadata::MetadataServer, AgentError> {
    let path = cfg.dhcp.metadata_socket();
    let failed = |message: String| AgentError::Metadata { path: path.display().to_string(), message };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
    }
    let listener = crate::metadata::bind(&path).map_err(|e| failed(e.to_string()))?;
    crate::metadata::spawn(listener, instances.clone(), cfg.metadata.clone())
        .map_err(|e| failed(e.to_string()))
}

/// Runs the agent until SIGINT/SIGTERM, starting its loop again after errors.
pub async fn run(cfg: AgentConfig) -> Result<(), AgentError> {
    run_with(cfg, Instances::default()).await
}

/// [`run`] with the metadata service's table of callers, which the drivers keep current
/// across the loop's lives (the service reads it).
pub async fn run_with(cfg: AgentConfig, instances: Instances) -> Result<(), AgentError> {
    cfg.check()?;
    // The `dhcp` role's and the `l3` role's metadata proxies forward to this service; it lives
    // as long as the agent, across the loop's lives, and answers from the table the drivers keep.
    let proxies = [Role::Dhcp, Role::L3];
    let _metadata = match cfg.roles.iter().any(|r| proxies.contains(r)) {
        true => Some(start_metadata(&cfg, &instances)?),
        false => None,
    };
    let (stop_tx, mut stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
        let _ = stop_tx.send(true);
    });
    loop {
        match run_once(&cfg, &instances, &mut stop_rx).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "agent loop failed; starting again");
                tokio::select! {
                    _ = stop_rx.changed() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}
