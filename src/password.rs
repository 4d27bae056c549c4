//! Admin passwords: argon2id, hashed and verified off the async runtime,
//! a bounded number at once: each computation takes 19 MiB and a blocking
//! thread, so a flood of sign-ins must not take all memory and threads.
//! Excess waits briefly, then is refused as [`Busy`] (the sign-in page
//! answers 503 with `Retry-After`).

use std::sync::LazyLock;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};

/// Shortest password accepted.
pub const MIN_LEN: usize = 12;
/// Longest password accepted (argon2 is fed the whole input).
pub const MAX_LEN: usize = 256;

/// A hash of a random password, verified against when an e-mail is unknown,
/// so that a sign-in takes as long whether or not the account exists.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2NpbWdhdGUtZHVtbXk$2k4qNqN2W0H0wq5sUOCXy1iGH1Wn1SRXDcI0Z0bqZr8";

/// How long a password check waits for a free slot before [`Busy`].
const SLOT_WAIT: Duration = Duration::from_secs(3);

/// Hashes computed at once: two per core.
static SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()) * 2)
});

/// Too many passwords are being hashed or checked at once.
#[derive(Debug, thiserror::Error)]
#[error("too many passwords are being checked at once; try again in a moment")]
pub struct Busy;

async fn slot() -> Result<SemaphorePermit<'static>, Busy> {
    slot_of(&SLOTS, SLOT_WAIT).await
}

async fn slot_of(slots: &Semaphore, wait: Duration) -> Result<SemaphorePermit<'_>, Busy> {
    match tokio::time::timeout(wait, slots.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(Busy),
    }
}

pub fn check_policy(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(format!(
            "the password must have at least {MIN_LEN} characters"
        ));
    }
    if password.len() > MAX_LEN {
        return Err(format!("the password must have at most {MAX_LEN} bytes"));
    }
    Ok(())
}

/// Hashes with argon2id and a random salt (PHC string).
pub async fn hash(password: String) -> anyhow::Result<String> {
    let _slot = slot().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// Verifies a password; with no stored hash (unknown account) verifies
/// against a dummy so that timing does not tell accounts apart.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, Busy> {
    let _slot = slot().await?;
    let known = stored.is_some();
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    Ok(known && ok)
}

/// A random password for accounts created without one (printed once).
pub fn generate() -> String {
    crate::secret::generate("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_per_salt() {
        let a = hash("correct horse battery".into()).await.unwrap();
        let b = hash("correct horse battery".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(
            verify("correct horse battery".into(), Some(a.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse battery".into(), Some(a)).await.unwrap());
    }

    #[tokio::test]
    async fn a_check_beyond_the_slots_waits_then_is_refused() {
        let slots = Semaphore::new(2);
        let a = slot_of(&slots, Duration::from_millis(50)).await.unwrap();
        let _b = slot_of(&slots, Duration::from_millis(50)).await.unwrap();
        let started = std::time::Instant::now();
        assert!(slot_of(&slots, Duration::from_millis(200)).await.is_err());
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(a);
        assert!(slot_of(&slots, Duration::from_millis(50)).await.is_ok());
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify() {
        assert!(!verify("anything at all".into(), None).await.unwrap());
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn policy_and_generation() {
        assert!(check_policy("short").is_err());
        assert!(check_policy(&"x".repeat(300)).is_err());
        assert!(check_policy("long enough password").is_ok());
        let p = generate();
        assert_eq!(p.len(), 20);
        assert!(check_policy(&p).is_ok());
    }
}
