//! The pages the mailed links open, and the form that asks for one: `GET/POST
//! /forgot-password`, `GET/POST /reset-password`, `GET/POST /verify-email`. The `GET`s only
//! show a form (mail scanners open links; only a person presses the button), the `POST`s act.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::form::{CheckedForm, query};
use super::response::{PageError, page_builder, render, see_other};
use crate::error::{AppError, FieldErrors};
use crate::extractors::client_ip::{Client, ClientIp};
use crate::mail_links;
use crate::page_session::{self, Flash};
use crate::routes::api::password_change;
use crate::routes::openapi::{ForgotPasswordForm, LinkForm, ResetPasswordForm};
use crate::state::AppState;
use crate::templates::{ForgotPasswordPage, MessagePage, ResetPasswordPage, VerifyEmailPage};

const INVALID_LINK: MessagePage<'static> = MessagePage {
    title: "This link does not work",
    message: "It was used already, has expired, or was mistyped. Ask for a new one.",
};

fn invalid_link() -> HttpResponse {
    render(page_builder(StatusCode::BAD_REQUEST), &INVALID_LINK)
}

fn csrf_token(session: &Session) -> Result<String, PageError> {
    Ok(page_session::csrf_token(session).map_err(AppError::internal)?)
}

/// The "Forgot your password?" form.
#[utoipa::path(
    get,
    path = "/forgot-password",
    tag = "pages",
    responses((status = 200, description = "The form, with its CSRF token", content_type = "text/html"))
)]
pub(super) async fn forgot_form(session: Session) -> Result<HttpResponse, PageError> {
    let csrf_token = csrf_token(&session)?;
    Ok(render(
        page_builder(StatusCode::OK),
        &ForgotPasswordPage {
            csrf_token: &csrf_token,
        },
    ))
}

/// Asks for a reset link: the same page whether or not the email has an account.
#[utoipa::path(
    post,
    path = "/forgot-password",
    tag = "pages",
    request_body(content = ForgotPasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Check your email, for every email", content_type = "text/html"),
        (status = 400, description = "A form that cannot be read", content_type = "text/html"),
        (status = 403, description = "Missing or wrong CSRF token, or posted from another site", content_type = "text/html"),
        (status = 408, description = "The form was not sent in time", content_type = "text/html"),
        (status = 413, description = "Over 64 KiB", content_type = "text/html"),
        (status = 429, description = "Throttled; see `Retry-After`", content_type = "text/html"),
    )
)]
pub(super) async fn forgot_submit(
    state: web::Data<AppState>,
    client: ClientIp,
    CheckedForm(fields): CheckedForm,
) -> Result<HttpResponse, PageError> {
    let email = fields.get("email").unwrap_or_default();
    mail_links::request_reset(state.into_inner(), client, email)?;
    Ok(render(
        page_builder(StatusCode::OK),
        &MessagePage {
            title: "Check your email",
            message: "If an account has this email, a link to choose a new password is on \
                      its way. It works once, within an hour.",
        },
    ))
}

/// The new password form of a reset link.
#[utoipa::path(
    get,
    path = "/reset-password",
    tag = "pages",
    params(("token" = String, Query, description = "The link's token", min_length = 1)),
    responses(
        (status = 200, description = "The form, with the token and a CSRF token", content_type = "text/html"),
        (status = 400, description = "No token: the link does not work", content_type = "text/html"),
    )
)]
pub(super) async fn reset_form(
    req: HttpRequest,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let query = query(&req);
    let Some(token) = query.get("token").filter(|t| !t.is_empty()) else {
        return Ok(invalid_link());
    };
    let csrf_token = csrf_token(&session)?;
    Ok(render(
        page_builder(StatusCode::OK),
        &ResetPasswordPage {
            csrf_token: &csrf_token,
            token,
            password_errors: &[],
        },
    ))
}

/// Chooses the new password: every session ends, then 303 to the sign-in form with a notice.
#[utoipa::path(
    post,
    path = "/reset-password",
    tag = "pages",
    request_body(content = ResetPasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Changed; `Location` is `/login`"),
        (status = 400, description = "The link does not work (used, expired, mistyped), or a form that cannot be read", content_type = "text/html"),
        (status = 403, description = "Missing or wrong CSRF token, or posted from another site", content_type = "text/html"),
        (status = 408, description = "The form was not sent in time", content_type = "text/html"),
        (status = 413, description = "Over 64 KiB", content_type = "text/html"),
        (status = 422, description = "The form again, with the password's problems", content_type = "text/html"),
        (status = 503, description = "Database or hashing queue busy", content_type = "text/html"),
    )
)]
pub(super) async fn reset_submit(
    state: web::Data<AppState>,
    client: Client,
    session: Session,
    CheckedForm(fields): CheckedForm,
) -> Result<HttpResponse, PageError> {
    let token = fields.get("token").unwrap_or_default();
    let reset = match password_change(
        Some(token).filter(|t| !t.is_empty()),
        fields.get("new_password"),
        FieldErrors::default(),
    ) {
        Ok((token, new)) => mail_links::reset(&state, &client, &token, new).await,
        Err(e) => Err(e),
    };
    match reset {
        Ok(()) => {
            page_session::set_flash(&session, Flash::PasswordReset);
            Ok(see_other(&state.path("/login")).finish())
        }
        Err(AppError::InvalidLink) => Ok(invalid_link()),
        Err(AppError::Validation(errors)) if !token.is_empty() => {
            let csrf_token = csrf_token(&session)?;
            Ok(render(
                page_builder(StatusCode::UNPROCESSABLE_ENTITY),
                &ResetPasswordPage {
                    csrf_token: &csrf_token,
                    token,
                    password_errors: errors.get("new_password"),
                },
            ))
        }
        Err(AppError::Validation(_)) => Ok(invalid_link()),
        Err(e) => Err(e.into()),
    }
}

/// The confirm button of a verification link.
#[utoipa::path(
    get,
    path = "/verify-email",
    tag = "pages",
    params(("token" = String, Query, description = "The link's token", min_length = 1)),
    responses(
        (status = 200, description = "The button, with the token and a CSRF token", content_type = "text/html"),
        (status = 400, description = "No token: the link does not work", content_type = "text/html"),
    )
)]
pub(super) async fn verify_form(
    req: HttpRequest,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let query = query(&req);
    let Some(token) = query.get("token").filter(|t| !t.is_empty()) else {
        return Ok(invalid_link());
    };
    let csrf_token = csrf_token(&session)?;
    Ok(render(
        page_builder(StatusCode::OK),
        &VerifyEmailPage {
            csrf_token: &csrf_token,
            token,
        },
    ))
}

/// Confirms the address.
#[utoipa::path(
    post,
    path = "/verify-email",
    tag = "pages",
    request_body(content = LinkForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Confirmed", content_type = "text/html"),
        (status = 400, description = "The link does not work, or a form that cannot be read", content_type = "text/html"),
        (status = 403, description = "Missing or wrong CSRF token, or posted from another site", content_type = "text/html"),
        (status = 408, description = "The form was not sent in time", content_type = "text/html"),
        (status = 413, description = "Over 64 KiB", content_type = "text/html"),
        (status = 503, description = "Database unavailable", content_type = "text/html"),
    )
)]
pub(super) async fn verify_submit(
    state: web::Data<AppState>,
    CheckedForm(fields): CheckedForm,
) -> Result<HttpResponse, PageError> {
    match mail_links::verify(&state, fields.get("token").unwrap_or_default()).await {
        Ok(()) => Ok(render(
            page_builder(StatusCode::OK),
            &MessagePage {
                title: "Email address confirmed",
                message: "Thank you: your address is confirmed.",
            },
        )),
        Err(AppError::InvalidLink) => Ok(invalid_link()),
        Err(e) => Err(e.into()),
    }
}
