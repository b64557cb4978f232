//! Row types (read) and input types (written), one pair per table.

use diesel::prelude::*;

use super::schema::{refresh_families, refresh_tokens, revoked_tokens, users};

/// A `users` row. Its `Debug` leaves out the password hash.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    /// UUID, as text.
    pub id: String,
    /// Canonical (trimmed, lower-cased) email.
    pub email: String,
    /// Optional display name.
    pub name: Option<String>,
    /// `user` or `admin`.
    pub role: String,
    /// bcrypt hash.
    pub password_hash: String,
    /// Unix ms.
    pub created_at: i64,
    /// "Log out everywhere" cut-off, Unix seconds.
    pub tokens_valid_after: i64,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A new account.
#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// UUID, as text.
    pub id: &'a str,
    /// Canonical email.
    pub email: &'a str,
    /// Optional display name.
    pub name: Option<&'a str>,
    /// `user` or `admin`.
    pub role: &'a str,
    /// bcrypt hash.
    pub password_hash: &'a str,
    /// Unix ms.
    pub created_at: i64,
}

/// A `refresh_families` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_families)]
pub struct FamilyRow {
    /// UUID (the access token's `sid`).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Unix ms of the sign-in.
    pub created_at: i64,
    /// Absolute end of the family (`SESSION_MAX_AGE`), Unix ms.
    pub expires_at: i64,
    /// When it was revoked, Unix ms.
    pub revoked_at: Option<i64>,
}

/// A new family, begun by a sign-in.
#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_families)]
pub struct NewFamily<'a> {
    /// UUID.
    pub id: &'a str,
    /// Owner.
    pub user_id: &'a str,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
}

/// A `refresh_tokens` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenRow {
    /// SHA-256 of the token, base64url.
    pub token_hash: String,
    /// Family.
    pub family_id: String,
    /// Owner (copied from the family, to lock the user first).
    pub user_id: String,
    /// Unix ms.
    pub issued_at: i64,
    /// Unix ms; never past the family's end.
    pub expires_at: i64,
    /// When it was first rotated, Unix ms.
    pub rotated_at: Option<i64>,
    /// The hash of the token it was first rotated into.
    pub replaced_by: Option<String>,
}

/// A new refresh token.
#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct NewRefreshToken<'a> {
    /// SHA-256 of the token, base64url.
    pub token_hash: &'a str,
    /// Family.
    pub family_id: &'a str,
    /// Owner.
    pub user_id: &'a str,
    /// Unix ms.
    pub issued_at: i64,
    /// Unix ms.
    pub expires_at: i64,
    /// The token it was rotated from; `None` at sign-in.
    pub parent_hash: Option<&'a str>,
}

/// A denylisted access token.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = revoked_tokens)]
pub struct RevokedTokenRow {
    /// The token's `jti`.
    pub jti: String,
    /// `exp` + leeway, Unix ms: after this the row can go.
    pub expires_at: i64,
    /// Unix ms.
    pub revoked_at: i64,
}
