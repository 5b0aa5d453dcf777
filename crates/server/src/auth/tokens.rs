//! Builtin-mode tokens: HMAC-SHA256-signed claims (user, project, roles, issue and expiry times,
//! Keystone audit ids) as base64url text, and the signing key kept in `<data_dir>/token.key`
//! (tokens as the Keystone v3 Identity API describes them). Revocation is kept apart, by audit id
//! (`revocations.rs`).
//!
//! Format: `base64url(json claims) "." base64url(hmac-sha256(key, first part))`, no padding.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AuthError;

type HmacSha256 = Hmac<Sha256>;

/// Length of the signing key, in bytes.
pub const KEY_LEN: usize = 32;
/// Longest token text accepted (well above what we issue); longer input is refused before decoding.
const MAX_TOKEN_LEN: usize = 8192;
const CLAIMS_VERSION: u8 = 1;

/// What a token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Format version.
    pub v: u8,
    pub user_id: String,
    pub user_name: String,
    pub project_id: String,
    pub project_name: String,
    pub roles: Vec<String>,
    /// Authentication methods (`password`, `token`).
    pub methods: Vec<String>,
    /// Issue and expiry times, in microseconds since the Unix epoch.
    pub iat: i64,
    pub exp: i64,
    /// Keystone's `audit_ids`: this token's own random id, then, for a token obtained with the
    /// `token` method, the first id of the chain it descends from. Empty in tokens issued before
    /// audit ids existed; see [`Claims::audit_ids_of`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit_ids: Vec<String>,
}

/// Why a token is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("the token's user no longer exists with that project and roles")]
    UserChanged,
    #[error("token revoked")]
    Revoked,
}

/// The secret that signs and checks tokens.
pub struct TokenKey {
    key: [u8; KEY_LEN],
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        Self { key }
    }

    /// A fresh random key (tests, or a first start).
    pub fn random() -> Self {
        let mut key = [0u8; KEY_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        Self { key }
    }

    /// Reads the key at `path`, creating it (mode 0600) with random bytes when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, AuthError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; KEY_LEN] = bytes.try_into().map_err(|b: Vec<u8>| {
                    AuthError::Setup(format!(
                        "{}: expected a {KEY_LEN}-byte token key, found {} bytes",
                        path.display(),
                        b.len()
                    ))
                })?;
                Ok(Self { key })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::random();
                let mut file = create_private(path).map_err(|e| AuthError::io(path, e))?;
                file.write_all(&key.key).and_then(|_| file.sync_all()).map_err(|e| AuthError::io(path, e))?;
                tracing::info!(path = %path.display(), "created a new token signing key");
                Ok(key)
            }
            Err(e) => Err(AuthError::io(path, e)),
        }
    }

    #[allow(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }

    /// The token text for `claims`.
    #[allow(
        clippy::expect_used,
        reason = "Claims is strings, integers and lists of strings: no map keys to refuse"
    )]
    pub fn sign(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).expect("claims serialize to JSON");
        let body = B64.encode(json);
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        format!("{body}.{sig}")
    }

    /// The claims of `token` if its signature is ours and it has not expired at `now_us`.
    pub fn verify(&self, token: &str, now_us: i64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (body, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
        let json = B64.decode(body).map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if claims.v != CLAIMS_VERSION {
            return Err(TokenError::Malformed);
        }
        if claims.exp <= now_us {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

impl Claims {
    /// Claims for a token issued at `now_us`, valid `ttl_secs`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        user_id: &str,
        user_name: &str,
        project_id: &str,
        project_name: &str,
        roles: &[String],
        methods: Vec<String>,
        now_us: i64,
        ttl_secs: u64,
    ) -> Self {
        let ttl_us = i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2).saturating_mul(1_000_000);
        Self {
            v: CLAIMS_VERSION,
            user_id: user_id.into(),
            user_name: user_name.into(),
            project_id: project_id.into(),
            project_name: project_name.into(),
            roles: roles.to_vec(),
            methods,
            iat: now_us,
            exp: now_us.saturating_add(ttl_us),
            audit_ids: vec![new_audit_id()],
        }
    }

    /// Claims for a token obtained at `now_us` with these claims' token (Keystone re-scoping): same
    /// user, project and roles, a new issue time, the same expiry, a new audit id followed by the
    /// chain's first (`token` is the presented token's text, for tokens without audit ids).
    pub fn rescoped(&self, token: &str, now_us: i64) -> Self {
        let own = self.audit_ids_of(token);
        let chain = own.get(1).or(own.first()).cloned().unwrap_or_default();
        let mut methods = vec!["token".to_string()];
        methods.extend(self.methods.iter().filter(|m| *m != "token").cloned());
        Self { methods, iat: now_us, audit_ids: vec![new_audit_id(), chain], ..self.clone() }
    }

    /// The token's audit ids; for a token issued before they existed, a digest of its text
    /// (stable, and not usable as a credential).
    pub fn audit_ids_of(&self, token: &str) -> Vec<String> {
        if self.audit_ids.is_empty() { vec![digest_audit_id(token)] } else { self.audit_ids.clone() }
    }
}

/// A fresh audit id: 16 random bytes, base64url (22 characters, as Keystone's).
pub fn new_audit_id() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    B64.encode(bytes)
}

fn digest_audit_id(token: &str) -> String {
    B64.encode(&Sha256::digest(token.as_bytes())[..16])
}

/// Creates `path` for writing, readable by its owner only; fails if it exists.
pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// The current time in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64, ttl: u64) -> Claims {
        Claims::new("u1", "member_1", "p1", "proj_1", &["member".into()], vec!["password".into()], now, ttl)
    }

    #[test]
    fn roundtrip() {
        let key = TokenKey::random();
        let now = now_us();
        let c = claims(now, 3600);
        let t = key.sign(&c);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
        assert_eq!(key.verify(&t, now + 1).unwrap(), c);
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let key = TokenKey::random();
        let now = now_us();
        let t = key.sign(&claims(now, 3600));
        let (body, sig) = t.split_once('.').unwrap();
        let mut forged: Claims = serde_json::from_slice(&B64.decode(body).unwrap()).unwrap();
        forged.roles = vec!["admin".into()];
        let forged = format!("{}.{sig}", B64.encode(serde_json::to_vec(&forged).unwrap()));
        assert_eq!(key.verify(&forged, now), Err(TokenError::BadSignature));
        assert_eq!(TokenKey::random().verify(&t, now), Err(TokenError::BadSignature));
        let mut flipped = t.clone().into_bytes();
        flipped[3] ^= 1;
        assert!(key.verify(&String::from_utf8(flipped).unwrap(), now).is_err());
        for junk in ["", ".", "abc", "a.b", "é.é", &"x".repeat(MAX_TOKEN_LEN + 1)] {
            assert!(key.verify(junk, now).is_err(), "{junk}");
        }
    }

    #[test]
    fn audit_ids_are_unique_and_rescoping_keeps_expiry_and_chain() {
        let key = TokenKey::random();
        let now = now_us();
        let (a, b) = (claims(now, 3600), claims(now, 3600));
        assert_eq!(a.audit_ids.len(), 1);
        assert_eq!(a.audit_ids[0].len(), 22);
        assert_ne!(a.audit_ids, b.audit_ids);
        let ta = key.sign(&a);
        let r = a.rescoped(&ta, now + 5);
        assert_eq!((r.iat, r.exp), (now + 5, a.exp));
        assert_eq!(r.methods, ["token", "password"]);
        assert_eq!(r.audit_ids[1], a.audit_ids[0]);
        assert_ne!(r.audit_ids[0], a.audit_ids[0]);
        let rr = r.rescoped(&key.sign(&r), now + 9);
        assert_eq!(rr.audit_ids[1], a.audit_ids[0], "the chain keeps its first id");
        assert_eq!(rr.methods, ["token", "password"]);
    }

    #[test]
    fn tokens_without_audit_ids_still_verify() {
        let key = TokenKey::random();
        let now = now_us();
        let mut old = claims(now, 3600);
        old.audit_ids.clear();
        let t = key.sign(&old);
        let json = String::from_utf8(B64.decode(t.split_once('.').unwrap().0).unwrap()).unwrap();
        assert!(!json.contains("audit_ids"), "{json}");
        let c = key.verify(&t, now).unwrap();
        assert_eq!(c.audit_ids_of(&t), c.audit_ids_of(&t));
        assert_eq!(c.audit_ids_of(&t).len(), 1);
        assert_ne!(c.audit_ids_of(&t), c.audit_ids_of("another"));
        assert_eq!(c.rescoped(&t, now).audit_ids[1], c.audit_ids_of(&t)[0]);
    }

    #[test]
    fn expired_token_is_refused() {
        let key = TokenKey::random();
        let now = now_us();
        let t = key.sign(&claims(now - 7_200_000_000, 3600));
        assert_eq!(key.verify(&t, now), Err(TokenError::Expired));
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.key");
        let k1 = TokenKey::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let k2 = TokenKey::load_or_create(&path).unwrap();
        let t = k1.sign(&claims(now_us(), 60));
        assert!(k2.verify(&t, now_us()).is_ok());
        std::fs::write(&path, b"short").unwrap();
        assert!(TokenKey::load_or_create(&path).is_err());
    }
}
