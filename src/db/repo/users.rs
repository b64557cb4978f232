//! Account queries.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::models::{NewUser, UserRow};
use crate::db::schema::users;

/// Adds an account; a taken email is `DatabaseError(UniqueViolation)`.
pub fn insert_user(conn: &mut DbConn, user: &NewUser<'_>) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)
        .map(drop)
}

/// The account with this canonical email, if any.
pub fn find_user_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// The account with this id, if any.
pub fn find_user_by_id(conn: &mut DbConn, id: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// Replaces a password hash (made at another bcrypt cost) after a successful login.
pub fn update_password_hash(conn: &mut DbConn, user_id: &str, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .map(drop)
}

/// Takes the user's row lock and returns the row, inside a transaction. The write changes
/// nothing, so the database triggers that log user changes do not fire.
pub fn lock_user(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<UserRow>> {
    let touched = diesel::update(users::table.find(user_id))
        .set(users::tokens_valid_after.eq(users::tokens_valid_after))
        .execute(conn)?;
    if touched == 0 {
        return Ok(None);
    }
    find_user_by_id(conn, user_id)
}

/// Takes the row locks of the owners of these families, as a rotation takes them.
pub fn lock_family_owners(conn: &mut DbConn, family_ids: &[String]) -> QueryResult<()> {
    use crate::db::schema::refresh_families;
    if family_ids.is_empty() {
        return Ok(());
    }
    let owners = refresh_families::table
        .filter(refresh_families::id.eq_any(family_ids))
        .select(refresh_families::user_id);
    diesel::update(users::table.filter(users::id.eq_any(owners)))
        .set(users::tokens_valid_after.eq(users::tokens_valid_after))
        .execute(conn)
        .map(drop)
}

/// Gives the account `role` (`doorward user set-role`); false when there is no such account.
/// The user-change trigger logs it, so every instance's user cache drops the account.
pub fn set_role(conn: &mut DbConn, user_id: &str, role: &str) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id))
        .set(users::role.eq(role))
        .execute(conn)
        .map(|updated| updated == 1)
}

/// Marks the address verified at `at` (Unix ms) unless it already is.
pub fn set_email_verified(conn: &mut DbConn, user_id: &str, at: i64) -> QueryResult<()> {
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::email_verified_at.is_null()),
    )
    .set(users::email_verified_at.eq(at))
    .execute(conn)
    .map(drop)
}

/// Disables the account from `at` (Unix ms), or enables it again with `None`; false when there
/// is no such account. Logged by the user-change trigger, as [`set_role`] is.
pub fn set_disabled(conn: &mut DbConn, user_id: &str, at: Option<i64>) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id))
        .set(users::disabled_at.eq(at))
        .execute(conn)
        .map(|updated| updated == 1)
}
