//! Accounts as the rest of doorward sees them: the public [`User`], a [`NewAccount`] about to
//! be stored, and the [`UserCache`] that keeps `GET /api/me` off the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use actix_web::web::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::models::{NewUser, UserRow};
use crate::domain::Role;

/// The public view of an account (contract §3, `User`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct User {
    /// Id, as a string.
    pub id: String,
    /// Canonical email.
    pub email: String,
    /// Display name, `null` when none.
    pub name: Option<String>,
    /// Role.
    pub role: Role,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Whether the address was confirmed by a mailed link.
    pub email_verified: bool,
}

/// Unix ms as RFC 3339 (UTC, whole seconds), as every time in a JSON answer is written.
pub fn rfc3339(unix_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(unix_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl From<&UserRow> for User {
    fn from(row: &UserRow) -> Self {
        Self {
            id: row.id.clone(),
            email: row.email.clone(),
            name: row.name.clone(),
            role: Role::from_stored(&row.role),
            created_at: rfc3339(row.created_at),
            email_verified: row.email_verified_at.is_some(),
        }
    }
}

/// A validated registration whose password is hashed: everything the account's row needs.
/// Registration stores it together with the account's first session.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// A fresh id.
    pub id: String,
    /// Canonical email.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// The bcrypt hash.
    pub password_hash: String,
    /// Unix ms.
    pub created_at: i64,
}

impl NewAccount {
    /// The row to insert; every new account has the `user` role.
    pub fn row(&self) -> NewUser<'_> {
        NewUser {
            id: &self.id,
            email: &self.email,
            name: self.name.as_deref(),
            role: Role::User.as_str(),
            password_hash: &self.password_hash,
            created_at: self.created_at,
        }
    }

    /// The public view of the account once stored.
    pub fn user(&self) -> User {
        User {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            role: Role::User,
            created_at: rfc3339(self.created_at),
            email_verified: false,
        }
    }
}

/// Users seen recently, by id. An entry is dropped when the account changes: every change to a
/// user's email, name or role, and every deletion, is written to the revocation log by a
/// database trigger, whoever makes it, and each instance's sync forgets those users.
#[derive(Default)]
pub struct UserCache {
    users: RwLock<HashMap<String, Cached>>,
    /// Bumped on every eviction, so a row read before an eviction is never cached after it.
    evictions: AtomicU64,
}

/// A cached user, with its JSON written once: `GET /api/me` answers with a copy of the bytes.
struct Cached {
    user: Arc<User>,
    json: Bytes,
}

/// A moment in the cache's history, taken before reading a user from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheGeneration(u64);

impl UserCache {
    /// The most users held before the cache starts over.
    const CAPACITY: usize = 100_000;

    /// A cached user.
    pub fn get(&self, user_id: &str) -> Option<Arc<User>> {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        users.get(user_id).map(|cached| Arc::clone(&cached.user))
    }

    /// A cached user as contract §3's `User` JSON, shared, not copied.
    pub fn json(&self, user_id: &str) -> Option<Bytes> {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        users.get(user_id).map(|cached| cached.json.clone())
    }

    /// Take this before reading a user, and pass it to [`Self::remember`].
    pub fn generation(&self) -> CacheGeneration {
        CacheGeneration(self.evictions.load(Ordering::Acquire))
    }

    /// Caches `user`, read from the database after `read_at`, unless an eviction happened
    /// since (the row may predate the change that caused it). Returns the shared view.
    pub fn remember(&self, user: User, read_at: CacheGeneration) -> Arc<User> {
        let user = Arc::new(user);
        // A `User` is strings and an enum: serializing it cannot fail.
        let Ok(json) = serde_json::to_vec(&*user) else {
            return user;
        };
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation() != read_at {
            return user;
        }
        if users.len() >= Self::CAPACITY {
            users.clear();
        }
        let cached = Cached {
            user: Arc::clone(&user),
            json: Bytes::from(json),
        };
        users.insert(user.id.clone(), cached);
        user
    }

    /// Drops changed or deleted users.
    pub fn forget<'a>(&self, user_ids: impl IntoIterator<Item = &'a str>) {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        self.evictions.fetch_add(1, Ordering::AcqRel);
        for id in user_ids {
            users.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> User {
        User {
            id: "u1".into(),
            email: "a@x.io".into(),
            name: Some(name.into()),
            role: Role::User,
            created_at: rfc3339(0),
            email_verified: false,
        }
    }

    #[test]
    fn a_row_read_before_an_eviction_is_not_cached_after_it() {
        let cache = UserCache::default();
        let before = cache.generation();
        cache.forget(["u1"]);
        cache.remember(user("old"), before);
        assert!(cache.get("u1").is_none());
        cache.remember(user("new"), cache.generation());
        assert_eq!(
            cache.get("u1").and_then(|u| u.name.clone()).as_deref(),
            Some("new")
        );
        cache.forget(["u1"]);
        assert!(cache.get("u1").is_none());
    }
}
