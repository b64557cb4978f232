//! Throttling (issue 10): how often one address may sign in, register and refresh, in memory
//! (per instance, `governor`'s keyed GCRA), and the rules for the limits kept in the database:
//! failed sign-ins per account (see [`crate::db::repo::sign_in_attempts`]) and rotations per
//! session. Every refusal is [`AppError::Throttled`]: 429 with `Retry-After`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use crate::config::{Rate, Throttling};
use crate::db::repo::AttemptRules;
use crate::domain::Email;
use crate::error::AppError;
use crate::state::millis;

/// How many checks pass between sweeps of addresses whose limit has refilled, which keeps
/// memory bounded by the addresses seen recently.
const SWEEP_EVERY: u32 = 4096;

/// One per-address limit.
struct AddressLimiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
    checks: AtomicU32,
}

impl AddressLimiter {
    fn new(rate: Option<Rate>) -> Self {
        let clock = DefaultClock::default();
        let limiter = rate.and_then(|rate| {
            let quota = Quota::with_period(rate.per / rate.count.get())?.allow_burst(rate.count);
            Some(RateLimiter::dashmap_with_clock(quota, clock.clone()))
        });
        Self {
            limiter,
            clock,
            checks: AtomicU32::new(0),
        }
    }

    fn check(&self, address: IpAddr) -> Result<(), AppError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(&address)
            .map_err(|not_until| AppError::throttled(not_until.wait_time_from(self.clock.now())))
    }
}

/// Every throttle, built once from the settings.
pub struct Throttle {
    sign_in: AddressLimiter,
    register: AddressLimiter,
    refresh: AddressLimiter,
    settings: Throttling,
}

impl Throttle {
    /// The limits `settings` name.
    pub fn new(settings: Throttling) -> Self {
        Self {
            sign_in: AddressLimiter::new(settings.sign_in_per_ip),
            register: AddressLimiter::new(settings.register_per_ip),
            refresh: AddressLimiter::new(settings.refresh_per_ip),
            settings,
        }
    }

    /// One password sign-in from `address` (an address key: see `ClientIp::key`).
    pub fn sign_in(&self, address: IpAddr) -> Result<(), AppError> {
        self.sign_in.check(address)
    }

    /// One registration from `address`.
    pub fn register(&self, address: IpAddr) -> Result<(), AppError> {
        self.register.check(address)
    }

    /// One refresh-token rotation from `address`.
    pub fn refresh(&self, address: IpAddr) -> Result<(), AppError> {
        self.refresh.check(address)
    }

    /// The failed sign-in limits at `now_ms`, or `None` when both are off.
    pub fn attempt_rules(&self, now_ms: i64) -> Option<AttemptRules> {
        let s = &self.settings;
        (s.failed_sign_ins_per_ip.is_some() || s.failed_sign_ins_per_account.is_some()).then(|| {
            AttemptRules {
                per_client: s.failed_sign_ins_per_ip,
                per_account: s.failed_sign_ins_per_account,
                window_ms: millis(s.failed_sign_in_window),
                now_ms,
            }
        })
    }

    /// Rotations one session may make: `(count, per ms)`.
    pub fn rotations_per_session(&self) -> Option<(i64, i64)> {
        self.settings
            .refresh_per_session
            .map(|rate| (i64::from(rate.count.get()), millis(rate.per)))
    }
}

/// What failed sign-ins are counted by: the SHA-256 of the email as typed, canonicalized
/// when it is an address, so ` A@x.io` and `a@x.io` share a count and the table holds no
/// email in the clear.
pub fn account_key(email: &str) -> String {
    let canonical = Email::parse(email)
        .map(|e| e.as_ref().to_owned())
        .unwrap_or_else(|_| email.trim().to_lowercase());
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;
    use std::time::Duration;

    #[test]
    fn an_address_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limiter = AddressLimiter::new(Some(Rate {
            count: NonZeroU32::new(3).unwrap(),
            per: Duration::from_secs(60),
        }));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            limiter.check(a).unwrap();
        }
        match limiter.check(a) {
            Err(AppError::Throttled { retry_after_secs }) => {
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("{other:?}"),
        }
        limiter.check(b).unwrap();
        let off = AddressLimiter::new(None);
        for _ in 0..1000 {
            off.check(a).unwrap();
        }
    }

    #[test]
    fn account_keys_follow_the_canonical_email() {
        assert_eq!(account_key(" A@X.io "), account_key("a@x.io"));
        assert_ne!(account_key("a@x.io"), account_key("b@x.io"));
        assert_eq!(account_key("not an email").len(), 64);
    }
}
