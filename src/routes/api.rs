//! The protected API: routes that take [`AuthUser`] and answer JSON: the caller's account,
//! sessions, password and audit log.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, Resource, web};

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts;
use crate::audit::{self, AuditView};
use crate::domain::{Password, Role};
use crate::error::{AppError, ErrorBody, FieldErrors};
use crate::extractors::auth::AuthUser;
use crate::extractors::client_ip::Client;
use crate::extractors::json::JsonFields;
use crate::routes::openapi::ChangePasswordRequest;
use crate::routes::respond::no_store;
use crate::sessions::{self, SessionView};
use crate::state::AppState;
use crate::users::User;

/// `GET /api/me` at `path` (the base path included): registered on its own, outside doorward's
/// scope, with that scope's layers ([`crate::embed`]), since nearly every request is this one.
pub fn me_resource(path: &str) -> Resource {
    web::resource(path).route(web::get().to(show_me))
}

/// The signed-in user, from the verified token and the user cache: no database on a hit, and
/// the JSON written when the user was cached.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "json",
    security(("bearer" = []), ("access_cookie" = []), ("oauth2_password" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = User),
        (status = 401, description = "`unauthorized` or `invalid_token`, with `WWW-Authenticate`", body = ErrorBody<'static>),
        (status = 503, description = "Database unavailable (user not cached)", body = ErrorBody<'static>),
    )
)]
async fn show_me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    if let Some(json) = state.users.json(&user.claims.sub) {
        return Ok(no_store(StatusCode::OK)
            .content_type(ContentType::json())
            .body(json));
    }
    let me = accounts::find_user(&state, &user.claims.sub).await?;
    Ok(no_store(StatusCode::OK).json(&*me))
}

/// Registers `/api/sessions` and its children (`/api/me` is [`me_resource`]).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/sessions").get(list_sessions))
        .service(web::resource("/api/sessions/revoke-others").post(revoke_other_sessions))
        .service(web::resource("/api/sessions/{id}").delete(revoke_session))
        .service(web::resource("/api/password").post(change_password))
        .service(web::resource("/api/audit").get(list_audit_events));
}

/// A password change's fields, validated; every problem is reported at once. `proof` is the
/// current password, or a reset link's token.
pub fn password_change(
    proof: Option<&str>,
    new: Option<&str>,
    mut errors: FieldErrors,
) -> Result<(String, Password), AppError> {
    let new = new.and_then(|raw| {
        Password::parse_new(raw)
            .map_err(|problems| {
                problems
                    .into_iter()
                    .for_each(|p| errors.add("new_password", p))
            })
            .ok()
    });
    match (proof, new) {
        (Some(proof), Some(new)) if errors.is_empty() => Ok((proof.to_owned(), new)),
        _ => Err(AppError::Validation(errors)),
    }
}

/// Changes the caller's password; every other session of theirs ends.
#[utoipa::path(
    post,
    path = "/api/password",
    tag = "json",
    request_body = ChangePasswordRequest,
    security(("bearer" = []), ("access_cookie" = []), ("oauth2_password" = [])),
    responses(
        (status = 204, description = "Changed; every other session ended, this one goes on"),
        (status = 400, description = "Not JSON, or not an object", body = ErrorBody<'static>),
        (status = 401, description = "No valid access token", body = ErrorBody<'static>),
        (status = 403, description = "`csrf_failed`", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 422, description = "`validation_failed`: `current_password` wrong, or `new_password` against the rules", body = ErrorBody<'static>),
        (status = 429, description = "Throttled, as sign-ins are; see `Retry-After`", body = ErrorBody<'static>),
        (status = 503, description = "Database or hashing queue busy", body = ErrorBody<'static>),
    )
)]
async fn change_password(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
    body: JsonFields,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let current = body.required_str("current_password", &mut errors);
    let new = body.required_str("new_password", &mut errors);
    let (current, new) = password_change(current, new, errors)?;
    accounts::change_password(&state, &client, &user.claims, &current, new).await?;
    Ok(no_store(StatusCode::NO_CONTENT).finish())
}

/// The caller's live sessions, most recently used first.
#[utoipa::path(
    get,
    path = "/api/sessions",
    tag = "json",
    security(("bearer" = []), ("access_cookie" = []), ("oauth2_password" = [])),
    responses(
        (status = 200, description = "Every live session; `current` is the caller's", body = Vec<SessionView>),
        (status = 401, description = "No valid access token", body = ErrorBody<'static>),
        (status = 503, description = "Database unavailable", body = ErrorBody<'static>),
    )
)]
async fn list_sessions(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, AppError> {
    let sessions = sessions::list(&state, &user.claims).await?;
    Ok(no_store(StatusCode::OK).json(sessions))
}

/// Ends one of the caller's sessions, the caller's own included: its refresh token is refused
/// and its access tokens at once.
#[utoipa::path(
    delete,
    path = "/api/sessions/{id}",
    tag = "json",
    params(("id" = String, Path, description = "A session's `id`, from `GET /api/sessions`")),
    security(("bearer" = []), ("access_cookie" = []), ("oauth2_password" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "No valid access token", body = ErrorBody<'static>),
        (status = 403, description = "`csrf_failed`", body = ErrorBody<'static>),
        (status = 404, description = "`not_found`: not a live session of the caller's", body = ErrorBody<'static>),
        (status = 503, description = "Database unavailable", body = ErrorBody<'static>),
    )
)]
async fn revoke_session(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    sessions::end_session(&state, &user.claims, &client, &id).await?;
    Ok(no_store(StatusCode::NO_CONTENT).finish())
}

/// Ends every session of the caller's but the caller's own ("sign out other devices").
#[utoipa::path(
    post,
    path = "/api/sessions/revoke-others",
    tag = "json",
    security(("bearer" = []), ("access_cookie" = []), ("oauth2_password" = [])),
    responses(
        (status = 200, description = "How many sessions ended", body = EndedSessions),
        (status = 401, description = "No valid access token", body = ErrorBody<'static>),
        (status = 403, description = "`csrf_failed`", body = ErrorBody<'static>),
        (status = 503, description = "Database unavailable", body = ErrorBody<'static>),
    )
)]
async fn revoke_other_sessions(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
) -> Result<HttpResponse, AppError> {
    let ended = sessions::end_other_sessions(&state, &user.claims, &client).await?;
    Ok(no_store(StatusCode::OK).json(EndedSessions { ended }))
}

/// `POST /api/sessions/revoke-others`' answer.
#[derive(Serialize, ToSchema)]
pub struct EndedSessions {
    /// How many sessions were ended.
    ended: usize,
}

/// The most events one page of `GET /api/audit` holds, and how many when `limit` is not given.
const AUDIT_PAGE_MAX: i64 = 200;
const AUDIT_PAGE_DEFAULT: i64 = 50;

/// `GET /api/audit`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Whose events (admins only; `*` for everyone's). Default: the caller's.
    user_id: Option<String>,
    /// Only events older than this `id` (the last one of the previous page).
    before: Option<i64>,
    /// How many, 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// The caller's security events, newest first; an admin may name another account with
/// `user_id`, or `user_id=*` for every account's.
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "json",
    params(AuditQuery),
    security(("bearer" = []), ("access_cookie" = []), ("oauth2_password" = [])),
    responses(
        (status = 200, description = "Events, newest first", body = Vec<AuditView>),
        (status = 400, description = "`invalid_request`: a query that cannot be read", body = ErrorBody<'static>),
        (status = 401, description = "No valid access token", body = ErrorBody<'static>),
        (status = 403, description = "`insufficient_role`: another account's events, asked for by a non-admin", body = ErrorBody<'static>),
        (status = 422, description = "`validation_failed`: `limit` out of range", body = ErrorBody<'static>),
        (status = 503, description = "Database unavailable", body = ErrorBody<'static>),
    )
)]
async fn list_audit_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, AppError> {
    let query = web::Query::<AuditQuery>::from_query(req.query_string())
        .map_err(|_| {
            AppError::InvalidRequest("the query takes user_id, and before and limit as integers")
        })?
        .into_inner();
    let limit = query.limit.unwrap_or(AUDIT_PAGE_DEFAULT);
    if !(1..=AUDIT_PAGE_MAX).contains(&limit) {
        let mut errors = FieldErrors::default();
        errors.add("limit", "must be from 1 to 200");
        return Err(AppError::Validation(errors));
    }
    let whose = match query.user_id {
        Some(other) if other != user.claims.sub => {
            // The role read afresh, as `RequireRole` reads it: a demoted admin is refused at once.
            let caller = accounts::find_user(&state, &user.claims.sub).await?;
            if !caller.role.includes(Role::Admin) {
                return Err(AppError::InsufficientRole(Role::Admin.as_str()));
            }
            Some(other).filter(|id| id != "*")
        }
        _ => Some(user.claims.sub.clone()),
    };
    let events = audit::list(&state.db, whose, query.before, limit).await?;
    Ok(no_store(StatusCode::OK).json(events))
}
