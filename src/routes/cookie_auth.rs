//! The cookie transport for browser apps (contract §3): the same sign-in, registration and
//! refresh as [`super::auth`], answered with `__Host-` cookies instead of tokens in the body,
//! so no script can ever read a token.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::accounts::User;
use crate::cookies::{self, CookieValue};
use crate::error::AppError;
use crate::extractors::json::JsonFields;
use crate::routes::auth::{no_store, register_and_sign_in, replacing_cookie_sessions, sign_in};
use crate::sessions::{self, IssuedSession};
use crate::startup::AppState;

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/auth/cookie/register",
        web::post().to(register_with_cookies),
    )
    .route("/auth/cookie/login", web::post().to(login_with_cookies))
    .route("/auth/cookie/refresh", web::post().to(refresh_cookies));
}

#[derive(Serialize)]
struct CookieSession<'a> {
    user: &'a User,
    expires_in: i64,
}

/// The answer to a cookie sign-in or refresh: the user in the body, the tokens in cookies.
pub fn session_cookies(status: StatusCode, session: &IssuedSession) -> HttpResponse {
    let mut builder = no_store(status);
    cookies::set_both(&mut builder, session);
    builder.json(CookieSession {
        user: &session.user,
        expires_in: session.access.expires_in,
    })
}

async fn register_with_cookies(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let session =
        replacing_cookie_sessions(&state, &req, register_and_sign_in(&state, &body).await).await?;
    Ok(session_cookies(StatusCode::CREATED, &session))
}

async fn login_with_cookies(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let session = replacing_cookie_sessions(&state, &req, sign_in(&state, &body).await).await?;
    Ok(session_cookies(StatusCode::OK, &session))
}

/// Rotates the refresh cookie. A missing, duplicated or refused cookie answers 401
/// `invalid_grant` and clears both cookies; a database outage answers 503 and keeps them.
async fn refresh_cookies(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let outcome = match cookies::read(&req).refresh {
        CookieValue::One(token) => sessions::refresh(&state, token).await,
        CookieValue::Absent | CookieValue::Duplicate => Err(AppError::InvalidGrant),
    };
    match outcome {
        Ok(session) => session_cookies(StatusCode::OK, &session),
        Err(e @ AppError::InvalidGrant) => {
            let mut builder = e.response_builder();
            cookies::clear_both(&mut builder);
            e.finish(builder)
        }
        Err(e) => e.finish(e.response_builder()),
    }
}
