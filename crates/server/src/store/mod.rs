//! The store: every SQL statement of the server, one module per table or resource (rows,
//! lookups, list scopes and filters), behind typed functions the services call. Every write
//! runs as one transaction through the narrow [`Sql`] trait, so the SQL (portable: `?`
//! placeholders, INTEGER/BIGINT/TEXT columns only, no SQLite-only syntax) runs on SQLite, the
//! only backend; a second one (PostgreSQL, say) would implement the same traits.

pub mod agents;
pub mod allocations;
pub mod changes;
pub mod dhcp;
pub mod floatingips;
pub mod l3;
pub mod list;
pub mod networks;
pub mod port_security;
pub mod ports;
pub mod quotas;
pub mod routers;
pub mod schema;
pub mod security_groups;
pub mod segments;
pub mod sqlite;
pub mod subnets;
pub mod tags;

use std::sync::Arc;

use neutrino_model::ApiError;

/// A value bound to or read from a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
}

impl SqlValue {
    pub fn text(&self) -> String {
        match self {
            SqlValue::Text(s) => s.clone(),
            SqlValue::Int(i) => i.to_string(),
            SqlValue::Null => String::new(),
        }
    }
    pub fn opt_text(&self) -> Option<String> {
        match self {
            SqlValue::Null => None,
            v => Some(v.text()),
        }
    }
    pub fn int(&self) -> i64 {
        match self {
            SqlValue::Int(i) => *i,
            SqlValue::Text(s) => s.parse().unwrap_or_default(),
            SqlValue::Null => 0,
        }
    }
    pub fn opt_int(&self) -> Option<i64> {
        match self {
            SqlValue::Null => None,
            v => Some(v.int()),
        }
    }
    pub fn bool(&self) -> bool {
        self.int() != 0
    }
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_string())
    }
}
impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}
impl From<&String> for SqlValue {
    fn from(s: &String) -> Self {
        SqlValue::Text(s.clone())
    }
}
impl From<i64> for SqlValue {
    fn from(i: i64) -> Self {
        SqlValue::Int(i)
    }
}
impl From<bool> for SqlValue {
    fn from(b: bool) -> Self {
        SqlValue::Int(i64::from(b))
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(o: Option<T>) -> Self {
        o.map_or(SqlValue::Null, Into::into)
    }
}

/// A result row.
pub type Row = Vec<SqlValue>;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused a row (e.g. an address handed out twice).
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("database error: {0}")]
    Db(String),
    #[error("schema version {found} is newer than this server knows ({known}); upgrade neutrino")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("cannot open the store: {0}")]
    Open(String),
    /// A transaction ran past its time and was rolled back.
    #[error("the transaction took too long and was rolled back")]
    Timeout,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        match e {
            StoreError::Unique(m) => {
                ApiError::conflict("Conflict", format!("A conflicting change was made: {m}"))
            }
            StoreError::Timeout => ApiError::new(
                503,
                "ServiceUnavailable",
                "The request took too long to complete and was rolled back; nothing was changed. Retry it, or split it into smaller requests.",
            ),
            _ => ApiError::internal(),
        }
    }
}

/// Statements inside one transaction.
pub trait Sql {
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError>;
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError>;
}

/// A unit of work run inside a transaction.
pub type Work = Box<dyn FnOnce(&mut dyn Sql) -> Result<Box<dyn std::any::Any + Send>, ApiError> + Send>;

/// A database the store can run transactions on.
pub trait Backend: Send + Sync + 'static {
    /// Runs `work` in a write transaction: committed if it returns Ok, rolled back otherwise.
    /// Writes are serialised.
    fn write(&self, work: Work) -> Result<Box<dyn std::any::Any + Send>, ApiError>;
    /// Runs `work` in a read-only transaction that sees one consistent snapshot.
    fn read(&self, work: Work) -> Result<Box<dyn std::any::Any + Send>, ApiError>;
}

/// The store handle services use.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// Opens the store a URL names: `sqlite:PATH` or `sqlite::memory:`.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, sqlite::DEFAULT_TRANSACTION_TIMEOUT)
    }

    /// Opens the store a URL names, with transactions limited to `timeout` each.
    pub fn open_with(url: &str, timeout: std::time::Duration) -> Result<Self, StoreError> {
        let backend = match url.strip_prefix("sqlite:") {
            Some(":memory:") => sqlite::SqliteBackend::memory()?,
            Some(path) => sqlite::SqliteBackend::open(std::path::Path::new(path))?,
            None => {
                return Err(StoreError::Open(format!(
                    "unsupported database url {url:?} (expected sqlite:PATH)"
                )));
            }
        };
        Ok(Self::new(Arc::new(backend.with_timeout(timeout))))
    }

    /// An empty in-memory store (tests).
    #[allow(
        clippy::expect_used,
        reason = "an in-memory database needs no file or lock, and only tests call this"
    )]
    pub fn memory() -> Self {
        Self::open("sqlite::memory:").expect("in-memory SQLite opens")
    }

    #[allow(
        clippy::expect_used,
        reason = "the work boxes the T its caller asks for, so the downcast is to its own type"
    )]
    async fn run<T, F>(&self, write: bool, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Sql) -> Result<T, ApiError> + Send + 'static,
    {
        let backend = self.backend.clone();
        let work: Work = Box::new(move |sql| f(sql).map(|t| Box::new(t) as Box<dyn std::any::Any + Send>));
        let out =
            tokio::task::spawn_blocking(move || if write { backend.write(work) } else { backend.read(work) })
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "store task failed");
                    ApiError::internal()
                })??;
        Ok(*out.downcast::<T>().expect("work returns its own type"))
    }

    /// Runs `f` in one write transaction.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Sql) -> Result<T, ApiError> + Send + 'static,
    {
        self.run(true, f).await
    }

    /// Runs `f` on a consistent read snapshot.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Sql) -> Result<T, ApiError> + Send + 'static,
    {
        self.run(false, f).await
    }
}

/// Inserts one row: `values` in the order of `cols` (a comma list).
pub fn insert_row(sql: &mut dyn Sql, table: &str, cols: &str, values: &[SqlValue]) -> Result<(), StoreError> {
    sql.execute(&format!("INSERT INTO {table} ({cols}) VALUES ({})", placeholders(values.len())), values)?;
    Ok(())
}

/// Writes every column back; the first of `cols` is the `id` the row is found by.
pub fn update_row(sql: &mut dyn Sql, table: &str, cols: &str, values: &[SqlValue]) -> Result<(), StoreError> {
    let sets: Vec<String> = cols.split(", ").skip(1).map(|c| format!("{} = ?", c.trim())).collect();
    let mut params: Vec<SqlValue> = values[1..].to_vec();
    params.push(values[0].clone());
    sql.execute(&format!("UPDATE {table} SET {} WHERE id = ?", sets.join(", ")), &params)?;
    Ok(())
}

/// Bumps the revision and update time of the row `id` of a standard-attribute `table` (a
/// child or a tag of it changed).
pub fn touch_row(sql: &mut dyn Sql, table: &str, id: &str, now: &str) -> Result<(), StoreError> {
    sql.execute(
        &format!("UPDATE {table} SET revision_number = revision_number + 1, updated_at = ? WHERE id = ?"),
        &[now.into(), id.into()],
    )?;
    Ok(())
}

/// `?, ?, ?` for `n` parameters.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}
