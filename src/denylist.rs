//! Which verified access tokens are no longer accepted, answered from memory.
//!
//! Three kinds of revocation (contract §2): a denylisted `jti` (sign-out), a revoked family
//! `sid` (sign-out, reuse detection), and a per-user cut-off (tokens with `iat` before it: "log
//! out everywhere"). The database is the source of truth: every revocation is committed there
//! first, as an entry of the revocation log, then recorded here. At start the log's entries
//! that still matter are loaded, and every `DOORWARD_SYNC_INTERVAL` the entries after the last
//! one seen are merged in ([`crate::revocation_sync`]). Every entry carries the moment it may
//! be forgotten, so a later change of `ACCESS_TOKEN_TTL` cannot shorten it. Checking a token
//! takes one read lock and no allocation.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use uuid::Uuid;

use crate::db::models::{LogEntry, log_kind};
use crate::tokens::jwt::AccessClaims;

#[derive(Debug, Clone, Copy)]
struct Cutoff {
    /// Unix seconds: tokens with an earlier `iat` are refused.
    secs: i64,
    /// Unix ms.
    forget_at: i64,
}

#[derive(Default)]
struct Entries {
    /// `jti` → when it may be forgotten (Unix ms).
    jtis: HashMap<Uuid, i64>,
    /// `sid` → when it may be forgotten (Unix ms).
    families: HashMap<Uuid, i64>,
    /// user id → cut-off.
    cutoffs: HashMap<String, Cutoff>,
}

/// Keeps the later of two moments.
fn keep_later(map: &mut HashMap<Uuid, i64>, id: Uuid, forget_at: i64) {
    let entry = map.entry(id).or_insert(forget_at);
    *entry = (*entry).max(forget_at);
}

impl Entries {
    fn revoke_jti(&mut self, jti: &str, forget_at: i64) {
        if let Ok(jti) = Uuid::parse_str(jti) {
            keep_later(&mut self.jtis, jti, forget_at);
        }
    }

    fn revoke_family(&mut self, id: &str, forget_at: i64) {
        if let Ok(sid) = Uuid::parse_str(id) {
            keep_later(&mut self.families, sid, forget_at);
        }
    }

    fn set_cutoff(&mut self, user_id: &str, secs: i64, forget_at: i64) {
        let new = Cutoff { secs, forget_at };
        let current = self.cutoffs.entry(user_id.to_owned()).or_insert(new);
        current.secs = current.secs.max(secs);
        current.forget_at = current.forget_at.max(forget_at);
    }
}

/// The in-memory denylist, shared by every worker.
pub struct Denylist {
    entries: RwLock<Entries>,
    /// Bumped after every change, so open WebSockets re-check their session at once
    /// ([`crate::ws`]); token checks never touch it.
    changes: watch::Sender<u64>,
    /// When the last full read of the revocation log began (`None`: never), for `/readyz` and
    /// the sync-lag metric. Monotonic, so a wall clock stepped back or forward cannot make a
    /// stale list look current.
    synced_at: Mutex<Option<Instant>>,
}

impl Default for Denylist {
    fn default() -> Self {
        Self::new()
    }
}

impl Denylist {
    /// An empty list.
    pub fn new() -> Self {
        Self {
            entries: RwLock::default(),
            changes: watch::Sender::new(0),
            synced_at: Mutex::default(),
        }
    }

    /// Records that everything in the log written before `read_began` has been merged.
    pub fn mark_synced(&self, read_began: Instant) {
        let mut synced_at = self
            .synced_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *synced_at = Some(synced_at.map_or(read_began, |at| at.max(read_began)));
    }

    /// How long ago the log was last read in full; `None` before the first read.
    pub fn synced_ago(&self) -> Option<Duration> {
        let synced_at = self
            .synced_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        synced_at.map(|at| at.elapsed())
    }

    /// Wakes whoever waits on [`Self::subscribe`] once a change is recorded.
    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that wakes after every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Why a verified token is refused, or `None` when it is still good.
    pub fn refusal(&self, claims: &AccessClaims) -> Option<&'static str> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        if entries.jtis.contains_key(&claims.jti) {
            return Some("the token has been revoked");
        }
        if entries.families.contains_key(&claims.sid) {
            return Some("the session has been revoked");
        }
        if entries
            .cutoffs
            .get(claims.sub.as_str())
            .is_some_and(|cutoff| claims.iat < cutoff.secs)
        {
            return Some("the session has been signed out everywhere");
        }
        None
    }

    /// Records a denylisted `jti` until `forget_at_ms`.
    pub fn revoke_jti(&self, jti: Uuid, forget_at_ms: i64) {
        keep_later(&mut self.write().jtis, jti, forget_at_ms);
        self.changed();
    }

    /// Records revoked families (ids that are not UUIDs cannot be in any token and are skipped).
    pub fn revoke_families<'a>(&self, ids: impl IntoIterator<Item = &'a str>, forget_at_ms: i64) {
        let mut entries = self.write();
        for id in ids {
            entries.revoke_family(id, forget_at_ms);
        }
        drop(entries);
        self.changed();
    }

    /// Records a user's cut-off, keeping the later one.
    pub fn set_cutoff(&self, user_id: &str, cutoff_secs: i64, forget_at_ms: i64) {
        self.write().set_cutoff(user_id, cutoff_secs, forget_at_ms);
        self.changed();
    }

    /// Merges revocation-log entries (at start, and from other instances) under one write
    /// lock, so a sync does not make token checks queue once per entry. Entries that revoke
    /// nothing (user changes) are the user cache's business and skipped here.
    pub fn merge(&self, log: &[LogEntry]) {
        let mut entries = self.write();
        for entry in log {
            match entry.kind.as_str() {
                log_kind::JTI => entries.revoke_jti(&entry.subject, entry.forget_at),
                log_kind::FAMILY => entries.revoke_family(&entry.subject, entry.forget_at),
                log_kind::CUTOFF => {
                    entries.set_cutoff(&entry.subject, entry.value, entry.forget_at);
                }
                _ => {}
            }
        }
        drop(entries);
        if !log.is_empty() {
            self.changed();
        }
    }

    /// Forgets entries that can no longer match a token that verifies.
    pub fn purge(&self, now_ms: i64) {
        let mut entries = self.write();
        entries.jtis.retain(|_, forget_at| *forget_at > now_ms);
        entries.families.retain(|_, forget_at| *forget_at > now_ms);
        entries
            .cutoffs
            .retain(|_, cutoff| cutoff.forget_at > now_ms);
    }

    /// How many entries are held, for logs and tests.
    pub fn len(&self) -> usize {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.jtis.len() + entries.families.len() + entries.cutoffs.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::tokens::jwt::Audience;

    fn claims(iat: i64) -> AccessClaims {
        AccessClaims {
            iss: "doorward".into(),
            aud: Audience::One("doorward".into()),
            sub: "u1".into(),
            email: "a@x.io".into(),
            role: Role::User,
            sid: Uuid::new_v4(),
            iat,
            nbf: iat,
            exp: iat + 900,
            jti: Uuid::new_v4(),
        }
    }

    #[test]
    fn each_kind_of_revocation_refuses_the_token() {
        let list = Denylist::new();
        let c = claims(1_000);
        assert_eq!(list.refusal(&c), None);
        list.revoke_jti(c.jti, 2_000_000);
        assert!(list.refusal(&c).is_some());

        let c = claims(1_000);
        list.revoke_families([c.sid.to_string().as_str()], 1_000_000);
        assert!(list.refusal(&c).is_some());

        let c = claims(1_000);
        list.set_cutoff("u1", 1_001, i64::MAX);
        assert!(list.refusal(&c).is_some());
        assert_eq!(list.refusal(&claims(1_001)), None);
        list.set_cutoff("u1", 900, i64::MAX);
        assert!(
            list.refusal(&claims(1_000)).is_some(),
            "a cut-off never moves back"
        );
    }

    #[test]
    fn purge_forgets_only_what_cannot_matter() {
        let list = Denylist::new();
        list.revoke_jti(Uuid::new_v4(), 5_000);
        list.revoke_families(["00000000-0000-0000-0000-000000000001"], 5_500);
        list.set_cutoff("u1", 4, 5_000);
        list.purge(4_999);
        assert_eq!(list.len(), 3);
        list.purge(6_000);
        assert!(list.is_empty());
    }
}
