//! Sessions: start one at sign-in, rotate it at refresh, end it at sign-out (contract §2).
//!
//! A session is a refresh family; its access tokens carry the family id as `sid`. Every
//! transport (bearer JSON, cookies, pages) goes through these functions, so rotation, reuse
//! detection and revocation exist once. Each revocation is committed to the database before it
//! is recorded in the in-memory denylist, and before the client hears of it.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use crate::accounts::User;
use crate::db::models::{NewFamily, NewRefreshToken, NewUser, RevokedTokenRow, UserRow};
use crate::db::repo::{self, Revocation, Rotation, RotationRules};
use crate::domain::Role;
use crate::error::AppError;
use crate::startup::AppState;
use crate::tokens::jwt::{AccessClaims, IssuedAccessToken, LEEWAY_SECS, Subject};
use crate::tokens::refresh::{PlainRefreshToken, RefreshTokenHash};

/// What a sign-in or refresh hands to the client, whatever the transport.
#[derive(Debug)]
pub struct IssuedSession {
    /// The signed access token.
    pub access: IssuedAccessToken,
    /// The new refresh token.
    pub refresh: PlainRefreshToken,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    /// The signed-in user.
    pub user: Arc<User>,
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn new_refresh_token() -> Result<(PlainRefreshToken, RefreshTokenHash), AppError> {
    let plain = PlainRefreshToken::generate().map_err(AppError::internal)?;
    let hash = plain.hash();
    Ok((plain, hash))
}

/// Begins a new family for an existing `user` and issues its first pair.
pub async fn start(state: &AppState, user: &UserRow) -> Result<IssuedSession, AppError> {
    begin(state, user, false).await
}

/// Stores a new account and begins its first family in one transaction: a registration is
/// either signed in or not stored at all. 409 when the email is taken.
pub async fn start_for_new_account(
    state: &AppState,
    user: &UserRow,
) -> Result<IssuedSession, AppError> {
    begin(state, user, true).await
}

async fn begin(state: &AppState, user: &UserRow, is_new: bool) -> Result<IssuedSession, AppError> {
    let now = Utc::now().timestamp_millis();
    let sid = Uuid::new_v4();
    let (refresh, hash) = new_refresh_token()?;
    let family_expires_at = now.saturating_add(millis(state.settings.session_max_age));
    let refresh_expires_at = now
        .saturating_add(millis(state.settings.refresh_ttl))
        .min(family_expires_at);
    let row = user.clone();
    let cutoff = state
        .db
        .run(move |conn| {
            let sid = sid.to_string();
            let new_user = is_new.then(|| NewUser {
                id: &row.id,
                email: &row.email,
                name: row.name.as_deref(),
                role: &row.role,
                password_hash: &row.password_hash,
                created_at: row.created_at,
            });
            repo::start_family(
                conn,
                new_user.as_ref(),
                &NewFamily {
                    id: &sid,
                    user_id: &row.id,
                    created_at: now,
                    expires_at: family_expires_at,
                },
                &NewRefreshToken {
                    token_hash: hash.as_str(),
                    family_id: &sid,
                    user_id: &row.id,
                    issued_at: now,
                    expires_at: refresh_expires_at,
                    parent_hash: None,
                },
            )
        })
        .await?;
    issue(state, user, sid, cutoff, refresh, refresh_expires_at, now)
}

fn issue(
    state: &AppState,
    user: &UserRow,
    sid: Uuid,
    cutoff: i64,
    refresh: PlainRefreshToken,
    refresh_expires_at: i64,
    now: i64,
) -> Result<IssuedSession, AppError> {
    let access = state.jwt.issue(
        Subject {
            user_id: &user.id,
            email: &user.email,
            role: Role::from_stored(&user.role),
            sid,
            cutoff,
        },
        now.div_euclid(1000),
    )?;
    Ok(IssuedSession {
        access,
        refresh,
        refresh_expires_in: (refresh_expires_at - now).div_euclid(1000),
        user: state.users.remember(user),
    })
}

/// Rotates a presented refresh token (contract §2): a new pair in the same family, or 401
/// `invalid_grant`; reuse outside the grace revokes the whole family first.
pub async fn refresh(state: &AppState, presented: &str) -> Result<IssuedSession, AppError> {
    let presented = RefreshTokenHash::of_presented(presented).ok_or(AppError::InvalidGrant)?;
    let (refresh, hash) = new_refresh_token()?;
    let rules = RotationRules {
        clock: || Utc::now().timestamp_millis(),
        refresh_ttl: millis(state.settings.refresh_ttl),
        reuse_grace: millis(state.settings.reuse_grace),
    };
    let rotation = state
        .db
        .run(move |conn| repo::rotate_refresh_token(conn, presented.as_str(), hash.as_str(), rules))
        .await?;
    match rotation {
        Rotation::Rotated {
            user,
            family_id,
            expires_at,
            now,
        } => {
            let sid = Uuid::parse_str(&family_id).map_err(AppError::internal)?;
            issue(
                state,
                &user,
                sid,
                user.tokens_valid_after,
                refresh,
                expires_at,
                now,
            )
        }
        Rotation::Reused { family_id, now } => {
            log::warn!("refresh token reuse detected: session {family_id} revoked");
            state.denylist.revoke_families([family_id.as_str()], now);
            Err(AppError::InvalidGrant)
        }
        Rotation::Rejected => Err(AppError::InvalidGrant),
    }
}

/// The credentials a sign-out found on the request, whatever carried them. No `Debug`: it
/// holds raw tokens.
#[derive(Default)]
pub struct SignOut<'a> {
    /// Access tokens (from the header and the cookie).
    pub access_tokens: Vec<&'a str>,
    /// Refresh tokens from the body and the cookie.
    pub refresh_tokens: Vec<&'a str>,
}

/// Ends the sessions behind whatever credentials were presented (contract §3, Logout): denylists
/// the access token's `jti` if its signature verifies, even expired, and revokes its family and
/// the families of the refresh tokens. Bad credentials are simply nothing to revoke.
pub async fn sign_out(state: &AppState, credentials: SignOut<'_>) -> Result<(), AppError> {
    let now = Utc::now().timestamp_millis();
    let claims: Vec<AccessClaims> = credentials
        .access_tokens
        .iter()
        .filter_map(|token| state.jwt.verify_ignoring_expiry(token).ok())
        .collect();
    let refresh_hashes: Vec<RefreshTokenHash> = credentials
        .refresh_tokens
        .iter()
        .filter_map(|token| RefreshTokenHash::of_presented(token))
        .collect();
    if claims.is_empty() && refresh_hashes.is_empty() {
        return Ok(());
    }
    let jti_forget_at = |c: &AccessClaims| (c.exp + LEEWAY_SECS as i64) * 1000;
    let mut revocation = Revocation {
        jtis: claims
            .iter()
            .map(|c| RevokedTokenRow {
                jti: c.jti.to_string(),
                expires_at: jti_forget_at(c),
                revoked_at: now,
            })
            .collect(),
        family_ids: claims.iter().map(|c| c.sid.to_string()).collect(),
        now,
    };
    let family_ids = state
        .db
        .run(move |conn| {
            for hash in &refresh_hashes {
                if let Some(family) = repo::find_family_of_refresh_token(conn, hash.as_str())? {
                    revocation.family_ids.push(family);
                }
            }
            repo::revoke(conn, &revocation).map(|()| revocation.family_ids)
        })
        .await?;
    for c in &claims {
        state.denylist.revoke_jti(c.jti, jti_forget_at(c));
    }
    state
        .denylist
        .revoke_families(family_ids.iter().map(String::as_str), now);
    Ok(())
}

/// "Log out everywhere": every family of the user revoked, every access token issued so far
/// refused. The cut-off is the next whole second, and tokens are issued with
/// `iat = max(now, cut-off)`, so a sign-in in the same second still works (contract §2).
pub async fn sign_out_everywhere(state: &AppState, claims: &AccessClaims) -> Result<(), AppError> {
    let now = Utc::now().timestamp_millis();
    let cutoff = now.div_euclid(1000) + 1;
    let user_id = claims.sub.clone();
    let families = state
        .db
        .run(move |conn| repo::revoke_all_sessions(conn, &user_id, cutoff, now))
        .await?;
    state.denylist.set_cutoff(&claims.sub, cutoff);
    state
        .denylist
        .revoke_families(families.iter().map(String::as_str), now);
    Ok(())
}
