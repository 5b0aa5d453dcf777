//! The SQLite backend (the embedded default): one file in WAL mode, one writer connection
//! (writes are serialised, which also makes IPAM trivially race-free) and a few reader
//! connections; migrations applied and the schema version checked at open.

use std::path::Path;
use std::time::{Duration, Instant};

use neutrino_model::ApiError;
use parking_lot::Mutex;
use rusqlite::types::{Value as RValue, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, params_from_iter};

use super::{Backend, Row, Sql, SqlValue, StoreError, Work, schema};

const READERS: usize = 4;

/// How long one transaction may run unless configured (`[database] transaction_timeout_ms`).
pub const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteBackend {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    /// Longest a transaction may run before it is rolled back: no request holds the single
    /// writer (or a reader connection) for longer.
    timeout: Duration,
}

fn db(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg)
            if f.code == ErrorCode::ConstraintViolation
                && (f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) =>
        {
            StoreError::Unique(msg.clone().unwrap_or_default())
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::OperationInterrupted => {
            StoreError::Timeout
        }
        _ => StoreError::Db(e.to_string()),
    }
}

fn tune(c: &Connection, file: bool) -> Result<(), StoreError> {
    if file {
        c.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        // WAL + NORMAL: a commit survives a process crash; a power loss may lose the last ones.
        c.pragma_update(None, "synchronous", "NORMAL").map_err(db)?;
    }
    c.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
    c.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
    c.set_prepared_statement_cache_capacity(256);
    Ok(())
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        }
        let writer =
            Connection::open(path).map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        tune(&writer, true)?;
        migrate(&writer)?;
        let mut readers = vec![];
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| StoreError::Open(e.to_string()))?;
            tune(&r, false)?;
            readers.push(Mutex::new(r));
        }
        Ok(Self { writer: Mutex::new(writer), readers, timeout: DEFAULT_TRANSACTION_TIMEOUT })
    }

    /// A private in-memory database; reads go through the writer connection.
    pub fn memory() -> Result<Self, StoreError> {
        let writer = Connection::open_in_memory().map_err(|e| StoreError::Open(e.to_string()))?;
        tune(&writer, false)?;
        migrate(&writer)?;
        Ok(Self { writer: Mutex::new(writer), readers: vec![], timeout: DEFAULT_TRANSACTION_TIMEOUT })
    }

    /// Sets the longest a transaction may run (it is rolled back with a 503 beyond).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Applies the migrations this database lacks, each in its own transaction.
fn migrate(c: &Connection) -> Result<(), StoreError> {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .map_err(db)?;
    let found: i64 =
        c.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |r| r.get(0)).map_err(db)?;
    let known = schema::latest();
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for (version, name, sql) in schema::MIGRATIONS.iter().filter(|m| m.0 > found) {
        let tx = c.unchecked_transaction().map_err(db)?;
        tx.execute_batch(sql).map_err(db)?;
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
            rusqlite::params![version, name, neutrino_model::common::now_timestamp()],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        tracing::info!(version, name, "applied schema migration");
    }
    Ok(())
}

/// One transaction's connection and the time it must be done by.
struct Conn<'a> {
    c: &'a Connection,
    deadline: Instant,
}

impl Conn<'_> {
    /// Refuses further statements once the transaction's time is up (it is then rolled back).
    fn check_deadline(&self) -> Result<(), StoreError> {
        if Instant::now() > self.deadline { Err(StoreError::Timeout) } else { Ok(()) }
    }
}

/// A REAL read where the schema has only INTEGER and TEXT columns, as the nearest integer
/// toward zero (saturating, as Rust's float-to-integer `as` does).
#[allow(clippy::cast_possible_truncation, reason = "dropping the fraction and saturating is the intent")]
fn real_to_int(f: f64) -> i64 {
    f as i64
}

fn to_rvalue(v: &SqlValue) -> RValue {
    match v {
        SqlValue::Null => RValue::Null,
        SqlValue::Int(i) => RValue::Integer(*i),
        SqlValue::Text(s) => RValue::Text(s.clone()),
    }
}

impl Sql for Conn<'_> {
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
        self.check_deadline()?;
        let mut stmt = self.c.prepare_cached(sql).map_err(db)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(params_from_iter(params.iter().map(to_rvalue))).map_err(db)?;
        let mut out = vec![];
        while let Some(r) = rows.next().map_err(db)? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(match r.get_ref(i).map_err(db)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(i) => SqlValue::Int(i),
                    ValueRef::Real(f) => SqlValue::Int(real_to_int(f)),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        SqlValue::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(row);
        }
        Ok(out)
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError> {
        self.check_deadline()?;
        let mut stmt = self.c.prepare_cached(sql).map_err(db)?;
        stmt.execute(params_from_iter(params.iter().map(to_rvalue))).map_err(db)
    }
}

fn transact(
    c: &Connection,
    begin: &str,
    timeout: Duration,
    work: Work,
) -> Result<Box<dyn std::any::Any + Send>, ApiError> {
    let deadline = Instant::now() + timeout;
    if !c.is_autocommit() {
        // Never expected (every path below ends the transaction), but a connection left inside
        // a transaction would refuse every later one: start clean.
        tracing::error!("a store connection was left inside a transaction; rolling it back");
        let _ = c.execute_batch("ROLLBACK");
    }
    // A single statement that runs past the deadline is interrupted (SQLITE_INTERRUPT) too.
    c.progress_handler(10_000, Some(move || Instant::now() > deadline));
    c.execute_batch(begin).map_err(db)?;
    // A panic in the work (a bug) fails its request with a 500 and rolls back; it must not
    // leave the connection inside the transaction for the next request.
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut Conn { c, deadline })))
        .unwrap_or_else(|_| {
            tracing::error!("a store transaction panicked; rolled back");
            Err(ApiError::internal())
        });
    c.progress_handler(0, None::<fn() -> bool>);
    let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
    if let Err(e) = c.execute_batch(end) {
        // A failed COMMIT leaves the transaction open: roll it back so the next one starts clean.
        let _ = c.execute_batch("ROLLBACK");
        return Err(db(e).into());
    }
    out
}

impl Backend for SqliteBackend {
    fn write(&self, work: Work) -> Result<Box<dyn std::any::Any + Send>, ApiError> {
        let c = self.writer.lock();
        transact(&c, "BEGIN IMMEDIATE", self.timeout, work)
    }

    fn read(&self, work: Work) -> Result<Box<dyn std::any::Any + Send>, ApiError> {
        if self.readers.is_empty() {
            return self.write(work);
        }
        for r in &self.readers {
            if let Some(c) = r.try_lock() {
                return transact(&c, "BEGIN", self.timeout, work);
            }
        }
        let slot = rand::random::<usize>() % self.readers.len();
        let c = self.readers[slot].lock();
        transact(&c, "BEGIN", self.timeout, work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn a_failed_write_leaves_nothing_behind() {
        let s = Store::memory();
        let r: Result<(), ApiError> = s
            .write(|sql| {
                sql.execute(
                    "INSERT INTO tags (resource_type, resource_id, tag) VALUES ('n', 'x', 't')",
                    &[],
                )?;
                Err(ApiError::bad_request("no"))
            })
            .await;
        assert!(r.is_err());
        let n = s.read(|sql| Ok(sql.query("SELECT COUNT(*) FROM tags", &[])?[0][0].int())).await.unwrap();
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn unique_violations_are_reported_as_such() {
        let s = Store::memory();
        let r = s
            .write(|sql| {
                for _ in 0..2 {
                    sql.execute(
                        "INSERT INTO tags (resource_type, resource_id, tag) VALUES ('n', 'x', 't')",
                        &[],
                    )?;
                }
                Ok(())
            })
            .await;
        assert_eq!(r.unwrap_err().status, 409);
    }

    #[tokio::test]
    async fn a_transaction_past_its_time_is_rolled_back_and_frees_the_writer() {
        let s = Store::new(std::sync::Arc::new(
            SqliteBackend::memory().unwrap().with_timeout(Duration::from_millis(200)),
        ));
        // A write that keeps issuing statements past its deadline: refused with 503, and what
        // it wrote before is gone.
        let r: Result<(), ApiError> = s
            .write(|sql| {
                for i in 0.. {
                    sql.execute(
                        "INSERT INTO tags (resource_type, resource_id, tag) VALUES ('n', 'x', ?)",
                        &[SqlValue::Int(i)],
                    )?;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            })
            .await;
        assert_eq!(r.unwrap_err().status, 503);
        // One long statement is interrupted too.
        let r = s
            .read(|sql| {
                let q =
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c";
                Ok(sql.query(q, &[])?)
            })
            .await;
        assert_eq!(r.unwrap_err().status, 503);
        // The writer is free again, and a short write commits (positive control).
        s.write(|sql| {
            sql.execute("INSERT INTO tags (resource_type, resource_id, tag) VALUES ('n', 'y', 't')", &[])?;
            Ok(())
        })
        .await
        .unwrap();
        let n = s.read(|sql| Ok(sql.query("SELECT COUNT(*) FROM tags", &[])?[0][0].int())).await.unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn a_panicking_transaction_is_rolled_back_and_the_store_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&format!("sqlite:{}/db", dir.path().display())).unwrap();
        for _ in 0..3 {
            let r: Result<(), ApiError> = s
                .write(|sql| {
                    sql.execute(
                        "INSERT INTO tags (resource_type, resource_id, tag) VALUES ('n', 'x', 't')",
                        &[],
                    )?;
                    panic!("a bug in a service");
                })
                .await;
            assert_eq!(r.unwrap_err().status, 500);
            let r: Result<(), ApiError> = s.read(|_| panic!("a bug in a read")).await;
            assert_eq!(r.unwrap_err().status, 500);
        }
        s.write(|sql| {
            sql.execute("INSERT INTO tags (resource_type, resource_id, tag) VALUES ('n', 'y', 't')", &[])?;
            Ok(())
        })
        .await
        .unwrap();
        let n = s.read(|sql| Ok(sql.query("SELECT COUNT(*) FROM tags", &[])?[0][0].int())).await.unwrap();
        assert_eq!(n, 1, "the panicked writes left nothing, the next write committed");
    }

    #[test]
    fn a_newer_schema_is_refused_and_reopen_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.db");
        drop(SqliteBackend::open(&path).unwrap());
        drop(SqliteBackend::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'future', 'x')", [])
            .unwrap();
        drop(c);
        assert!(matches!(SqliteBackend::open(&path), Err(StoreError::SchemaTooNew { found: 999, .. })));
    }
}
