//! Access tokens already verified, remembered by their exact bytes: a client sends the same
//! token on every request for its lifetime, and checking the signature, header and claims
//! again each time is most of the hot path's cost.
//!
//! Only what a full verify ([`super::jwt::JwtKeys::verify`]) accepted is ever stored, with its
//! decoded claims. A hit re-checks every claim that depends on the clock (`exp`, `nbf`, `iat`,
//! with the same leeway), so the cache never accepts a token a full verify would refuse;
//! revocation (`jti`, `sid`, cut-off) is the denylist's, checked after this on every request.
//! A hit needs the whole token to be equal, so a token that differs in one byte (a forged
//! signature) is a miss and gets the full verify.
//!
//! The table is hashed on the token's last [`HASHED_TAIL`] bytes only, the end of its signature:
//! every stored token passed the signature check, so those bytes are a MAC nobody can choose,
//! and hashing them (with a per-process random key) spreads entries as well as hashing the
//! whole ~450 bytes, at a thirtieth of the cost. A presented token that shares a stored tail
//! costs one extra comparison, no more.
//!
//! Memory is bounded by two generations of at most half the capacity each: when the current one
//! is full it becomes the previous one and the old previous one is dropped, so tokens in use
//! stay (a hit in the previous generation moves the token forward) and the rest age out.

use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock};

use hashbrown::HashTable;

use super::jwt::{AccessClaims, LEEWAY_SECS};

/// How many of a token's last bytes are hashed: 16 base64url characters, 96 bits of MAC.
const HASHED_TAIL: usize = 16;

struct Entry {
    token: Box<[u8]>,
    claims: Arc<AccessClaims>,
}

#[derive(Default)]
struct Generations {
    current: HashTable<Entry>,
    previous: HashTable<Entry>,
}

/// The verified-token cache, shared by every worker.
pub struct VerifiedTokens {
    generations: RwLock<Generations>,
    hasher: RandomState,
    /// Entries per generation; 0 turns the cache off.
    per_generation: usize,
}

impl VerifiedTokens {
    /// A cache holding at most `capacity` tokens (`DOORWARD_TOKEN_CACHE_SIZE`; 0: off).
    pub fn new(capacity: usize) -> Self {
        Self {
            generations: RwLock::default(),
            hasher: RandomState::new(),
            per_generation: capacity.div_ceil(2),
        }
    }

    fn hash(&self, token: &[u8]) -> u64 {
        self.hasher
            .hash_one(&token[token.len().saturating_sub(HASHED_TAIL)..])
    }

    /// The claims of `token` (its exact bytes, as presented) if it was verified before and its
    /// times still hold at `now_secs`.
    pub fn get(&self, token: &[u8], now_secs: i64) -> Option<Arc<AccessClaims>> {
        let hash = self.hash(token);
        let is_token = |entry: &Entry| *entry.token == *token;
        let generations = self
            .generations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = generations.current.find(hash, is_token) {
            return times_hold(&entry.claims, now_secs).then(|| Arc::clone(&entry.claims));
        }
        let entry = generations.previous.find(hash, is_token)?;
        let claims = times_hold(&entry.claims, now_secs).then(|| Arc::clone(&entry.claims))?;
        drop(generations);
        self.insert(token, Arc::clone(&claims));
        Some(claims)
    }

    /// Remembers a token a full verify has just accepted.
    pub fn insert(&self, token: impl AsRef<[u8]>, claims: Arc<AccessClaims>) {
        if self.per_generation == 0 {
            return;
        }
        let token = token.as_ref();
        let hash = self.hash(token);
        let mut generations = self
            .generations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if generations.current.len() >= self.per_generation {
            generations.previous = std::mem::take(&mut generations.current);
        }
        let rehash = |entry: &Entry| self.hash(&entry.token);
        match generations
            .current
            .entry(hash, |entry| *entry.token == *token, rehash)
        {
            hashbrown::hash_table::Entry::Occupied(mut found) => found.get_mut().claims = claims,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(Entry {
                    token: token.into(),
                    claims,
                });
            }
        }
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
                cache.get(token.as_bytes(), at).is_some(),
                expected,
                "at now{offset:+}"
            );
        }
        // The full verify agrees now, and refuses once the leeway is past.
        assert!(cache.get(token.as_bytes(), now).is_some() && keys.verify(&token).is_ok());
        let expired = issue(&keys, now - 60 - leeway - 1);
        assert!(keys.verify(&expired).is_err());
        assert!(
            cache.get(expired.as_bytes(), now).is_none(),
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
        assert!(cache.get(forged.as_bytes(), now).is_none());
        assert!(cache.get(format!("{token} ").as_bytes(), now).is_none());
        // The same hashed tail with another head: one bucket, still a miss.
        let head = if token.starts_with('e') { "f" } else { "e" };
        let same_tail = format!("{head}{}", &token[1..]);
        assert!(cache.get(same_tail.as_bytes(), now).is_none());
        assert!(cache.get(token.as_bytes(), now).is_some());
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
            assert!(
                cache.get(kept.as_bytes(), now).is_some(),
                "a token in use ages out"
            );
            assert!(cache.len() <= 8, "{}", cache.len());
        }
        let off = VerifiedTokens::new(0);
        off.insert(&kept, claims);
        assert_eq!(off.len(), 0);
    }
}
