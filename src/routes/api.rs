//! The protected API: routes that take [`AuthUser`] and answer JSON.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};

use crate::accounts;
use crate::error::AppError;
use crate::extractors::auth::AuthUser;
use crate::routes::respond::no_store;
use crate::state::AppState;

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/me", web::get().to(show_me));
}

/// The signed-in user, from the verified token and the user cache: no database on a hit, and
/// the JSON written when the user was cached.
async fn show_me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    if let Some(json) = state.users.json(&user.claims.sub) {
        return Ok(no_store(StatusCode::OK)
            .content_type(ContentType::json())
            .body(json));
    }
    let me = accounts::find_user(&state, &user.claims.sub).await?;
    Ok(no_store(StatusCode::OK).json(&*me))
}
