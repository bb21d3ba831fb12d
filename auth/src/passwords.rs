//! Argon2id off the async workers, a bounded number at a time.
//!
//! One hash costs tens of milliseconds of CPU and 19 MiB. Run on a tokio worker, a
//! handful of concurrent logins would stop every MQTT connection served by that worker
//! for as long; so each hash runs on the blocking pool, and at most half the cores (at
//! least one) hash at once, which leaves the rest to MQTT however many logins arrive.
//! Unknown logins are checked against a dummy hash, so the answer takes as long whether
//! or not the account exists.

use std::sync::OnceLock;

use tokio::sync::Semaphore;

use crate::crypto;
use crate::error::{AuthError, Result};

fn hashing_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Semaphore::new((cores / 2).max(1))
    })
}

/// Runs `work` on the blocking pool once a hashing slot is free.
async fn in_hashing_slot<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(|_| AuthError::Internal("password hashing unavailable".into()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AuthError::Internal(format!("password hashing task failed: {e}")))
}

/// The longest password anyone can have (set or log in with): hashing work per request
/// is bounded by it.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// [`crypto::hash_password`], off the async workers.
pub async fn hash(password: &str) -> Result<String> {
    let password = password.to_string();
    in_hashing_slot(move || crypto::hash_password(&password)).await?
}

/// [`crypto::verify_password`], off the async workers. `None` (an unknown account) is
/// checked against a dummy hash and always fails, in about the same time.
pub async fn verify(password: &str, phc: Option<&str>) -> Result<bool> {
    let password = password.to_string();
    let phc = phc.map(str::to_string);
    in_hashing_slot(move || match phc {
        Some(phc) => crypto::verify_password(&password, &phc),
        None => {
            crypto::verify_password(&password, dummy_hash());
            false
        }
    })
    .await
}

/// A hash of a random password, made once, for unknown accounts.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| crypto::hash_password(&crypto::generate_secret()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_off_thread_and_unknown_accounts_fail() {
        let phc = hash("correct horse").await.unwrap();
        assert!(verify("correct horse", Some(&phc)).await.unwrap());
        assert!(!verify("wrong", Some(&phc)).await.unwrap());
        assert!(!verify("correct horse", None).await.unwrap());
        assert!(!dummy_hash().is_empty());
    }
}
