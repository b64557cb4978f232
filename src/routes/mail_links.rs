//! The mailed links' JSON routes: confirm an address, send the confirmation again, ask for a
//! password reset and complete it. The flows are [`crate::mail_links`]'s; the pages that the
//! links open are `routes::pages::mail_links`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::api::password_change;
use super::openapi::{PasswordResetConfirm, PasswordResetRequest, TokenBody};
use super::respond::no_store;
use crate::accounts;
use crate::error::{AppError, ErrorBody, FieldErrors};
use crate::extractors::auth::AuthUser;
use crate::extractors::client_ip::{Client, ClientIp};
use crate::extractors::json::JsonFields;
use crate::mail_links;
use crate::state::AppState;

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/verify-email").post(verify_email))
        .service(web::resource("/auth/verify-email/resend").post(resend_verification))
        .service(web::resource("/auth/password-reset").post(request_reset))
        .service(web::resource("/auth/password-reset/confirm").post(confirm_reset));
}

/// The same answer to every reset request.
#[derive(Serialize, ToSchema)]
pub struct ResetRequested {
    /// Always the same sentence, whether or not the email has an account.
    status: &'static str,
}

/// What a reset request says, account or not.
pub const RESET_REQUESTED: &str =
    "if an account has this email, a link to choose a new password is on its way";

/// Confirms an address with the token of its mailed link.
#[utoipa::path(
    post,
    path = "/auth/verify-email",
    tag = "json",
    request_body = TokenBody,
    responses(
        (status = 204, description = "Confirmed: `email_verified` is true from now on"),
        (status = 400, description = "`invalid_link` (unknown, used or expired), or not JSON", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 422, description = "`token` missing", body = ErrorBody<'static>),
        (status = 503, description = "Database unavailable", body = ErrorBody<'static>),
    )
)]
async fn verify_email(
    state: web::Data<AppState>,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let Some(token) = body.required_str("token", &mut errors) else {
        return Err(AppError::Validation(errors));
    };
    mail_links::verify(&state, token).await?;
    Ok(no_store(StatusCode::NO_CONTENT).finish())
}

/// Mails the caller a new confirmation link, unless the address is confirmed already.
#[utoipa::path(
    post,
    path = "/auth/verify-email/resend",
    tag = "json",
    security(("bearer" = []), ("access_cookie" = []), ("oauth2_password" = [])),
    responses(
        (status = 202, description = "A new link was mailed"),
        (status = 204, description = "The address is confirmed already: nothing sent"),
        (status = 401, description = "No valid access token", body = ErrorBody<'static>),
        (status = 403, description = "`csrf_failed`", body = ErrorBody<'static>),
        (status = 503, description = "Database or mail server unavailable", body = ErrorBody<'static>),
    )
)]
async fn resend_verification(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, AppError> {
    let me = accounts::find_user(&state, &user.claims.sub).await?;
    if me.email_verified {
        return Ok(no_store(StatusCode::NO_CONTENT).finish());
    }
    mail_links::send_verification(&state, &me.id, &me.email).await?;
    Ok(no_store(StatusCode::ACCEPTED).finish())
}

/// Asks for a password reset link. The answer is the same, and as quick, whether or not the
/// email has an account: the lookup and the mail happen after it.
#[utoipa::path(
    post,
    path = "/auth/password-reset",
    tag = "json",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "The same for every email", body = ResetRequested),
        (status = 400, description = "Not JSON, or not an object", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 422, description = "`email` missing or not a string", body = ErrorBody<'static>),
        (status = 429, description = "Throttled as sign-ins are; see `Retry-After`", body = ErrorBody<'static>),
    )
)]
async fn request_reset(
    state: web::Data<AppState>,
    client: ClientIp,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let Some(email) = body.required_str("email", &mut errors) else {
        return Err(AppError::Validation(errors));
    };
    mail_links::request_reset(state.into_inner(), client, email)?;
    Ok(no_store(StatusCode::ACCEPTED).json(ResetRequested {
        status: RESET_REQUESTED,
    }))
}

/// Chooses a new password with the token of a reset link: every session of the account ends.
#[utoipa::path(
    post,
    path = "/auth/password-reset/confirm",
    tag = "json",
    request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "Changed; every session ended, every token refused; sign in again"),
        (status = 400, description = "`invalid_link` (unknown, used or expired), or not JSON", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 422, description = "`token` missing, or `new_password` against the rules", body = ErrorBody<'static>),
        (status = 503, description = "Database or hashing queue busy", body = ErrorBody<'static>),
    )
)]
async fn confirm_reset(
    state: web::Data<AppState>,
    client: Client,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let token = body.required_str("token", &mut errors);
    let new = body.required_str("new_password", &mut errors);
    let (token, new) = password_change(token, new, errors)?;
    mail_links::reset(&state, &client, &token, new).await?;
    Ok(no_store(StatusCode::NO_CONTENT).finish())
}
