//! The protected API: routes that take [`AuthUser`] and answer JSON.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, Resource, web};

use crate::accounts;
use crate::error::{AppError, ErrorBody};
use crate::extractors::auth::AuthUser;
use crate::routes::respond::no_store;
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
