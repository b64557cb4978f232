//! The JSON answers the sign-in routes share: token pairs, session cookies, sign-out.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, HttpResponseBuilder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::cookies;
use crate::error::AppError;
use crate::sessions::{self, IssuedSession, SignOut};
use crate::state::AppState;
use crate::users::User;

/// A response that must never be cached (it holds tokens or account data).
pub fn no_store(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// Contract §3's `TokenPair`.
#[derive(Serialize, ToSchema)]
pub struct TokenPair<'a> {
    /// The access JWT.
    access_token: &'a str,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: i64,
    /// Opaque, single-use: each refresh answers a new one.
    refresh_token: &'a str,
    /// Seconds the refresh token lives.
    refresh_expires_in: i64,
    /// The signed-in user.
    user: &'a User,
}

/// The bearer transport's answer to a sign-in or refresh: the pair in the body.
pub fn token_pair(status: StatusCode, session: &IssuedSession) -> HttpResponse {
    no_store(status).json(TokenPair {
        access_token: &session.access.token,
        token_type: "Bearer",
        expires_in: session.access.expires_in,
        refresh_token: session.refresh.expose(),
        refresh_expires_in: session.refresh_expires_in,
        user: &session.user,
    })
}

/// The cookie routes' body: the tokens are in the cookies, never here.
#[derive(Serialize, ToSchema)]
pub struct CookieSession<'a> {
    /// The signed-in user.
    user: &'a User,
    /// Seconds the access cookie lives.
    expires_in: i64,
}

/// The cookie transport's answer to a sign-in or refresh: the user in the body, the tokens in
/// cookies.
pub fn session_cookies(status: StatusCode, session: &IssuedSession) -> HttpResponse {
    let mut builder = no_store(status);
    cookies::set_both(&mut builder, session.cookies());
    builder.json(CookieSession {
        user: &session.user,
        expires_in: session.access.expires_in,
    })
}

/// A registration that must confirm its email before it signs in: 202, the user, no tokens.
#[derive(Serialize, ToSchema)]
pub struct VerifyFirst<'a> {
    /// The new account.
    user: &'a User,
    /// Always true: a link was mailed to the address.
    verification_sent: bool,
}

/// `DOORWARD_REQUIRE_VERIFIED_EMAIL`'s answer to a registration.
pub fn verify_first(user: &User) -> HttpResponse {
    no_store(StatusCode::ACCEPTED).json(VerifyFirst {
        user,
        verification_sent: true,
    })
}

/// Signs out whatever the request carries, then clears both cookies on every answer.
pub async fn sign_out_and_clear(state: &AppState, credentials: SignOut<'_>) -> HttpResponse {
    let outcome = sessions::sign_out(state, credentials).await;
    let (mut builder, error) = match outcome {
        Ok(()) => (no_store(StatusCode::NO_CONTENT), None),
        Err(e) => (e.response_builder(), Some(e)),
    };
    cookies::clear_both(&mut builder);
    match error {
        None => builder.finish(),
        Some(e) => e.finish(builder),
    }
}

/// Answers a failure that clears the cookies (a refused refresh cookie): 401 without them.
pub fn error_clearing_cookies(error: &AppError) -> HttpResponse {
    let mut builder = error.response_builder();
    cookies::clear_both(&mut builder);
    error.finish(builder)
}
