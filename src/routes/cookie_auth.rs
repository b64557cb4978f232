//! The cookie transport for browser apps (contract §3): the same sign-in, registration and
//! refresh as [`super::auth`], answered with `__Host-` cookies instead of tokens in the body,
//! so no script can ever read a token.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::{credentials, registration};
use super::respond::{error_clearing_cookies, session_cookies};
use crate::accounts;
use crate::cookies::{self, CookieValue};
use crate::error::AppError;
use crate::extractors::client_ip::ClientIp;
use crate::extractors::json::JsonFields;
use crate::sessions;
use crate::state::AppState;

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/auth/cookie/register",
        web::post().to(register_with_cookies),
    )
    .route("/auth/cookie/login", web::post().to(login_with_cookies))
    .route("/auth/cookie/refresh", web::post().to(refresh_cookies));
}

async fn register_with_cookies(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: ClientIp,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let session = accounts::register(&state, client, registration(&body)?).await?;
    let session = sessions::replacing_cookie_sessions(&state, &req, session).await?;
    Ok(session_cookies(StatusCode::CREATED, &session))
}

async fn login_with_cookies(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: ClientIp,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let (email, password) = credentials(&body)?;
    let session = accounts::sign_in(&state, client, email, password).await?;
    let session = sessions::replacing_cookie_sessions(&state, &req, session).await?;
    Ok(session_cookies(StatusCode::OK, &session))
}

/// Rotates the refresh cookie. A missing, duplicated or refused cookie answers 401
/// `invalid_grant` and clears both cookies; a database outage answers 503 and keeps them.
async fn refresh_cookies(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: ClientIp,
) -> HttpResponse {
    let outcome = match cookies::read(req.headers()).refresh {
        CookieValue::One(token) => sessions::refresh(&state, client, token).await,
        CookieValue::Absent | CookieValue::Duplicate => Err(AppError::InvalidGrant),
    };
    match outcome {
        Ok(session) => session_cookies(StatusCode::OK, &session),
        Err(e @ AppError::InvalidGrant) => error_clearing_cookies(&e),
        Err(e) => e.finish(e.response_builder()),
    }
}
