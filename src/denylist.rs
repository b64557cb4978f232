//! Which verified access tokens are no longer accepted, answered from memory.
//!
//! Three kinds of revocation (contract §2): a denylisted `jti` (sign-out), a revoked family
//! `sid` (sign-out, reuse detection, "log out everywhere"), and a per-user cut-off (tokens with
//! `iat` before it). The database is the source of truth: every revocation is committed there
//! first, then recorded here. At start the unexpired entries are loaded, and every
//! `DOORWARD_SYNC_INTERVAL` the entries written by other instances are merged in
//! (`startup::sync_denylist`). Checking a token takes one read lock and no allocation.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use uuid::Uuid;

use crate::db::repo::RevocationsSince;
use crate::tokens::jwt::AccessClaims;

#[derive(Default)]
struct Entries {
    /// `jti` → when it may be forgotten (Unix ms).
    jtis: HashMap<Uuid, i64>,
    /// `sid` → when it may be forgotten (Unix ms).
    families: HashMap<Uuid, i64>,
    /// user id → cut-off (Unix seconds).
    cutoffs: HashMap<String, i64>,
}

impl Entries {
    fn revoke_family(&mut self, id: &str, forget_at_ms: i64) {
        if let Ok(sid) = Uuid::parse_str(id) {
            self.families.insert(sid, forget_at_ms);
        }
    }

    fn set_cutoff(&mut self, user_id: &str, cutoff_secs: i64) {
        let current = self
            .cutoffs
            .entry(user_id.to_owned())
            .or_insert(cutoff_secs);
        *current = (*current).max(cutoff_secs);
    }
}

/// The in-memory denylist, shared by every worker.
pub struct Denylist {
    entries: RwLock<Entries>,
    /// How long a revoked family must be remembered: the longest an access token can live.
    family_memory_ms: i64,
}

impl Denylist {
    /// An empty list; `family_memory_ms` is the access-token lifetime plus leeway.
    pub fn new(family_memory_ms: i64) -> Self {
        Self {
            entries: RwLock::default(),
            family_memory_ms,
        }
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
            .is_some_and(|&cutoff| claims.iat < cutoff)
        {
            return Some("the session has been signed out everywhere");
        }
        None
    }

    /// Records a denylisted `jti` until `forget_at_ms`.
    pub fn revoke_jti(&self, jti: Uuid, forget_at_ms: i64) {
        self.write().jtis.insert(jti, forget_at_ms);
    }

    /// Records revoked families (ids that are not UUIDs cannot be in any token and are skipped).
    pub fn revoke_families<'a>(&self, ids: impl IntoIterator<Item = &'a str>, revoked_at_ms: i64) {
        let mut entries = self.write();
        for id in ids {
            entries.revoke_family(id, revoked_at_ms + self.family_memory_ms);
        }
    }

    /// Records a user's cut-off, keeping the later one.
    pub fn set_cutoff(&self, user_id: &str, cutoff_secs: i64) {
        self.write().set_cutoff(user_id, cutoff_secs);
    }

    /// Merges revocations read from the database (at start, and from other instances), under
    /// one write lock, so a sync does not make token checks queue once per row.
    pub fn merge(&self, found: RevocationsSince) {
        let mut entries = self.write();
        for (jti, expires_at) in found.jtis {
            if let Ok(jti) = Uuid::parse_str(&jti) {
                entries.jtis.insert(jti, expires_at);
            }
        }
        for (id, revoked_at) in &found.families {
            entries.revoke_family(id, revoked_at + self.family_memory_ms);
        }
        for (user_id, cutoff) in &found.cutoffs {
            entries.set_cutoff(user_id, *cutoff);
        }
    }

    /// Forgets entries that can no longer match a token that verifies.
    pub fn purge(&self, now_ms: i64) {
        let horizon_secs = (now_ms - self.family_memory_ms).div_euclid(1000);
        let mut entries = self.write();
        entries.jtis.retain(|_, forget_at| *forget_at > now_ms);
        entries.families.retain(|_, forget_at| *forget_at > now_ms);
        entries.cutoffs.retain(|_, cutoff| *cutoff > horizon_secs);
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
        let list = Denylist::new(930_000);
        let c = claims(1_000);
        assert_eq!(list.refusal(&c), None);
        list.revoke_jti(c.jti, 2_000_000);
        assert!(list.refusal(&c).is_some());

        let c = claims(1_000);
        list.revoke_families([c.sid.to_string().as_str()], 1_000_000);
        assert!(list.refusal(&c).is_some());

        let c = claims(1_000);
        list.set_cutoff("u1", 1_001);
        assert!(list.refusal(&c).is_some());
        assert_eq!(list.refusal(&claims(1_001)), None);
        list.set_cutoff("u1", 900);
        assert!(
            list.refusal(&claims(1_000)).is_some(),
            "a cut-off never moves back"
        );
    }

    #[test]
    fn purge_forgets_only_what_cannot_matter() {
        let list = Denylist::new(1_000);
        list.revoke_jti(Uuid::new_v4(), 5_000);
        list.revoke_families(["00000000-0000-0000-0000-000000000001"], 4_500);
        list.set_cutoff("u1", 4);
        list.purge(4_999);
        assert_eq!(list.len(), 3);
        list.purge(6_000);
        assert!(list.is_empty());
    }
}
