//! The cookie transport for browser apps (contract §3): the same sign-in, registration and
//! refresh as [`super::auth`], answered with `__Host-` cookies instead of tokens in the body,
//! so no script can ever read a token.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::{credentials, registration};
use super::openapi::{LoginRequest, RegisterRequest};
use super::respond::{CookieSession, VerifyFirst};
use super::respond::{error_clearing_cookies, session_cookies, verify_first};
use crate::accounts::{self, Registered};
use crate::cookies::{self, CookieValue};
use crate::error::{AppError, ErrorBody};
use crate::extractors::client_ip::Client;
use crate::extractors::json::JsonFields;
use crate::sessions;
use crate::state::AppState;

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/cookie/register").post(register_with_cookies))
        .service(web::resource("/auth/cookie/login").post(login_with_cookies))
        .service(web::resource("/auth/cookie/refresh").post(refresh_cookies));
}

/// Registers and signs in, with the tokens in `__Host-` cookies only.
#[utoipa::path(
    post,
    path = "/auth/cookie/register",
    tag = "cookie",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered; both cookies set", body = CookieSession<'static>),
        (status = 202, description = "With `DOORWARD_REQUIRE_VERIFIED_EMAIL`: registered, no cookies until the mailed link is followed", body = VerifyFirst<'static>),
        (status = 400, description = "Not JSON, or not an object", body = ErrorBody<'static>),
        (status = 403, description = "`csrf_failed`", body = ErrorBody<'static>),
        (status = 409, description = "`email_taken`", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 422, description = "`validation_failed`, with `fields`", body = ErrorBody<'static>),
        (status = 429, description = "Throttled; see `Retry-After`", body = ErrorBody<'static>),
        (status = 503, description = "Database or hashing queue busy", body = ErrorBody<'static>),
    )
)]
async fn register_with_cookies(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: Client,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let session = match accounts::register(&state, &client, registration(&body)?).await? {
        Registered::SignedIn(session) => session,
        Registered::VerifyFirst(user) => return Ok(verify_first(&user)),
    };
    let session = sessions::replacing_cookie_sessions(&state, &req, session).await?;
    Ok(session_cookies(StatusCode::CREATED, &session))
}

/// Signs in, with the tokens in `__Host-` cookies only.
#[utoipa::path(
    post,
    path = "/auth/cookie/login",
    tag = "cookie",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; both cookies set", body = CookieSession<'static>),
        (status = 400, description = "Not JSON, or not an object", body = ErrorBody<'static>),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody<'static>),
        (status = 403, description = "`csrf_failed`", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 422, description = "A field missing or not a string", body = ErrorBody<'static>),
        (status = 429, description = "Throttled; see `Retry-After`", body = ErrorBody<'static>),
        (status = 503, description = "Database or hashing queue busy", body = ErrorBody<'static>),
    )
)]
async fn login_with_cookies(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: Client,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let (email, password) = credentials(&body)?;
    let session = accounts::sign_in(&state, &client, email, password).await?;
    let session = sessions::replacing_cookie_sessions(&state, &req, session).await?;
    Ok(session_cookies(StatusCode::OK, &session))
}

/// Rotates the refresh cookie. A missing, duplicated or refused cookie answers 401
/// `invalid_grant` and clears both cookies; a database outage answers 503 and keeps them.
#[utoipa::path(
    post,
    path = "/auth/cookie/refresh",
    tag = "cookie",
    security(("refresh_cookie" = [])),
    responses(
        (status = 200, description = "Rotated; two new cookies", body = CookieSession<'static>),
        (status = 401, description = "`invalid_grant`; both cookies cleared", body = ErrorBody<'static>),
        (status = 403, description = "`csrf_failed`", body = ErrorBody<'static>),
        (status = 429, description = "Throttled; see `Retry-After`", body = ErrorBody<'static>),
        (status = 503, description = "Database unavailable; cookies kept", body = ErrorBody<'static>),
    )
)]
async fn refresh_cookies(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: Client,
) -> HttpResponse {
    let outcome = match cookies::read(req.headers()).refresh {
        CookieValue::One(token) => sessions::refresh(&state, &client, token).await,
        CookieValue::Absent | CookieValue::Duplicate => Err(AppError::InvalidGrant),
    };
    match outcome {
        Ok(session) => session_cookies(StatusCode::OK, &session),
        Err(e @ AppError::InvalidGrant) => error_clearing_cookies(&e),
        Err(e) => e.finish(e.response_builder()),
    }
}
