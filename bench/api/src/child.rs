//! `--server-bin PATH`: the real `neutrino server` as a child process, configured like the
//! in-process server (`noauth`, SQLite file in a temporary data directory, connection cap above
//! the idle connections, hour-long header and idle timeouts) on a free loopback port picked
//! first, as `scripts/lib/server.sh` does. The guard kills it by pid when dropped, so an error
//! or a panic in the benchmark does not leave it running.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Longest wait for the child to answer `GET /`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The running child; killed and reaped on drop.
pub struct ServerChild {
    child: Child,
}

impl ServerChild {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `bin server` with its data directory, configuration file and log in `dir`, and
    /// waits until it answers; returns the guard and the server's URL.
    pub async fn start(bin: &Path, dir: &Path, max_connections: usize) -> Result<(Self, String)> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config = dir.join("neutrino.toml");
        std::fs::write(
            &config,
            format!(
                "[auth]\nmode = \"noauth\"\n\n[http]\nmax_connections = {max_connections}\n\
                 header_read_timeout_secs = 3600\nidle_timeout_secs = 3600\n"
            ),
        )?;
        let log_path = dir.join("server.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(bin)
            .arg("server")
            .arg("--config")
            .arg(&config)
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("NEUTRINO_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut guard = Self { child };
        let url = format!("http://127.0.0.1:{port}");
        guard.wait_ready(&url, &log_path).await?;
        Ok((guard, url))
    }

    async fn wait_ready(&mut self, url: &str, log: &Path) -> Result<()> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited ({status}) before answering; its log:\n{}", read_log(log));
            }
            if matches!(http.get(format!("{url}/")).send().await, Ok(r) if r.status().is_success()) {
                return Ok(());
            }
            if start.elapsed() > START_TIMEOUT {
                bail!(
                    "the server did not answer {url}/ within {START_TIMEOUT:?}; its log:\n{}",
                    read_log(log)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // SIGKILL to this child's pid (not SIGTERM: a graceful shutdown would wait for the
        // benchmark's keep-alive connections); then reap it.
        if let Err(e) = self.child.kill() {
            eprintln!("cannot kill the server (pid {}): {e}", self.child.id());
        }
        let _ = self.child.wait();
    }
}
