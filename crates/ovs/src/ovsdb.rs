//! Native async OVSDB client following RFC 7047 (JSON-RPC 1.0 over a unix stream socket):
//! `transact`, `monitor` with `update` notifications, `echo` answering, and connection loss
//! reporting. Value encodings live in [`datum`], stream splitting in [`framing`].

pub mod datum;
pub mod framing;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;
use tokio::sync::{mpsc, oneshot};

use framing::{DEFAULT_MAX_MESSAGE_BYTES, Framer};

/// Errors of the OVSDB client.
#[derive(Debug, thiserror::Error)]
pub enum OvsdbError {
    #[error("ovsdb connection to {path}: {source}")]
    Connect { path: String, source: std::io::Error },
    #[error("ovsdb connection lost")]
    Disconnected,
    #[error("ovsdb protocol error: {0}")]
    Protocol(String),
    #[error("ovsdb request failed: {0}")]
    Rpc(Value),
    #[error("ovsdb operation {index} failed: {error}: {details}")]
    Operation { index: usize, error: String, details: String },
    #[error("ovsdb: {0}")]
    Other(String),
}

/// One row's change in an `update` notification: `old`/`new` column values (RFC 7047 §4.1.6).
/// `old: None` is an insert (or an initial row), `new: None` a delete.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowUpdate {
    pub old: Option<Map<String, Value>>,
    pub new: Option<Map<String, Value>>,
}

/// table name → row uuid → change.
pub type TableUpdates = BTreeMap<String, BTreeMap<String, RowUpdate>>;

type Pending = HashMap<u64, oneshot::Sender<Result<Value, OvsdbError>>>;

struct Shared {
    pending: Mutex<Pending>,
    monitors: Mutex<HashMap<String, mpsc::UnboundedSender<TableUpdates>>>,
    closed: std::sync::atomic::AtomicBool,
}

/// A connection to one ovsdb-server. Cheap to clone; all clones share the connection. When
/// the server goes away every pending call fails with [`OvsdbError::Disconnected`] and every
/// monitor stream ends: callers reconnect with [`Client::connect`] and monitor again.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    out: mpsc::UnboundedSender<Vec<u8>>,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("closed", &self.is_closed()).finish()
    }
}

impl Client {
    /// Connects to `path` (the server's `punix:` socket) and starts the reader and writer tasks.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Client, OvsdbError> {
        Client::connect_with_limit(path, DEFAULT_MAX_MESSAGE_BYTES).await
    }

    /// [`Client::connect`], dropping the connection when the server sends a message longer than
    /// `max_message_bytes` (rather than buffering it without bound).
    pub async fn connect_with_limit(
        path: impl AsRef<Path>,
        max_message_bytes: usize,
    ) -> Result<Client, OvsdbError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| OvsdbError::Connect { path: path.display().to_string(), source })?;
        let (rd, mut wr) = stream.into_split();
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            monitors: Mutex::new(HashMap::new()),
            closed: Default::default(),
        });
        let (out, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        // The reader ends the writer when it gives up, so that the socket really closes (the
        // Client, and with it the sending side of `out`, may live on).
        let (stop, mut stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let bytes = tokio::select! {
                    b = out_rx.recv() => b,
                    _ = &mut stopped => None,
                };
                let Some(bytes) = bytes else { break };
                if wr.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        let framer = Framer::new(max_message_bytes);
        tokio::spawn(read_loop(rd, framer, shared.clone(), out.clone(), stop));
        Ok(Client { shared, out, next_id: Arc::new(AtomicU64::new(1)) })
    }

    /// Whether the connection is known to be gone.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Sends one JSON-RPC request and waits for its `result`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, OvsdbError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.pending).insert(id, tx);
        if self.is_closed() {
            lock(&self.shared.pending).remove(&id);
            return Err(OvsdbError::Disconnected);
        }
        let msg = json!({"method": method, "params": params, "id": id});
        if self.out.send(msg.to_string().into_bytes()).is_err() {
            lock(&self.shared.pending).remove(&id);
            return Err(OvsdbError::Disconnected);
        }
        rx.await.map_err(|_| OvsdbError::Disconnected)?
    }

    /// `list_dbs`.
    pub async fn list_dbs(&self) -> Result<Vec<String>, OvsdbError> {
        let v = self.call("list_dbs", json!([])).await?;
        Ok(v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default())
    }

    /// `transact`: runs `ops` atomically in `db`. Returns one result per operation; any
    /// per-operation error (or a commit error appended by the server) becomes
    /// [`OvsdbError::Operation`], and then nothing was committed.
    pub async fn transact(&self, db: &str, ops: Vec<Value>) -> Result<Vec<Value>, OvsdbError> {
        let mut params = vec![json!(db)];
        params.extend(ops);
        let result = self.call("transact", Value::Array(params)).await?;
        let results = match result {
            Value::Array(r) => r,
            other => return Err(OvsdbError::Protocol(format!("transact result is not an array: {other}"))),
        };
        for (index, r) in results.iter().enumerate() {
            if let Some(error) = r.get("error").filter(|e| !e.is_null()) {
                let details = r.get("details").and_then(Value::as_str).unwrap_or_default().to_string();
                let error = error.as_str().map(str::to_owned).unwrap_or_else(|| error.to_string());
                return Err(OvsdbError::Operation { index, error, details });
            }
        }
        Ok(results)
    }

    /// `monitor`: subscribes to `tables` (table → columns; empty columns means all) and
    /// returns the initial rows plus the stream of later `update` notifications. The stream
    /// ends when the connection is lost.
    pub async fn monitor(
        &self,
        db: &str,
        tables: &[(&str, &[&str])],
    ) -> Result<(TableUpdates, mpsc::UnboundedReceiver<TableUpdates>), OvsdbError> {
        let monitor_id = format!("m{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut requests = Map::new();
        for (table, columns) in tables {
            let mut req = Map::new();
            if !columns.is_empty() {
                req.insert("columns".into(), json!(columns));
            }
            requests.insert((*table).to_string(), Value::Object(req));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.monitors).insert(monitor_id.clone(), tx);
        let result = self.call("monitor", json!([db, monitor_id, requests])).await;
        match result {
            Ok(initial) => Ok((parse_updates(&initial)?, rx)),
            Err(e) => {
                lock(&self.shared.monitors).remove(&monitor_id);
                Err(e)
            }
        }
    }

    /// `echo`: a round trip to check the server is alive.
    pub async fn echo(&self) -> Result<(), OvsdbError> {
        self.call("echo", json!(["ping"])).await.map(|_| ())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Parses a `<table-updates>` object (RFC 7047 §4.1.6).
pub fn parse_updates(v: &Value) -> Result<TableUpdates, OvsdbError> {
    let tables = v.as_object().ok_or_else(|| OvsdbError::Protocol(format!("bad table-updates: {v}")))?;
    let mut out = TableUpdates::new();
    for (table, rows) in tables {
        let rows =
            rows.as_object().ok_or_else(|| OvsdbError::Protocol(format!("bad table-update: {rows}")))?;
        let entry = out.entry(table.clone()).or_default();
        for (uuid, row) in rows {
            let obj = |k: &str| row.get(k).and_then(Value::as_object).cloned();
            entry.insert(uuid.clone(), RowUpdate { old: obj("old"), new: obj("new") });
        }
    }
    Ok(out)
}

async fn read_loop(
    mut rd: OwnedReadHalf,
    mut framer: Framer,
    shared: Arc<Shared>,
    out: mpsc::UnboundedSender<Vec<u8>>,
    stop_writer: oneshot::Sender<()>,
) {
    let mut chunk = vec![0u8; 64 * 1024];
    'read: loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        framer.feed(&chunk[..n]);
        loop {
            match framer.next_message() {
                Ok(Some(msg)) => dispatch(msg, &shared, &out),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("ovsdb: {e}; dropping connection");
                    break 'read;
                }
            }
        }
    }
    shared.closed.store(true, Ordering::SeqCst);
    for (_, tx) in lock(&shared.pending).drain() {
        let _ = tx.send(Err(OvsdbError::Disconnected));
    }
    lock(&shared.monitors).clear();
    let _ = stop_writer.send(());
}

fn dispatch(msg: Value, shared: &Shared, out: &mpsc::UnboundedSender<Vec<u8>>) {
    let method = msg.get("method").and_then(Value::as_str);
    match method {
        Some("echo") => {
            let reply = json!({"id": msg.get("id").cloned().unwrap_or(Value::Null),
                               "result": msg.get("params").cloned().unwrap_or(json!([])), "error": null});
            let _ = out.send(reply.to_string().into_bytes());
        }
        Some("update") => {
            let params = msg.get("params").and_then(Value::as_array);
            if let Some([id, updates]) = params.map(Vec::as_slice) {
                let key = id.as_str().map(str::to_owned).unwrap_or_else(|| id.to_string());
                match parse_updates(updates) {
                    Ok(u) => {
                        if let Some(tx) = lock(&shared.monitors).get(&key) {
                            let _ = tx.send(u);
                        }
                    }
                    Err(e) => tracing::warn!("ovsdb: ignoring update: {e}"),
                }
            }
        }
        Some(other) => tracing::debug!("ovsdb: ignoring notification {other}"),
        None => {
            let Some(id) = msg.get("id").and_then(Value::as_u64) else {
                tracing::debug!("ovsdb: reply without a known id: {msg}");
                return;
            };
            let Some(tx) = lock(&shared.pending).remove(&id) else { return };
            let error = msg.get("error").filter(|e| !e.is_null()).cloned();
            let _ = tx.send(match error {
                Some(e) => Err(OvsdbError::Rpc(e)),
                None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_updates() {
        let u = parse_updates(
            &json!({"Interface": {"u1": {"new": {"name": "tap1"}}, "u2": {"old": {"name": "x"}}}}),
        )
        .unwrap();
        let rows = &u["Interface"];
        assert!(rows["u1"].old.is_none() && rows["u1"].new.is_some());
        assert!(rows["u2"].new.is_none());
        assert!(parse_updates(&json!([1])).is_err());
    }

    #[tokio::test]
    async fn talks_to_a_scripted_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            // An echo request from the server first; the client must answer it.
            s.write_all(br#"{"method":"echo","params":["hi"],"id":"e1"}"#).await.unwrap();
            let mut framer = Framer::default();
            let mut chunk = [0u8; 4096];
            let mut seen = Vec::new();
            while seen.len() < 2 {
                let n = s.read(&mut chunk).await.unwrap();
                framer.feed(&chunk[..n]);
                while let Some(m) = framer.next_message().unwrap() {
                    seen.push(m);
                }
            }
            let echo_reply = seen.iter().find(|m| m["id"] == "e1").unwrap();
            assert_eq!(echo_reply["result"], json!(["hi"]));
            let req = seen.iter().find(|m| m["method"] == "transact").unwrap();
            let id = req["id"].clone();
            // Reply split across two writes, with a per-op error.
            let reply = json!({"id": id, "error": null,
                "result": [{"count": 1}, {"error": "constraint violation", "details": "bad"}]})
            .to_string();
            let (a, b) = reply.split_at(10);
            s.write_all(a.as_bytes()).await.unwrap();
            s.flush().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            s.write_all(b.as_bytes()).await.unwrap();
            // then hang up
        });
        let client = Client::connect(&path).await.unwrap();
        let err = client.transact("Open_vSwitch", vec![json!({"op": "comment"})]).await.unwrap_err();
        assert!(matches!(err, OvsdbError::Operation { index: 1, .. }), "{err}");
        server.await.unwrap();
        let err = client.echo().await.unwrap_err();
        assert!(matches!(err, OvsdbError::Disconnected), "{err}");
        assert!(client.is_closed());
    }

    /// A server that never ends its message: the client drops the connection once the message
    /// is over the limit (instead of buffering without bound) and fails the pending call.
    #[tokio::test]
    async fn an_endless_message_drops_the_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(br#"{"id":1,"result":[""#).await.unwrap();
            let chunk = vec![b'a'; 1024 * 1024];
            let mut sent = 0usize;
            // The client must hang up within the limit plus what the socket buffers hold.
            while sent < 4 * DEFAULT_MAX_MESSAGE_BYTES {
                if s.write_all(&chunk).await.is_err() {
                    return sent;
                }
                sent += chunk.len();
            }
            panic!("the client still reads after {sent} bytes of one message");
        });
        let client = Client::connect(&path).await.unwrap();
        // Only a guard against hanging: re-parsing the growing buffer on every read took hours.
        let guard = std::time::Duration::from_secs(300);
        let err = tokio::time::timeout(guard, client.echo()).await.expect("client hangs").unwrap_err();
        assert!(matches!(err, OvsdbError::Disconnected), "{err}");
        let sent = tokio::time::timeout(guard, server).await.expect("client keeps reading").unwrap();
        assert!(sent >= DEFAULT_MAX_MESSAGE_BYTES / 2, "hung up after only {sent} bytes");
        assert!(client.is_closed());
    }

    /// The positive control: a long message under the limit is delivered.
    #[tokio::test]
    async fn a_long_message_under_the_limit_is_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut framer = Framer::default();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).await.unwrap();
                framer.feed(&chunk[..n]);
                if let Some(req) = framer.next_message().unwrap() {
                    let big = "a".repeat(4 * 1024 * 1024);
                    let reply = json!({"id": req["id"], "result": [big], "error": null});
                    s.write_all(reply.to_string().as_bytes()).await.unwrap();
                    let _ = s.read(&mut chunk).await;
                    return;
                }
            }
        });
        let client = Client::connect(&path).await.unwrap();
        let v = client.call("echo", json!(["x"])).await.unwrap();
        assert_eq!(v[0].as_str().map(str::len), Some(4 * 1024 * 1024));
    }
}
