//! How pages answer: the pages' security headers, rendering, redirects, and [`PageError`] for
//! everything that is not the page asked for, as small HTML pages, never JSON.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use askama::Template;

use super::next::{DEFAULT_NEXT, next_location};
use crate::cookies;
use crate::error::AppError;
use crate::page_session;
use crate::sessions::IssuedSession;
use crate::state::AppState;
use crate::templates::MessagePage;

/// The pages' Content-Security-Policy: nothing inline, nothing foreign, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// A response with the headers every page carries (`nosniff` comes with every answer, from
/// `startup::security_headers`). Every page shows either a form with its token or account
/// data, so none may be cached.
pub fn page_builder(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// Renders `page` into `builder`; a rendering failure is logged and becomes a plain 500.
pub fn render(mut builder: HttpResponseBuilder, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => builder.content_type(ContentType::html()).body(body),
        Err(e) => {
            log::error!("page rendering failed: {e}");
            page_builder(StatusCode::INTERNAL_SERVER_ERROR)
                .content_type(ContentType::plaintext())
                .body("Something went wrong. Please try again.")
        }
    }
}

/// A 303 with the page headers.
pub fn see_other(location: &str) -> HttpResponseBuilder {
    let mut builder = page_builder(StatusCode::SEE_OTHER);
    builder.insert_header((header::LOCATION, location.to_owned()));
    builder
}

/// The end of every successful sign-in: a fresh page session, both cookies, 303 to `next`.
pub fn signed_in(
    state: &AppState,
    session: &Session,
    issued: &IssuedSession,
    next: Option<&str>,
) -> HttpResponse {
    page_session::renew_at_sign_in(session);
    let mut builder = see_other(&next_location(next, &state.path(DEFAULT_NEXT)));
    cookies::set_both(&mut builder, issued.cookies());
    builder.finish()
}

/// What a throttled form says: how long to wait, in words.
pub fn throttled_message(retry_after_secs: u64) -> String {
    let wait = match retry_after_secs {
        0..=1 => "a second".to_owned(),
        2..=59 => format!("{retry_after_secs} seconds"),
        60..=119 => "a minute".to_owned(),
        _ => format!("{} minutes", retry_after_secs.div_ceil(60)),
    };
    format!("Too many attempts. Please wait {wait} and try again.")
}

/// Adds `Retry-After` to a page answering 429.
pub fn with_retry_after(
    page: Result<HttpResponse, PageError>,
    retry_after_secs: u64,
) -> Result<HttpResponse, PageError> {
    page.map(|mut response| {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after_secs.into());
        response
    })
}

/// Why a page could not be shown. Handlers `?` it; it renders as a message page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// A form post from another site, or without the session's CSRF token: 403.
    #[error("forged form post")]
    Forged,
    /// A form post over the body limit: 413.
    #[error("oversized form post")]
    TooLarge,
    /// A form post whose body could not be read: 400.
    #[error("unreadable form post")]
    Unreadable,
    /// A form post whose body did not arrive within `DOORWARD_BODY_TIMEOUT`: 408.
    #[error("form post too slow")]
    TooSlow,
    /// Not the visitor's doing: 503 (try again) or 500. Logged once, when answered.
    #[error(transparent)]
    Fault(#[from] AppError),
}

impl PageError {
    fn message(&self) -> (&'static str, &'static str) {
        match self {
            Self::Forged => (
                "Form expired",
                "This form was not accepted: it has expired or was not sent from this site. \
                 Go back, reload the page and try again.",
            ),
            Self::TooLarge => (
                "Form too large",
                "This form was not accepted: it holds more than this site accepts. Go back, \
                 shorten what you typed and try again.",
            ),
            Self::TooSlow => (
                "Form too slow",
                "This form took too long to arrive. Check your connection and try again.",
            ),
            Self::Unreadable => (
                "Form not readable",
                "This form could not be read. Go back and try again.",
            ),
            Self::Fault(AppError::Throttled { .. }) => (
                "Too many attempts",
                "Too many attempts were made. Please wait a little and try again.",
            ),
            Self::Fault(AppError::Unavailable(_) | AppError::Busy) => (
                "Temporarily unavailable",
                "The service is busy or unreachable right now. Please try again in a moment.",
            ),
            Self::Fault(_) => (
                "Something went wrong",
                "The page could not be shown. Please try again.",
            ),
        }
    }

    /// The page, starting from `builder` (which may carry cookies to clear).
    pub fn render_into(&self, mut builder: HttpResponseBuilder) -> HttpResponse {
        match self {
            Self::Fault(AppError::Throttled { retry_after_secs }) => {
                builder.insert_header((header::RETRY_AFTER, *retry_after_secs));
            }
            Self::Fault(e @ (AppError::Unavailable(_) | AppError::Busy)) => {
                log::warn!("page answered 503: {}", crate::error::error_chain(e));
                builder.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::Fault(e) => log::error!("page answered 500: {}", crate::error::error_chain(e)),
            _ => {}
        }
        let (title, message) = self.message();
        render(builder, &MessagePage { title, message })
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Forged => StatusCode::FORBIDDEN,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unreadable => StatusCode::BAD_REQUEST,
            Self::TooSlow => StatusCode::REQUEST_TIMEOUT,
            Self::Fault(AppError::Throttled { .. }) => StatusCode::TOO_MANY_REQUESTS,
            Self::Fault(AppError::Unavailable(_) | AppError::Busy) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Fault(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.render_into(page_builder(self.status_code()))
    }
}
