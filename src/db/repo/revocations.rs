//! Revocations and the log every instance follows.
//!
//! Each revocation is written twice in one transaction: to the table that refresh decisions
//! read (`refresh_families.revoked_at`, `users.tokens_valid_after`), and as an entry of
//! `revocation_log`, which instances replay into their in-memory denylists. The log is read by
//! its database-assigned `seq`, never by anyone's clock, so nothing committed late or by an
//! instance whose clock is behind is skipped. That needs `seq` order to be commit order:
//! SQLite has one writer at a time; on PostgreSQL every writer of the log first takes one
//! transaction-scoped advisory lock ([`LOG_LOCK`]), held until it commits, so a sequence value
//! is only drawn once every earlier entry is visible. The triggers that log user changes take
//! the same lock (see the migrations).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::users::{lock_family_owners, lock_user, set_disabled, update_password_hash};
use crate::db::DbConn;
use crate::db::models::{LogEntry, NewLogEntry, log_kind};
use crate::db::schema::{refresh_families, refresh_tokens, revocation_log, users};

/// The PostgreSQL advisory lock key that orders the log (`door` in ASCII); the triggers in
/// `migrations/postgres` use the same number.
pub const LOG_LOCK: i64 = 0x646f_6f72;

/// Appends entries to the log, inside the caller's transaction.
fn append_log(conn: &mut DbConn, entries: &[NewLogEntry<'_>]) -> QueryResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if let DbConn::Pg(pg) = conn {
        pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({LOG_LOCK})"))?;
    }
    // One statement per entry: Diesel's batch insert is not available on a `MultiConnection`.
    for entry in entries {
        diesel::insert_into(revocation_log::table)
            .values(entry)
            .execute(conn)?;
    }
    Ok(())
}

/// What a sign-out revokes: verified access tokens' `jti`s and the families of the presented
/// tokens.
#[derive(Debug, Default)]
pub struct Revocation {
    /// `(jti, forget_at ms)`: kept until the token could no longer verify.
    pub jtis: Vec<(String, i64)>,
    /// Families to end.
    pub family_ids: Vec<String>,
    /// Now, Unix ms.
    pub now: i64,
    /// When a family revoked now may be forgotten, Unix ms.
    pub family_forget_at: i64,
}

/// Which of a user's sessions to end.
#[derive(Debug, Clone)]
pub enum SessionChoice {
    /// This one, if it is the user's and live.
    One(String),
    /// Every live one but this ("sign out other devices").
    AllBut(String),
}

/// Ends the user's live sessions `choice` names, in one transaction, and returns their ids:
/// none when `One` names a session that is not the user's or has ended.
pub fn revoke_sessions_of(
    conn: &mut DbConn,
    user_id: &str,
    choice: &SessionChoice,
    now: i64,
    family_forget_at: i64,
) -> QueryResult<Vec<String>> {
    conn.transaction(|conn| {
        lock_user(conn, user_id)?;
        let live = refresh_families::table
            .filter(refresh_families::user_id.eq(user_id))
            .filter(refresh_families::revoked_at.is_null())
            .filter(refresh_families::expires_at.gt(now))
            .select(refresh_families::id)
            .into_boxed();
        let family_ids: Vec<String> = match choice {
            SessionChoice::One(id) => live.filter(refresh_families::id.eq(id)).load(conn)?,
            SessionChoice::AllBut(id) => live.filter(refresh_families::id.ne(id)).load(conn)?,
        };
        if !family_ids.is_empty() {
            revoke(
                conn,
                &Revocation {
                    jtis: Vec::new(),
                    family_ids: family_ids.clone(),
                    now,
                    family_forget_at,
                },
            )?;
        }
        Ok(family_ids)
    })
}

/// Replaces the user's password hash and ends the sessions `keep` spares, in one transaction;
/// the ended sessions' ids.
pub fn replace_password(
    conn: &mut DbConn,
    user_id: &str,
    password_hash: &str,
    keep: &SessionChoice,
    now: i64,
    family_forget_at: i64,
) -> QueryResult<Vec<String>> {
    conn.transaction(|conn| {
        update_password_hash(conn, user_id, password_hash)?;
        revoke_sessions_of(conn, user_id, keep, now, family_forget_at)
    })
}

/// Denylists the `jti`s and revokes the families, in one transaction; the families it ended
/// (not those ended before).
pub fn revoke(conn: &mut DbConn, revocation: &Revocation) -> QueryResult<Vec<String>> {
    if revocation.family_ids.is_empty() && revocation.jtis.is_empty() {
        return Ok(Vec::new());
    }
    conn.transaction(|conn| {
        if revocation.family_ids.is_empty() {
            // Only `jti`s: the log's insert is the first statement, a write, so SQLite takes
            // its write lock at once (waiting its busy timeout) rather than failing to upgrade
            // a read when another revocation commits first.
            let jtis = jti_entries(revocation);
            append_log(conn, &jtis.collect::<Vec<_>>())?;
            return Ok(Vec::new());
        }
        // The owners' locks first, as a rotation takes them: no rotation can then read a
        // family as live while this revocation is committing.
        lock_family_owners(conn, &revocation.family_ids)?;
        let newly_revoked: Vec<String> = refresh_families::table
            .filter(refresh_families::id.eq_any(&revocation.family_ids))
            .filter(refresh_families::revoked_at.is_null())
            .select(refresh_families::id)
            .load(conn)?;
        diesel::update(
            refresh_families::table
                .filter(refresh_families::id.eq_any(&newly_revoked))
                .filter(refresh_families::revoked_at.is_null()),
        )
        .set(refresh_families::revoked_at.eq(revocation.now))
        .execute(conn)?;
        let jtis = jti_entries(revocation);
        let families = newly_revoked.iter().map(|id| NewLogEntry {
            kind: log_kind::FAMILY,
            subject: id,
            value: 0,
            forget_at: revocation.family_forget_at,
        });
        append_log(conn, &jtis.chain(families).collect::<Vec<_>>())?;
        Ok(newly_revoked)
    })
}

/// The log entries of a revocation's `jti`s.
fn jti_entries(revocation: &Revocation) -> impl Iterator<Item = NewLogEntry<'_>> {
    revocation.jtis.iter().map(|(jti, forget_at)| NewLogEntry {
        kind: log_kind::JTI,
        subject: jti,
        value: 0,
        forget_at: *forget_at,
    })
}

/// Ends one family for refresh-token reuse, inside the rotation's transaction.
pub(super) fn revoke_reused_family(
    conn: &mut DbConn,
    family_id: &str,
    now: i64,
    forget_at: i64,
) -> QueryResult<()> {
    diesel::update(refresh_families::table.find(family_id))
        .set(refresh_families::revoked_at.eq(now))
        .execute(conn)?;
    append_log(
        conn,
        &[NewLogEntry {
            kind: log_kind::FAMILY,
            subject: family_id,
            value: 0,
            forget_at,
        }],
    )
}

/// "Log out everywhere": sets the user's cut-off (which never moves back, even when another
/// instance's clock is behind) and revokes every live family, under the user's lock. The log
/// carries only the cut-off: it refuses every access token of those families already.
pub fn revoke_all_sessions(
    conn: &mut DbConn,
    user_id: &str,
    cutoff_secs: i64,
    now: i64,
    forget_at: i64,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        lock_user(conn, user_id)?;
        diesel::update(
            users::table
                .find(user_id)
                .filter(users::tokens_valid_after.lt(cutoff_secs)),
        )
        .set(users::tokens_valid_after.eq(cutoff_secs))
        .execute(conn)?;
        diesel::update(
            refresh_families::table
                .filter(refresh_families::user_id.eq(user_id))
                .filter(refresh_families::revoked_at.is_null()),
        )
        .set(refresh_families::revoked_at.eq(now))
        .execute(conn)?;
        append_log(
            conn,
            &[NewLogEntry {
                kind: log_kind::CUTOFF,
                subject: user_id,
                value: cutoff_secs,
                forget_at,
            }],
        )
    })
}

/// Disables the account (`doorward user disable`) and signs it out everywhere, as
/// [`revoke_all_sessions`], in one transaction; false when there is no such account.
pub fn disable_user(
    conn: &mut DbConn,
    user_id: &str,
    cutoff_secs: i64,
    now: i64,
    forget_at: i64,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        if !set_disabled(conn, user_id, Some(now))? {
            return Ok(false);
        }
        revoke_all_sessions(conn, user_id, cutoff_secs, now, forget_at)?;
        Ok(true)
    })
}

/// Log entries after `after_seq` that still matter at `now_ms`, in `seq` order. One statement,
/// one snapshot: what it sees is a prefix of the commit order, so the last `seq` returned is
/// where the next read continues.
pub fn read_log(conn: &mut DbConn, after_seq: i64, now_ms: i64) -> QueryResult<Vec<LogEntry>> {
    revocation_log::table
        .filter(revocation_log::seq.gt(after_seq))
        .filter(revocation_log::forget_at.gt(now_ms))
        .order(revocation_log::seq)
        .select(LogEntry::as_select())
        .load(conn)
}

/// The database's clock, Unix ms, to warn about an instance whose clock is off. SQLite runs
/// in this process and shares its clock: `None`.
pub fn database_clock_ms(conn: &mut DbConn) -> QueryResult<Option<i64>> {
    match conn {
        DbConn::Pg(pg) => diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
        ))
        .get_result(pg)
        .map(Some),
        DbConn::Sqlite(_) => Ok(None),
    }
}

/// Deletes what can no longer matter: log entries and WebSocket tickets past their time,
/// refresh tokens past theirs, and families ended before `family_horizon_ms` with no token left. Returns the rows
/// deleted.
pub fn purge_expired(conn: &mut DbConn, now_ms: i64, family_horizon_ms: i64) -> QueryResult<usize> {
    let entries =
        diesel::delete(revocation_log::table.filter(revocation_log::forget_at.le(now_ms)))
            .execute(conn)?;
    let tokens =
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.le(now_ms)))
            .execute(conn)?;
    let families = diesel::delete(
        refresh_families::table
            .filter(refresh_families::expires_at.le(family_horizon_ms))
            .filter(
                refresh_families::id
                    .ne_all(refresh_tokens::table.select(refresh_tokens::family_id)),
            ),
    )
    .execute(conn)?;
    let tickets = super::tickets::purge_tickets(conn, now_ms)?;
    let links = super::mail_tokens::purge_mail_tokens(conn, now_ms)?;
    Ok(entries + tokens + families + tickets + links)
}
