//! The audit log: every security event, with when, whose, which session, from which address
//! and user agent, and never a secret (no password, token, hash or attempted email).
//!
//! An event is written right after the action it records has committed, by the same blocking
//! job ([`write_after`]): a client that goes away mid-request drops the request's future, never
//! the job, so an action cannot commit without its event. The event is a statement of its
//! own: an audit write that fails is logged and leaves the action standing (it was done; the
//! client is told so). Actions that change nothing (revoking what is revoked already) write
//! nothing, and throttled requests are counted by `/metrics`, not written here, so a flood
//! costs no writes.

use chrono::DateTime;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::models::{AuditRow, NewAuditEvent};
use crate::db::{Db, DbConn, DbError, repo};
use crate::domain::Email;
use crate::extractors::client_ip::Client;
use crate::state::now_ms;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// An account was registered (`/auth/register`, the cookie route, the page).
    Register,
    /// A password sign-in succeeded.
    SignIn,
    /// A password sign-in failed; `detail` says why.
    SignInFailed,
    /// A refresh token was rotated.
    Refresh,
    /// A rotated refresh token came back: its session was revoked.
    RefreshReuseDetected,
    /// A session was ended by signing out (or by RFC 7009 revocation of its refresh token).
    SignOut,
    /// An access token was revoked on its own (RFC 7009), its session going on.
    TokenRevoked,
    /// Every session of the user ended ("log out everywhere", or an operator's revoke).
    SignOutEverywhere,
    /// The password was changed by its owner.
    PasswordChanged,
    /// A password change gave the wrong current password (a stolen token guessing it?).
    PasswordChangeFailed,
    /// The password was reset from a mailed link.
    PasswordReset,
    /// One session was ended from the sessions list, or by an operator.
    SessionRevoked,
    /// An operator created the account.
    UserCreated,
    /// An operator changed the account's role; `detail` is the new one.
    RoleChanged,
    /// An operator disabled the account.
    UserDisabled,
    /// An operator enabled it again.
    UserEnabled,
}

impl AuditKind {
    /// The stored and listed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::Refresh => "refresh",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::SignOut => "sign_out",
            Self::TokenRevoked => "token_revoked",
            Self::SignOutEverywhere => "sign_out_everywhere",
            Self::PasswordChanged => "password_changed",
            Self::PasswordChangeFailed => "password_change_failed",
            Self::PasswordReset => "password_reset",
            Self::SessionRevoked => "session_revoked",
            Self::UserCreated => "user_created",
            Self::RoleChanged => "role_changed",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
        }
    }
}

/// Whose event it is, as the caller knows it; resolved to a user id when written.
#[derive(Debug, Clone)]
enum Whose {
    /// An account id.
    User(String),
    /// The owner of this session (a refresh token's family), looked up.
    SessionOwner,
    /// The account with this email, if any (a failed sign-in): looked up, and never stored.
    Email(String),
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    kind: AuditKind,
    whose: Whose,
    session_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<&'static str>,
}

impl AuditEvent {
    /// `kind` for the account `user_id`.
    pub fn of_user(kind: AuditKind, user_id: impl Into<String>) -> Self {
        Self {
            kind,
            whose: Whose::User(user_id.into()),
            session_id: None,
            ip: None,
            user_agent: None,
            detail: None,
        }
    }

    /// `kind` for whoever owns the session `session_id`.
    pub fn of_session(kind: AuditKind, session_id: impl Into<String>) -> Self {
        Self {
            session_id: Some(session_id.into()),
            whose: Whose::SessionOwner,
            ..Self::of_user(kind, String::new())
        }
    }

    /// A failed sign-in as `email`: the account's id is recorded if the email has one, the
    /// email itself never (it may be a password typed in the wrong field).
    pub fn failed_sign_in(email: &str, reason: &'static str) -> Self {
        Self {
            whose: Whose::Email(email.to_owned()),
            detail: Some(reason),
            ..Self::of_user(AuditKind::SignInFailed, String::new())
        }
    }

    /// In the session `session_id`.
    pub fn in_session(mut self, session_id: impl ToString) -> Self {
        self.session_id = Some(session_id.to_string());
        self
    }

    /// Sent by `client`: its address and user agent.
    pub fn sent_by(mut self, client: &Client) -> Self {
        self.ip = Some(client.ip.address().to_string());
        self.user_agent = client.user_agent.clone();
        self
    }

    /// With a fixed word of detail.
    pub fn detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Done from the command line: `detail` is `operator` unless already set (a new role).
    pub fn by_operator(mut self) -> Self {
        self.detail.get_or_insert("operator");
        self
    }
}

/// Records an event that no database action goes with (a refused sign-in or password change);
/// a failure is logged, never returned.
pub async fn record(db: &Db, event: AuditEvent) {
    let kind = event.kind.as_str();
    let written = db.run(move |conn| {
        write_after(conn, &[event]);
        Ok(())
    });
    if let Err(e) = written.await {
        log::warn!(
            "audit event {kind} not recorded: {}",
            crate::error::error_chain(&e)
        );
    }
}

/// Runs `action` as [`Db::run`] does, then, in the same blocking job, writes the events
/// `audited` names for what it did: a client that goes away cannot separate the two.
pub async fn run_audited<T, F, A>(db: &Db, action: F, audited: A) -> Result<T, DbError>
where
    F: FnOnce(&mut DbConn) -> diesel::QueryResult<T> + Send + 'static,
    A: FnOnce(&T) -> Vec<AuditEvent> + Send + 'static,
    T: Send + 'static,
{
    db.run(move |conn| {
        let done = action(conn)?;
        write_after(conn, &audited(&done));
        Ok(done)
    })
    .await
}

/// Writes `events` on `conn` (in one transaction), after the action they record committed on
/// it. A failure is logged, never returned: the action stands.
fn write_after(conn: &mut DbConn, events: &[AuditEvent]) {
    if events.is_empty() {
        return;
    }
    if let Err(e) = write(conn, events, now_ms()) {
        let kinds: Vec<&'static str> = events.iter().map(|e| e.kind.as_str()).collect();
        log::warn!("audit events {kinds:?} not recorded: {e}");
    }
}

fn write(conn: &mut DbConn, events: &[AuditEvent], at: i64) -> diesel::QueryResult<()> {
    let mut owners = Vec::with_capacity(events.len());
    for event in events {
        owners.push(match &event.whose {
            Whose::User(id) => Some(id.clone()),
            Whose::SessionOwner => match &event.session_id {
                Some(sid) => repo::find_session_owner(conn, sid)?,
                None => None,
            },
            Whose::Email(raw) => match Email::parse(raw) {
                Ok(email) => repo::find_user_by_email(conn, email.as_ref())?.map(|row| row.id),
                Err(_) => None,
            },
        });
    }
    let rows: Vec<NewAuditEvent<'_>> = events
        .iter()
        .zip(&owners)
        .map(|(event, owner)| NewAuditEvent {
            at,
            kind: event.kind.as_str(),
            user_id: owner.as_deref(),
            session_id: event.session_id.as_deref(),
            ip: event.ip.as_deref(),
            user_agent: event.user_agent.as_deref(),
            detail: event.detail,
        })
        .collect();
    repo::insert_audit_events(conn, &rows)
}

/// An event as `GET /api/audit` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// Ascending with time; pass the last one seen as `before` for the next page.
    pub id: i64,
    /// When, RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
    /// What happened: `register`, `sign_in`, `sign_in_failed`, `refresh`,
    /// `refresh_reuse_detected`, `sign_out`, `token_revoked`, `sign_out_everywhere`,
    /// `password_changed`, `password_change_failed`, `password_reset`, `session_revoked`,
    /// `user_created`,
    /// `role_changed`, `user_disabled`, `user_enabled`.
    pub event: String,
    /// Whose account.
    pub user_id: Option<String>,
    /// Which session.
    pub session_id: Option<String>,
    /// The client's address as doorward saw it.
    pub ip: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// A failure's reason, a new role, or `operator` for the command line.
    pub detail: Option<String>,
}

impl From<AuditRow> for AuditView {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: DateTime::from_timestamp_millis(row.at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            event: row.kind,
            user_id: row.user_id,
            session_id: row.session_id,
            ip: row.ip,
            user_agent: row.user_agent,
            detail: row.detail,
        }
    }
}

/// A page of events, newest first: `user_id`'s, or everyone's with `None`.
pub async fn list(
    db: &Db,
    user_id: Option<String>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditView>, DbError> {
    let rows = db
        .run(move |conn| repo::list_audit_events(conn, user_id.as_deref(), before, limit))
        .await?;
    Ok(rows.into_iter().map(AuditView::from).collect())
}
