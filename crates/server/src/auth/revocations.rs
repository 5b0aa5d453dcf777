//! Revoked builtin tokens (Keystone `DELETE /v3/auth/tokens`): the audit ids of revoked tokens with
//! the time their token expires anyway, kept in `<data_dir>/revoked_tokens.json` (rewritten whole
//! through a temporary file and a rename, mode 0600) and dropped once that time has passed.
//!
//! Writers are serialised and coalesced: a revocation returns once a file holding it is in place,
//! and one rewrite can carry the revocations of every writer that waited for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use super::AuthError;
use super::bootstrap::write_private;

pub const REVOCATIONS_FILE: &str = "revoked_tokens.json";
/// Most revocations kept at once (each costs ~100 bytes of memory and ~60 of file); beyond it
/// further revocations are refused until some expire.
pub const MAX_REVOCATIONS: usize = 100_000;

/// Why a revocation was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("{MAX_REVOCATIONS} tokens are revoked already")]
    Full,
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileFormat {
    revoked: Vec<FileEntry>,
}

impl FileFormat {
    #[allow(clippy::expect_used, reason = "a list of strings and integers: no map keys to refuse")]
    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("revocations serialise")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct FileEntry {
    audit_id: String,
    /// Microseconds since the Unix epoch.
    expires_at_us: i64,
}

#[derive(Debug, Default)]
struct State {
    /// Audit id → expiry of its token (µs).
    entries: HashMap<String, i64>,
    /// Bumped on every change.
    generation: u64,
}

impl State {
    fn prune(&mut self, now_us: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|_, exp| *exp > now_us);
        let pruned = self.entries.len() != before;
        if pruned {
            self.generation += 1;
        }
        pruned
    }

    fn to_file(&self) -> FileFormat {
        let mut revoked: Vec<FileEntry> = self
            .entries
            .iter()
            .map(|(id, exp)| FileEntry { audit_id: id.clone(), expires_at_us: *exp })
            .collect();
        revoked.sort_by(|a, b| a.audit_id.cmp(&b.audit_id));
        FileFormat { revoked }
    }
}

/// The revocation list.
#[derive(Debug)]
pub struct Revocations {
    /// `None`: kept in memory only (tests).
    path: Option<PathBuf>,
    state: RwLock<State>,
    /// Serialises writers; holds the generation last written.
    written: Mutex<u64>,
}

impl Revocations {
    /// An empty list that is never written.
    pub fn in_memory() -> Self {
        Self { path: None, state: RwLock::new(State::default()), written: Mutex::new(0) }
    }

    /// Loads `<data_dir>/revoked_tokens.json` (none yet is an empty list), dropping the expired
    /// entries (and rewriting the file if there were any). Blocking.
    pub fn open(data_dir: &Path, now_us: i64) -> Result<Self, AuthError> {
        let path = data_dir.join(REVOCATIONS_FILE);
        let file: FileFormat = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| AuthError::Setup(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileFormat::default(),
            Err(e) => return Err(AuthError::io(&path, e)),
        };
        let entries = file.revoked.into_iter().map(|e| (e.audit_id, e.expires_at_us)).collect();
        let state = State { entries, generation: 0 };
        let this = Self { path: Some(path), state: RwLock::new(state), written: Mutex::new(0) };
        if this.state.write().prune(now_us) {
            this.persist().map_err(|e| AuthError::Setup(e.to_string()))?;
        }
        Ok(this)
    }

    /// Whether any of `audit_ids` is revoked (a token whose own id, or whose chain's first id,
    /// was revoked).
    pub fn is_revoked(&self, audit_ids: &[String]) -> bool {
        let state = self.state.read();
        !state.entries.is_empty() && audit_ids.iter().any(|id| state.entries.contains_key(id))
    }

    /// Revokes `audit_id`, whose token expires at `expires_at_us`, and returns once that is on
    /// disk. Drops the expired entries on the way. Blocking.
    pub fn revoke(&self, audit_id: &str, expires_at_us: i64, now_us: i64) -> Result<(), RevokeError> {
        {
            let mut state = self.state.write();
            state.prune(now_us);
            if !state.entries.contains_key(audit_id) {
                if state.entries.len() >= MAX_REVOCATIONS {
                    return Err(RevokeError::Full);
                }
                state.entries.insert(audit_id.to_string(), expires_at_us);
                state.generation += 1;
            }
        }
        self.persist()
    }

    /// Writes the current list unless a writer already wrote a generation holding our change
    /// (generation 0 is what was loaded, already on disk).
    fn persist(&self) -> Result<(), RevokeError> {
        let Some(path) = &self.path else { return Ok(()) };
        let mut written = self.written.lock();
        let (file, generation) = {
            let state = self.state.read();
            if state.generation <= *written {
                return Ok(());
            }
            (state.to_file(), state.generation)
        };
        let text = file.to_json();
        write_private(path, &text).map_err(|e| RevokeError::Io {
            path: path.display().to_string(),
            source: match e {
                AuthError::Io { source, .. } => source,
                other => std::io::Error::other(other.to_string()),
            },
        })?;
        *written = generation;
        Ok(())
    }

    /// How many revocations are held.
    pub fn len(&self) -> usize {
        self.state.read().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000_000_000;

    #[test]
    fn revocations_persist_and_expired_ones_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let r = Revocations::open(dir.path(), NOW).unwrap();
        assert!(r.is_empty() && !dir.path().join(REVOCATIONS_FILE).exists());
        r.revoke("live", NOW + 3_600_000_000, NOW).unwrap();
        r.revoke("soon", NOW + 10, NOW).unwrap();
        assert!(r.is_revoked(&["other".into(), "live".into()]) && !r.is_revoked(&["other".into()]));
        let path = dir.path().join(REVOCATIONS_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(!dir.path().join(format!("{REVOCATIONS_FILE}.tmp")).exists());

        // Re-opened before "soon" expires, both are there; after, only "live", in memory and on disk.
        let again = Revocations::open(dir.path(), NOW + 5).unwrap();
        assert_eq!(again.len(), 2);
        let later = Revocations::open(dir.path(), NOW + 10).unwrap();
        assert_eq!(later.len(), 1);
        assert!(later.is_revoked(&["live".into()]) && !later.is_revoked(&["soon".into()]));
        assert!(!std::fs::read_to_string(&path).unwrap().contains("soon"));

        // Pruned on revocation as well.
        later.revoke("next", NOW + 20, NOW + 3_600_000_001).unwrap();
        assert_eq!(later.len(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("next") && !text.contains("live"), "{text}");
    }

    #[test]
    fn a_corrupt_file_is_a_clear_error_and_the_list_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(REVOCATIONS_FILE), "{not json").unwrap();
        let e = Revocations::open(dir.path(), NOW).unwrap_err().to_string();
        assert!(e.contains(REVOCATIONS_FILE), "{e}");

        let r = Revocations::in_memory();
        {
            let mut s = r.state.write();
            s.entries = (0..MAX_REVOCATIONS).map(|i| (i.to_string(), NOW + 1)).collect();
        }
        assert!(matches!(r.revoke("one-more", NOW + 1, NOW), Err(RevokeError::Full)));
        r.revoke("0", NOW + 1, NOW).unwrap();
        // Once they expire there is room again.
        r.revoke("one-more", NOW + 10, NOW + 1).unwrap();
        assert_eq!(r.len(), 1);
    }
}
