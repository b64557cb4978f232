//! The server-rendered pages (contract §4): landing, sign-in, registration, account and
//! sign-out, as plain HTML forms that work with JavaScript off.
//!
//! They use the same sign-in model as the API: a page sign-in sets the two `__Host-` cookies
//! through [`sessions::start`], so `/api/me` works by cookie afterwards, and a sign-out through
//! the API signs the pages out. Forms carry a CSRF token kept in the page session
//! ([`crate::page_session`]) and are refused when posted from a foreign origin. Every answer
//! carries the pages' security headers; failures render small HTML pages, never JSON and never
//! a panic.

use std::collections::HashMap;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::error::{InternalError, PayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType, HeaderName};
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder, web};
use askama::Template;
use futures_util::future::LocalBoxFuture;
use url::form_urlencoded;

use crate::accounts::{self, Registration, User};
use crate::cookies::{self, CookieValue};
use crate::csrf::AllowedOrigins;
use crate::error::{AppError, FieldErrors};
use crate::extractors::json::MAX_BODY_BYTES;
use crate::page_session::{self, CSRF_FIELD, Flash};
use crate::routes::auth::{replacing_cookie_sessions, sign_out_credentials};
use crate::sessions::{self, IssuedSession};
use crate::startup::AppState;
use crate::templates::{AccountPage, LandingPage, LoginPage, RegisterPage};

/// The pages' Content-Security-Policy: nothing inline, nothing foreign, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The stylesheet, built into the binary: a deployed server serves exactly what it was built
/// with, never whatever `static/` folder happens to be in its working directory.
const STYLESHEET: &str = include_str!("../../static/app.css");

/// `GET /static/app.css`.
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, STATIC_CACHE_CONTROL))
        .body(STYLESHEET)
}

/// How long browsers may keep files under `/static`.
const STATIC_CACHE_CONTROL: &str = "public, max-age=3600";

/// Where a sign-in goes when `next` is absent or refused.
const DEFAULT_NEXT: &str = "/account";

/// The redirect for `/account` without credentials (contract §4).
const LOGIN_FOR_ACCOUNT: &str = "/login?next=/account";

const INVALID_CREDENTIALS: &str = "Invalid email or password";

/// Shown after "Email", like the domain's own problems ("is required").
const EMAIL_TAKEN: &str = "is already registered: sign in instead";

/// Registers the pages and the static files.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Form bodies get the same limit as JSON bodies (contract §5).
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .route("/", web::get().to(landing))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login_submit))
        .route("/register", web::get().to(register_form))
        .route("/register", web::post().to(register_submit))
        .route("/account", web::get().to(account))
        .route("/logout", web::post().to(logout))
        .route("/static/app.css", web::get().to(stylesheet));
}

// ---------------------------------------------------------------------------------------------
// `next`

/// `next` as contract §4 accepts it: a same-origin path that starts with exactly one `/` and
/// holds no `\` and no control character (tabs and newlines included). Anything else is `None`.
pub fn safe_next(raw: Option<&str>) -> Option<&str> {
    let next = raw?;
    let one_slash = next.starts_with('/') && !next.starts_with("//");
    let clean = !next.chars().any(|c| c == '\\' || c.is_control());
    // A browser removes `.` and `..` segments: `/.//evil.example` would become `//evil.example`.
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let no_dot_segments = !path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    });
    (one_slash && clean && no_dot_segments).then_some(next)
}

/// The `Location` for a validated `next` (or `/account`): bytes a URI may not hold are
/// percent-encoded, and everything already valid (`/account?tab=1`, `%2F`) stays as it is.
pub fn next_location(next: Option<&str>) -> String {
    let path = next.unwrap_or(DEFAULT_NEXT);
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    for (i, &b) in bytes.iter().enumerate() {
        let keep = b.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/?#".contains(&b)
            || (b == b'%'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A link to `path` that carries `next` along in its query.
fn link_with_next(path: &str, next: Option<&str>) -> String {
    match next {
        Some(next) => format!(
            "{path}?next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        ),
        None => path.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// A decoded `application/x-www-form-urlencoded` body or query; the first value of a name wins.
struct FormFields(HashMap<String, String>);

impl FormFields {
    fn parse(bytes: &[u8]) -> Self {
        let mut fields = HashMap::new();
        for (name, value) in form_urlencoded::parse(bytes) {
            fields
                .entry(name.into_owned())
                .or_insert_with(|| value.into_owned());
        }
        Self(fields)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

fn query(req: &HttpRequest) -> FormFields {
    FormFields::parse(req.query_string().as_bytes())
}

/// True when a form post comes from another site: `Sec-Fetch-Site: cross-site`, or an `Origin`
/// that is present and not allowed. Unlike [`crate::csrf`], this applies without auth cookies
/// too, so nobody can sign a visitor into an account of the attacker's (login CSRF).
fn from_foreign_site(req: &HttpRequest, origins: &AllowedOrigins) -> bool {
    let values = |name: HeaderName| {
        req.headers()
            .get_all(name)
            .map(|v| v.to_str().unwrap_or("null"))
    };
    values(HeaderName::from_static("sec-fetch-site")).any(|site| site == "cross-site")
        || values(header::ORIGIN).any(|origin| !origins.allows(origin))
}

/// A form post that passed the forgery checks: sent from this site, with the page session's
/// CSRF token. A forged post never reaches a handler: it gets the 403 page and changes nothing.
struct CheckedForm(FormFields);

impl FromRequest for CheckedForm {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            // A body over the 64 KiB limit gets the page's own answer, never actix's plain text.
            let body = match body.await {
                Ok(body) => body,
                Err(e) if matches!(e.as_error::<PayloadError>(), Some(PayloadError::Overflow)) => {
                    let page = message_page(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "Form too large",
                        "This form was not accepted: it holds more than this site accepts. \
                         Go back, shorten what you typed and try again.",
                    );
                    return Err(InternalError::from_response("oversized form post", page).into());
                }
                Err(e) => return Err(e),
            };
            let form = FormFields::parse(&body);
            let is_same_site = req
                .app_data::<web::Data<AllowedOrigins>>()
                .is_some_and(|origins| !from_foreign_site(&req, origins));
            if is_same_site && page_session::csrf_matches(&req.get_session(), form.get(CSRF_FIELD))
            {
                return Ok(Self(form));
            }
            let page = message_page(
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not accepted: it has expired or was not sent from this site. \
                 Go back, reload the page and try again.",
            );
            Err(InternalError::from_response("forged form post", page).into())
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

/// A response with the headers every page carries (`nosniff` comes with every answer, from
/// `startup::security_headers`). Every page shows either a form with its
/// token or account data, so none may be cached.
fn page_builder(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// Renders `page` into `builder`; a rendering failure is logged and becomes the 500 page.
fn render(mut builder: HttpResponseBuilder, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => builder.content_type(ContentType::html()).body(body),
        Err(e) => {
            log::error!("page rendering failed: {e}");
            internal_error_page()
        }
    }
}

/// A small page that needs no template, so it cannot fail to render. `title` and `message` are
/// constants of this module, never user input.
fn message_page(status: StatusCode, title: &'static str, message: &'static str) -> HttpResponse {
    message_into(page_builder(status), title, message)
}

fn message_into(
    mut builder: HttpResponseBuilder,
    title: &'static str,
    message: &'static str,
) -> HttpResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · doorward</title><link rel=\"stylesheet\" href=\"/static/app.css\">\
         </head><body><header class=\"site-header\"><a class=\"brand\" href=\"/\">doorward</a>\
         </header><main class=\"card\"><h1>{title}</h1><p>{message}</p>\
         <p><a href=\"/\">Back to the start page</a></p></main></body></html>\n"
    );
    builder.content_type(ContentType::html()).body(body)
}

const FAULT_TITLE: &str = "Something went wrong";
const FAULT_MESSAGE: &str = "The page could not be shown. Please try again.";

fn internal_error_page() -> HttpResponse {
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        FAULT_TITLE,
        FAULT_MESSAGE,
    )
}

/// The page for a failure that is not the visitor's: 503 (try again) or 500. Logged once.
fn fault_page(error: &AppError) -> HttpResponse {
    fault_into(error, page_builder)
}

/// As [`fault_page`], starting from a builder made by `start` (to add cookies).
fn fault_into(
    error: &AppError,
    start: impl FnOnce(StatusCode) -> HttpResponseBuilder,
) -> HttpResponse {
    match error {
        AppError::Unavailable(_) | AppError::Busy => {
            log::warn!("page answered 503: {error}");
            let mut builder = start(StatusCode::SERVICE_UNAVAILABLE);
            builder.insert_header((header::RETRY_AFTER, "1"));
            message_into(
                builder,
                "Temporarily unavailable",
                "The service is busy or unreachable right now. Please try again in a moment.",
            )
        }
        other => {
            log::error!("page answered 500: {other}");
            message_into(
                start(StatusCode::INTERNAL_SERVER_ERROR),
                FAULT_TITLE,
                FAULT_MESSAGE,
            )
        }
    }
}

/// A 303 with the page headers.
fn see_other(location: &str) -> HttpResponseBuilder {
    let mut builder = page_builder(StatusCode::SEE_OTHER);
    builder.insert_header((header::LOCATION, location.to_owned()));
    builder
}

/// A 303 to the sign-in form for `/account`, clearing the auth cookies when some were sent.
fn to_login_for_account(clear_cookies: bool) -> HttpResponse {
    let mut builder = see_other(LOGIN_FOR_ACCOUNT);
    if clear_cookies {
        cookies::clear_both(&mut builder);
    }
    builder.finish()
}

/// The end of every successful sign-in: a fresh page session, both cookies, 303 to `next`.
fn signed_in(session: &Session, issued: &IssuedSession, next: Option<&str>) -> HttpResponse {
    page_session::renew_at_sign_in(session);
    let mut builder = see_other(&next_location(next));
    cookies::set_both(&mut builder, issued);
    builder.finish()
}

// ---------------------------------------------------------------------------------------------
// Who is asking

/// The user behind a valid, unrevoked access cookie, without touching the cookies. A database
/// outage is an error, never "signed out".
async fn cookie_user(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<std::sync::Arc<User>>, AppError> {
    let CookieValue::One(token) = cookies::read(req).access else {
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

// ---------------------------------------------------------------------------------------------
// Handlers

async fn landing(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    // The landing page only chooses its links: an outage there is not worth an error page.
    let signed_in = matches!(cookie_user(&state, &req).await, Ok(Some(_)))
        || matches!(cookies::read(&req).refresh, CookieValue::One(_));
    render(page_builder(StatusCode::OK), &LandingPage { signed_in })
}

/// Renders the sign-in form with a token from the session.
fn login_page(
    status: StatusCode,
    session: &Session,
    next: Option<&str>,
    email: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> HttpResponse {
    let csrf_token = match page_session::csrf_token(session) {
        Ok(token) => token,
        Err(e) => {
            log::error!("{e}");
            return internal_error_page();
        }
    };
    let register_href = link_with_next("/register", next);
    render(
        page_builder(status),
        &LoginPage {
            csrf_token: &csrf_token,
            next,
            email,
            error,
            notice,
            register_href: &register_href,
        },
    )
}

async fn login_form(req: HttpRequest, session: Session) -> HttpResponse {
    let query = query(&req);
    let next = safe_next(query.get("next"));
    let notice = page_session::take_flash(&session, &[Flash::SignedOut]).map(Flash::message);
    login_page(StatusCode::OK, &session, next, "", None, notice)
}

async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CheckedForm(form): CheckedForm,
) -> HttpResponse {
    let next = safe_next(form.get("next"));
    let email = form.get("email").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let user = match accounts::authenticate(&state, email, password).await {
        Ok(user) => user,
        Err(AppError::InvalidCredentials) => {
            return login_page(
                StatusCode::UNAUTHORIZED,
                &session,
                next,
                email,
                Some(INVALID_CREDENTIALS),
                None,
            );
        }
        Err(e) => return fault_page(&e),
    };
    let started = sessions::start(&state, &user).await;
    match replacing_cookie_sessions(&state, &req, started).await {
        Ok(issued) => signed_in(&session, &issued, next),
        Err(e) => fault_page(&e),
    }
}

/// What the registration form shows besides its token.
#[derive(Default)]
struct RegisterForm<'a> {
    next: Option<&'a str>,
    email: &'a str,
    name: &'a str,
    errors: FieldErrors,
}

fn register_page(status: StatusCode, session: &Session, form: &RegisterForm<'_>) -> HttpResponse {
    let csrf_token = match page_session::csrf_token(session) {
        Ok(token) => token,
        Err(e) => {
            log::error!("{e}");
            return internal_error_page();
        }
    };
    let login_href = link_with_next("/login", form.next);
    render(
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
            login_href: &login_href,
        },
    )
}

async fn register_form(req: HttpRequest, session: Session) -> HttpResponse {
    let query = query(&req);
    let form = RegisterForm {
        next: safe_next(query.get("next")),
        ..RegisterForm::default()
    };
    register_page(StatusCode::OK, &session, &form)
}

/// Field errors re-render with 422; a taken email re-renders with 409 (as the API answers) and
/// the problem shown on the email field.
async fn register_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CheckedForm(fields): CheckedForm,
) -> HttpResponse {
    let mut form = RegisterForm {
        next: safe_next(fields.get("next")),
        email: fields.get("email").unwrap_or_default(),
        name: fields.get("name").unwrap_or_default(),
        errors: FieldErrors::default(),
    };
    let password = fields.get("password").unwrap_or_default();
    let name = Some(form.name).filter(|n| !n.trim().is_empty());
    let outcome = match Registration::parse(
        Some(form.email),
        Some(password),
        name,
        FieldErrors::default(),
    ) {
        Ok(registration) => match accounts::new_account(&state, registration).await {
            Ok(user) => {
                let started = sessions::start_for_new_account(&state, &user).await;
                replacing_cookie_sessions(&state, &req, started).await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let issued = match outcome {
        Ok(issued) => issued,
        Err(AppError::Validation(errors)) => {
            form.errors = errors;
            return register_page(StatusCode::UNPROCESSABLE_ENTITY, &session, &form);
        }
        Err(AppError::EmailTaken) => {
            form.errors.add("email", EMAIL_TAKEN);
            return register_page(StatusCode::CONFLICT, &session, &form);
        }
        Err(e) => return fault_page(&e),
    };
    let response = signed_in(&session, &issued, form.next);
    page_session::set_flash(&session, Flash::Registered);
    response
}

fn account_page(mut builder: HttpResponseBuilder, session: &Session, user: &User) -> HttpResponse {
    let csrf_token = match page_session::csrf_token(session) {
        Ok(token) => token,
        Err(e) => {
            log::error!("{e}");
            return internal_error_page();
        }
    };
    let notice = page_session::take_flash(session, &[Flash::Registered]).map(Flash::message);
    builder.insert_header((header::VARY, "Cookie"));
    render(
        builder,
        &AccountPage {
            email: &user.email,
            name: user.name.as_deref(),
            role: user.role.as_str(),
            csrf_token: &csrf_token,
            notice,
        },
    )
}

/// The account, from the access cookie; or, when that is missing, expired or invalid, from a
/// silent refresh of the refresh cookie; or else the sign-in form.
async fn account(req: HttpRequest, state: web::Data<AppState>, session: Session) -> HttpResponse {
    let found = cookies::read(&req);
    if found.any_duplicate() {
        return to_login_for_account(true);
    }
    match cookie_user(&state, &req).await {
        Ok(Some(user)) => return account_page(page_builder(StatusCode::OK), &session, &user),
        Ok(None) => {}
        Err(e) => return fault_page(&e),
    }
    let CookieValue::One(refresh_token) = found.refresh else {
        return to_login_for_account(found.any_present());
    };
    match sessions::refresh(&state, refresh_token).await {
        Ok(issued) => {
            let mut builder = page_builder(StatusCode::OK);
            cookies::set_both(&mut builder, &issued);
            account_page(builder, &session, &issued.user)
        }
        Err(AppError::InvalidGrant) => to_login_for_account(true),
        Err(e) => fault_page(&e),
    }
}

/// The sign-out button: the effect of `POST /auth/logout` (access `jti` denylisted, families
/// revoked), both cookies cleared, the page session emptied, then 303 to the sign-in form with
/// the notice. If the database cannot record the revocation, the cookies are still cleared and
/// the visitor is told to try again (503), as the API does.
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    _checked: CheckedForm, // the form holds nothing but its CSRF token
) -> HttpResponse {
    match sessions::sign_out(&state, sign_out_credentials(&req, None)).await {
        Ok(()) => {
            page_session::purge_at_sign_out(&session);
            let mut builder = see_other("/login");
            cookies::clear_both(&mut builder);
            builder.finish()
        }
        Err(e) => {
            session.purge();
            fault_into(&e, |status| {
                let mut builder = page_builder(status);
                cookies::clear_both(&mut builder);
                builder
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_accepts_only_same_origin_paths() {
        for good in [
            "/account",
            "/account?tab=1",
            "/a/b#c",
            "/caf\u{e9}",
            "/a.b/.c",
            "/x?y=/./",
        ] {
            assert_eq!(safe_next(Some(good)), Some(good), "{good}");
        }
        for bad in [
            "",
            "account",
            "//evil.example",
            "/\\evil.example",
            "/a\tb",
            "/a\nb",
            "/a\u{7f}",
            "https://evil.example",
            "\u{0}/x",
            "/.//evil.example",
            "/..//evil.example",
            "/a/%2e%2E//evil.example",
            "/a/.",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_next(None), None);
    }

    #[test]
    fn locations_are_percent_encoded_only_where_needed() {
        assert_eq!(next_location(None), "/account");
        assert_eq!(next_location(Some("/account?tab=1")), "/account?tab=1");
        assert_eq!(next_location(Some("/a b")), "/a%20b");
        assert_eq!(next_location(Some("/caf\u{e9}")), "/caf%C3%A9");
        assert_eq!(next_location(Some("/x%2Fy")), "/x%2Fy");
        assert_eq!(next_location(Some("/100%")), "/100%25");
        assert_eq!(next_location(Some("/<\"x\">")), "/%3C%22x%22%3E");
    }
}
