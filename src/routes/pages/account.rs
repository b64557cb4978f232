//! `GET /`, `GET /account` and `POST /logout`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};

use super::form::CheckedForm;
use super::response::{PageError, page_builder, render, see_other};
use crate::accounts;
use crate::cookies::{self, CookieValue};
use crate::error::AppError;
use crate::extractors::client_ip::ClientIp;
use crate::page_session::{self, Flash};
use crate::routes::openapi::CsrfForm;
use crate::sessions::{self, SignOut};
use crate::state::AppState;
use crate::templates::{AccountPage, LandingPage};
use crate::users::User;

/// The user behind a valid, unrevoked access cookie, without touching the cookies. A database
/// outage is an error, never "signed out".
async fn cookie_user(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<std::sync::Arc<User>>, AppError> {
    let CookieValue::One(token) = cookies::read(req.headers()).access else {
        return Ok(None);
    };
    let Ok(claims) = state.verify_access_token(token) else {
        return Ok(None);
    };
    match accounts::find_user(state, &claims.sub).await {
        Ok(user) => Ok(Some(user)),
        Err(AppError::InvalidToken(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) async fn landing(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    // The landing page only chooses its links: an outage there is not worth an error page.
    let signed_in = matches!(cookie_user(&state, &req).await, Ok(Some(_)))
        || matches!(cookies::read(req.headers()).refresh, CookieValue::One(_));
    render(page_builder(StatusCode::OK), &LandingPage { signed_in })
}

/// A 303 to the sign-in form for `/account` (contract §4: `/login?next=/account`, under the
/// base path), clearing the auth cookies when some were sent.
fn to_login_for_account(state: &AppState, clear_cookies: bool) -> HttpResponse {
    let base = &state.base_path;
    let mut builder = see_other(&format!("{base}/login?next={base}/account"));
    if clear_cookies {
        cookies::clear_both(&mut builder);
    }
    builder.finish()
}

fn account_page(
    mut builder: HttpResponseBuilder,
    session: &Session,
    user: &User,
) -> Result<HttpResponse, PageError> {
    let csrf_token = page_session::csrf_token(session).map_err(AppError::internal)?;
    let notice = page_session::take_flash(session, &[Flash::Registered]).map(Flash::message);
    builder.insert_header((header::VARY, "Cookie"));
    Ok(render(
        builder,
        &AccountPage {
            email: &user.email,
            name: user.name.as_deref(),
            role: user.role.as_str(),
            csrf_token: &csrf_token,
            notice,
        },
    ))
}

/// The account, from the access cookie; or, when that is missing, expired or invalid, from a
/// silent refresh of the refresh cookie; or else the sign-in form.
#[utoipa::path(
    get,
    path = "/account",
    tag = "pages",
    security(("access_cookie" = []), ("refresh_cookie" = []), ()),
    responses(
        (status = 200, description = "The account page (after a silent refresh when needed)", content_type = "text/html"),
        (status = 303, description = "Not signed in: `Location` is `/login?next=/account`"),
        (status = 429, description = "Throttled; see `Retry-After`", content_type = "text/html"),
        (status = 503, description = "Database unavailable", content_type = "text/html"),
    )
)]
pub(super) async fn account(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let found = cookies::read(req.headers());
    if found.any_duplicate() {
        return Ok(to_login_for_account(&state, true));
    }
    if let Some(user) = cookie_user(&state, &req).await? {
        return account_page(page_builder(StatusCode::OK), &session, &user);
    }
    let CookieValue::One(refresh_token) = found.refresh else {
        return Ok(to_login_for_account(&state, found.any_present()));
    };
    let client = ClientIp::of(&req, &state.trusted_proxies);
    match sessions::refresh(&state, client, refresh_token).await {
        Ok(issued) => {
            let mut builder = page_builder(StatusCode::OK);
            cookies::set_both(&mut builder, issued.cookies());
            account_page(builder, &session, &issued.user)
        }
        Err(AppError::InvalidGrant) => Ok(to_login_for_account(&state, true)),
        Err(e) => Err(e.into()),
    }
}

/// The sign-out button: the effect of `POST /auth/logout` (access `jti` denylisted, families
/// revoked), both cookies cleared, the page session emptied, then 303 to the sign-in form with
/// the notice. If the database cannot record the revocation, the cookies are still cleared and
/// the visitor is told to try again (503), as the API does.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "pages",
    security(("access_cookie" = []), ()),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed out; `Location` is `/login`"),
        (status = 400, description = "A form that cannot be read", content_type = "text/html"),
        (status = 403, description = "Missing or wrong CSRF token, or posted from another site", content_type = "text/html"),
        (status = 408, description = "The form was not sent in time", content_type = "text/html"),
        (status = 413, description = "Over 64 KiB", content_type = "text/html"),
        (status = 429, description = "Throttled; see `Retry-After`", content_type = "text/html"),
        (status = 503, description = "Database or hashing queue busy", content_type = "text/html"),
    )
)]
pub(super) async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    _checked: CheckedForm, // the form holds nothing but its CSRF token
) -> HttpResponse {
    match sessions::sign_out(&state, SignOut::presented(&req, None)).await {
        Ok(()) => {
            page_session::purge_at_sign_out(&session);
            let mut builder = see_other(&state.path("/login"));
            cookies::clear_both(&mut builder);
            builder.finish()
        }
        Err(e) => {
            session.purge();
            let error = PageError::Fault(e);
            let mut builder = page_builder(actix_web::ResponseError::status_code(&error));
            cookies::clear_both(&mut builder);
            error.render_into(builder)
        }
    }
}
