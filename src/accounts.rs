//! Accounts: registration and password sign-in, transport-agnostic. The JSON routes, the
//! cookie routes and the pages all call [`register`] and [`sign_in`], and only differ in how
//! they answer.

use std::net::IpAddr;
use std::sync::Arc;

use uuid::Uuid;

use crate::audit::{self, AuditEvent, AuditKind};
use crate::db::models::UserRow;
use crate::db::{DbConn, repo};
use crate::domain::{DisplayName, Email, Password};
use crate::error::{AppError, FieldErrors};
use crate::extractors::client_ip::Client;
use crate::mail_links;
use crate::metrics::SignInOutcome;
use crate::sessions::{self, IssuedSession};
use crate::state::{AppState, now_ms};
use crate::throttle;
use crate::tokens::jwt::AccessClaims;
use crate::users::{CacheGeneration, NewAccount, User};

/// A validated registration request.
#[derive(Debug)]
pub struct Registration {
    /// Canonical email.
    pub email: Email,
    /// The new password.
    pub password: Password,
    /// Optional display name.
    pub name: Option<DisplayName>,
}

impl Registration {
    /// Validates raw fields; every problem is reported at once, per field.
    pub fn parse(
        email: Option<&str>,
        password: Option<&str>,
        name: Option<&str>,
        mut errors: FieldErrors,
    ) -> Result<Self, AppError> {
        let email = email.and_then(|raw| {
            Email::parse(raw)
                .map_err(|problem| errors.add("email", problem))
                .ok()
        });
        let password = password.and_then(|raw| {
            Password::parse_new(raw)
                .map_err(|problems| problems.into_iter().for_each(|p| errors.add("password", p)))
                .ok()
        });
        let name = name
            .map(|raw| DisplayName::parse(raw).map_err(|problem| errors.add("name", problem)))
            .transpose()
            .ok()
            .flatten()
            .flatten();
        match (email, password) {
            (Some(email), Some(password)) if errors.is_empty() => Ok(Self {
                email,
                password,
                name,
            }),
            _ => Err(AppError::Validation(errors)),
        }
    }
}

/// Creates the account and signs it in: the account and its first session are stored in one
/// transaction. 409 when the email is taken; 429 past `DOORWARD_REGISTER_RATE_PER_IP`.
pub async fn register(
    state: &Arc<AppState>,
    client: &Client,
    registration: Registration,
) -> Result<Registered, AppError> {
    state.throttle.register(client.ip.key())?;
    let password_hash = state
        .hasher
        .hash(client.ip.key(), registration.password)
        .await?;
    let account = NewAccount {
        id: Uuid::new_v4().to_string(),
        email: registration.email.as_ref().to_owned(),
        name: registration.name.map(|n| n.as_ref().to_owned()),
        password_hash,
        created_at: now_ms(),
    };
    let registered = if state.links.require_verified_email {
        let stored = account.clone();
        let event = AuditEvent::of_user(AuditKind::Register, &*account.id).sent_by(client);
        let action = move |conn: &mut DbConn| repo::create_account(conn, &stored.row());
        let audited = |created: &bool| if *created { vec![event] } else { Vec::new() };
        let created = audit::run_audited(&state.db, action, audited).await?;
        if !created {
            return Err(AppError::EmailTaken);
        }
        Registered::VerifyFirst(account.user())
    } else {
        Registered::SignedIn(sessions::start_for_new_account(state, &account, client).await?)
    };
    // The mail goes after the answer: a slow or failing mail server never fails a
    // registration, which the user can ask to be sent again (`/auth/verify-email/resend`).
    let (state, id, email) = (Arc::clone(state), account.id, account.email);
    actix_web::rt::spawn(async move {
        if let Err(e) = mail_links::send_verification(&state, &id, &email).await {
            log::warn!(
                "verification mail not sent: {}",
                crate::error::error_chain(&e)
            );
        }
    });
    Ok(registered)
}

/// What a registration ends in.
#[derive(Debug)]
pub enum Registered {
    /// The new user is signed in (the default).
    SignedIn(IssuedSession),
    /// `DOORWARD_REQUIRE_VERIFIED_EMAIL`: stored, and not signed in until the mailed link is
    /// followed.
    VerifyFirst(User),
}

/// Checks the credentials and starts a session.
pub async fn sign_in(
    state: &AppState,
    client: &Client,
    email: &str,
    password: &str,
) -> Result<IssuedSession, AppError> {
    let checked = check_password(state, client, email, password).await;
    let outcome = SignInOutcome::of(&checked);
    state.metrics.sign_in(outcome);
    // A refused credential is audited; a throttled flood or an outage is only counted.
    if let SignInOutcome::InvalidCredentials | SignInOutcome::EmailNotVerified = outcome {
        let event = AuditEvent::failed_sign_in(email, outcome.label()).sent_by(client);
        audit::record(&state.db, event).await;
    }
    let (user, read_at) = checked?;
    sessions::start(state, &user, read_at, client).await
}

/// Changes a signed-in user's password: the current one is checked as a sign-in checks it
/// (same throttles, same bcrypt pool), the new one hashed, then in one transaction the hash is
/// replaced and every other session of the user ended; the caller's own goes on. A wrong
/// current password is 422 with `fields.current_password`.
pub async fn change_password(
    state: &AppState,
    client: &Client,
    claims: &AccessClaims,
    current: &str,
    new: Password,
) -> Result<(), AppError> {
    let wrong = || async {
        let event = AuditEvent::of_user(AuditKind::PasswordChangeFailed, &*claims.sub)
            .in_session(claims.sid)
            .sent_by(client);
        audit::record(&state.db, event).await;
        let mut errors = FieldErrors::default();
        errors.add("current_password", "is not your password");
        AppError::Validation(errors)
    };
    let (user, _) = match check_password(state, client, &claims.email, current).await {
        Ok(found) => found,
        Err(AppError::InvalidCredentials) => return Err(wrong().await),
        Err(e) => return Err(e),
    };
    // The token's email may name another account by now (an operator's change).
    if user.id != claims.sub {
        return Err(wrong().await);
    }
    let hash = state.hasher.hash(client.ip.key(), new).await?;
    sessions::replace_password(state, claims, client, hash).await
}

/// Checks an email and password for a sign-in or a password change. Throttled first, before
/// any bcrypt: per address in memory, then per account and address in the database (the
/// attempt is counted there, and the count cleared by a success).
async fn check_password(
    state: &AppState,
    client: &Client,
    email: &str,
    password: &str,
) -> Result<(UserRow, CacheGeneration), AppError> {
    state.throttle.sign_in(client.ip.key())?;
    let account = throttle::account_key(email);
    let address = client.ip.key().to_string();
    let rules = state.throttle.attempt_rules(now_ms());
    if let Some(rules) = rules {
        let (key, at) = (account.clone(), address.clone());
        let verdict = state
            .db
            .run(move |conn| repo::claim_attempt(conn, &key, &at, rules))
            .await?;
        if let repo::AttemptVerdict::Refused { retry_after_ms } = verdict {
            return Err(AppError::throttled_ms(retry_after_ms));
        }
    }
    let found = authenticate(state, client.ip.key(), email, password).await?;
    if found.0.disabled_at.is_some() {
        return Err(AppError::InvalidCredentials);
    }
    if state.links.require_verified_email && found.0.email_verified_at.is_none() {
        return Err(AppError::EmailNotVerified);
    }
    if rules.is_some() {
        let now = now_ms();
        state
            .db
            .run(move |conn| repo::record_success(conn, &account, &address, now))
            .await?;
    }
    Ok(found)
}

/// Checks an email and password. Unknown emails, malformed emails and wrong passwords all take
/// one bcrypt verification and answer the same [`AppError::InvalidCredentials`].
async fn authenticate(
    state: &AppState,
    client: IpAddr,
    email: &str,
    password: &str,
) -> Result<(UserRow, CacheGeneration), AppError> {
    let password = Password::parse_presented(password);
    let read_at = state.users.generation();
    let row = match Email::parse(email) {
        Ok(email) => {
            state
                .db
                .run(move |conn| repo::find_user_by_email(conn, email.as_ref()))
                .await?
        }
        Err(_) => None,
    };
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let verified = state
        .hasher
        .verify(client, password.clone(), stored)
        .await?;
    let (Some(row), true, Some(password)) = (row, verified, password) else {
        return Err(AppError::InvalidCredentials);
    };
    if state.hasher.needs_rehash(&row.password_hash) {
        rehash(state, client, &row.id, password).await;
    }
    Ok((row, read_at))
}

/// Upgrades a hash made at another cost; a failure only delays the upgrade to the next login.
async fn rehash(state: &AppState, client: IpAddr, user_id: &str, password: Password) {
    let user_id = user_id.to_owned();
    let outcome: Result<(), AppError> = async {
        let hash = state.hasher.hash(client, password).await?;
        state
            .db
            .run(move |conn| repo::update_password_hash(conn, &user_id, &hash))
            .await?;
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        log::warn!("password rehash deferred: {e}");
    }
}

/// The user behind a verified token: from the cache, else read through from the database.
pub async fn find_user(state: &AppState, user_id: &str) -> Result<Arc<User>, AppError> {
    if let Some(user) = state.users.get(user_id) {
        return Ok(user);
    }
    let id = user_id.to_owned();
    let read_at = state.users.generation();
    let row = state
        .db
        .run(move |conn| repo::find_user_by_id(conn, &id))
        .await?
        .ok_or(AppError::InvalidToken("the account no longer exists"))?;
    Ok(state.users.remember(User::from(&row), read_at))
}
