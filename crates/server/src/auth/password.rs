//! Password hashes of the builtin identity service and their bounded verification (RFC 9106
//! argon2id, PHC string format; parameters after the OWASP Password Storage Cheat Sheet).
//!
//! A stored hash is parsed once, at load, and refused if its memory cost is above the configured
//! cap. Every argon2 run of the server goes through one [`PasswordChecker`]: at most
//! `concurrency` verifications at once, each in a memory buffer of the cap's size kept for reuse
//! (so argon2 holds at most `concurrency` × cap, whatever the allocator does), and at most `queue`
//! requests waiting for a turn; beyond that the caller is told to come back ([`Busy`]). Unknown
//! users are checked against a dummy hash of the same parameters, made when the checker is.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Memory cost of the hashes we make, in KiB (OWASP's argon2id option m=19456 KiB, t=2, p=1,
/// which is also the `argon2` crate's default, so hashes made before keep loading).
pub const M_COST_KIB: u32 = 19 * 1024;
/// Passes over the memory.
pub const T_COST: u32 = 2;
/// Lanes.
pub const P_COST: u32 = 1;

/// The parameters of the hashes we make, checked when the server is compiled.
const SERVER_PARAMS: Params = match Params::new(M_COST_KIB, T_COST, P_COST, None) {
    Ok(params) => params,
    Err(_) => panic!("the argon2 parameters are out of range"),
};

/// The parameters of the hashes we make.
pub fn server_params() -> Params {
    SERVER_PARAMS
}

/// Hashes `plain` with argon2id ([`server_params`], random salt) into a PHC string, as stored in
/// `password_hash` and printed by `neutrino hash-password`. Slow, and allocates the memory it
/// needs: the server hashes through [`PasswordChecker::hash`] instead.
pub fn hash_password(plain: &str) -> String {
    hash_in(plain, &mut vec![Block::new(); server_params().block_count()])
}

/// [`hash_password`] in `memory` (at least `server_params().block_count()` blocks).
#[allow(
    clippy::expect_used,
    reason = "the salt is generated, the parameters and output length are constants, and a password \
              reaches argon2's 4 GiB limit on no path (request bodies and config files are bounded)"
)]
fn hash_in(plain: &str, memory: &mut [Block]) -> String {
    let params = server_params();
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).expect("a generated salt decodes");
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            plain.as_bytes(),
            salt_bytes,
            &mut out,
            &mut memory[..params.block_count()],
        )
        .expect("argon2id with constant parameters hashes any password");
    PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("constant parameters encode"),
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).expect("a 32-byte output is valid")),
    }
    .to_string()
}

/// Why a stored hash is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    #[error("invalid password_hash: {0}")]
    Invalid(String),
    #[error(
        "password_hash has an argon2 memory cost of {m_kib} KiB, above the cap of {cap_kib} KiB \
         ([auth] password_hash_max_memory_kib); re-hash it with `neutrino hash-password`"
    )]
    TooMuchMemory { m_kib: u32, cap_kib: u32 },
}

/// A stored argon2 hash, parsed: what a verification needs, owned.
#[derive(Clone)]
pub struct PreparedHash {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl std::fmt::Debug for PreparedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreparedHash({}, {:?})", self.algorithm, self.cost())
    }
}

impl PreparedHash {
    /// Parses a PHC string, refusing memory costs above `max_m_kib`.
    pub fn parse(phc: &str, max_m_kib: u32) -> Result<Self, HashError> {
        let invalid = |e: &dyn std::fmt::Display| HashError::Invalid(e.to_string());
        let hash = PasswordHash::new(phc).map_err(|e| invalid(&e))?;
        let algorithm = Algorithm::try_from(hash.algorithm).map_err(|e| invalid(&e))?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).map_err(|e| invalid(&e))?,
            None => Version::default(),
        };
        let params = Params::try_from(&hash).map_err(|e| invalid(&e))?;
        if params.m_cost() > max_m_kib {
            return Err(HashError::TooMuchMemory { m_kib: params.m_cost(), cap_kib: max_m_kib });
        }
        let salt = hash.salt.ok_or_else(|| HashError::Invalid("no salt".into()))?;
        let mut buf = [0u8; 64];
        let salt = salt.decode_b64(&mut buf).map_err(|e| invalid(&e))?.to_vec();
        let expected = hash.hash.ok_or_else(|| HashError::Invalid("no hash".into()))?.as_bytes().to_vec();
        Ok(Self { algorithm, version, params, salt, expected })
    }

    /// `(m KiB, t, p)`.
    pub fn cost(&self) -> (u32, u32, u32) {
        (self.params.m_cost(), self.params.t_cost(), self.params.p_cost())
    }

    /// argon2 memory blocks (1 KiB each) a verification needs.
    pub fn blocks(&self) -> usize {
        self.params.block_count()
    }

    /// Whether `password` hashes to this, computed in `memory` (at least [`Self::blocks`] long).
    fn matches(&self, password: &[u8], memory: &mut [Block]) -> bool {
        let mut out = vec![0u8; self.expected.len()];
        let blocks = self.blocks();
        let Some(memory) = memory.get_mut(..blocks) else { return false };
        Argon2::new(self.algorithm, self.version, self.params.clone())
            .hash_password_into_with_memory(password, &self.salt, &mut out, memory)
            .is_ok()
            && constant_time_eq(&out, &self.expected)
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every verification slot is taken and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks waiting")]
pub struct Busy;

/// The one path by which passwords are verified (see the module documentation).
pub struct PasswordChecker {
    permits: Arc<Semaphore>,
    concurrency: usize,
    /// Requests holding or waiting for a permit, and the most allowed.
    in_flight: AtomicUsize,
    max_in_flight: usize,
    /// Memory buffers of `blocks` blocks (the cap), reused; at most `concurrency` exist.
    pool: Arc<Mutex<Vec<Vec<Block>>>>,
    blocks: usize,
    max_kib: u32,
    dummy: PreparedHash,
    checks: AtomicU64,
}

impl std::fmt::Debug for PasswordChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChecker")
            .field("concurrency", &self.concurrency)
            .field("max_in_flight", &self.max_in_flight)
            .field("blocks", &self.blocks)
            .finish()
    }
}

/// Leaves the in-flight count when dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A verification slot: the right to run one argon2 verification now.
pub struct Slot<'a> {
    checker: &'a PasswordChecker,
    permit: OwnedSemaphorePermit,
    _in_flight: InFlight<'a>,
}

impl PasswordChecker {
    /// A checker running `concurrency` verifications at once with `queue` more waiting, for hashes
    /// costing at most `max_kib` KiB (raised to [`M_COST_KIB`]). Allocates its first buffer and
    /// makes the dummy hash in it: slow.
    pub fn new(concurrency: usize, queue: usize, max_kib: u32) -> Self {
        let concurrency = concurrency.max(1);
        let max_kib = max_kib.max(M_COST_KIB);
        let blocks = max_kib as usize;
        let mut first = vec![Block::new(); blocks];
        let dummy = parse_own(&hash_in(&random_secret(), &mut first), max_kib);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            in_flight: AtomicUsize::new(0),
            max_in_flight: concurrency.saturating_add(queue),
            pool: Arc::new(Mutex::new(vec![first])),
            blocks,
            max_kib,
            dummy,
            checks: AtomicU64::new(0),
        }
    }

    /// [`hash_password`] in one of this checker's buffers, outside the concurrency bound: for
    /// start-up (plain passwords of the configuration, first-start accounts). Slow.
    pub fn hash(&self, plain: &str) -> String {
        let mut memory = self.pool.lock().pop().unwrap_or_else(|| vec![Block::new(); self.blocks]);
        let phc = hash_in(plain, &mut memory);
        self.pool.lock().push(memory);
        phc
    }

    /// `plain` hashed as [`hash`](Self::hash) does, parsed: how a password stored in plain text
    /// is kept.
    pub fn hash_prepared(&self, plain: &str) -> PreparedHash {
        parse_own(&self.hash(plain), self.max_kib)
    }

    /// A stored hash (PHC string), parsed against this checker's memory cap.
    pub fn parse(&self, phc: &str) -> Result<PreparedHash, HashError> {
        PreparedHash::parse(phc, self.max_kib)
    }

    /// The default concurrency: the machine's parallelism, at most 8.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The most memory verifications can hold at once, in KiB (`concurrency` × blocks).
    pub fn max_memory_kib(&self) -> usize {
        self.concurrency * self.blocks
    }

    /// The hash unknown users are checked against.
    pub fn dummy(&self) -> &PreparedHash {
        &self.dummy
    }

    /// How many verifications have run (or are running).
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// Waits for a verification slot, or fails at once with [`Busy`] when the queue is full.
    #[allow(clippy::expect_used, reason = "the semaphore is private to the checker and never closed")]
    pub async fn acquire(&self) -> Result<Slot<'_>, Busy> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let in_flight = InFlight(&self.in_flight);
        let permit = self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        Ok(Slot { checker: self, permit, _in_flight: in_flight })
    }
}

/// Parses a hash [`hash_in`] just made, against a cap of `max_kib`.
#[allow(
    clippy::expect_used,
    reason = "hash_in writes a well-formed argon2id PHC string with server_params, whose memory \
              (M_COST_KIB) is within every checker's cap (never below M_COST_KIB)"
)]
fn parse_own(phc: &str, max_kib: u32) -> PreparedHash {
    PreparedHash::parse(phc, max_kib).expect("our own hashes parse")
}

impl Slot<'_> {
    /// Whether `password` matches `hash`; `None` (an unknown user) is checked against the dummy
    /// hash, exactly as a known user, and is never a match. Runs on the blocking pool; the slot is
    /// held until argon2 has finished, even if the caller goes away.
    pub async fn verify(self, hash: Option<&PreparedHash>, password: String) -> bool {
        let checker = self.checker;
        let known = hash.is_some();
        let hash = hash.unwrap_or(&checker.dummy).clone();
        let pool = checker.pool.clone();
        let blocks = checker.blocks;
        let permit = self.permit;
        checker.checks.fetch_add(1, Ordering::Relaxed);
        let matched = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut memory = pool.lock().pop().unwrap_or_else(|| vec![Block::new(); blocks]);
            let matched = hash.matches(password.as_bytes(), &mut memory);
            pool.lock().push(memory);
            matched
        })
        .await
        .unwrap_or(false);
        matched && known
    }
}

fn random_secret() -> String {
    use rand::Rng;
    rand::rngs::OsRng.sample_iter(&rand::distributions::Alphanumeric).take(32).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_carry_the_server_parameters_and_verify() {
        let phc = hash_password("pw");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        // The argon2 crate's own verifier agrees (hashes stay portable).
        use argon2::password_hash::PasswordVerifier;
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"pW", &parsed).is_err());
        let h = PreparedHash::parse(&phc, M_COST_KIB).unwrap();
        assert_eq!(h.cost(), (M_COST_KIB, T_COST, P_COST));
        let mut memory = vec![Block::new(); h.blocks()];
        assert!(h.matches(b"pw", &mut memory) && !h.matches(b"pW", &mut memory));
        assert!(!h.matches(b"pw", &mut memory[..10]), "too little memory is a mismatch, not a panic");
    }

    #[test]
    fn other_algorithms_and_costs_verify_within_the_cap() {
        use argon2::password_hash::PasswordHasher;
        let params = Params::new(64, 3, 2, None).unwrap();
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let phc = Argon2::new(Algorithm::Argon2i, Version::V0x10, params)
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        let h = PreparedHash::parse(&phc, 64).unwrap();
        let mut memory = vec![Block::new(); 1024];
        assert!(h.matches(b"pw", &mut memory) && !h.matches(b"x", &mut memory));
    }

    #[test]
    fn hashes_above_the_memory_cap_or_malformed_are_refused() {
        let phc = hash_password("pw").replace("m=19456", "m=4194304");
        assert_eq!(
            PreparedHash::parse(&phc, M_COST_KIB).unwrap_err(),
            HashError::TooMuchMemory { m_kib: 4_194_304, cap_kib: M_COST_KIB }
        );
        assert!(PreparedHash::parse(&phc, 4_194_304).is_ok(), "accepted when the cap allows it");
        for junk in
            ["", "not-a-hash", "$argon2id$v=19$m=19456,t=2,p=1$", "$scrypt$ln=1,r=8,p=1$c2FsdHNhbHQ$aGFzaA"]
        {
            assert!(matches!(PreparedHash::parse(junk, M_COST_KIB), Err(HashError::Invalid(_))), "{junk}");
        }
    }

    #[tokio::test]
    async fn unknown_users_cost_one_verification_with_the_same_parameters() {
        let checker = PasswordChecker::new(2, 4, 0);
        let user = checker.parse(&checker.hash("secret")).unwrap();
        assert_eq!(checker.dummy().cost(), user.cost());
        assert_eq!(checker.dummy().blocks(), user.blocks());
        assert!(!checker.acquire().await.unwrap().verify(None, "secret".into()).await);
        assert_eq!(checker.checks(), 1);
        assert!(!checker.acquire().await.unwrap().verify(Some(&user), "wrong".into()).await);
        assert_eq!(checker.checks(), 2);
        assert!(checker.acquire().await.unwrap().verify(Some(&user), "secret".into()).await);
        assert_eq!(checker.checks(), 3);
        assert_eq!(checker.pool.lock().len(), 1, "start-up hashing and sequential checks reuse one buffer");
        assert_eq!(checker.max_memory_kib(), 2 * M_COST_KIB as usize);
    }

    #[tokio::test]
    async fn beyond_the_queue_callers_are_told_busy_at_once() {
        let checker = PasswordChecker::new(1, 2, 0);
        let running = checker.acquire().await.unwrap();
        let waiting: Vec<_> = (0..2).map(|_| Box::pin(checker.acquire())).collect();
        let mut waiting = waiting;
        for w in &mut waiting {
            // Each waiter has entered the queue (polled once) without getting a slot.
            assert!(futures_poll_once(w).await.is_none());
        }
        assert_eq!(checker.acquire().await.err(), Some(Busy));
        drop(running);
        let next = waiting.remove(0).await.unwrap();
        drop(next);
        drop(waiting);
        assert!(checker.acquire().await.is_ok(), "slots and queue places are given back");
    }

    /// Polls `fut` once; `Some` if it completed.
    async fn futures_poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> Option<F::Output> {
        std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *fut).poll(cx) {
            std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await
    }
}
