//! The demo's server: a child `neutrino server` process on a free loopback port with the
//! configuration of [`super::plan::server_config`] (SQLite and the builtin identity in
//! `<dir>/data`), its pid recorded in `<dir>/server.pid` so that `neutrino demo down` stops
//! it by pid (checked to be a `neutrino` process) after the demo has exited.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use neutrino_host::{LinuxHost, Processes};

use crate::error::CliError;

/// The pid file of the demo's server.
pub const PID_FILE: &str = "server.pid";

fn io(path: &Path, e: std::io::Error) -> CliError {
    CliError::Config(format!("{}: {e}", path.display()))
}

/// A running server.
#[derive(Debug, Clone)]
pub struct Server {
    pub url: String,
    pub pid: u32,
    pub data_dir: PathBuf,
    pub agent_token: String,
}

/// A free port on 127.0.0.1 (bound, then released).
fn free_port() -> Result<u16, CliError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| CliError::Config(format!("bind: {e}")))?;
    l.local_addr().map(|a| a.port()).map_err(|e| CliError::Config(e.to_string()))
}

/// A random-enough agent token (the server keeps it only in its configuration file).
fn token() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the configuration and starts `exe server --config …` detached from the demo's
/// process group (output in `<dir>/server.log`); waits until it answers.
pub async fn start(dir: &Path, exe: &str, physnet: &str) -> Result<Server, CliError> {
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir).map_err(|e| io(&data_dir, e))?;
    let port = free_port()?;
    let agent_token = token();
    let config = dir.join("neutrino.toml");
    std::fs::write(&config, super::plan::server_config(&data_dir, port, &agent_token, physnet))
        .map_err(|e| io(&config, e))?;
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).map_err(|e| io(&log_path, e))?;
    let err = log.try_clone().map_err(|e| io(&log_path, e))?;
    let child = std::os::unix::process::CommandExt::process_group(
        Command::new(exe).arg("server").arg("--config").arg(&config).env("NEUTRINO_LOG", "info"),
        0,
    )
    .stdin(Stdio::null())
    .stdout(log)
    .stderr(err)
    .spawn()
    .map_err(|e| CliError::Config(format!("starting {exe} server: {e}")))?;
    let pid = child.id();
    // The child outlives the demo: it is stopped by `demo down`, by this pid.
    drop(child);
    let pid_file = dir.join(PID_FILE);
    std::fs::write(&pid_file, format!("{pid}\n")).map_err(|e| io(&pid_file, e))?;
    let url = format!("http://127.0.0.1:{port}");
    let client = neutrino_client::Client::new(&url, neutrino_client::Auth::None)?;
    let start = Instant::now();
    loop {
        if client.call(neutrino_client::Method::GET, "/", None).await.is_ok() {
            break;
        }
        if !neutrino_host::process::proc_alive(pid) || start.elapsed() > Duration::from_secs(30) {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(CliError::Config(format!("the server did not start; its log:\n{log}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Server { url, pid, data_dir, agent_token })
}

/// Stops the server recorded in `<dir>/server.pid` (only if that pid runs `neutrino`);
/// whether it was running.
pub fn stop(dir: &Path) -> Result<bool, CliError> {
    let host = LinuxHost::new();
    let pid_file = dir.join(PID_FILE);
    let found = host
        .process_from_pid_file(&pid_file, Some("neutrino"), None)
        .map_err(|e| CliError::Config(format!("{}: {e}", pid_file.display())))?;
    let stopped = match found {
        Some(p) => host.stop(&p, Duration::from_secs(10)).map_err(|e| CliError::Config(e.to_string()))?,
        None => false,
    };
    let _ = std::fs::remove_file(&pid_file);
    Ok(stopped)
}
