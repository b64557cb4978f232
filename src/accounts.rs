//! Accounts: registration, password sign-in, and the user cache that keeps `GET /api/me` off
//! the database. Transport-agnostic: the JSON routes, the cookie routes and the pages all call
//! these functions, and only differ in how they answer.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db::models::UserRow;
use crate::db::repo;
use crate::domain::{DisplayName, Email, Password, Role};
use crate::error::{AppError, FieldErrors};
use crate::startup::AppState;

/// The public view of an account (contract §3, `User`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
    pub created_at: String,
}

impl From<&UserRow> for User {
    fn from(row: &UserRow) -> Self {
        Self {
            id: row.id.clone(),
            email: row.email.clone(),
            name: row.name.clone(),
            role: Role::from_stored(&row.role),
            created_at: DateTime::<Utc>::from_timestamp_millis(row.created_at)
                .unwrap_or_default()
                .to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

/// A validated registration request.
#[derive(Debug)]
pub struct Registration {
    /// Canonical email.
    pub email: Email,
    /// The new password.
    pub password: Password,
    /// Optional display name.
    pub name: Option<DisplayName>,
}

impl Registration {
    /// Validates raw fields; every problem is reported at once, per field.
    pub fn parse(
        email: Option<&str>,
        password: Option<&str>,
        name: Option<&str>,
        mut errors: FieldErrors,
    ) -> Result<Self, AppError> {
        let email = email.and_then(|raw| {
            Email::parse(raw)
                .map_err(|problem| errors.add("email", problem))
                .ok()
        });
        let password = password.and_then(|raw| {
            Password::parse_new(raw)
                .map_err(|problems| problems.into_iter().for_each(|p| errors.add("password", p)))
                .ok()
        });
        let name = name
            .map(|raw| DisplayName::parse(raw).map_err(|problem| errors.add("name", problem)))
            .transpose()
            .ok()
            .flatten()
            .flatten();
        match (email, password) {
            (Some(email), Some(password)) if errors.is_empty() => Ok(Self {
                email,
                password,
                name,
            }),
            _ => Err(AppError::Validation(errors)),
        }
    }
}

/// Hashes the password and prepares the account's row; `sessions::start_for_new_account`
/// stores it together with its first session.
pub async fn new_account(
    state: &AppState,
    registration: Registration,
) -> Result<UserRow, AppError> {
    let password_hash = state.hasher.hash(registration.password).await?;
    Ok(UserRow {
        id: Uuid::new_v4().to_string(),
        email: registration.email.as_ref().to_owned(),
        name: registration.name.map(|n| n.as_ref().to_owned()),
        role: Role::User.as_str().to_owned(),
        password_hash,
        created_at: Utc::now().timestamp_millis(),
        tokens_valid_after: 0,
    })
}

/// Checks an email and password. Unknown emails, malformed emails and wrong passwords all take
/// one bcrypt verification and answer the same [`AppError::InvalidCredentials`].
pub async fn authenticate(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<UserRow, AppError> {
    let password = Password::parse_presented(password);
    let row = match Email::parse(email) {
        Ok(email) => {
            state
                .db
                .run(move |conn| repo::find_user_by_email(conn, email.as_ref()))
                .await?
        }
        Err(_) => None,
    };
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let verified = state.hasher.verify(password.clone(), stored).await?;
    let (Some(row), true, Some(password)) = (row, verified, password) else {
        return Err(AppError::InvalidCredentials);
    };
    if state.hasher.needs_rehash(&row.password_hash) {
        rehash(state, &row.id, password).await;
    }
    state.users.remember(&row);
    Ok(row)
}

/// Upgrades a hash made at another cost; a failure only delays the upgrade to the next login.
async fn rehash(state: &AppState, user_id: &str, password: Password) {
    let user_id = user_id.to_owned();
    let outcome = match state.hasher.hash(password).await {
        Ok(hash) => {
            state
                .db
                .run(move |conn| repo::update_password_hash(conn, &user_id, &hash))
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        log::warn!("password rehash deferred: {e}");
    }
}

/// The user behind a verified token: from the cache, else read through from the database.
pub async fn find_user(state: &AppState, user_id: &str) -> Result<Arc<User>, AppError> {
    if let Some(user) = state.users.get(user_id) {
        return Ok(user);
    }
    let id = user_id.to_owned();
    let row = state
        .db
        .run(move |conn| repo::find_user_by_id(conn, &id))
        .await?
        .ok_or(AppError::InvalidToken("the account no longer exists"))?;
    Ok(state.users.remember(&row))
}

/// Users seen recently, by id. Accounts never change their email, role or name through
/// doorward, so entries never go stale; the map is simply emptied when it grows too large.
#[derive(Default)]
pub struct UserCache {
    users: RwLock<HashMap<String, Arc<User>>>,
}

impl UserCache {
    /// The most users held before the cache starts over.
    const CAPACITY: usize = 100_000;

    /// A cached user.
    pub fn get(&self, user_id: &str) -> Option<Arc<User>> {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        users.get(user_id).cloned()
    }

    /// Caches a user read from the database, returning the cached view.
    pub fn remember(&self, row: &UserRow) -> Arc<User> {
        let user = Arc::new(User::from(row));
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        if users.len() >= Self::CAPACITY {
            users.clear();
        }
        users.insert(row.id.clone(), Arc::clone(&user));
        user
    }
}
