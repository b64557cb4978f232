//! The JSON sign-in API (contract §3): register, login, refresh with tokens in the body, and
//! the two sign-out routes shared with the cookie transport.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::respond::{no_store, sign_out_and_clear, token_pair};
use crate::accounts::{self, Registration};
use crate::cookies;
use crate::error::{AppError, FieldErrors};
use crate::extractors::auth::AuthUser;
use crate::extractors::client_ip::ClientIp;
use crate::extractors::json::{JsonFields, LenientJsonFields};
use crate::sessions::{self, SignOut};
use crate::state::AppState;

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/register", web::post().to(register))
        .route("/auth/login", web::post().to(login))
        .route("/auth/refresh", web::post().to(refresh_tokens))
        .route("/auth/logout", web::post().to(logout))
        .route("/auth/logout-all", web::post().to(logout_all));
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

async fn register(
    state: web::Data<AppState>,
    client: ClientIp,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let session = accounts::register(&state, client, registration(&body)?).await?;
    Ok(token_pair(StatusCode::CREATED, &session))
}

async fn login(
    state: web::Data<AppState>,
    client: ClientIp,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let (email, password) = credentials(&body)?;
    let session = accounts::sign_in(&state, client, email, password).await?;
    Ok(token_pair(StatusCode::OK, &session))
}

async fn refresh_tokens(
    state: web::Data<AppState>,
    client: ClientIp,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let Some(token) = body.required_str("refresh_token", &mut errors) else {
        return Err(AppError::Validation(errors));
    };
    let session = sessions::refresh(&state, client, token).await?;
    Ok(token_pair(StatusCode::OK, &session))
}

/// Never blocked by bad credentials or a bad body (contract §3, Logout).
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

async fn logout_all(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    sessions::sign_out_everywhere(&state, &user.claims).await?;
    let mut builder = no_store(StatusCode::NO_CONTENT);
    cookies::clear_both(&mut builder);
    Ok(builder.finish())
}
