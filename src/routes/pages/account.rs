//! `GET /`, `GET /account` and `POST /logout`.

use std::sync::Arc;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};

use super::form::CheckedForm;
use super::response::{PageError, page_builder, render, see_other};
use crate::accounts;
use crate::cookies::{self, CookieValue};
use crate::error::{AppError, FieldErrors};
use crate::extractors::client_ip::Client;
use crate::page_session::{self, Flash};
use crate::routes::api::password_change;
use crate::routes::openapi::{ChangePasswordForm, CsrfForm, EndSessionForm};
use crate::sessions::{self, SignOut};
use crate::state::AppState;
use crate::templates::{AccountPage, LandingPage};
use crate::tokens::jwt::AccessClaims;
use crate::users::User;

/// A valid, unrevoked access cookie's claims and user, without touching the cookies. A
/// database outage is an error, never "signed out".
async fn cookie_user(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(Arc<AccessClaims>, Arc<User>)>, AppError> {
    let CookieValue::One(token) = cookies::read(req.headers()).access else {
        return Ok(None);
    };
    let Ok(claims) = state.verify_access_token(token) else {
        return Ok(None);
    };
    match accounts::find_user(state, &claims.sub).await {
        Ok(user) => Ok(Some((claims, user))),
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

async fn account_page(
    mut builder: HttpResponseBuilder,
    state: &AppState,
    session: &Session,
    (claims, user): (&AccessClaims, &User),
    password_errors: &FieldErrors,
) -> Result<HttpResponse, PageError> {
    let sessions = sessions::list(state, claims).await?;
    let csrf_token = page_session::csrf_token(session).map_err(AppError::internal)?;
    let accepted = [
        Flash::Registered,
        Flash::SessionEnded,
        Flash::OthersEnded,
        Flash::PasswordChanged,
    ];
    let notice = page_session::take_flash(session, &accepted).map(Flash::message);
    builder.insert_header((header::VARY, "Cookie"));
    Ok(render(
        builder,
        &AccountPage {
            email: &user.email,
            name: user.name.as_deref(),
            role: user.role.as_str(),
            csrf_token: &csrf_token,
            notice,
            sessions: &sessions,
            current_password_errors: password_errors.get("current_password"),
            new_password_errors: password_errors.get("new_password"),
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
    if let Some((claims, user)) = cookie_user(&state, &req).await? {
        let no_errors = FieldErrors::default();
        let page = page_builder(StatusCode::OK);
        return account_page(page, &state, &session, (&claims, &user), &no_errors).await;
    }
    let CookieValue::One(refresh_token) = found.refresh else {
        return Ok(to_login_for_account(&state, found.any_present()));
    };
    let client = Client::of_request(&req);
    match sessions::refresh(&state, &client, refresh_token).await {
        Ok(issued) => {
            let claims = state
                .verify_access_token(&issued.access.token)
                .map_err(|e| AppError::internal(std::io::Error::other(e)))?;
            let mut builder = page_builder(StatusCode::OK);
            cookies::set_both(&mut builder, issued.cookies());
            let user = (&*claims, &*issued.user);
            account_page(builder, &state, &session, user, &FieldErrors::default()).await
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

/// The account page's "Sign out" next to another session: that session ends (its tokens die at
/// once), then 303 back to the account page with a notice. Without a valid access cookie, 303 to
/// the sign-in form (the account page refreshes it first, so its forms carry one).
#[utoipa::path(
    post,
    path = "/account/sessions/end",
    tag = "pages",
    security(("access_cookie" = [])),
    request_body(content = EndSessionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Ended (or not the user's: nothing happens); `Location` is `/account`, or `/login` without a valid access cookie"),
        (status = 400, description = "A form that cannot be read", content_type = "text/html"),
        (status = 403, description = "Missing or wrong CSRF token, or posted from another site", content_type = "text/html"),
        (status = 408, description = "The form was not sent in time", content_type = "text/html"),
        (status = 413, description = "Over 64 KiB", content_type = "text/html"),
        (status = 503, description = "Database unavailable", content_type = "text/html"),
    )
)]
pub(super) async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CheckedForm(fields): CheckedForm,
) -> Result<HttpResponse, PageError> {
    let Some((claims, _)) = cookie_user(&state, &req).await? else {
        return Ok(to_login_for_account(&state, false));
    };
    let id = fields.get("session").unwrap_or_default();
    match sessions::end_session(&state, &claims, &Client::of_request(&req), id).await {
        Ok(()) => page_session::set_flash(&session, Flash::SessionEnded),
        Err(AppError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(&state.path("/account")).finish())
}

/// The account page's "Sign out other devices": every other session ends, then 303 back.
#[utoipa::path(
    post,
    path = "/account/sessions/end-others",
    tag = "pages",
    security(("access_cookie" = [])),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Ended; `Location` is `/account`, or `/login` without a valid access cookie"),
        (status = 400, description = "A form that cannot be read", content_type = "text/html"),
        (status = 403, description = "Missing or wrong CSRF token, or posted from another site", content_type = "text/html"),
        (status = 408, description = "The form was not sent in time", content_type = "text/html"),
        (status = 413, description = "Over 64 KiB", content_type = "text/html"),
        (status = 503, description = "Database unavailable", content_type = "text/html"),
    )
)]
pub(super) async fn end_other_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    _checked: CheckedForm,
) -> Result<HttpResponse, PageError> {
    let Some((claims, _)) = cookie_user(&state, &req).await? else {
        return Ok(to_login_for_account(&state, false));
    };
    sessions::end_other_sessions(&state, &claims, &Client::of_request(&req)).await?;
    page_session::set_flash(&session, Flash::OthersEnded);
    Ok(see_other(&state.path("/account")).finish())
}

/// The account page's "Change password" form: as `POST /api/password` (every other session
/// ends), then 303 back with a notice; problems re-render the page with 422 beside the fields.
#[utoipa::path(
    post,
    path = "/account/password",
    tag = "pages",
    security(("access_cookie" = [])),
    request_body(content = ChangePasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Changed; `Location` is `/account`, or `/login` without a valid access cookie"),
        (status = 400, description = "A form that cannot be read", content_type = "text/html"),
        (status = 403, description = "Missing or wrong CSRF token, or posted from another site", content_type = "text/html"),
        (status = 408, description = "The form was not sent in time", content_type = "text/html"),
        (status = 413, description = "Over 64 KiB", content_type = "text/html"),
        (status = 422, description = "The account page again, with the problems beside the fields", content_type = "text/html"),
        (status = 429, description = "Throttled; see `Retry-After`", content_type = "text/html"),
        (status = 503, description = "Database or hashing queue busy", content_type = "text/html"),
    )
)]
pub(super) async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    client: Client,
    CheckedForm(fields): CheckedForm,
) -> Result<HttpResponse, PageError> {
    let Some((claims, user)) = cookie_user(&state, &req).await? else {
        return Ok(to_login_for_account(&state, false));
    };
    let mut errors = FieldErrors::default();
    let current = fields.get("current_password").filter(|v| !v.is_empty());
    if current.is_none() {
        errors.add("current_password", "is required");
    }
    let changed = match password_change(current, fields.get("new_password"), errors) {
        Ok((current, new)) => {
            accounts::change_password(&state, &client, &claims, &current, new).await
        }
        Err(e) => Err(e),
    };
    match changed {
        Ok(()) => {
            page_session::set_flash(&session, Flash::PasswordChanged);
            Ok(see_other(&state.path("/account")).finish())
        }
        Err(AppError::Validation(errors)) => {
            let page = page_builder(StatusCode::UNPROCESSABLE_ENTITY);
            account_page(page, &state, &session, (&claims, &user), &errors).await
        }
        Err(e) => Err(e.into()),
    }
}
