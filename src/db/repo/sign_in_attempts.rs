//! Sign-in attempts per account and client, shared by every instance (issue 10, throttling).
//!
//! An attempt is counted before its password is checked, in one transaction with the check of
//! the limits, so concurrent guesses cannot all slip under a limit; a success clears the
//! count of the address it came from. Keyed on account + client, one address that guesses wrong locks only
//! itself out; the account-wide backstop, slower, stops guesses spread over many addresses,
//! but never refuses a client the account has signed in from before.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::db::DbConn;
use crate::db::schema::sign_in_attempts;

/// The limits an attempt is checked against, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct AttemptRules {
    /// Attempts one client may make on one account per window (`None`: no limit).
    pub per_client: Option<u32>,
    /// Attempts every client together may make on one account per window (`None`: no limit).
    pub per_account: Option<u32>,
    /// How long a window lasts.
    pub window_ms: i64,
    /// The time now.
    pub now_ms: i64,
}

/// What the check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// Counted: go on and check the password.
    Allowed,
    /// Over a limit: not counted, and no password checked. Try again after this many ms.
    Refused {
        /// How long until the window that refused it ends.
        retry_after_ms: i64,
    },
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sign_in_attempts)]
struct AttemptRow {
    attempts: i32,
    window_started_at: i64,
    succeeded_at: Option<i64>,
}

/// Checks the limits and counts the attempt. A first attempt raced by another on PostgreSQL
/// loses the insert and is checked again, against the winner's row.
pub fn claim_attempt(
    conn: &mut DbConn,
    account_key: &str,
    client: &str,
    rules: AttemptRules,
) -> QueryResult<AttemptVerdict> {
    match conn.transaction(|conn| claim_once(conn, account_key, client, rules)) {
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            conn.transaction(|conn| claim_once(conn, account_key, client, rules))
        }
        outcome => outcome,
    }
}

fn claim_once(
    conn: &mut DbConn,
    account_key: &str,
    client: &str,
    rules: AttemptRules,
) -> QueryResult<AttemptVerdict> {
    let this = sign_in_attempts::table.find((account_key, client));
    // A write first: the row lock on PostgreSQL, the write lock on SQLite (see `repo`).
    diesel::update(this)
        .set(sign_in_attempts::attempts.eq(sign_in_attempts::attempts))
        .execute(conn)?;
    let row = this
        .select(AttemptRow::as_select())
        .first(conn)
        .optional()?;
    let window_opened = rules.now_ms - rules.window_ms;
    let fresh = row.as_ref().filter(|r| r.window_started_at > window_opened);
    let attempts = fresh.map_or(0, |r| r.attempts);
    let retry_after = |window_started_at: i64| (window_started_at - window_opened).max(1);

    if let (Some(limit), Some(fresh)) = (rules.per_client, fresh)
        && attempts >= i32::try_from(limit).unwrap_or(i32::MAX)
    {
        return Ok(AttemptVerdict::Refused {
            retry_after_ms: retry_after(fresh.window_started_at),
        });
    }
    let known_client = row.as_ref().is_some_and(|r| r.succeeded_at.is_some());
    if let Some(limit) = rules.per_account
        && !known_client
    {
        let (total, oldest): (Option<i64>, Option<i64>) = sign_in_attempts::table
            .filter(sign_in_attempts::account_key.eq(account_key))
            .filter(sign_in_attempts::window_started_at.gt(window_opened))
            .select((
                diesel::dsl::sum(sign_in_attempts::attempts),
                diesel::dsl::min(sign_in_attempts::window_started_at),
            ))
            .first(conn)?;
        if let (Some(total), Some(oldest)) = (total, oldest)
            && total >= i64::from(limit)
        {
            return Ok(AttemptVerdict::Refused {
                retry_after_ms: retry_after(oldest),
            });
        }
    }

    let is_fresh = fresh.is_some();
    match (row, is_fresh) {
        (Some(_), true) => diesel::update(this)
            .set(sign_in_attempts::attempts.eq(attempts + 1))
            .execute(conn)?,
        (Some(_), false) => diesel::update(this)
            .set((
                sign_in_attempts::attempts.eq(1),
                sign_in_attempts::window_started_at.eq(rules.now_ms),
            ))
            .execute(conn)?,
        (None, _) => diesel::insert_into(sign_in_attempts::table)
            .values((
                sign_in_attempts::account_key.eq(account_key),
                sign_in_attempts::client.eq(client),
                sign_in_attempts::attempts.eq(1),
                sign_in_attempts::window_started_at.eq(rules.now_ms),
            ))
            .execute(conn)?,
    };
    Ok(AttemptVerdict::Allowed)
}

/// A success: this address's count on the account starts again from zero, and the address
/// is remembered as one the account signs in from. Failures from other addresses stay
/// counted: the owner signing in must not hand an attacker fresh guesses.
pub fn record_success(
    conn: &mut DbConn,
    account_key: &str,
    client: &str,
    now_ms: i64,
) -> QueryResult<()> {
    diesel::update(sign_in_attempts::table.find((account_key, client)))
        .set((
            sign_in_attempts::attempts.eq(0),
            sign_in_attempts::succeeded_at.eq(now_ms),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes rows whose window ended before `stale_before` and that mark no success since
/// `forget_successes_before`.
pub fn purge_attempts(
    conn: &mut DbConn,
    stale_before: i64,
    forget_successes_before: i64,
) -> QueryResult<usize> {
    diesel::delete(
        sign_in_attempts::table
            .filter(sign_in_attempts::window_started_at.lt(stale_before))
            .filter(
                sign_in_attempts::succeeded_at
                    .is_null()
                    .or(sign_in_attempts::succeeded_at.lt(forget_successes_before)),
            ),
    )
    .execute(conn)
}
