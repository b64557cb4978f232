//! Every query doorward makes, as plain synchronous functions on [`DbConn`], verb first.
//!
//! Write transactions begin with a write to the user's row ([`lock_user`]): on PostgreSQL that
//! row lock serializes rotation and "log out everywhere" per user (contract §2); on SQLite a
//! transaction whose first statement writes takes the write lock at once (waiting under
//! `busy_timeout`), so it can never fail later trying to upgrade a stale read snapshot.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::DbConn;
use super::models::{
    FamilyRow, NewFamily, NewRefreshToken, NewUser, RefreshTokenRow, RevokedTokenRow, UserRow,
};
use super::schema::{refresh_families, refresh_tokens, revoked_tokens, users};

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

/// Takes the user's row lock and returns the row, inside a transaction.
fn lock_user(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<UserRow>> {
    let touched = diesel::update(users::table.find(user_id))
        .set(users::tokens_valid_after.eq(users::tokens_valid_after))
        .execute(conn)?;
    if touched == 0 {
        return Ok(None);
    }
    find_user_by_id(conn, user_id)
}

/// Begins a refresh family at sign-in with its first token, creating the account first when
/// `new_user` is given (registration: the account and its session commit together or not at
/// all). Returns the user's "log out everywhere" cut-off (seconds), read under the same lock,
/// for the token's `iat`.
pub fn start_family(
    conn: &mut DbConn,
    new_user: Option<&NewUser<'_>>,
    family: &NewFamily<'_>,
    token: &NewRefreshToken<'_>,
) -> QueryResult<i64> {
    conn.transaction(|conn| {
        if let Some(new_user) = new_user {
            insert_user(conn, new_user)?;
        }
        let user = lock_user(conn, family.user_id)?.ok_or(DieselError::NotFound)?;
        diesel::insert_into(refresh_families::table)
            .values(family)
            .execute(conn)?;
        diesel::insert_into(refresh_tokens::table)
            .values(token)
            .execute(conn)?;
        Ok(user.tokens_valid_after)
    })
}

/// What to do with a presented refresh token, decided in one transaction.
#[derive(Debug)]
pub enum Rotation {
    /// A new token was stored in the family (a rotation, or a sibling within the reuse grace).
    Rotated {
        /// The owner, for the new access token's claims and cut-off.
        user: UserRow,
        /// The family (`sid`).
        family_id: String,
        /// When the new refresh token expires, Unix ms.
        expires_at: i64,
        /// The time of the rotation, read under the lock, Unix ms.
        now: i64,
    },
    /// Unknown, expired, or in a revoked or ended family.
    Rejected,
    /// An already-rotated token presented outside the grace: the family is now revoked.
    Reused {
        /// The family just revoked.
        family_id: String,
        /// The time of the revocation, read under the lock, Unix ms.
        now: i64,
    },
}

/// The timing rules of a rotation (contract §2), in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct RotationRules {
    /// Reads the time, Unix ms. It is read once the user's lock is held: a request that waited
    /// for the lock must not act at the time it arrived.
    pub clock: fn() -> i64,
    /// `REFRESH_TOKEN_TTL`.
    pub refresh_ttl: i64,
    /// `REFRESH_REUSE_GRACE`.
    pub reuse_grace: i64,
}

/// Consumes the token hashed `presented` and stores `new_hash` in its family, or detects reuse.
///
/// The whole decision runs under the user's row lock, and the token is consumed with a
/// conditional update, so two uses of one token can never both rotate it; a revocation for
/// reuse is committed in the same transaction that found it.
pub fn rotate_refresh_token(
    conn: &mut DbConn,
    presented: &str,
    new_hash: &str,
    rules: RotationRules,
) -> QueryResult<Rotation> {
    let Some(user_id) = refresh_tokens::table
        .find(presented)
        .select(refresh_tokens::user_id)
        .first::<String>(conn)
        .optional()?
    else {
        return Ok(Rotation::Rejected);
    };
    conn.transaction(|conn| {
        let Some(user) = lock_user(conn, &user_id)? else {
            return Ok(Rotation::Rejected);
        };
        let now = (rules.clock)();
        let Some(token) = refresh_tokens::table
            .find(presented)
            .select(RefreshTokenRow::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(Rotation::Rejected);
        };
        let family = refresh_families::table
            .find(&token.family_id)
            .select(FamilyRow::as_select())
            .first(conn)?;
        if family.revoked_at.is_some() || family.expires_at <= now {
            return Ok(Rotation::Rejected);
        }
        if token.expires_at <= now {
            return Ok(Rotation::Rejected);
        }

        let may_rotate = match token.rotated_at {
            None => {
                diesel::update(
                    refresh_tokens::table
                        .find(presented)
                        .filter(refresh_tokens::rotated_at.is_null()),
                )
                .set((
                    refresh_tokens::rotated_at.eq(now),
                    refresh_tokens::replaced_by.eq(new_hash),
                ))
                .execute(conn)?
                    == 1
            }
            Some(rotated_at) => {
                // Clocks of several instances may disagree a little: elapsed time is never
                // negative (with the grace off, `0 < 0` is false and reuse is always theft).
                let elapsed = (now - rotated_at).max(0);
                elapsed < rules.reuse_grace
                    && is_unused(conn, token.replaced_by.as_deref())?
                    && claim_grace_sibling(conn, presented, new_hash)?
            }
        };
        if !may_rotate {
            diesel::update(refresh_families::table.find(&family.id))
                .set(refresh_families::revoked_at.eq(now))
                .execute(conn)?;
            return Ok(Rotation::Reused {
                family_id: family.id,
                now,
            });
        }

        let expires_at = (now + rules.refresh_ttl).min(family.expires_at);
        diesel::insert_into(refresh_tokens::table)
            .values(&NewRefreshToken {
                token_hash: new_hash,
                family_id: &family.id,
                user_id: &user.id,
                issued_at: now,
                expires_at,
                parent_hash: Some(presented),
            })
            .execute(conn)?;
        Ok(Rotation::Rotated {
            user,
            family_id: family.id,
            expires_at,
            now,
        })
    })
}

/// Records `sibling` as the one token a rotated token may mint within the grace; false when it
/// has minted one already (whoever presents it a third time holds a copy: that is theft).
fn claim_grace_sibling(conn: &mut DbConn, rotated: &str, sibling: &str) -> QueryResult<bool> {
    let claimed = diesel::update(
        refresh_tokens::table
            .find(rotated)
            .filter(refresh_tokens::grace_sibling.is_null()),
    )
    .set(refresh_tokens::grace_sibling.eq(sibling))
    .execute(conn)?;
    Ok(claimed == 1)
}

/// True when the token a rotated token was replaced by has not been rotated itself.
fn is_unused(conn: &mut DbConn, replaced_by: Option<&str>) -> QueryResult<bool> {
    let Some(child) = replaced_by else {
        return Ok(false);
    };
    let rotated_at = refresh_tokens::table
        .find(child)
        .select(refresh_tokens::rotated_at)
        .first::<Option<i64>>(conn)
        .optional()?;
    Ok(matches!(rotated_at, Some(None)))
}

/// The family a refresh token belongs to, if the token is known.
pub fn find_family_of_refresh_token(conn: &mut DbConn, hash: &str) -> QueryResult<Option<String>> {
    refresh_tokens::table
        .find(hash)
        .select(refresh_tokens::family_id)
        .first(conn)
        .optional()
}

/// What a sign-out revokes: the access token's `jti` and the families of the presented tokens.
#[derive(Debug, Default)]
pub struct Revocation {
    /// The verified access tokens' ids, kept until they could no longer verify.
    pub jtis: Vec<RevokedTokenRow>,
    /// Families to end.
    pub family_ids: Vec<String>,
    /// Now, Unix ms.
    pub now: i64,
}

/// Denylists the `jti`s and revokes the families, in one transaction.
pub fn revoke(conn: &mut DbConn, revocation: &Revocation) -> QueryResult<()> {
    conn.transaction(|conn| {
        if !revocation.family_ids.is_empty() {
            // The owners' locks first, as a rotation takes them: no rotation can then read a
            // family as live while this revocation is committing.
            let owners = refresh_families::table
                .filter(refresh_families::id.eq_any(&revocation.family_ids))
                .select(refresh_families::user_id);
            diesel::update(users::table.filter(users::id.eq_any(owners)))
                .set(users::tokens_valid_after.eq(users::tokens_valid_after))
                .execute(conn)?;
        }
        for row in &revocation.jtis {
            // A savepoint, so that a repeated sign-out's duplicate key does not abort the
            // whole PostgreSQL transaction.
            let inserted = conn.transaction(|conn| {
                diesel::insert_into(revoked_tokens::table)
                    .values(row)
                    .execute(conn)
            });
            match inserted {
                // Already denylisted (a repeated logout): nothing more to do.
                Ok(_) | Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
                Err(e) => return Err(e),
            }
        }
        if !revocation.family_ids.is_empty() {
            diesel::update(
                refresh_families::table
                    .filter(refresh_families::id.eq_any(&revocation.family_ids))
                    .filter(refresh_families::revoked_at.is_null()),
            )
            .set(refresh_families::revoked_at.eq(revocation.now))
            .execute(conn)?;
        }
        Ok(())
    })
}

/// "Log out everywhere": sets the user's cut-off and revokes every live family, under the
/// user's lock. Returns the ids of the families revoked now.
pub fn revoke_all_sessions(
    conn: &mut DbConn,
    user_id: &str,
    cutoff_secs: i64,
    now: i64,
) -> QueryResult<Vec<String>> {
    conn.transaction(|conn| {
        lock_user(conn, user_id)?;
        // A cut-off never moves back, even when another instance's clock is behind.
        diesel::update(
            users::table
                .find(user_id)
                .filter(users::tokens_valid_after.lt(cutoff_secs)),
        )
        .set(users::tokens_valid_after.eq(cutoff_secs))
        .execute(conn)?;
        let live = refresh_families::table
            .filter(refresh_families::user_id.eq(user_id))
            .filter(refresh_families::revoked_at.is_null())
            .select(refresh_families::id)
            .load::<String>(conn)?;
        diesel::update(
            refresh_families::table
                .filter(refresh_families::user_id.eq(user_id))
                .filter(refresh_families::revoked_at.is_null()),
        )
        .set(refresh_families::revoked_at.eq(now))
        .execute(conn)?;
        Ok(live)
    })
}

/// Revocations recorded since a moment, by any instance: what the in-memory denylist needs.
#[derive(Debug, Default)]
pub struct RevocationsSince {
    /// `(jti, expires_at ms)`.
    pub jtis: Vec<(String, i64)>,
    /// `(family id, revoked_at ms)`.
    pub families: Vec<(String, i64)>,
    /// `(user id, cut-off seconds)`.
    pub cutoffs: Vec<(String, i64)>,
}

/// Reads denylisted `jti`s still unexpired, families revoked at or after `since_ms`, and
/// cut-offs at or after `since_ms`.
pub fn load_revocations_since(
    conn: &mut DbConn,
    since_ms: i64,
    now_ms: i64,
) -> QueryResult<RevocationsSince> {
    let jtis = revoked_tokens::table
        .filter(revoked_tokens::revoked_at.ge(since_ms))
        .filter(revoked_tokens::expires_at.gt(now_ms))
        .select((revoked_tokens::jti, revoked_tokens::expires_at))
        .load(conn)?;
    let families = refresh_families::table
        .filter(refresh_families::revoked_at.ge(since_ms))
        .select((
            refresh_families::id,
            refresh_families::revoked_at.assume_not_null(),
        ))
        .load(conn)?;
    let cutoffs = users::table
        .filter(users::tokens_valid_after.ge(since_ms.div_euclid(1000)))
        .select((users::id, users::tokens_valid_after))
        .load(conn)?;
    Ok(RevocationsSince {
        jtis,
        families,
        cutoffs,
    })
}

/// Deletes what can no longer matter: denylisted `jti`s past their expiry, refresh tokens past
/// theirs, and families ended before `family_horizon_ms`. Returns the rows deleted.
pub fn purge_expired(conn: &mut DbConn, now_ms: i64, family_horizon_ms: i64) -> QueryResult<usize> {
    let jtis = diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(now_ms)))
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
    Ok(jtis + tokens + families)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseTarget;
    use crate::db::Db;

    fn seed(conn: &mut DbConn) -> QueryResult<()> {
        insert_user(
            conn,
            &NewUser {
                id: "u1",
                email: "a@x.io",
                name: None,
                role: "user",
                password_hash: "x",
                created_at: 0,
            },
        )?;
        start_family(
            conn,
            None,
            &NewFamily {
                id: "f1",
                user_id: "u1",
                created_at: 0,
                expires_at: 1_000_000,
            },
            &NewRefreshToken {
                token_hash: "t0",
                family_id: "f1",
                user_id: "u1",
                issued_at: 0,
                expires_at: 1_000_000,
                parent_hash: None,
            },
        )
        .map(drop)
    }

    /// A registration whose session cannot be stored leaves no account behind.
    #[actix_web::test]
    async fn a_new_account_commits_only_with_its_session() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DatabaseTarget::Sqlite(dir.path().join("t.db"))).unwrap();
        let stored = db
            .run(|conn| {
                seed(conn)?;
                let new_user = NewUser {
                    id: "u2",
                    email: "b@x.io",
                    name: None,
                    role: "user",
                    password_hash: "x",
                    created_at: 0,
                };
                let family = NewFamily {
                    id: "f1", // taken: the family insert fails
                    user_id: "u2",
                    created_at: 0,
                    expires_at: 1_000_000,
                };
                let token = NewRefreshToken {
                    token_hash: "t9",
                    family_id: "f1",
                    user_id: "u2",
                    issued_at: 0,
                    expires_at: 1_000_000,
                    parent_hash: None,
                };
                assert!(start_family(conn, Some(&new_user), &family, &token).is_err());
                find_user_by_id(conn, "u2")
            })
            .await
            .unwrap();
        assert!(stored.is_none());
    }

    /// Within the grace a rotated token mints one sibling; a third presentation is theft.
    #[actix_web::test]
    async fn a_rotated_token_mints_at_most_one_sibling_within_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DatabaseTarget::Sqlite(dir.path().join("t.db"))).unwrap();
        let outcomes = db
            .run(|conn| {
                seed(conn)?;
                let rules = RotationRules {
                    clock: || 500,
                    refresh_ttl: 10_000,
                    reuse_grace: 10_000,
                };
                Ok::<_, diesel::result::Error>([
                    rotate_refresh_token(conn, "t0", "t1", rules)?,
                    rotate_refresh_token(conn, "t0", "t2", rules)?,
                    rotate_refresh_token(conn, "t0", "t3", rules)?,
                ])
            })
            .await
            .unwrap();
        assert!(
            matches!(outcomes[0], Rotation::Rotated { .. }),
            "{outcomes:?}"
        );
        assert!(
            matches!(outcomes[1], Rotation::Rotated { .. }),
            "{outcomes:?}"
        );
        assert!(
            matches!(outcomes[2], Rotation::Reused { .. }),
            "{outcomes:?}"
        );
    }

    /// An instance whose clock is behind the winning rotation's must not see a negative
    /// elapsed time as "within the grace".
    #[actix_web::test]
    async fn a_loser_with_an_earlier_clock_is_still_reuse_when_the_grace_is_off() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DatabaseTarget::Sqlite(dir.path().join("t.db"))).unwrap();
        let outcomes = db
            .run(|conn| {
                seed(conn)?;
                let rules = |clock| RotationRules {
                    clock,
                    refresh_ttl: 1_000,
                    reuse_grace: 0,
                };
                let winner = rotate_refresh_token(conn, "t0", "t1", rules(|| 500))?;
                let loser = rotate_refresh_token(conn, "t0", "t2", rules(|| 499))?;
                Ok::<_, diesel::result::Error>((winner, loser))
            })
            .await
            .unwrap();
        assert!(
            matches!(outcomes.0, Rotation::Rotated { .. }),
            "{outcomes:?}"
        );
        assert!(
            matches!(outcomes.1, Rotation::Reused { .. }),
            "{outcomes:?}"
        );
    }
}
