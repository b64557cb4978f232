//! bcrypt hashing and verification on a pool of threads of its own (contract §5).
//!
//! bcrypt is slow on purpose, so it runs neither on the async workers nor on the blocking pool
//! that serves the database: a login flood then cannot stall other routes. The queue in front
//! of the pool is bounded; when it is full the caller gets [`HashingError::Busy`] (503 with
//! `Retry-After`) at once instead of waiting without end.
//!
//! The queue is shared fairly: one client address may hold at most its share of it (queued or
//! running), so a flood from one address cannot make everyone else wait; and a job whose
//! client has gone (the connection closed, the request dropped) is skipped before it hashes,
//! so a flood of requests that hang up at once costs no bcrypt.
//!
//! The hashing threads run at a lower priority ([`HASHING_NICENESS`]) than the HTTP workers: when
//! both want a core, a token check or a refresh goes first, and bcrypt has every cycle the
//! workers leave, which under a sign-in flood is nearly all of them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::domain::Password;

type Job = Box<dyn FnOnce() + Send>;

/// Jobs that may wait for a hashing thread; large enough for ordinary bursts (16 sign-ups at
/// once must all be served).
const QUEUE_LEN: usize = 64;

/// How much lower a hashing thread's priority is than the HTTP workers': at nice +10 a busy
/// worker gets about nine times a hashing thread's share of a core, and preempts it as soon as
/// it wakes.
const HASHING_NICENESS: i32 = 10;

/// Lowers the calling thread's priority by [`HASHING_NICENESS`]. On Linux the nice value is a
/// per-thread attribute, and `PRIO_PROCESS` with no id names the calling thread (`man 7
/// sched`); a failure only leaves the thread at the workers' priority.
fn lower_this_threads_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    let lowered = getpriority_process(None)
        .and_then(|now| setpriority_process(None, (now + HASHING_NICENESS).min(19)));
    if let Err(e) = lowered {
        log::warn!("cannot lower the password hashing thread's priority: {e}");
    }
}

/// Why hashing or verifying could not be done.
#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    /// Every hashing thread is busy and the queue is full: try again shortly.
    #[error("the password hashing queue is full")]
    Busy,
    /// This client already holds its share of the queue.
    #[error("this client holds its share of the password hashing queue")]
    OverShare,
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
    /// Jobs queued or running per client address.
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// The most one address may hold.
    share: usize,
    cost: u32,
    /// Verified against when the email is unknown, so both paths take the same time.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Starts one hashing thread per core and makes the dummy hash at `cost`; one address may
    /// hold `share` jobs at once.
    pub fn start(cost: u32, share: usize) -> Result<Self, bcrypt::BcryptError> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE_LEN);
        let queue = Arc::new(Mutex::new(queue));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("bcrypt-{i}"))
                .spawn(move || {
                    lower_this_threads_priority();
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
            in_flight: Arc::default(),
            share,
            cost,
            dummy_hash: Arc::from(dummy_hash),
        })
    }

    /// Jobs queued or running, for `/metrics`.
    pub fn jobs_in_flight(&self) -> usize {
        let in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        in_flight.values().sum()
    }

    /// Runs `work` for `client` on a hashing thread and awaits its answer. If the caller stops
    /// waiting (its request was dropped) before a thread takes the job, the work is skipped.
    async fn run<T: Send + 'static>(
        &self,
        client: IpAddr,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let slot = ShareSlot::take(&self.in_flight, client, self.share)?;
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            if reply.is_closed() {
                log::debug!("skipped a password job whose client has gone");
                return;
            }
            let answer = work();
            // Given back before the answer, so the client may start its next job at once.
            drop(slot);
            let _ = reply.send(answer);
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(HashingError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(HashingError::Stopped),
        }
        answer.await.map_err(|_| HashingError::Stopped)
    }

    /// Hashes a new password at the configured cost.
    pub async fn hash(&self, client: IpAddr, password: Password) -> Result<String, HashingError> {
        let cost = self.cost;
        Ok(self
            .run(client, move || bcrypt::hash(password.expose(), cost))
            .await??)
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no account,
    /// so that an unknown email costs the same time as a wrong password.
    pub async fn verify(
        &self,
        client: IpAddr,
        password: Option<Password>,
        stored: Option<String>,
    ) -> Result<bool, HashingError> {
        let dummy = Arc::clone(&self.dummy_hash);
        self.run(client, move || {
            let hash = stored.as_deref().unwrap_or(&dummy);
            let candidate = password.as_ref().map_or("", Password::expose);
            let matches = bcrypt::verify(candidate, hash).unwrap_or(false);
            matches && stored.is_some() && password.is_some()
        })
        .await
    }

    /// Jobs queued or running for `client`.
    #[cfg(test)]
    fn held_by(&self, client: IpAddr) -> usize {
        let in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        in_flight.get(&client).copied().unwrap_or(0)
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

/// One job's place in its client's share, given back when the job is done or dropped.
struct ShareSlot {
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
    client: IpAddr,
}

impl ShareSlot {
    fn take(
        in_flight: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        client: IpAddr,
        share: usize,
    ) -> Result<Self, HashingError> {
        let mut held = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(client).or_insert(0);
        if *count >= share {
            return Err(HashingError::OverShare);
        }
        *count += 1;
        Ok(Self {
            in_flight: Arc::clone(in_flight),
            client,
        })
    }
}

impl Drop for ShareSlot {
    fn drop(&mut self) {
        let mut held = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn hashes_verify_and_report_their_cost() {
        let hasher = PasswordHasher::start(4, 16).unwrap();
        let client = IpAddr::from([127, 0, 0, 1]);
        let password = Password::parse_new("correct horse battery").unwrap();
        let hash = hasher.hash(client, password.clone()).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(!hasher.needs_rehash(&hash));
        assert!(
            hasher
                .verify(client, Some(password.clone()), Some(hash.clone()))
                .await
                .unwrap()
        );
        let wrong = Password::parse_presented("wrong horse battery").unwrap();
        assert!(
            !hasher
                .verify(client, Some(wrong), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!hasher.verify(client, Some(password), None).await.unwrap());
        assert_eq!(hasher.held_by(client), 0, "every slot was given back");
        let stronger = PasswordHasher::start(5, 16).unwrap();
        assert!(stronger.needs_rehash(&hash));
    }

    /// The nice value of each of this process's threads named `bcrypt-…`, from `/proc`.
    fn hashing_threads_niceness() -> Vec<i64> {
        let mut found = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.starts_with("bcrypt-") {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue; // the thread has just ended
            };
            found.push(niceness(&stat));
        }
        found
    }

    /// The nice value in a `/proc/…/stat` line: field 19, the 17th after the `(comm)` one.
    fn niceness(stat: &str) -> i64 {
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        after_comm.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[actix_web::test]
    async fn hashing_threads_yield_to_the_http_workers() {
        let hasher = PasswordHasher::start(4, 16).unwrap();
        let password = Password::parse_new("correct horse battery").unwrap();
        hasher
            .hash(IpAddr::from([127, 0, 0, 1]), password)
            .await
            .unwrap();
        // The test's own thread stands for an HTTP worker: it keeps the process's priority.
        let own = niceness(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
        let lowered = (own + i64::from(HASHING_NICENESS)).min(19);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let niceness = hashing_threads_niceness();
            if !niceness.is_empty() && niceness.iter().all(|&n| n == lowered) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nice values {niceness:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn one_address_holds_at_most_its_share() {
        let in_flight = Arc::default();
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let first = ShareSlot::take(&in_flight, a, 2).unwrap();
        let _second = ShareSlot::take(&in_flight, a, 2).unwrap();
        assert!(matches!(
            ShareSlot::take(&in_flight, a, 2),
            Err(HashingError::OverShare)
        ));
        let _other = ShareSlot::take(&in_flight, b, 2).unwrap();
        drop(first);
        let _again = ShareSlot::take(&in_flight, a, 2).unwrap();
    }
}
