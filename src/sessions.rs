//! Sessions: start one at sign-in, rotate it at refresh, end it at sign-out (contract §2).
//!
//! A session is a refresh family; its access tokens carry the family id as `sid`. Every
//! transport (bearer JSON, cookies, pages) goes through these functions, so rotation, reuse
//! detection and revocation exist once. Each revocation is committed to the database before it
//! is recorded in the in-memory denylist, and before the client hears of it.

use std::sync::Arc;

use actix_web::HttpRequest;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, AuditEvent, AuditKind};
use crate::cookies::{self, TokenCookies};
use crate::db::DbConn;
use crate::db::models::{NewFamily, NewRefreshToken, UserRow};
use crate::db::repo::{self, FamilyStart, Revocation, Rotation, RotationRules};
use crate::error::AppError;
use crate::extractors::auth::{PresentedToken, presented_token};
use crate::extractors::client_ip::Client;
use crate::state::{AppState, now_ms};
use crate::tokens::jwt::{AccessClaims, IssuedAccessToken, LEEWAY_SECS, Subject};
use crate::tokens::opaque::{OpaqueToken, OpaqueTokenHash};
use crate::users::{CacheGeneration, NewAccount, User, rfc3339};

/// What a sign-in or refresh hands to the client, whatever the transport.
#[derive(Debug)]
pub struct IssuedSession {
    /// The signed access token.
    pub access: IssuedAccessToken,
    /// The new refresh token.
    pub refresh: OpaqueToken,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    /// The signed-in user.
    pub user: Arc<User>,
}

impl IssuedSession {
    /// The pair as the cookie transport sets it.
    pub fn cookies(&self) -> TokenCookies<'_> {
        TokenCookies {
            access_token: &self.access.token,
            access_max_age: self.access.expires_in,
            refresh_token: self.refresh.expose(),
            refresh_max_age: self.refresh_expires_in,
        }
    }
}

/// Whose session is starting: an account just read, or one stored in the same transaction.
enum Owner<'a> {
    Existing(&'a UserRow, CacheGeneration),
    New(&'a NewAccount),
}

fn new_refresh_token() -> Result<(OpaqueToken, OpaqueTokenHash), AppError> {
    let plain = OpaqueToken::generate().map_err(AppError::internal)?;
    let hash = plain.hash();
    Ok((plain, hash))
}

/// Begins a new family for an existing account (read after `read_at`) and issues its first
/// pair: a sign-in, audited as one.
pub async fn start(
    state: &AppState,
    user: &UserRow,
    read_at: CacheGeneration,
    client: &Client,
) -> Result<IssuedSession, AppError> {
    begin(state, Owner::Existing(user, read_at), client).await
}

/// Stores a new account and begins its first family in one transaction: a registration is
/// either signed in or not stored at all (and audited). 409 when the email is taken.
pub async fn start_for_new_account(
    state: &AppState,
    account: &NewAccount,
    client: &Client,
) -> Result<IssuedSession, AppError> {
    begin(state, Owner::New(account), client).await
}

async fn begin(
    state: &AppState,
    owner: Owner<'_>,
    client: &Client,
) -> Result<IssuedSession, AppError> {
    let now = now_ms();
    let sid = Uuid::new_v4();
    let (refresh, hash) = new_refresh_token()?;
    let family_expires_at = now.saturating_add(state.settings.session_max_age_ms);
    let refresh_expires_at = now
        .saturating_add(state.settings.refresh_ttl_ms)
        .min(family_expires_at);
    let (user_id, new_account, read_at, kind) = match &owner {
        Owner::Existing(row, read_at) => (row.id.clone(), None, *read_at, AuditKind::SignIn),
        Owner::New(account) => (
            account.id.clone(),
            Some((*account).clone()),
            state.users.generation(),
            AuditKind::Register,
        ),
    };
    let event = AuditEvent::of_user(kind, &*user_id)
        .in_session(sid)
        .sent_by(client);
    let user_agent = client.user_agent.clone();
    let client_ip = client.ip.address().to_string();
    let action = move |conn: &mut DbConn| {
        let sid = sid.to_string();
        repo::start_family(
            conn,
            new_account.as_ref().map(NewAccount::row).as_ref(),
            &NewFamily {
                id: &sid,
                user_id: &user_id,
                created_at: now,
                expires_at: family_expires_at,
                user_agent: user_agent.as_deref(),
                client_ip: Some(&client_ip),
            },
            &NewRefreshToken {
                token_hash: hash.as_str(),
                family_id: &sid,
                user_id: &user_id,
                issued_at: now,
                expires_at: refresh_expires_at,
                parent_hash: None,
            },
        )
    };
    let audited = |started: &FamilyStart| match started {
        FamilyStart::Started { .. } => vec![event],
        FamilyStart::EmailTaken => Vec::new(),
    };
    let started = audit::run_audited(&state.db, action, audited).await?;
    let FamilyStart::Started { cutoff } = started else {
        return Err(AppError::EmailTaken);
    };
    let user = match owner {
        Owner::Existing(row, _) => User::from(row),
        Owner::New(account) => account.user(),
    };
    let pair = Pair {
        sid,
        cutoff,
        refresh,
        refresh_expires_at,
        now,
    };
    issue(state, user, read_at, pair)
}

/// A stored refresh token and what its access token needs.
struct Pair {
    sid: Uuid,
    cutoff: i64,
    refresh: OpaqueToken,
    refresh_expires_at: i64,
    now: i64,
}

/// Signs the access token and caches the user: the one place either happens.
fn issue(
    state: &AppState,
    user: User,
    read_at: CacheGeneration,
    pair: Pair,
) -> Result<IssuedSession, AppError> {
    let access = state.jwt.issue(
        Subject {
            user_id: &user.id,
            email: &user.email,
            role: user.role,
            sid: pair.sid,
            cutoff: pair.cutoff,
        },
        pair.now.div_euclid(1000),
    )?;
    Ok(IssuedSession {
        access,
        refresh: pair.refresh,
        refresh_expires_in: (pair.refresh_expires_at - pair.now).div_euclid(1000),
        user: state.users.remember(user, read_at),
    })
}

/// Rotates a presented refresh token (contract §2): a new pair in the same family, or 401
/// `invalid_grant`; reuse outside the grace (or a second reuse within it) revokes the whole
/// family first.
pub async fn refresh(
    state: &AppState,
    client: &Client,
    presented: &str,
) -> Result<IssuedSession, AppError> {
    state.throttle.refresh(client.ip.key())?;
    let presented = OpaqueTokenHash::of_presented(presented).ok_or(AppError::InvalidGrant)?;
    let (refresh, hash) = new_refresh_token()?;
    let rules = RotationRules {
        clock: now_ms,
        refresh_ttl: state.settings.refresh_ttl_ms,
        reuse_grace: state.settings.reuse_grace_ms,
        family_memory: state.settings.family_memory_ms,
        per_session: state.throttle.rotations_per_session(),
    };
    let read_at = state.users.generation();
    let client = client.clone();
    let action = move |conn: &mut DbConn| {
        repo::rotate_refresh_token(conn, presented.as_str(), hash.as_str(), rules)
    };
    let audited = move |rotation: &Rotation| {
        let event = match rotation {
            Rotation::Rotated {
                user, family_id, ..
            } => AuditEvent::of_user(AuditKind::Refresh, &*user.id).in_session(family_id),
            Rotation::Reused { family_id, .. } => {
                AuditEvent::of_session(AuditKind::RefreshReuseDetected, family_id)
            }
            Rotation::Rejected | Rotation::Throttled { .. } => return Vec::new(),
        };
        vec![event.sent_by(&client)]
    };
    let rotation = audit::run_audited(&state.db, action, audited).await?;
    match rotation {
        Rotation::Rotated {
            user,
            family_id,
            expires_at,
            now,
        } => {
            let pair = Pair {
                sid: Uuid::parse_str(&family_id).map_err(AppError::internal)?,
                cutoff: user.tokens_valid_after,
                refresh,
                refresh_expires_at: expires_at,
                now,
            };
            issue(state, User::from(&user), read_at, pair)
        }
        Rotation::Reused { family_id, now } => {
            state.metrics.refresh_reuse_detected();
            log::warn!("refresh token reuse detected: session {family_id} revoked");
            let forget_at = now + state.settings.family_memory_ms;
            state
                .denylist
                .revoke_families([family_id.as_str()], forget_at);
            Err(AppError::InvalidGrant)
        }
        Rotation::Rejected => Err(AppError::InvalidGrant),
        Rotation::Throttled { retry_after_ms } => Err(AppError::throttled_ms(retry_after_ms)),
    }
}

/// The credentials a sign-out found on the request, whatever carried them, and who sent them
/// (for the audit log). No `Debug`: it holds raw tokens.
pub struct SignOut<'a> {
    /// Access tokens (from the header and the cookie).
    pub access_tokens: Vec<&'a str>,
    /// Refresh tokens from the body and the cookie.
    pub refresh_tokens: Vec<&'a str>,
    /// The client signing out.
    pub client: Client,
}

impl<'a> SignOut<'a> {
    /// The auth cookies a request carries, every value of each: nobody can tell which of two
    /// copies is the genuine one, so all are revoked.
    pub fn cookies(req: &'a HttpRequest) -> Self {
        Self {
            access_tokens: cookies::all_values(req.headers(), cookies::ACCESS_COOKIE).collect(),
            refresh_tokens: cookies::all_values(req.headers(), cookies::REFRESH_COOKIE).collect(),
            client: Client::of_request(req),
        }
    }

    /// Every credential a sign-out can find: the bearer header, the cookies, and a refresh
    /// token from the body.
    pub fn presented(req: &'a HttpRequest, body_refresh_token: Option<&'a str>) -> Self {
        let mut credentials = Self::cookies(req);
        if let PresentedToken::Bearer(token) = presented_token(req.headers()) {
            credentials.access_tokens.push(token);
        }
        credentials.refresh_tokens.extend(body_refresh_token);
        credentials
    }
}

/// Ends the sessions behind whatever credentials were presented (contract §3, Logout): denylists
/// the access tokens' `jti`s if their signatures verify, even expired, and revokes their
/// families and the families of the refresh tokens. Bad credentials are simply nothing to
/// revoke.
pub async fn sign_out(state: &AppState, credentials: SignOut<'_>) -> Result<(), AppError> {
    let claims: Vec<AccessClaims> = credentials
        .access_tokens
        .iter()
        .filter_map(|token| state.jwt.verify_ignoring_expiry(token).ok())
        .collect();
    let refresh_hashes: Vec<OpaqueTokenHash> = credentials
        .refresh_tokens
        .iter()
        .filter_map(|token| OpaqueTokenHash::of_presented(token))
        .collect();
    let client = &credentials.client;
    revoke(
        state,
        client,
        &claims,
        refresh_hashes,
        AccessTokenSessions::End,
    )
    .await
}

/// RFC 7009 revocation of one token, whichever kind it is: an access token (a JWT of ours,
/// expired or not) is denylisted by its `jti` and its session goes on; a refresh token ends its
/// session. Anything else is nothing to revoke. The kinds cannot be mistaken for each other, so
/// a `token_type_hint` is not needed.
pub async fn revoke_token(state: &AppState, client: &Client, token: &str) -> Result<(), AppError> {
    if let Ok(claims) = state.jwt.verify_ignoring_expiry(token) {
        let claims = std::slice::from_ref(&claims);
        return revoke(state, client, claims, Vec::new(), AccessTokenSessions::Keep).await;
    }
    let refresh_hashes = OpaqueTokenHash::of_presented(token).into_iter().collect();
    revoke(state, client, &[], refresh_hashes, AccessTokenSessions::End).await
}

/// Whether revoking an access token ends its session (`sid`) too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AccessTokenSessions {
    End,
    Keep,
}

/// Denylists the access tokens' `jti`s and revokes the refresh tokens' families (and, with
/// [`AccessTokenSessions::End`], the access tokens' sessions): in the database in one
/// transaction, then in memory. Audited: `sign_out` for each session it ended, and with
/// [`AccessTokenSessions::Keep`] `token_revoked` for each token it denylisted; what was
/// revoked already writes nothing.
async fn revoke(
    state: &AppState,
    client: &Client,
    claims: &[AccessClaims],
    refresh_hashes: Vec<OpaqueTokenHash>,
    sessions: AccessTokenSessions,
) -> Result<(), AppError> {
    let now = now_ms();
    let jti_forget_at = |c: &AccessClaims| c.exp.saturating_add(LEEWAY_SECS as i64) * 1000;
    // A token that can never be accepted again, expired past the leeway or already refused,
    // needs no row: revoking one token over and over writes it once.
    let live: Vec<&AccessClaims> = claims
        .iter()
        .filter(|c| jti_forget_at(c) > now && state.denylist.refusal(c).is_none())
        .collect();
    let access_families: Vec<String> = match sessions {
        AccessTokenSessions::End => claims.iter().map(|c| c.sid.to_string()).collect(),
        AccessTokenSessions::Keep => Vec::new(),
    };
    if live.is_empty() && access_families.is_empty() && refresh_hashes.is_empty() {
        return Ok(());
    }
    let revoked_tokens: Vec<AuditEvent> = match sessions {
        AccessTokenSessions::Keep => live
            .iter()
            .map(|c| {
                AuditEvent::of_user(AuditKind::TokenRevoked, &*c.sub)
                    .in_session(c.sid)
                    .sent_by(client)
            })
            .collect(),
        AccessTokenSessions::End => Vec::new(),
    };
    let client = client.clone();
    let family_forget_at = now + state.settings.family_memory_ms;
    let mut revocation = Revocation {
        jtis: live
            .iter()
            .map(|c| (c.jti.to_string(), jti_forget_at(c)))
            .collect(),
        family_ids: access_families,
        now,
        family_forget_at,
    };
    let action = move |conn: &mut DbConn| {
        for hash in &refresh_hashes {
            if let Some(family) = repo::find_family_of_refresh_token(conn, hash.as_str())? {
                revocation.family_ids.push(family);
            }
        }
        let ended = repo::revoke(conn, &revocation)?;
        Ok((revocation.family_ids, ended))
    };
    let audited = move |(_, ended): &(Vec<String>, Vec<String>)| {
        let signed_out = ended
            .iter()
            .map(|sid| AuditEvent::of_session(AuditKind::SignOut, &**sid).sent_by(&client));
        revoked_tokens.into_iter().chain(signed_out).collect()
    };
    let (family_ids, _) = audit::run_audited(&state.db, action, audited).await?;
    for c in live {
        state.denylist.revoke_jti(c.jti, jti_forget_at(c));
    }
    state
        .denylist
        .revoke_families(family_ids.iter().map(String::as_str), family_forget_at);
    Ok(())
}

/// The last step of a cookie or page sign-in: revokes the sessions of the auth cookies the
/// request carried, which the new cookies are about to overwrite, so nothing is left alive
/// that nobody holds any longer. If that revocation cannot be recorded the sign-in fails
/// (503), so none is skipped.
pub async fn replacing_cookie_sessions(
    state: &AppState,
    req: &HttpRequest,
    issued: IssuedSession,
) -> Result<IssuedSession, AppError> {
    sign_out(state, SignOut::cookies(req)).await?;
    Ok(issued)
}

/// "Log out everywhere": every family of the user revoked, every access token issued so far
/// refused. The cut-off is the next whole second, and tokens are issued with
/// `iat = max(now, cut-off)`, so a sign-in in the same second still works (contract §2).
pub async fn sign_out_everywhere(
    state: &AppState,
    claims: &AccessClaims,
    client: &Client,
) -> Result<(), AppError> {
    let now = now_ms();
    let (cutoff, forget_at) = everywhere_cutoff(now, state.settings.family_memory_ms);
    let user_id = claims.sub.clone();
    let event = AuditEvent::of_user(AuditKind::SignOutEverywhere, &*claims.sub)
        .in_session(claims.sid)
        .sent_by(client);
    let action =
        move |conn: &mut DbConn| repo::revoke_all_sessions(conn, &user_id, cutoff, now, forget_at);
    audit::run_audited(&state.db, action, |_: &()| vec![event]).await?;
    state.denylist.set_cutoff(&claims.sub, cutoff, forget_at);
    Ok(())
}

/// The cut-off that signs a user out everywhere at `now` (Unix ms), in Unix seconds, and when
/// its log entry may be forgotten: once every family it ended is forgotten too.
pub fn everywhere_cutoff(now: i64, family_memory_ms: i64) -> (i64, i64) {
    let cutoff = now.div_euclid(1000) + 1;
    (cutoff, cutoff * 1000 + family_memory_ms)
}

/// A live session as its owner sees it (`GET /api/sessions`, the account page).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The session's id (`sid`), for `DELETE /api/sessions/{id}`.
    pub id: String,
    /// When it began (the sign-in), RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When its refresh token was last rotated (else when it began), RFC 3339.
    #[schema(format = DateTime)]
    pub last_used_at: String,
    /// The `User-Agent` of the sign-in, at most 256 characters.
    pub user_agent: Option<String>,
    /// The client address of the sign-in, as doorward saw it (`DOORWARD_TRUSTED_PROXIES`).
    pub ip: Option<String>,
    /// True for the session of the access token asking.
    pub current: bool,
}

/// The caller's live sessions, most recently used first; `current` marks the caller's own.
pub async fn list(state: &AppState, claims: &AccessClaims) -> Result<Vec<SessionView>, AppError> {
    let user_id = claims.sub.clone();
    let (now, ttl) = (now_ms(), state.settings.refresh_ttl_ms);
    let rows = state
        .db
        .run(move |conn| repo::list_sessions(conn, &user_id, now, ttl))
        .await?;
    let current = claims.sid.to_string();
    Ok(rows
        .into_iter()
        .map(|row| SessionView {
            current: row.id == current,
            created_at: rfc3339(row.created_at),
            last_used_at: rfc3339(row.last_used_at.unwrap_or(row.created_at)),
            id: row.id,
            user_agent: row.user_agent,
            ip: row.client_ip,
        })
        .collect())
}

/// Ends one of the caller's sessions (its own included): its refresh token is refused and its
/// access tokens die at once, through `sid`, on every instance. 404 `not_found` when `id` is
/// not a live session of the caller's, whoever's it may be.
pub async fn end_session(
    state: &AppState,
    claims: &AccessClaims,
    client: &Client,
    id: &str,
) -> Result<(), AppError> {
    let ended = end(
        state,
        claims,
        client,
        repo::SessionChoice::One(id.to_owned()),
    )
    .await?;
    if ended == 0 {
        return Err(AppError::NotFound("no such session"));
    }
    Ok(())
}

/// Ends every live session of the caller's but the caller's own; how many ended.
pub async fn end_other_sessions(
    state: &AppState,
    claims: &AccessClaims,
    client: &Client,
) -> Result<usize, AppError> {
    let others = repo::SessionChoice::AllBut(claims.sid.to_string());
    end(state, claims, client, others).await
}

async fn end(
    state: &AppState,
    claims: &AccessClaims,
    client: &Client,
    choice: repo::SessionChoice,
) -> Result<usize, AppError> {
    let now = now_ms();
    let forget_at = now + state.settings.family_memory_ms;
    let user_id = claims.sub.clone();
    let revoked = AuditEvent::of_user(AuditKind::SessionRevoked, &*claims.sub).sent_by(client);
    let action =
        move |conn: &mut DbConn| repo::revoke_sessions_of(conn, &user_id, &choice, now, forget_at);
    let audited = move |ended: &Vec<String>| {
        let event = |sid: &String| revoked.clone().in_session(sid);
        ended.iter().map(event).collect()
    };
    let ended = audit::run_audited(&state.db, action, audited).await?;
    state
        .denylist
        .revoke_families(ended.iter().map(String::as_str), forget_at);
    Ok(ended.len())
}

/// Stores a new password hash and ends every other session of the user, in one transaction:
/// a password change that is acknowledged has signed out whoever knew the old one.
pub async fn replace_password(
    state: &AppState,
    claims: &AccessClaims,
    client: &Client,
    password_hash: String,
) -> Result<(), AppError> {
    let now = now_ms();
    let forget_at = now + state.settings.family_memory_ms;
    let user_id = claims.sub.clone();
    let keep = repo::SessionChoice::AllBut(claims.sid.to_string());
    let event = AuditEvent::of_user(AuditKind::PasswordChanged, &*claims.sub)
        .in_session(claims.sid)
        .sent_by(client);
    let action = move |conn: &mut DbConn| {
        repo::replace_password(conn, &user_id, &password_hash, &keep, now, forget_at)
    };
    let ended = audit::run_audited(&state.db, action, |_: &Vec<String>| vec![event]).await?;
    state
        .denylist
        .revoke_families(ended.iter().map(String::as_str), forget_at);
    Ok(())
}
