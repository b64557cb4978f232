//! The links doorward mails: "confirm your address" (sent at registration, and again on
//! request) and "choose a new password". Each carries a single-use opaque token, stored only as
//! its hash ([`crate::db::repo::mail_tokens`]), that expires: [`VERIFY_TTL_MS`] and
//! [`RESET_TTL_MS`].
//!
//! A reset request answers the same at once whether or not the email has an account: the
//! lookup and the mail happen after the answer, off the request, so neither the body nor the
//! time tells anyone which emails are registered.

use std::sync::Arc;

use crate::audit::{self, AuditEvent, AuditKind};
use crate::db::DbConn;
use crate::db::repo::{self, NewMailToken, purpose};
use crate::domain::{Email, Password};
use crate::error::AppError;
use crate::extractors::client_ip::{Client, ClientIp};
use crate::mail::{Mail, Mailer};
use crate::sessions;
use crate::state::{AppState, now_ms};
use crate::tokens::opaque::{OpaqueToken, OpaqueTokenHash};

/// How long a verification link works: a day.
pub const VERIFY_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a reset link works: an hour.
pub const RESET_TTL_MS: i64 = 60 * 60 * 1000;
/// At most one reset mail per account this often, so nobody can flood an inbox through doorward.
const RESET_MAIL_EVERY_MS: i64 = 60 * 1000;

/// What the links need, fixed at start.
pub struct MailLinks {
    /// SMTP or the outbox.
    pub mailer: Mailer,
    /// Where the links point: the public URL with the base path, no trailing slash.
    pub base_url: String,
    /// `DOORWARD_REQUIRE_VERIFIED_EMAIL`.
    pub require_verified_email: bool,
}

/// Mails `email` a verification link for `user_id`. A database failure is an error; a mail
/// that cannot be sent is logged (the cause may name the server) and answered 503.
pub async fn send_verification(
    state: &AppState,
    user_id: &str,
    email: &str,
) -> Result<(), AppError> {
    let link = store_link(state, user_id, email, purpose::VERIFY, VERIFY_TTL_MS).await?;
    let body = format!(
        "Confirm the address of your account:\r\n\r\n{}/verify-email?token={}\r\n\r\n\
         The link works once, within 24 hours. If you did not register, ignore this mail.\r\n",
        state.links.base_url,
        link.expose()
    );
    send(state, email, "Confirm your email address", body).await
}

/// Starts a reset for `email` in the background and returns at once: whether or not the email
/// has an account, the caller answers the same. Throttled per address as sign-ins are.
pub fn request_reset(state: Arc<AppState>, client: ClientIp, email: &str) -> Result<(), AppError> {
    state.throttle.sign_in(client.key())?;
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    actix_web::rt::spawn(async move {
        if let Err(e) = mail_reset(&state, email).await {
            log::warn!(
                "password reset mail not sent: {}",
                crate::error::error_chain(&e)
            );
        }
    });
    Ok(())
}

async fn mail_reset(state: &AppState, email: Email) -> Result<(), AppError> {
    let address = email.as_ref().to_owned();
    let since = now_ms() - RESET_MAIL_EVERY_MS;
    let found = state
        .db
        .run(move |conn| {
            let Some(user) = repo::find_user_by_email(conn, &address)? else {
                return Ok(None);
            };
            let recent = repo::mail_token_since(conn, &user.id, purpose::RESET, since)?;
            Ok((!recent && user.disabled_at.is_none()).then_some(user))
        })
        .await?;
    let Some(user) = found else {
        return Ok(());
    };
    let link = store_link(state, &user.id, &user.email, purpose::RESET, RESET_TTL_MS).await?;
    let body = format!(
        "Choose a new password for your account:\r\n\r\n{}/reset-password?token={}\r\n\r\n\
         The link works once, within an hour, and signs you out everywhere. If you did not ask\r\n\
         for it, ignore this mail: your password stays as it is.\r\n",
        state.links.base_url,
        link.expose()
    );
    send(state, &user.email, "Choose a new password", body).await
}

/// Spends a verification link. 400 `invalid_link` for one that is unknown, spent or expired.
pub async fn verify(state: &AppState, token: &str) -> Result<(), AppError> {
    let hash = presented(token)?;
    let now = now_ms();
    let verified = state
        .db
        .run(move |conn| repo::verify_email(conn, hash.as_str(), now))
        .await?
        .ok_or(AppError::InvalidLink)?;
    state.users.forget([verified.as_str()]);
    Ok(())
}

/// Spends a reset link: the new password is stored, every session ended and every token issued
/// so far refused, at once on this instance and within `DOORWARD_SYNC_INTERVAL` on the others.
pub async fn reset(
    state: &AppState,
    client: &Client,
    token: &str,
    password: Password,
) -> Result<(), AppError> {
    let hash = presented(token)?;
    let password_hash = state.hasher.hash(client.ip.key(), password).await?;
    let now = now_ms();
    let (cutoff, forget_at) = sessions::everywhere_cutoff(now, state.settings.family_memory_ms);
    let action = move |conn: &mut DbConn| {
        repo::reset_password(conn, hash.as_str(), &password_hash, now, cutoff, forget_at)
    };
    let client = client.clone();
    let audited = move |reset: &Option<String>| {
        let event = |id: &String| AuditEvent::of_user(AuditKind::PasswordReset, &**id);
        reset.iter().map(|id| event(id).sent_by(&client)).collect()
    };
    let user_id = audit::run_audited(&state.db, action, audited)
        .await?
        .ok_or(AppError::InvalidLink)?;
    state.denylist.set_cutoff(&user_id, cutoff, forget_at);
    state.users.forget([user_id.as_str()]);
    Ok(())
}

fn presented(token: &str) -> Result<OpaqueTokenHash, AppError> {
    OpaqueTokenHash::of_presented(token).ok_or(AppError::InvalidLink)
}

async fn store_link(
    state: &AppState,
    user_id: &str,
    email: &str,
    purpose: &'static str,
    ttl_ms: i64,
) -> Result<OpaqueToken, AppError> {
    let token = OpaqueToken::generate().map_err(AppError::internal)?;
    let hash = token.hash();
    let (user_id, email) = (user_id.to_owned(), email.to_owned());
    let now = now_ms();
    state
        .db
        .run(move |conn| {
            repo::insert_mail_token(
                conn,
                &NewMailToken {
                    token_hash: hash.as_str(),
                    user_id: &user_id,
                    purpose,
                    email: &email,
                    created_at: now,
                    expires_at: now + ttl_ms,
                },
            )
        })
        .await?;
    Ok(token)
}

async fn send(
    state: &AppState,
    to: &str,
    subject: &'static str,
    body: String,
) -> Result<(), AppError> {
    state
        .links
        .mailer
        .send(Mail { to, subject, body })
        .await
        .map_err(AppError::unavailable)
}
