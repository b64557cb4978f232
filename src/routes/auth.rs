//! The JSON sign-in API (contract §3): register, login, refresh with tokens in the body, and
//! the two sign-out routes shared with the cookie transport.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use serde::Serialize;

use crate::accounts::{self, Registration, User};
use crate::cookies;
use crate::error::{AppError, FieldErrors};
use crate::extractors::auth::{AuthUser, PresentedToken, presented_token};
use crate::extractors::json::{JsonFields, LenientJsonFields};
use crate::sessions::{self, IssuedSession, SignOut};
use crate::startup::AppState;

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/register", web::post().to(register))
        .route("/auth/login", web::post().to(login))
        .route("/auth/refresh", web::post().to(refresh_tokens))
        .route("/auth/logout", web::post().to(logout))
        .route("/auth/logout-all", web::post().to(logout_all));
}

/// Contract §3's `TokenPair`.
#[derive(Serialize)]
struct TokenPair<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: &'a str,
    refresh_expires_in: i64,
    user: &'a User,
}

/// A response that must never be cached (it holds tokens or account data).
pub fn no_store(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

fn token_pair(status: StatusCode, session: &IssuedSession) -> HttpResponse {
    no_store(status).json(TokenPair {
        access_token: &session.access.token,
        token_type: "Bearer",
        expires_in: session.access.expires_in,
        refresh_token: session.refresh.expose(),
        refresh_expires_in: session.refresh_expires_in,
        user: &session.user,
    })
}

/// Validates a registration body, creates the account and signs it in.
pub async fn register_and_sign_in(
    state: &AppState,
    body: &JsonFields,
) -> Result<IssuedSession, AppError> {
    let mut errors = FieldErrors::default();
    let email = body.required_str("email", &mut errors);
    let password = body.required_str("password", &mut errors);
    let name = body.optional_str("name", &mut errors);
    let registration = Registration::parse(email, password, name, errors)?;
    let user = accounts::new_account(state, registration).await?;
    sessions::start_for_new_account(state, &user).await
}

/// Checks a login body's credentials and starts a session.
pub async fn sign_in(state: &AppState, body: &JsonFields) -> Result<IssuedSession, AppError> {
    let mut errors = FieldErrors::default();
    let email = body.required_str("email", &mut errors);
    let password = body.required_str("password", &mut errors);
    let (Some(email), Some(password)) = (email, password) else {
        return Err(AppError::Validation(errors));
    };
    let user = accounts::authenticate(state, email, password).await?;
    sessions::start(state, &user).await
}

async fn register(state: web::Data<AppState>, body: JsonFields) -> Result<HttpResponse, AppError> {
    let session = register_and_sign_in(&state, &body).await?;
    Ok(token_pair(StatusCode::CREATED, &session))
}

async fn login(state: web::Data<AppState>, body: JsonFields) -> Result<HttpResponse, AppError> {
    let session = sign_in(&state, &body).await?;
    Ok(token_pair(StatusCode::OK, &session))
}

async fn refresh_tokens(
    state: web::Data<AppState>,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let Some(token) = body.required_str("refresh_token", &mut errors) else {
        return Err(AppError::Validation(errors));
    };
    let session = sessions::refresh(&state, token).await?;
    Ok(token_pair(StatusCode::OK, &session))
}

/// Every credential a sign-out can find: the bearer header, the cookies and the body.
pub fn sign_out_credentials<'a>(req: &'a HttpRequest, body: Option<&'a JsonFields>) -> SignOut<'a> {
    let mut credentials = cookie_credentials(req);
    if let PresentedToken::Bearer(token) = presented_token(req) {
        credentials.access_tokens.push(token);
    }
    if let Some(token) =
        body.and_then(|fields| fields.optional_str("refresh_token", &mut FieldErrors::default()))
    {
        credentials.refresh_tokens.push(token);
    }
    credentials
}

/// The auth cookies a request carries, every value of each. A cookie sign-in overwrites them in
/// the browser, so the sessions they belong to are revoked: nothing is left alive that nobody
/// holds any longer.
pub fn cookie_credentials(req: &HttpRequest) -> SignOut<'_> {
    SignOut {
        access_tokens: cookies::all_values(req, cookies::ACCESS_COOKIE).collect(),
        refresh_tokens: cookies::all_values(req, cookies::REFRESH_COOKIE).collect(),
    }
}

/// The last step of a cookie or page sign-in: revokes the sessions of the auth cookies the
/// request carried, which the new cookies are about to overwrite, then hands the new session
/// on. If that revocation cannot be recorded the sign-in fails (503), so none is skipped.
pub async fn replacing_cookie_sessions(
    state: &AppState,
    req: &HttpRequest,
    issued: Result<IssuedSession, AppError>,
) -> Result<IssuedSession, AppError> {
    let issued = issued?;
    sessions::sign_out(state, cookie_credentials(req)).await?;
    Ok(issued)
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

/// Never blocked by bad credentials or a bad body (contract §3, Logout).
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: LenientJsonFields,
) -> HttpResponse {
    sign_out_and_clear(&state, sign_out_credentials(&req, body.0.as_ref())).await
}

async fn logout_all(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    sessions::sign_out_everywhere(&state, &user.claims).await?;
    let mut builder = no_store(StatusCode::NO_CONTENT);
    cookies::clear_both(&mut builder);
    Ok(builder.finish())
}
