//! The single-use links doorward mails (`mail_tokens`), by hash: stored when mailed, spent by
//! deleting the row in the transaction that reads it, so two uses of one link cannot both pass.

use diesel::prelude::*;

use super::revocations::revoke_all_sessions;
use super::users::{set_email_verified, update_password_hash};
use crate::db::DbConn;
use crate::db::schema::{mail_tokens, users};

/// A stored link's purpose, as the `purpose` column holds it.
pub mod purpose {
    /// "Confirm your address".
    pub const VERIFY: &str = "verify";
    /// "Choose a new password".
    pub const RESET: &str = "reset";
}

/// A link about to be mailed.
#[derive(Debug, Insertable)]
#[diesel(table_name = mail_tokens)]
pub struct NewMailToken<'a> {
    /// SHA-256 of the token, hex.
    pub token_hash: &'a str,
    /// Whose.
    pub user_id: &'a str,
    /// [`purpose`].
    pub purpose: &'static str,
    /// The address it was sent to: the link works only while the account still has it.
    pub email: &'a str,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
}

/// Stores a link.
pub fn insert_mail_token(conn: &mut DbConn, token: &NewMailToken<'_>) -> QueryResult<()> {
    diesel::insert_into(mail_tokens::table)
        .values(token)
        .execute(conn)
        .map(drop)
}

/// Whether a link for `purpose` was stored for the user after `since_ms`.
pub fn mail_token_since(
    conn: &mut DbConn,
    user_id: &str,
    purpose: &str,
    since_ms: i64,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        mail_tokens::table
            .filter(mail_tokens::user_id.eq(user_id))
            .filter(mail_tokens::purpose.eq(purpose))
            .filter(mail_tokens::created_at.gt(since_ms)),
    ))
    .get_result(conn)
}

/// Spends the link hashed `hash` for `purpose`, and every other link of the owner's for it: the
/// owner's id if it existed, had not expired, was sent to the account's current address and
/// nobody spent it first.
fn spend(conn: &mut DbConn, hash: &str, purpose: &str, now_ms: i64) -> QueryResult<Option<String>> {
    // A write first, as every write transaction here begins (see `repo`).
    diesel::update(mail_tokens::table.find(hash))
        .set(mail_tokens::expires_at.eq(mail_tokens::expires_at))
        .execute(conn)?;
    let found: Option<(String, String)> = mail_tokens::table
        .find(hash)
        .filter(mail_tokens::purpose.eq(purpose))
        .filter(mail_tokens::expires_at.gt(now_ms))
        .select((mail_tokens::user_id, mail_tokens::email))
        .first(conn)
        .optional()?;
    let spent = diesel::delete(mail_tokens::table.find(hash)).execute(conn)?;
    let Some((user_id, email)) = found.filter(|_| spent == 1) else {
        return Ok(None);
    };
    // One link spent, the others of its kind are done with too: after a reset, an older reset
    // link must not choose the password again.
    diesel::delete(
        mail_tokens::table
            .filter(mail_tokens::user_id.eq(&user_id))
            .filter(mail_tokens::purpose.eq(purpose)),
    )
    .execute(conn)?;
    let current: Option<String> = users::table
        .find(&user_id)
        .select(users::email)
        .first(conn)
        .optional()?;
    Ok((current.as_deref() == Some(email.as_str())).then_some(user_id))
}

/// Spends a verification link and marks the address verified; the owner's id, or `None` for a
/// link that is unknown, spent, expired or for an address the account no longer has.
pub fn verify_email(conn: &mut DbConn, hash: &str, now_ms: i64) -> QueryResult<Option<String>> {
    conn.transaction(|conn| {
        let Some(user_id) = spend(conn, hash, purpose::VERIFY, now_ms)? else {
            return Ok(None);
        };
        set_email_verified(conn, &user_id, now_ms)?;
        Ok(Some(user_id))
    })
}

/// Spends a reset link: the new hash is stored, every session of the user ended and every token
/// issued so far refused (the "log out everywhere" cut-off, `cutoff_secs`), and the address
/// counts as verified, since its owner just read the mail. All in one transaction; the owner's
/// id, or `None` as [`verify_email`].
pub fn reset_password(
    conn: &mut DbConn,
    hash: &str,
    password_hash: &str,
    now_ms: i64,
    cutoff_secs: i64,
    forget_at: i64,
) -> QueryResult<Option<String>> {
    conn.transaction(|conn| {
        let Some(user_id) = spend(conn, hash, purpose::RESET, now_ms)? else {
            return Ok(None);
        };
        update_password_hash(conn, &user_id, password_hash)?;
        set_email_verified(conn, &user_id, now_ms)?;
        revoke_all_sessions(conn, &user_id, cutoff_secs, now_ms, forget_at)?;
        Ok(Some(user_id))
    })
}

/// Deletes expired links; the number deleted.
pub fn purge_mail_tokens(conn: &mut DbConn, now_ms: i64) -> QueryResult<usize> {
    diesel::delete(mail_tokens::table.filter(mail_tokens::expires_at.le(now_ms))).execute(conn)
}
