//! bcrypt hashing and verification on a pool of threads of its own (contract §5).
//!
//! bcrypt is slow on purpose, so it runs neither on the async workers nor on the blocking pool
//! that serves the database: a login flood then cannot stall other routes. The queue in front
//! of the pool is bounded; when it is full the caller gets [`HashingError::Busy`] (503 with
//! `Retry-After`) at once instead of waiting without end.

use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::domain::Password;

type Job = Box<dyn FnOnce() + Send>;

/// Jobs that may wait for a hashing thread; large enough for ordinary bursts (16 sign-ups at
/// once must all be served).
const QUEUE_LEN: usize = 64;

/// Why hashing or verifying could not be done.
#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    /// Every hashing thread is busy and the queue is full: try again shortly.
    #[error("the password hashing queue is full")]
    Busy,
    /// The hashing threads are gone.
    #[error("the password hashing pool stopped")]
    Stopped,
    /// bcrypt itself failed.
    #[error(transparent)]
    Bcrypt(#[from] bcrypt::BcryptError),
}

/// Hashes and verifies passwords off the async workers.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: SyncSender<Job>,
    cost: u32,
    /// Verified against when the email is unknown, so both paths take the same time.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Starts one hashing thread per core and makes the dummy hash at `cost`.
    pub fn start(cost: u32) -> Result<Self, bcrypt::BcryptError> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE_LEN);
        let queue = Arc::new(Mutex::new(queue));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("bcrypt-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job, not while running it.
                        let next = match queue.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match next {
                            Ok(job) => job(),
                            Err(_) => return, // every sender is gone: the server stopped
                        }
                    }
                });
            if let Err(e) = spawned {
                log::error!("cannot start a password hashing thread: {e}");
            }
        }
        let dummy_hash = bcrypt::hash("doorward dummy password", cost)?;
        Ok(Self {
            jobs,
            cost,
            dummy_hash: Arc::from(dummy_hash),
        })
    }

    /// Runs `work` on a hashing thread and awaits its answer.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(work());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(HashingError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(HashingError::Stopped),
        }
        answer.await.map_err(|_| HashingError::Stopped)
    }

    /// Hashes a new password at the configured cost.
    pub async fn hash(&self, password: Password) -> Result<String, HashingError> {
        let cost = self.cost;
        Ok(self
            .run(move || bcrypt::hash(password.expose(), cost))
            .await??)
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no account,
    /// so that an unknown email costs the same time as a wrong password.
    pub async fn verify(
        &self,
        password: Option<Password>,
        stored: Option<String>,
    ) -> Result<bool, HashingError> {
        let dummy = Arc::clone(&self.dummy_hash);
        self.run(move || {
            let hash = stored.as_deref().unwrap_or(&dummy);
            let candidate = password.as_ref().map_or("", Password::expose);
            let matches = bcrypt::verify(candidate, hash).unwrap_or(false);
            matches && stored.is_some() && password.is_some()
        })
        .await
    }

    /// True when `stored` was made at another cost and should be rehashed at this one.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        // A bcrypt hash reads `$2b$12$…`: the cost is the two digits after the second `$`.
        stored
            .split('$')
            .nth(2)
            .and_then(|c| c.parse::<u32>().ok())
            .is_none_or(|cost| cost != self.cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn hashes_verify_and_report_their_cost() {
        let hasher = PasswordHasher::start(4).unwrap();
        let password = Password::parse_new("correct horse battery").unwrap();
        let hash = hasher.hash(password.clone()).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(!hasher.needs_rehash(&hash));
        assert!(
            hasher
                .verify(Some(password.clone()), Some(hash.clone()))
                .await
                .unwrap()
        );
        let wrong = Password::parse_presented("wrong horse battery").unwrap();
        assert!(
            !hasher
                .verify(Some(wrong), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!hasher.verify(Some(password), None).await.unwrap());
        let stronger = PasswordHasher::start(5).unwrap();
        assert!(stronger.needs_rehash(&hash));
    }
}
