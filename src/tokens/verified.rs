//! Access tokens already verified, remembered by their exact bytes: a client sends the same
//! token on every request for its lifetime, and checking the signature, header and claims
//! again each time is most of the hot path's cost.
//!
//! Only what a full verify ([`super::jwt::JwtKeys::verify`]) accepted is ever stored, with its
//! decoded claims. A hit re-checks every claim that depends on the clock (`exp`, `nbf`, `iat`,
//! with the same leeway), so the cache never accepts a token a full verify would refuse;
//! revocation (`jti`, `sid`, cut-off) is the denylist's, checked after this on every request.
//! The key is the whole token, so a token that differs in one byte (a forged signature) is a
//! miss and gets the full verify.
//!
//! Memory is bounded by two generations of at most half the capacity each: when the current one
//! is full it becomes the previous one and the old previous one is dropped, so tokens in use
//! stay (a hit in the previous generation moves the token forward) and the rest age out.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::jwt::{AccessClaims, LEEWAY_SECS};

#[derive(Default)]
struct Generations {
    current: HashMap<Box<str>, Arc<AccessClaims>>,
    previous: HashMap<Box<str>, Arc<AccessClaims>>,
}

/// The verified-token cache, shared by every worker.
pub struct VerifiedTokens {
    generations: RwLock<Generations>,
    /// Entries per generation; 0 turns the cache off.
    per_generation: usize,
}

impl VerifiedTokens {
    /// A cache holding at most `capacity` tokens (`DOORWARD_TOKEN_CACHE_SIZE`; 0: off).
    pub fn new(capacity: usize) -> Self {
        Self {
            generations: RwLock::default(),
            per_generation: capacity.div_ceil(2),
        }
    }

    /// The claims of `token` if it was verified before and its times still hold at `now_secs`.
    pub fn get(&self, token: &str, now_secs: i64) -> Option<Arc<AccessClaims>> {
        let generations = self
            .generations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(claims) = generations.current.get(token) {
            return times_hold(claims, now_secs).then(|| Arc::clone(claims));
        }
        let claims = generations.previous.get(token)?;
        let claims = times_hold(claims, now_secs).then(|| Arc::clone(claims))?;
        drop(generations);
        self.insert(token, Arc::clone(&claims));
        Some(claims)
    }

    /// Remembers a token a full verify has just accepted.
    pub fn insert(&self, token: &str, claims: Arc<AccessClaims>) {
        if self.per_generation == 0 {
            return;
        }
        let mut generations = self
            .generations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if generations.current.len() >= self.per_generation {
            generations.previous = std::mem::take(&mut generations.current);
        }
        generations.current.insert(token.into(), claims);
    }

    /// How many tokens are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        let generations = self
            .generations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        generations.current.len() + generations.previous.len()
    }
}

/// The clock-dependent checks of a full verify, with its leeway: jsonwebtoken refuses
/// `exp < now - leeway` and `nbf > now + leeway`, and [`super::jwt`] refuses
/// `iat > now + leeway` (a clock set back must not let a cached token skip them).
fn times_hold(claims: &AccessClaims, now_secs: i64) -> bool {
    let leeway = LEEWAY_SECS as i64;
    claims.exp >= now_secs - leeway
        && claims.nbf <= now_secs + leeway
        && claims.iat <= now_secs + leeway
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JwtSecret;
    use crate::domain::Role;
    use crate::tokens::jwt::{JwtKeys, Subject};
    use std::time::Duration;
    use uuid::Uuid;

    fn keys(ttl_secs: u64) -> JwtKeys {
        let secret = JwtSecret::parse("JWT_SECRET", "k".repeat(16) + "0123456789abcdef").unwrap();
        JwtKeys::new(
            &secret,
            "doorward",
            "doorward",
            Duration::from_secs(ttl_secs),
        )
    }

    fn issue(keys: &JwtKeys, now: i64) -> String {
        let subject = Subject {
            user_id: "u1",
            email: "ada@example.com",
            role: Role::User,
            sid: Uuid::new_v4(),
            cutoff: 0,
        };
        keys.issue(subject, now).unwrap().token
    }

    /// The cache's answer must be the full verify's, at every moment of a token's life and
    /// around it: it is consulted with the claims the full verify returned when the token was
    /// first seen, then at later (and earlier: a clock set back) times.
    #[test]
    fn a_hit_is_refused_whenever_a_full_verify_would_be() {
        let keys = keys(60);
        let cache = VerifiedTokens::new(16);
        let now = chrono::Utc::now().timestamp();
        let token = issue(&keys, now);
        let claims = Arc::new(keys.verify(&token).unwrap());
        cache.insert(&token, Arc::clone(&claims));
        let leeway = LEEWAY_SECS as i64;
        for offset in -2 * leeway..=60 + 2 * leeway {
            let at = now + offset;
            let expected = claims.exp >= at - leeway && claims.nbf <= at + leeway;
            assert_eq!(
                cache.get(&token, at).is_some(),
                expected,
                "at now{offset:+}"
            );
        }
        // The full verify agrees now, and refuses once the leeway is past.
        assert!(cache.get(&token, now).is_some() && keys.verify(&token).is_ok());
        let expired = issue(&keys, now - 60 - leeway - 1);
        assert!(keys.verify(&expired).is_err());
        assert!(
            cache.get(&expired, now).is_none(),
            "never stored, never a hit"
        );
    }

    #[test]
    fn only_the_exact_bytes_hit() {
        let keys = keys(900);
        let cache = VerifiedTokens::new(16);
        let now = chrono::Utc::now().timestamp();
        let token = issue(&keys, now);
        cache.insert(&token, Arc::new(keys.verify(&token).unwrap()));
        let mut forged = token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(cache.get(&forged, now).is_none());
        assert!(cache.get(&format!("{token} "), now).is_none());
        assert!(cache.get(&token, now).is_some());
    }

    #[test]
    fn memory_is_bounded_and_tokens_in_use_stay() {
        let keys = keys(900);
        let cache = VerifiedTokens::new(8);
        let now = chrono::Utc::now().timestamp();
        let kept = issue(&keys, now);
        let claims = Arc::new(keys.verify(&kept).unwrap());
        cache.insert(&kept, Arc::clone(&claims));
        for _ in 0..100 {
            let other = issue(&keys, now);
            cache.insert(&other, Arc::clone(&claims));
            assert!(cache.get(&kept, now).is_some(), "a token in use ages out");
            assert!(cache.len() <= 8, "{}", cache.len());
        }
        let off = VerifiedTokens::new(0);
        off.insert(&kept, claims);
        assert_eq!(off.len(), 0);
    }
}
