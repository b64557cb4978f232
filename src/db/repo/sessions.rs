//! Sign-in and rotation: a family begins with its first refresh token, and each rotation
//! consumes one token and stores the next, under the user's row lock.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::revocations::revoke_reused_family;
use super::users::{find_user_by_email, insert_user, lock_user};
use crate::db::DbConn;
use crate::db::models::{
    FamilyRow, NewFamily, NewRefreshToken, NewUser, RefreshTokenRow, SessionRow, UserRow,
};
use crate::db::schema::{refresh_families, refresh_tokens};

/// How a sign-in's transaction ended.
#[derive(Debug, PartialEq, Eq)]
pub enum FamilyStart {
    /// The family is stored; the user's "log out everywhere" cut-off (seconds), read under
    /// the same lock, for the token's `iat`.
    Started {
        /// Unix seconds.
        cutoff: i64,
    },
    /// Registration only: another account has this email. Nothing was stored.
    EmailTaken,
}

/// Begins a refresh family at sign-in with its first token, creating the account first when
/// `new_user` is given (registration: the account and its session commit together or not at
/// all).
pub fn start_family(
    conn: &mut DbConn,
    new_user: Option<&NewUser<'_>>,
    family: &NewFamily<'_>,
    token: &NewRefreshToken<'_>,
) -> QueryResult<FamilyStart> {
    conn.transaction(|conn| {
        if let Some(new_user) = new_user
            && email_is_taken(conn, new_user)?
        {
            return Ok(FamilyStart::EmailTaken);
        }
        let user = lock_user(conn, family.user_id)?.ok_or(DieselError::NotFound)?;
        diesel::insert_into(refresh_families::table)
            .values(family)
            .execute(conn)?;
        diesel::insert_into(refresh_tokens::table)
            .values(token)
            .execute(conn)?;
        Ok(FamilyStart::Started {
            cutoff: user.tokens_valid_after,
        })
    })
}

/// Stores an account with no session (registration when it must verify its email first);
/// false when the email is taken, and nothing was stored.
pub fn create_account(conn: &mut DbConn, new_user: &NewUser<'_>) -> QueryResult<bool> {
    conn.transaction(|conn| email_is_taken(conn, new_user).map(|taken| !taken))
}

/// Inserts the account in a savepoint, so a conflict leaves the transaction usable. Only a
/// conflict on the email is "taken": any other unique violation stays an error (a fault).
fn email_is_taken(conn: &mut DbConn, new_user: &NewUser<'_>) -> QueryResult<bool> {
    match conn.transaction(|conn| insert_user(conn, new_user)) {
        Ok(()) => Ok(false),
        Err(e @ DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            if find_user_by_email(conn, new_user.email)?.is_some() {
                Ok(true)
            } else {
                Err(e)
            }
        }
        Err(e) => Err(e),
    }
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
    /// The session rotated as often as `DOORWARD_REFRESH_RATE_PER_SESSION` allows: the token is
    /// left unused, to be presented again after `retry_after_ms`.
    Throttled {
        /// How long until the oldest rotation in the window leaves it.
        retry_after_ms: i64,
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
    /// How long a family revoked for reuse must be remembered.
    pub family_memory: i64,
    /// At most this many tokens issued in one family per this many ms (`None`: no limit).
    pub per_session: Option<(i64, i64)>,
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

        // Only a first presentation is throttled: a reused token must still revoke its family.
        if token.rotated_at.is_none()
            && let Some((limit, per)) = rules.per_session
            && let Some(retry_after_ms) = rotations_over_limit(conn, &family.id, now, limit, per)?
        {
            return Ok(Rotation::Throttled { retry_after_ms });
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
            revoke_reused_family(conn, &family.id, now, now + rules.family_memory)?;
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
        diesel::update(refresh_families::table.find(&family.id))
            .set(refresh_families::last_used_at.eq(now))
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

/// The user's live sessions, most recently used first: not revoked, not past
/// `SESSION_MAX_AGE`, and used (begun or rotated) within `refresh_ttl` ms, so their last
/// refresh token has not expired.
pub fn list_sessions(
    conn: &mut DbConn,
    user_id: &str,
    now: i64,
    refresh_ttl: i64,
) -> QueryResult<Vec<SessionRow>> {
    let used_since = now - refresh_ttl;
    let mut sessions: Vec<SessionRow> = refresh_families::table
        .filter(refresh_families::user_id.eq(user_id))
        .filter(refresh_families::revoked_at.is_null())
        .filter(refresh_families::expires_at.gt(now))
        .filter(
            refresh_families::last_used_at
                .gt(used_since)
                .or(refresh_families::last_used_at
                    .is_null()
                    .and(refresh_families::created_at.gt(used_since))),
        )
        .select(SessionRow::as_select())
        .load(conn)?;
    sessions.sort_by_key(|s| std::cmp::Reverse(s.last_used_at.unwrap_or(s.created_at)));
    Ok(sessions)
}

/// The family a refresh token belongs to, if the token is known.
pub fn find_family_of_refresh_token(conn: &mut DbConn, hash: &str) -> QueryResult<Option<String>> {
    refresh_tokens::table
        .find(hash)
        .select(refresh_tokens::family_id)
        .first(conn)
        .optional()
}

/// The owner of a session (a family), if the session is known.
pub fn find_session_owner(conn: &mut DbConn, family_id: &str) -> QueryResult<Option<String>> {
    refresh_families::table
        .find(family_id)
        .select(refresh_families::user_id)
        .first(conn)
        .optional()
}

/// When the family already holds `limit` tokens issued within `per` ms of `now`: how long
/// until the oldest of them leaves the window.
fn rotations_over_limit(
    conn: &mut DbConn,
    family_id: &str,
    now: i64,
    limit: i64,
    per: i64,
) -> QueryResult<Option<i64>> {
    let (issued, oldest): (i64, Option<i64>) = refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(family_id))
        .filter(refresh_tokens::issued_at.gt(now - per))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(refresh_tokens::issued_at),
        ))
        .first(conn)?;
    Ok(oldest
        .filter(|_| issued >= limit)
        .map(|oldest| (oldest + per - now).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseTarget;
    use crate::db::Db;
    use crate::db::repo::find_user_by_id;

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
                user_agent: None,
                client_ip: None,
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
                    user_agent: None,
                    client_ip: None,
                };
                let token = NewRefreshToken {
                    token_hash: "t9",
                    family_id: "f1",
                    user_id: "u2",
                    issued_at: 0,
                    expires_at: 1_000_000,
                    parent_hash: None,
                };
                assert!(
                    start_family(conn, Some(&new_user), &family, &token).is_err(),
                    "a taken family id is a fault, not a taken email"
                );
                let same_email = NewUser {
                    email: "a@x.io",
                    ..new_user
                };
                let family = NewFamily { id: "f2", ..family };
                let taken = start_family(conn, Some(&same_email), &family, &token)?;
                assert_eq!(taken, FamilyStart::EmailTaken);
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
                    family_memory: 1_000,
                    per_session: None,
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
                    family_memory: 1_000,
                    per_session: None,
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
