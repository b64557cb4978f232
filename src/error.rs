//! The one error type of the JSON API, and its single mapping to status, headers and body.
//!
//! Every JSON handler and extractor returns [`AppError`]; the body is always
//! `{"error", "error_description"[, "fields"]}` (contract §3). Causes are logged here, once, and
//! never shown to clients. HTML pages have their own rendering of failures in `routes::pages`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// The problems found per request field, as contract §3's `fields` object.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq, ToSchema)]
#[serde(transparent)]
#[schema(value_type = BTreeMap<String, Vec<String>>, example = json!({"email": ["must be an email address"]}))]
pub struct FieldErrors(BTreeMap<&'static str, Vec<String>>);

impl FieldErrors {
    /// Records one problem with `field`.
    pub fn add(&mut self, field: &'static str, problem: impl Into<String>) {
        self.0.entry(field).or_default().push(problem.into());
    }

    /// True when no field has a problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields that have a problem, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.keys().copied()
    }

    /// The problems of one field, for re-rendering forms.
    pub fn get(&self, field: &str) -> &[String] {
        self.0.get(field).map_or(&[], Vec::as_slice)
    }
}

/// Everything a JSON route can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed JSON, the wrong content type, or an unusable request.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// Well-formed JSON whose fields do not pass validation.
    #[error("the request has invalid fields")]
    Validation(FieldErrors),
    /// Registration with an email that already has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Wrong email or password; the same answer either way.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// A resource of the caller's that does not exist (or is not theirs: the same answer).
    #[error("{0}")]
    NotFound(&'static str),
    /// A mailed link that is unknown, spent or expired.
    #[error("the link is invalid, used or expired: ask for a new one")]
    InvalidLink,
    /// `DOORWARD_REQUIRE_VERIFIED_EMAIL` is on and this account has not followed its link.
    #[error("confirm your email address first: follow the link in the mail sent to it")]
    EmailNotVerified,
    /// A refresh token that is unknown, expired, revoked or reused.
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidGrant,
    /// No credentials at all on a protected route.
    #[error("authentication is required")]
    Unauthorized,
    /// Credentials that were presented but are not acceptable.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// Authenticated, but the role does not allow this (`RequireRole`).
    #[error("this route needs the {0} role")]
    InsufficientRole(&'static str),
    /// A cookie-carrying unsafe request from somewhere not allowed (contract §3, CSRF).
    #[error("cross-site request refused")]
    CsrfFailed,
    /// A body over the 64 KiB limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The body did not arrive within `DOORWARD_BODY_TIMEOUT`.
    #[error("the request body was not sent in time")]
    RequestTimeout,
    /// Headers over `DOORWARD_MAX_HEADER_BYTES`.
    #[error("the request headers are too large")]
    HeadersTooLarge,
    /// A peer already holds `DOORWARD_MAX_CONNECTIONS_PER_IP` connections.
    #[error("too many connections from this address")]
    TooManyConnections,
    /// Too many attempts from this client, on this account or in this session: try again
    /// after `retry_after_secs` (sent as `Retry-After`).
    #[error("too many attempts, try again in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the next attempt can be made.
        retry_after_secs: u64,
    },
    /// The database cannot be reached right now.
    #[error("the service is unavailable, try again shortly")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The password hashing queue is full.
    #[error("too many sign-ins at once, try again shortly")]
    Busy,
    /// A fault that is ours, not the client's.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The `error` codes of contract §3, written once.
pub mod code {
    /// 400.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// 422.
    pub const VALIDATION_FAILED: &str = "validation_failed";
    /// 409.
    pub const EMAIL_TAKEN: &str = "email_taken";
    /// 401 on login.
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    /// 404.
    pub const NOT_FOUND: &str = "not_found";
    /// 400 for a mailed link.
    pub const INVALID_LINK: &str = "invalid_link";
    /// 403 at sign-in with `DOORWARD_REQUIRE_VERIFIED_EMAIL`.
    pub const EMAIL_NOT_VERIFIED: &str = "email_not_verified";
    /// 401 on refresh.
    pub const INVALID_GRANT: &str = "invalid_grant";
    /// 401 without credentials.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// 401 with bad credentials.
    pub const INVALID_TOKEN: &str = "invalid_token";
    /// 403 for the role. The challenge says `insufficient_scope`, RFC 6750's name for it.
    pub const INSUFFICIENT_ROLE: &str = "insufficient_role";
    /// 403 for CSRF.
    pub const CSRF_FAILED: &str = "csrf_failed";
    /// 413.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// 408.
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    /// 431.
    pub const HEADERS_TOO_LARGE: &str = "request_header_fields_too_large";
    /// 429.
    pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
    /// 503.
    pub const UNAVAILABLE: &str = "unavailable";
    /// 500.
    pub const INTERNAL: &str = "internal_error";
}

/// Every JSON error: a code from [`code`], a sentence for people, and with `validation_failed`
/// the problems per field.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    /// The contract's code, e.g. `invalid_credentials`.
    error: &'static str,
    /// What went wrong, in English.
    error_description: String,
    /// With `validation_failed` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a FieldErrors>,
}

const REALM: &str = r#"Bearer realm="doorward""#;

impl AppError {
    /// Wraps a database or pool failure as 503.
    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(e))
    }

    /// As [`Self::throttled`], with the wait in milliseconds as the database's limits give it.
    pub fn throttled_ms(wait_ms: i64) -> Self {
        Self::throttled(std::time::Duration::from_millis(wait_ms.unsigned_abs()))
    }

    /// [`Self::Throttled`] after `wait`, rounded up to whole seconds (at least one).
    pub fn throttled(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self::Throttled {
            retry_after_secs: secs.max(1),
        }
    }

    /// Seconds a client should wait before trying again, for the answers that have one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after_secs } => Some(*retry_after_secs),
            Self::Busy | Self::Unavailable(_) | Self::TooManyConnections => Some(1),
            _ => None,
        }
    }

    /// Wraps a fault of ours as 500.
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    /// The contract's `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => code::INVALID_REQUEST,
            Self::Validation(_) => code::VALIDATION_FAILED,
            Self::EmailTaken => code::EMAIL_TAKEN,
            Self::InvalidCredentials => code::INVALID_CREDENTIALS,
            Self::NotFound(_) => code::NOT_FOUND,
            Self::InvalidLink => code::INVALID_LINK,
            Self::EmailNotVerified => code::EMAIL_NOT_VERIFIED,
            Self::InvalidGrant => code::INVALID_GRANT,
            Self::Unauthorized => code::UNAUTHORIZED,
            Self::InvalidToken(_) => code::INVALID_TOKEN,
            Self::InsufficientRole(_) => code::INSUFFICIENT_ROLE,
            Self::CsrfFailed => code::CSRF_FAILED,
            Self::PayloadTooLarge => code::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => code::REQUEST_TIMEOUT,
            Self::HeadersTooLarge => code::HEADERS_TOO_LARGE,
            Self::TooManyConnections | Self::Throttled { .. } => code::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Busy => code::UNAVAILABLE,
            Self::Internal(_) => code::INTERNAL,
        }
    }

    /// The `WWW-Authenticate` challenge of RFC 6750 §3 for 401/403 answers to protected routes.
    fn challenge(&self) -> Option<String> {
        match self {
            Self::Unauthorized => Some(REALM.to_owned()),
            Self::InvalidToken(description) => Some(format!(
                r#"{REALM}, error="invalid_token", error_description="{description}""#
            )),
            Self::InsufficientRole(_) => Some(format!(r#"{REALM}, error="insufficient_scope""#)),
            _ => None,
        }
    }

    fn log(&self) {
        match self {
            Self::Unavailable(source) => log::warn!("{}: {}", self, error_chain(source.as_ref())),
            Self::Internal(source) => log::error!("{}: {}", self, error_chain(source.as_ref())),
            Self::Busy => log::warn!("password hashing queue full: answering 503"),
            _ => {}
        }
    }

    /// Starts the response with status and headers but no body, so callers can add cookies.
    pub fn response_builder(&self) -> HttpResponseBuilder {
        let mut builder = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.challenge()
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            builder.insert_header((header::WWW_AUTHENTICATE, value));
        }
        if let Some(secs) = self.retry_after_secs() {
            builder.insert_header((header::RETRY_AFTER, secs));
        }
        builder.insert_header((header::CACHE_CONTROL, "no-store"));
        builder
    }

    /// Finishes a response started by [`Self::response_builder`] with the JSON error body.
    pub fn finish(&self, mut builder: HttpResponseBuilder) -> HttpResponse {
        self.log();
        let fields = match self {
            Self::Validation(fields) => Some(fields),
            _ => None,
        };
        builder.json(ErrorBody {
            error: self.code(),
            error_description: self.to_string(),
            fields,
        })
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::EmailTaken => StatusCode::CONFLICT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::InvalidLink => StatusCode::BAD_REQUEST,
            Self::EmailNotVerified => StatusCode::FORBIDDEN,
            Self::InvalidCredentials
            | Self::InvalidGrant
            | Self::Unauthorized
            | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientRole(_) | Self::CsrfFailed => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::TooManyConnections | Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.finish(self.response_builder())
    }
}

/// `outer: inner: innermost`, for logs.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut current = e.source();
    while let Some(cause) = current {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        current = cause.source();
    }
    out
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::internal(e)
    }
}

impl From<crate::db::DbError> for AppError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            e @ crate::db::DbError::Unavailable(_) => Self::unavailable(e),
            e @ crate::db::DbError::Failed(_) => Self::internal(e),
        }
    }
}

impl From<crate::passwords::HashingError> for AppError {
    fn from(e: crate::passwords::HashingError) -> Self {
        match e {
            crate::passwords::HashingError::Busy => Self::Busy,
            crate::passwords::HashingError::OverShare => Self::Throttled {
                retry_after_secs: 1,
            },
            other => Self::internal(other),
        }
    }
}

impl From<jsonwebtoken::errors::Error> for AppError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        Self::internal(e)
    }
}
