//! `GET/POST /login` and `GET/POST /register`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::form::{CheckedForm, query};
use super::next::{link_with_next, safe_next};
use super::response::{
    PageError, page_builder, render, signed_in, throttled_message, with_retry_after,
};
use crate::accounts::{self, Registered, Registration};
use crate::error::{AppError, FieldErrors};
use crate::extractors::client_ip::Client;
use crate::page_session::{self, Flash};
use crate::routes::openapi::{LoginPageForm, RegisterPageForm};
use crate::sessions;
use crate::state::AppState;
use crate::templates::{LoginPage, MessagePage, RegisterPage};

const INVALID_CREDENTIALS: &str = "Invalid email or password";

/// Shown after "Email", like the domain's own problems ("is required").
const EMAIL_TAKEN: &str = "is already registered: sign in instead";

/// What the sign-in form shows besides its token.
struct LoginForm<'a> {
    next: Option<&'a str>,
    email: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

fn login_page(
    status: StatusCode,
    session: &Session,
    form: &LoginForm<'_>,
) -> Result<HttpResponse, PageError> {
    let csrf_token = page_session::csrf_token(session).map_err(AppError::internal)?;
    let register_href = link_with_next("register", form.next);
    Ok(render(
        page_builder(status),
        &LoginPage {
            csrf_token: &csrf_token,
            next: form.next,
            email: form.email,
            error: form.error,
            notice: form.notice,
            register_href: &register_href,
        },
    ))
}

/// The sign-in form.
#[utoipa::path(
    get,
    path = "/login",
    tag = "pages",
    params(("next" = Option<String>, Query, description = "Where to go once signed in")),
    responses((status = 200, description = "The form, with its CSRF token", content_type = "text/html"))
)]
pub(super) async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let query = query(&req);
    let form = LoginForm {
        next: safe_next(query.get("next"), &state.redirect_hosts),
        email: "",
        error: None,
        notice: page_session::take_flash(&session, &[Flash::SignedOut, Flash::PasswordReset])
            .map(Flash::message),
    };
    login_page(StatusCode::OK, &session, &form)
}

/// Signs in from the form: both cookies, then 303 to `next` or `/account`.
#[utoipa::path(
    post,
    path = "/login",
    tag = "pages",
    request_body(content = LoginPageForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in; `Location` is `next` or `/account`"),
        (status = 401, description = "The form again, with \"Invalid email or password\"", content_type = "text/html"),
        (status = 400, description = "A form that cannot be read", content_type = "text/html"),
        (status = 403, description = "Missing or wrong CSRF token, or posted from another site", content_type = "text/html"),
        (status = 408, description = "The form was not sent in time", content_type = "text/html"),
        (status = 413, description = "Over 64 KiB", content_type = "text/html"),
        (status = 429, description = "Throttled; see `Retry-After`", content_type = "text/html"),
        (status = 503, description = "Database or hashing queue busy", content_type = "text/html"),
    )
)]
pub(super) async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: Client,
    session: Session,
    CheckedForm(fields): CheckedForm,
) -> Result<HttpResponse, PageError> {
    let next = safe_next(fields.get("next"), &state.redirect_hosts);
    let email = fields.get("email").unwrap_or_default();
    let password = fields.get("password").unwrap_or_default();
    let issued = match accounts::sign_in(&state, &client, email, password).await {
        Ok(issued) => issued,
        Err(AppError::InvalidCredentials) => {
            let form = LoginForm {
                next,
                email,
                error: Some(INVALID_CREDENTIALS),
                notice: None,
            };
            return login_page(StatusCode::UNAUTHORIZED, &session, &form);
        }
        Err(AppError::Throttled { retry_after_secs }) => {
            let message = throttled_message(retry_after_secs);
            let form = LoginForm {
                next,
                email,
                error: Some(&message),
                notice: None,
            };
            let page = login_page(StatusCode::TOO_MANY_REQUESTS, &session, &form);
            return with_retry_after(page, retry_after_secs);
        }
        Err(e) => return Err(e.into()),
    };
    let issued = sessions::replacing_cookie_sessions(&state, &req, issued).await?;
    Ok(signed_in(&state, &session, &issued, next))
}

/// What the registration form shows besides its token.
#[derive(Default)]
struct RegisterForm<'a> {
    next: Option<&'a str>,
    email: &'a str,
    name: &'a str,
    errors: FieldErrors,
    /// A problem with the whole form, not one field.
    error: Option<&'a str>,
}

fn register_page(
    status: StatusCode,
    session: &Session,
    form: &RegisterForm<'_>,
) -> Result<HttpResponse, PageError> {
    let csrf_token = page_session::csrf_token(session).map_err(AppError::internal)?;
    let login_href = link_with_next("login", form.next);
    Ok(render(
        page_builder(status),
        &RegisterPage {
            csrf_token: &csrf_token,
            next: form.next,
            email: form.email,
            name: form.name,
            email_errors: form.errors.get("email"),
            password_errors: form.errors.get("password"),
            name_errors: form.errors.get("name"),
            has_errors: !form.errors.is_empty(),
            error: form.error,
            login_href: &login_href,
        },
    ))
}

/// The registration form.
#[utoipa::path(
    get,
    path = "/register",
    tag = "pages",
    params(("next" = Option<String>, Query, description = "Where to go once registered")),
    responses((status = 200, description = "The form, with its CSRF token", content_type = "text/html"))
)]
pub(super) async fn register_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let query = query(&req);
    let form = RegisterForm {
        next: safe_next(query.get("next"), &state.redirect_hosts),
        ..RegisterForm::default()
    };
    register_page(StatusCode::OK, &session, &form)
}

/// Field errors re-render with 422; a taken email re-renders with 409 (as the API answers) and
/// the problem shown on the email field.
/// Registers from the form and signs in, as `POST /login` does.
#[utoipa::path(
    post,
    path = "/register",
    tag = "pages",
    request_body(content = RegisterPageForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Registered and signed in; `Location` is `next` or `/account`"),
        (status = 409, description = "The form again: the email is registered", content_type = "text/html"),
        (status = 422, description = "The form again, with the problems next to the fields", content_type = "text/html"),
        (status = 400, description = "A form that cannot be read", content_type = "text/html"),
        (status = 403, description = "Missing or wrong CSRF token, or posted from another site", content_type = "text/html"),
        (status = 408, description = "The form was not sent in time", content_type = "text/html"),
        (status = 413, description = "Over 64 KiB", content_type = "text/html"),
        (status = 429, description = "Throttled; see `Retry-After`", content_type = "text/html"),
        (status = 503, description = "Database or hashing queue busy", content_type = "text/html"),
    )
)]
pub(super) async fn register_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: Client,
    session: Session,
    CheckedForm(fields): CheckedForm,
) -> Result<HttpResponse, PageError> {
    let mut form = RegisterForm {
        next: safe_next(fields.get("next"), &state.redirect_hosts),
        email: fields.get("email").unwrap_or_default(),
        name: fields.get("name").unwrap_or_default(),
        errors: FieldErrors::default(),
        error: None,
    };
    let password = fields.get("password").unwrap_or_default();
    let name = Some(form.name).filter(|n| !n.trim().is_empty());
    let registered = match Registration::parse(
        Some(form.email),
        Some(password),
        name,
        FieldErrors::default(),
    ) {
        Ok(registration) => accounts::register(&state, &client, registration).await,
        Err(e) => Err(e),
    };
    let issued = match registered {
        Ok(Registered::SignedIn(issued)) => issued,
        Ok(Registered::VerifyFirst(_)) => {
            let page = MessagePage {
                title: "Check your email",
                message: "Your account has been created. Follow the link we sent to your \
                          address to confirm it, then sign in.",
            };
            return Ok(render(page_builder(StatusCode::ACCEPTED), &page));
        }
        Err(AppError::Validation(errors)) => {
            form.errors = errors;
            return register_page(StatusCode::UNPROCESSABLE_ENTITY, &session, &form);
        }
        Err(AppError::EmailTaken) => {
            form.errors.add("email", EMAIL_TAKEN);
            return register_page(StatusCode::CONFLICT, &session, &form);
        }
        Err(AppError::Throttled { retry_after_secs }) => {
            let message = throttled_message(retry_after_secs);
            form.error = Some(&message);
            let page = register_page(StatusCode::TOO_MANY_REQUESTS, &session, &form);
            return with_retry_after(page, retry_after_secs);
        }
        Err(e) => return Err(e.into()),
    };
    let issued = sessions::replacing_cookie_sessions(&state, &req, issued).await?;
    let response = signed_in(&state, &session, &issued, form.next);
    page_session::set_flash(&session, Flash::Registered);
    Ok(response)
}
