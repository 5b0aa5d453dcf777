//! The builtin identity service's users, projects and roles: built from `[[auth.users]]` and
//! `<data_dir>/identity.toml`, each with an argon2 password hash parsed at load (a plain password
//! is hashed then, so that every check costs the same) (Keystone v3 Identity API). Every user and project
//! lives in domain `Default`; ids derive from names unless configured.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::password::{PasswordChecker, PreparedHash};
use super::{AuthError, UserConfig};

/// Keystone's default implied roles: `admin` implies `member`, which implies `reader`.
const IMPLIED: &[(&str, &str)] = &[("admin", "member"), ("member", "reader")];

/// A stable Keystone-style id (32 hex digits, no hyphens) for the `kind` object named `name`: a UUIDv8
/// built from SHA-256 of both.
pub fn derive_id(kind: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("neutrino:{kind}:{name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().simple().to_string()
}

/// One user, with its single project and its (implied-role-expanded) roles.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub project_name: String,
    pub roles: Vec<String>,
    hash: PreparedHash,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("name", &self.name).field("project", &self.project_name).finish()
    }
}

/// All users of the builtin identity service.
#[derive(Debug, Default)]
pub struct UserStore {
    users: Vec<User>,
    by_name: HashMap<String, usize>,
    by_id: HashMap<String, usize>,
    /// Project id → name.
    projects: HashMap<String, String>,
}

fn expand_roles(roles: &[String]) -> Vec<String> {
    fn add(out: &mut Vec<String>, role: &str) {
        if !role.is_empty() && !out.iter().any(|o| o == role) {
            out.push(role.to_string());
        }
    }
    let mut out: Vec<String> = Vec::new();
    for role in roles {
        add(&mut out, &role.trim().to_ascii_lowercase());
    }
    // The chain is short; as many passes as links reach its end.
    for _ in 0..IMPLIED.len() {
        for (from, to) in IMPLIED {
            if out.iter().any(|o| o == from) {
                add(&mut out, to);
            }
        }
    }
    out
}

impl UserStore {
    /// Adds the users of one source (`source` names it in messages), their hashes parsed (and
    /// plain passwords hashed) by `checker`. A name already present is skipped with a warning, so
    /// that earlier sources (the configuration file) win. Slow for plain passwords.
    pub fn add_all(
        &mut self,
        entries: &[UserConfig],
        source: &str,
        checker: &PasswordChecker,
    ) -> Result<(), AuthError> {
        for entry in entries {
            if self.by_name.contains_key(&entry.name) {
                tracing::warn!(user = %entry.name, source, "user defined twice; keeping the first definition");
                continue;
            }
            self.add(entry, source, checker)?;
        }
        Ok(())
    }

    fn add(&mut self, e: &UserConfig, source: &str, checker: &PasswordChecker) -> Result<(), AuthError> {
        let bad = |why: &str| AuthError::User(format!("{source}: user {:?}: {why}", e.name));
        if e.name.trim().is_empty() {
            return Err(bad("empty name"));
        }
        if e.project.trim().is_empty() {
            return Err(bad("no project"));
        }
        let roles = expand_roles(&e.roles);
        if roles.is_empty() {
            return Err(bad("no roles"));
        }
        let hash = match (&e.password_hash, &e.password) {
            (Some(h), None) => checker.parse(h).map_err(|err| bad(&err.to_string()))?,
            (None, Some(p)) => {
                tracing::warn!(
                    user = %e.name,
                    source,
                    "password stored in plain text; prefer password_hash (neutrino hash-password)"
                );
                checker.hash_prepared(p)
            }
            _ => return Err(bad("needs exactly one of password_hash and password")),
        };
        let project_id = e.project_id.clone().unwrap_or_else(|| derive_id("project", &e.project));
        match self.projects.get(&project_id) {
            Some(name) if *name != e.project => {
                return Err(bad(&format!("project id {project_id} already names project {name:?}")));
            }
            _ => {}
        }
        if let Some((id, _)) = self.projects.iter().find(|(id, n)| **n == e.project && **id != project_id) {
            return Err(bad(&format!("project {:?} already has id {id}", e.project)));
        }
        let id = e.id.clone().unwrap_or_else(|| derive_id("user", &e.name));
        if self.by_id.contains_key(&id) {
            return Err(bad(&format!("user id {id} is taken")));
        }
        self.projects.insert(project_id.clone(), e.project.clone());
        let index = self.users.len();
        self.by_name.insert(e.name.clone(), index);
        self.by_id.insert(id.clone(), index);
        self.users.push(User {
            id,
            name: e.name.clone(),
            project_id,
            project_name: e.project.clone(),
            roles,
            hash,
        });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn by_name(&self, name: &str) -> Option<&User> {
        self.by_name.get(name).map(|&i| &self.users[i])
    }

    pub fn by_id(&self, id: &str) -> Option<&User> {
        self.by_id.get(id).map(|&i| &self.users[i])
    }

    /// The name of the project with id `id`, if any user belongs to it.
    pub fn project_name(&self, id: &str) -> Option<&str> {
        self.projects.get(id).map(String::as_str)
    }
}

impl User {
    /// The user's password hash, for [`super::password::Slot::verify`].
    pub fn hash(&self) -> &PreparedHash {
        &self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::password::{M_COST_KIB, hash_password};

    fn checker() -> PasswordChecker {
        PasswordChecker::new(1, 0, M_COST_KIB)
    }

    fn entry(name: &str, project: &str, roles: &[&str]) -> UserConfig {
        UserConfig {
            name: name.into(),
            password: Some("secret".into()),
            project: project.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ids_are_stable() {
        let id = derive_id("project", "proj_1");
        assert_eq!(id, derive_id("project", "proj_1"));
        assert_ne!(id, derive_id("project", "proj_2"));
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn store_expands_roles_and_checks_entries() {
        let c = checker();
        let mut s = UserStore::default();
        s.add_all(&[entry("a", "admin", &["Admin"]), entry("m", "p1", &["member"])], "test", &c).unwrap();
        assert_eq!(s.by_name("a").unwrap().roles, vec!["admin", "member", "reader"]);
        assert_eq!(s.by_name("m").unwrap().roles, vec!["member", "reader"]);
        let m = s.by_name("m").unwrap();
        assert_eq!(m.hash().cost(), (M_COST_KIB, 2, 1), "plain passwords are hashed at load");
        assert_eq!(s.project_name(&m.project_id), Some("p1"));
        assert_eq!(s.by_id(&m.id).unwrap().name, "m");
        // Duplicates from a later source are skipped, invalid entries refused.
        s.add_all(&[entry("m", "p2", &["reader"])], "later", &c).unwrap();
        assert_eq!(s.by_name("m").unwrap().project_name, "p1");
        assert!(s.add_all(&[entry("x", "p1", &[])], "t", &c).is_err());
        let mut both = entry("y", "p1", &["member"]);
        both.password_hash = Some(hash_password("x"));
        assert!(s.add_all(&[both], "t", &c).is_err());
        let mut bad_hash = entry("z", "p1", &["member"]);
        bad_hash.password = None;
        bad_hash.password_hash = Some("not-a-hash".into());
        assert!(s.add_all(&[bad_hash], "t", &c).is_err());
        let mut clash = entry("w", "p9", &["member"]);
        clash.project_id = Some(derive_id("project", "p1"));
        assert!(s.add_all(&[clash], "t", &c).is_err());
    }

    #[test]
    fn hashes_costing_more_memory_than_the_cap_are_refused_at_load() {
        let greedy = hash_password("x").replace("m=19456", "m=19457");
        let mut e = entry("g", "p1", &["member"]);
        e.password = None;
        e.password_hash = Some(greedy);
        let mut s = UserStore::default();
        let err = s.add_all(std::slice::from_ref(&e), "identity.toml", &checker()).unwrap_err().to_string();
        assert!(
            err.contains("\"g\"")
                && err.contains("19457 KiB")
                && err.contains("password_hash_max_memory_kib"),
            "{err}"
        );
        let roomy = PasswordChecker::new(1, 0, 19457);
        s.add_all(&[e], "identity.toml", &roomy).unwrap();
        assert_eq!(s.by_name("g").unwrap().hash().cost().0, 19457);
    }
}
