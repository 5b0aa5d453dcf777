//! The change feed: every write that agents care about appends a row with the next global
//! revision. Agents list their desired state, then watch from that revision; a revision older
//! than the oldest row kept means "list again".

use super::{Sql, StoreError};

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub revision: i64,
    /// `port`, `network`, `agent`, [`SECURITY_GROUP`], [`SUBNET`], [`DHCP`] or [`ROUTER`].
    pub kind: String,
    pub resource_id: String,
    pub network_id: Option<String>,
    /// The port's host (before and after a move, one row each).
    pub host: Option<String>,
}

/// The kind of a change to a security group or rule.
pub const SECURITY_GROUP: &str = "security_group";

/// The kind of a change to a subnet (resource: the subnet, network: its network).
pub const SUBNET: &str = "subnet";

/// The kind of a change of DHCP scheduling: resource and network are the network, host the
/// DHCP agent's host that started or stopped hosting it.
pub const DHCP: &str = "dhcp";

/// The kind of a change to what a router's agent realises: the router itself, its gateway,
/// interfaces, routes, scheduling, or a floating IP it serves (resource: the router, host: the
/// L3 agent's host that started or stopped running it, when scheduling changed). A floating IP
/// write records one for the router it left and one for the router it joined.
pub const ROUTER: &str = "router";

/// Rows kept; older ones are pruned as new ones come.
pub const KEEP: i64 = 100_000;

/// Appends a change and returns its revision.
pub fn record(
    sql: &mut dyn Sql,
    kind: &str,
    resource_id: &str,
    network_id: Option<&str>,
    host: Option<&str>,
) -> Result<i64, StoreError> {
    let rev = current(sql)? + 1;
    sql.execute(
        "INSERT INTO changes (revision, kind, resource_id, network_id, host) VALUES (?, ?, ?, ?, ?)",
        &[rev.into(), kind.into(), resource_id.into(), network_id.into(), host.into()],
    )?;
    if rev % 1000 == 0 {
        sql.execute("DELETE FROM changes WHERE revision <= ?", &[(rev - KEEP).into()])?;
    }
    Ok(rev)
}

/// The newest revision (0 when nothing was ever recorded).
pub fn current(sql: &mut dyn Sql) -> Result<i64, StoreError> {
    Ok(sql.query("SELECT COALESCE(MAX(revision), 0) FROM changes", &[])?[0][0].int())
}

/// The oldest revision still kept (0 when none).
pub fn oldest(sql: &mut dyn Sql) -> Result<i64, StoreError> {
    Ok(sql.query("SELECT COALESCE(MIN(revision), 0) FROM changes", &[])?[0][0].int())
}

/// Changes after `since`, oldest first.
pub fn since(sql: &mut dyn Sql, since: i64, limit: usize) -> Result<Vec<Change>, StoreError> {
    let rows = sql.query(
        &format!(
            "SELECT revision, kind, resource_id, network_id, host FROM changes WHERE revision > ? ORDER BY revision LIMIT {limit}"
        ),
        &[since.into()],
    )?;
    Ok(rows
        .iter()
        .map(|r| Change {
            revision: r[0].int(),
            kind: r[1].text(),
            resource_id: r[2].text(),
            network_id: r[3].opt_text(),
            host: r[4].opt_text(),
        })
        .collect())
}
