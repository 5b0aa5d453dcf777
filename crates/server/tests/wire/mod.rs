//! Harness for the connection tests: the server on a loopback port (its own runtime, noauth,
//! in-memory store), raw HTTP/1.1 over tokio `TcpStream`s, and counts of this process's
//! descriptors and of the server's side of its TCP connections (from `/proc`).
#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use neutrino_server::auth::AuthMode;
use neutrino_server::config::{Config, HttpConfig};
use neutrino_server::store::Store;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest wait for anything the server should do; reaching it fails the test (it is a bound
/// on a hang, not a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Starts the whole application (noauth) with `http` and returns its address.
pub fn start(http: HttpConfig) -> SocketAddr {
    start_with(AuthMode::Noauth, http, std::env::temp_dir())
}

/// Starts the whole application with the builtin identity (under `/identity/v3`), its files
/// in a temporary directory kept for the life of the process.
pub fn start_builtin(http: HttpConfig) -> SocketAddr {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    start_with(AuthMode::Builtin, http, dir)
}

fn start_with(mode: AuthMode, http: HttpConfig, data_dir: std::path::PathBuf) -> SocketAddr {
    let mut config = Config::default();
    config.auth.mode = mode;
    config.agents.token = Some("agent-secret".into());
    config.server.data_dir = data_dir;
    config.http = http;
    let url = neutrino_server::run::spawn_local(config, Store::memory()).expect("server starts");
    url.trim_start_matches("http://").parse().expect("address")
}

/// Serves `router` behind the request limits of `cfg` with the server's accept loop on a
/// loopback port of the calling runtime, until `shutdown`; returns the address and the task.
pub async fn serve_router(
    router: axum::Router,
    cfg: HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let app = neutrino_server::http::limits::layers(router, &cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task =
        tokio::spawn(async move { neutrino_server::http::serve::serve(listener, app, &cfg, shutdown).await });
    (addr, task)
}

/// A response read off the wire.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}: {}", String::from_utf8_lossy(&self.body));
    }

    /// Asserts a `NeutronError` of `status` and `kind`.
    pub fn assert_neutron(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert!(self.header("content-type").is_some_and(|t| t.starts_with("application/json")), "{self:?}");
        let j = self.json();
        assert_eq!(j["NeutronError"]["type"], kind, "{j}");
        assert!(j["NeutronError"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{j}");
        assert_eq!(j["NeutronError"]["detail"], "", "{j}");
    }

    /// Asserts a Keystone error of `status`.
    pub fn assert_keystone(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}");
        let j = self.json();
        assert_eq!(j["error"]["code"], status, "{j}");
        assert!(j["error"]["title"].as_str().is_some_and(|t| !t.is_empty()), "{j}");
        assert!(j["error"]["message"].as_str().is_some(), "{j}");
    }
}

/// Parses one response from the start of `buf`; `None` while incomplete.
fn parse(buf: &[u8], eof: bool) -> Option<Answer> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = &buf[end + 4..];
    let len = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.parse());
    match len {
        Some(Ok(n)) if body.len() >= n => Some(Answer { status, headers, body: body[..n].to_vec() }),
        None if eof => Some(Answer { status, headers, body: body.to_vec() }),
        _ => None,
    }
}

/// Reads one response; `None` if the server closed the connection without one. Panics if
/// nothing happens within [`PATIENCE`].
pub async fn read_answer(s: &mut TcpStream) -> Option<Answer> {
    let mut buf = vec![];
    let read = async {
        let mut chunk = [0u8; 8192];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return parse(&buf, true),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if let Some(a) = parse(&buf, false) {
                return Some(a);
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.expect("the server neither answered nor closed the connection")
}

/// Waits until the server closes `s` (EOF or reset); returns what it sent before. Panics if
/// it is still open after [`PATIENCE`].
pub async fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut got = vec![];
    let read = async {
        let mut chunk = [0u8; 8192];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.expect("the server kept the connection open");
    got
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

/// Sends `req` on a fresh connection and reads the answer (panics if there is none).
pub async fn exchange(addr: SocketAddr, req: &[u8]) -> Answer {
    let mut s = connect(addr).await;
    s.write_all(req).await.expect("write");
    read_answer(&mut s).await.expect("an answer")
}

/// A GET of `path` (keep-alive) as bytes.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").into_bytes()
}

/// A request with a JSON body.
pub fn with_body(method: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Entries of `/proc/self/fd`.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// The server's side of its connections on `port`: sockets open in this process whose local
/// port is `port` and that are not the listener.
pub fn server_sockets(port: u16) -> usize {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 9 && f[1].ends_with(&local) && f[3] != "0A" && inodes.contains(f[9])
        })
        .count()
}

/// Polls `f` every 50 ms until it holds; false if it still does not after [`PATIENCE`].
pub async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < PATIENCE {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}
