//! Row types (read) and input types (written), one pair per table.

use diesel::prelude::*;

use super::schema::{audit_events, refresh_families, refresh_tokens, revocation_log, users};

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
    /// When the email was verified, Unix ms.
    pub email_verified_at: Option<i64>,
    /// When an operator disabled the account, Unix ms.
    pub disabled_at: Option<i64>,
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

/// The columns of a `refresh_families` row that rotation reads.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_families)]
pub struct FamilyRow {
    /// UUID (the access token's `sid`).
    pub id: String,
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
    /// The sign-in's `User-Agent`, cut to [`SessionRow::USER_AGENT_CHARS`].
    pub user_agent: Option<&'a str>,
    /// The sign-in's client address, as throttling sees it.
    pub client_ip: Option<&'a str>,
}

/// A live session as its owner sees it (`GET /api/sessions`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_families)]
pub struct SessionRow {
    /// UUID (`sid`).
    pub id: String,
    /// Unix ms.
    pub created_at: i64,
    /// The last rotation, Unix ms; `None` before the first.
    pub last_used_at: Option<i64>,
    /// As sent at the sign-in.
    pub user_agent: Option<String>,
    /// As seen at the sign-in.
    pub client_ip: Option<String>,
}

impl SessionRow {
    /// The most of a `User-Agent` kept.
    pub const USER_AGENT_CHARS: usize = 256;
}

/// The columns of a `refresh_tokens` row that rotation reads.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenRow {
    /// Family.
    pub family_id: String,
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

/// What a revocation-log entry revokes (the `kind` column).
pub mod log_kind {
    /// One access token, by `jti`.
    pub const JTI: &str = "jti";
    /// One session, by family id (`sid`).
    pub const FAMILY: &str = "family";
    /// Every token of a user issued before `value` (Unix seconds): "log out everywhere".
    pub const CUTOFF: &str = "cutoff";
    /// Not a revocation: the user's email, name or role changed, or the account was deleted;
    /// caches forget it. Written by database triggers.
    pub const USER: &str = "user";
}

/// A `revocation_log` row: the one feed every instance follows, in commit order.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = revocation_log)]
pub struct LogEntry {
    /// Assigned by the database; commit order (see `repo::revocations`).
    pub seq: i64,
    /// One of [`log_kind`].
    pub kind: String,
    /// The `jti`, family id or user id.
    pub subject: String,
    /// The cut-off in Unix seconds for [`log_kind::CUTOFF`], else 0.
    pub value: i64,
    /// Unix ms after which the entry can no longer matter.
    pub forget_at: i64,
}

/// A new revocation-log entry.
#[derive(Debug, Insertable)]
#[diesel(table_name = revocation_log)]
pub struct NewLogEntry<'a> {
    /// One of [`log_kind`].
    pub kind: &'static str,
    /// The `jti`, family id or user id.
    pub subject: &'a str,
    /// See [`LogEntry::value`].
    pub value: i64,
    /// Unix ms.
    pub forget_at: i64,
}

/// An `audit_events` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    /// Ascending: the order events were recorded in.
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    /// What happened (`crate::audit::AuditKind`).
    pub kind: String,
    /// Whose account, when known.
    pub user_id: Option<String>,
    /// Which session (`sid`), when one was involved.
    pub session_id: Option<String>,
    /// The client's address as doorward saw it (after `DOORWARD_TRUSTED_PROXIES`).
    pub ip: Option<String>,
    /// The client's `User-Agent`, cut to 256 characters.
    pub user_agent: Option<String>,
    /// A word or two more: a failure's reason, a new role, who acted.
    pub detail: Option<String>,
}

/// A new `audit_events` row.
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent<'a> {
    /// Unix ms.
    pub at: i64,
    /// See [`AuditRow::kind`].
    pub kind: &'static str,
    /// See [`AuditRow::user_id`].
    pub user_id: Option<&'a str>,
    /// See [`AuditRow::session_id`].
    pub session_id: Option<&'a str>,
    /// See [`AuditRow::ip`].
    pub ip: Option<&'a str>,
    /// See [`AuditRow::user_agent`].
    pub user_agent: Option<&'a str>,
    /// See [`AuditRow::detail`].
    pub detail: Option<&'a str>,
}
