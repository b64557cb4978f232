//! The JSON sign-in API (contract §3): register, login, refresh with tokens in the body, and
//! the two sign-out routes shared with the cookie transport.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::openapi::{LoginRequest, RefreshRequest, RegisterRequest};
use super::respond::{TokenPair, VerifyFirst};
use super::respond::{no_store, sign_out_and_clear, token_pair, verify_first};
use crate::accounts::{self, Registered, Registration};
use crate::cookies;
use crate::error::{AppError, ErrorBody, FieldErrors};
use crate::extractors::auth::AuthUser;
use crate::extractors::client_ip::Client;
use crate::extractors::json::{JsonFields, LenientJsonFields};
use crate::sessions::{self, SignOut};
use crate::state::AppState;

/// Registers the routes of this module, each as a resource: another method gets 405 with
/// `Allow` (RFC 9110 §15.5.6), not 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/register").post(register))
        .service(web::resource("/auth/login").post(login))
        .service(web::resource("/auth/refresh").post(refresh_tokens))
        .service(web::resource("/auth/logout").post(logout))
        .service(web::resource("/auth/logout-all").post(logout_all));
}

/// A registration body's fields, validated; every problem is reported at once.
pub(super) fn registration(body: &JsonFields) -> Result<Registration, AppError> {
    let mut errors = FieldErrors::default();
    let email = body.required_str("email", &mut errors);
    let password = body.required_str("password", &mut errors);
    let name = body.optional_str("name", &mut errors);
    Registration::parse(email, password, name, errors)
}

/// A login body's `email` and `password`.
pub(super) fn credentials(body: &JsonFields) -> Result<(&str, &str), AppError> {
    let mut errors = FieldErrors::default();
    let email = body.required_str("email", &mut errors);
    let password = body.required_str("password", &mut errors);
    match (email, password) {
        (Some(email), Some(password)) => Ok((email, password)),
        _ => Err(AppError::Validation(errors)),
    }
}

/// Registers and signs in: the new user's token pair.
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "json",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and signed in", body = TokenPair<'static>),
        (status = 202, description = "With `DOORWARD_REQUIRE_VERIFIED_EMAIL`: registered, not signed in until the mailed link is followed", body = VerifyFirst<'static>),
        (status = 400, description = "Not JSON, or not an object", body = ErrorBody<'static>),
        (status = 409, description = "`email_taken`", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 422, description = "`validation_failed`, with `fields`", body = ErrorBody<'static>),
        (status = 429, description = "Throttled; see `Retry-After`", body = ErrorBody<'static>),
        (status = 503, description = "Database or hashing queue busy", body = ErrorBody<'static>),
    )
)]
async fn register(
    state: web::Data<AppState>,
    client: Client,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    match accounts::register(&state, &client, registration(&body)?).await? {
        Registered::SignedIn(session) => Ok(token_pair(StatusCode::CREATED, &session)),
        Registered::VerifyFirst(user) => Ok(verify_first(&user)),
    }
}

/// Signs in with email and password: a token pair.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "json",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair<'static>),
        (status = 400, description = "Not JSON, or not an object", body = ErrorBody<'static>),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 422, description = "A field missing or not a string", body = ErrorBody<'static>),
        (status = 429, description = "Throttled; see `Retry-After`", body = ErrorBody<'static>),
        (status = 503, description = "Database or hashing queue busy", body = ErrorBody<'static>),
    )
)]
async fn login(
    state: web::Data<AppState>,
    client: Client,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let (email, password) = credentials(&body)?;
    let session = accounts::sign_in(&state, &client, email, password).await?;
    Ok(token_pair(StatusCode::OK, &session))
}

/// Rotates a refresh token: a new pair; the old refresh token is spent.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "json",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "Rotated", body = TokenPair<'static>),
        (status = 400, description = "Not JSON, or not an object", body = ErrorBody<'static>),
        (status = 401, description = "`invalid_grant`: unknown, expired, revoked or reused", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 422, description = "`refresh_token` missing or not a string", body = ErrorBody<'static>),
        (status = 429, description = "Throttled; see `Retry-After`", body = ErrorBody<'static>),
        (status = 503, description = "Database unavailable", body = ErrorBody<'static>),
    )
)]
async fn refresh_tokens(
    state: web::Data<AppState>,
    client: Client,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let Some(token) = body.required_str("refresh_token", &mut errors) else {
        return Err(AppError::Validation(errors));
    };
    let session = sessions::refresh(&state, &client, token).await?;
    Ok(token_pair(StatusCode::OK, &session))
}

/// Signs out what the request carries (access token, refresh token in the body or cookie) and
/// clears both cookies. Never blocked by bad credentials or a bad body (contract §3, Logout).
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "json",
    request_body(
        content = Option<serde_json::Value>,
        description = "Optional: `{\"refresh_token\"}` ends that session too. Any other body is \
                       ignored, since nothing may stop a sign-out",
        example = json!({"refresh_token": "…"})
    ),
    security((), ("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 204, description = "Signed out; both cookies cleared"),
        (status = 403, description = "`csrf_failed`: cookies from another site; nothing changes", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 503, description = "Revocation not recorded; cookies still cleared", body = ErrorBody<'static>),
    )
)]
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: LenientJsonFields,
) -> HttpResponse {
    let body_token = body
        .0
        .as_ref()
        .and_then(|fields| fields.optional_str("refresh_token", &mut FieldErrors::default()));
    sign_out_and_clear(&state, SignOut::presented(&req, body_token)).await
}

/// Signs the user out everywhere: every session ended, every access token issued so far refused.
#[utoipa::path(
    post,
    path = "/auth/logout-all",
    tag = "json",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 204, description = "Signed out everywhere; both cookies cleared"),
        (status = 401, description = "No valid access token", body = ErrorBody<'static>),
        (status = 403, description = "`csrf_failed`", body = ErrorBody<'static>),
        (status = 503, description = "Database unavailable", body = ErrorBody<'static>),
    )
)]
async fn logout_all(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
) -> Result<HttpResponse, AppError> {
    sessions::sign_out_everywhere(&state, &user.claims, &client).await?;
    let mut builder = no_store(StatusCode::NO_CONTENT);
    cookies::clear_both(&mut builder);
    Ok(builder.finish())
}
