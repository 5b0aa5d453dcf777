//! `neutrino agent`: wires the reconciler to the real host (OVSDB, ovs-ofctl) and to the
//! server: heartbeat, list, then react to watch deltas, interface events and ovs-vswitchd
//! restarts (canary flow), reporting port up/down after each sync.

use std::time::Duration;

use neutrino_model::agent::{OVS_AGENT_BINARY, OVS_AGENT_TYPE};
use neutrino_model::internal::{Delta, HostState, Report, StatusReport};
use neutrino_ovs::ofctl::OvsOfctl;
use neutrino_ovs::vswitch::{OvsVswitch, Vswitch};
use tokio::sync::mpsc;

use crate::config::{AgentConfig, ConfigError};
use crate::control::{ControlError, ControlPlane, HttpControlPlane};
use crate::reconcile::{Reconciler, StatusChanges, SyncError};

/// Why the agent stopped (it restarts its loop on these, see [`run`]).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("ovsdb: {0}")]
    Vswitch(#[from] neutrino_ovs::vswitch::VswitchError),
    #[error("the OVSDB monitor ended (database connection lost)")]
    MonitorLost,
}

enum Msg {
    Full(HostState),
    Delta(Delta),
    /// ovs-vswitchd lost its flows.
    Restarted,
}

/// Checks the canary flow every second, off the main loop (a dump of a busy ovs-vswitchd
/// must not delay deltas).
async fn canary(cfg: AgentConfig, cookie: u64, tx: mpsc::Sender<Msg>) {
    let ofctl = OvsOfctl::new(cfg.ovs_rundir.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if neutrino_ovs::ofctl::restarted(&ofctl, &cfg.integration_bridge, cookie).await.unwrap_or(false) {
            if tx.send(Msg::Restarted).await.is_err() {
                return;
            }
            // Give the main loop time to reprogram before looking again.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// Sends heartbeats with the latest configuration, off the main loop.
async fn beats<C: ControlPlane>(
    cp: C,
    cfg: AgentConfig,
    conf: tokio::sync::watch::Receiver<serde_json::Value>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(cfg.report_interval.max(1)));
    tick.tick().await;
    loop {
        tick.tick().await;
        let c = conf.borrow().clone();
        heartbeat(&cp, &cfg, c, false).await;
    }
}

/// Long-polls the server and forwards what it learns; lists again after a gap or an error.
async fn watcher<C: ControlPlane + Clone>(cp: C, host: String, mut since: i64, tx: mpsc::Sender<Msg>) {
    loop {
        match cp.watch(&host, since, Duration::from_secs(30)).await {
            Ok(d) if d.resync => match cp.host_state(&host).await {
                Ok(st) => {
                    since = st.revision;
                    if tx.send(Msg::Full(st)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listing the host state failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
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
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Ok(st) = cp.host_state(&host).await {
                    since = st.revision;
                    if tx.send(Msg::Full(st)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn report_status<C: ControlPlane>(
    cp: &C,
    host: &str,
    r: &mut Reconciler<OvsVswitch, OvsOfctl>,
    ch: StatusChanges,
) {
    if ch.up.is_empty() && ch.down.is_empty() {
        return;
    }
    let rep = StatusReport { host: host.to_string(), up: ch.up.clone(), down: ch.down.clone() };
    if let Err(e) = cp.port_status(&rep).await {
        tracing::warn!(error = %e, "port status report failed; will retry");
        r.retry_status(&ch);
    } else {
        tracing::info!(up = ch.up.len(), down = ch.down.len(), "reported port status");
    }
}

async fn heartbeat<C: ControlPlane>(cp: &C, cfg: &AgentConfig, conf: serde_json::Value, start: bool) {
    let rep = Report {
        host: cfg.host.clone(),
        agent_type: OVS_AGENT_TYPE.into(),
        binary: OVS_AGENT_BINARY.into(),
        topic: "N/A".into(),
        availability_zone: None,
        configurations: conf,
        start_flag: start,
    };
    if let Err(e) = cp.report(&rep).await {
        tracing::warn!(error = %e, "heartbeat failed");
    }
}

/// One life of the agent loop: returns on a shutdown signal, or an error to restart from.
pub async fn run_once(
    cfg: &AgentConfig,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), AgentError> {
    let cp = HttpControlPlane::new(&cfg.server, &cfg.token()?)?;
    let vs = OvsVswitch::connect(&cfg.ovsdb).await?;
    let ofctl = OvsOfctl::new(cfg.ovs_rundir.clone());
    let mut r = Reconciler::new(cfg.clone(), vs, ofctl);
    r.setup().await?;
    let mut events = r.vswitch().monitor_interfaces().await?;
    while let Ok(ev) = events.try_recv() {
        r.on_interface(ev);
    }
    heartbeat(&cp, cfg, r.configurations(), true).await;
    let st = cp.host_state(&cfg.host).await?;
    r.load(st);
    let ch = r.sync().await?;
    report_status(&cp, &cfg.host, &mut r, ch).await;
    tracing::info!(revision = r.revision(), "agent in sync");

    let (tx, mut rx) = mpsc::channel(64);
    let (conf_tx, conf_rx) = tokio::sync::watch::channel(r.configurations());
    let _tasks = [
        AbortOnDrop(tokio::spawn(watcher(cp.clone(), cfg.host.clone(), r.revision(), tx.clone()))),
        AbortOnDrop(tokio::spawn(canary(cfg.clone(), r.cookie(), tx))),
        AbortOnDrop(tokio::spawn(beats(cp.clone(), cfg.clone(), conf_rx))),
    ];
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            msg = rx.recv() => {
                let Some(first) = msg else {
                    return Err(AgentError::Control(ControlError::Transport("watcher stopped".into())));
                };
                let mut restarted = false;
                for m in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                    match m {
                        Msg::Full(st) => r.load(st),
                        Msg::Delta(d) => { r.apply(d); }
                        Msg::Restarted => restarted = true,
                    }
                }
                if restarted {
                    tracing::warn!("ovs-vswitchd lost its flows (restart): reprogramming");
                    r.setup().await?;
                    r.invalidate_flows();
                }
            }
            ev = events.recv() => {
                let Some(ev) = ev else { return Err(AgentError::MonitorLost) };
                r.on_interface(ev);
                while let Ok(ev) = events.try_recv() { r.on_interface(ev); }
            }
        }
        let ch = r.sync().await?;
        report_status(&cp, &cfg.host, &mut r, ch).await;
        let _ = conf_tx.send(r.configurations());
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the agent until SIGINT/SIGTERM, starting its loop again after errors.
pub async fn run(cfg: AgentConfig) -> Result<(), AgentError> {
    cfg.check()?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
        let _ = stop_tx.send(true);
    });
    loop {
        match run_once(&cfg, &mut stop_rx).await {
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
