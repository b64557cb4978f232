//! [`AuthUser`]: the one extractor every protected route takes, for both transports.
//!
//! `Authorization: Bearer` wins when present, and a present but bad header is a 401 with no
//! fall-back to the cookie; otherwise the `__Host-access_token` cookie is used (contract §3).
//! Verification is signature and claims ([`crate::tokens::jwt`]) then revocation
//! ([`crate::denylist`]): both in memory, so the future is ready at once and no database is
//! touched. The CSRF rule ([`crate::csrf`]) is checked here too, so an embedding app's own
//! routes get it without doorward's middleware: an unsafe cookie request from another site is
//! 403 `csrf_failed` before the handler runs.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::error::InternalError;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use crate::cookies::{self, CookieValue};
use crate::csrf::{self, AllowedOrigins};
use crate::error::AppError;
use crate::state::AppState;
use crate::tokens::jwt::AccessClaims;

/// A request whose access token verified and is not revoked: take it on a handler and the
/// handler runs only for signed-in users. Refusals are the contract's: 401 with
/// `WWW-Authenticate`, or 403 `csrf_failed`.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The verified claims: `sub` is the user id, `email`, `role`, `sid` the session. Shared
    /// with the verified-token cache, so a request copies none of them.
    pub claims: Arc<AccessClaims>,
}

impl AuthUser {
    /// The user's id.
    pub fn id(&self) -> &str {
        &self.claims.sub
    }
}

/// A signed-in user, or `None` for a request without credentials. Bad credentials are still
/// refused with 401: actix's own `Option<AuthUser>` would turn a bad or revoked token into an
/// anonymous request, so use this instead.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

/// Where a request's access token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentedToken<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// An `Authorization` header that is not a usable bearer token.
    MalformedHeader,
    /// The access cookie.
    Cookie(&'a str),
    /// The access cookie, sent twice.
    DuplicateCookie,
    /// Nothing.
    None,
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is matched without regard
/// to case (RFC 7235 §2.1), spaces and tabs around the token are ignored, and the token must be
/// a `token68` (RFC 9110 §11.2: letters, digits and `-._~+/=`, which every JWT is). One pass
/// over the bytes with a table, borrowed from the header, nothing allocated: this runs on
/// every bearer request.
pub fn bearer_token(value: &header::HeaderValue) -> Option<&str> {
    let token = bearer_bytes(value)?;
    if !is_token68(token) {
        return None;
    }
    // Every byte is ASCII, so this never fails (and checks ASCII a word at a time).
    std::str::from_utf8(token).ok()
}

/// What follows `Bearer ` in the value, trimmed, not yet checked to be a `token68`.
fn bearer_bytes(value: &header::HeaderValue) -> Option<&[u8]> {
    let bytes = value.as_bytes();
    let scheme = bytes.get(..7)?;
    if !scheme[..6].eq_ignore_ascii_case(b"bearer") || scheme[6] != b' ' {
        return None;
    }
    let token = bytes[7..].trim_ascii_start();
    let last = token.iter().rposition(|&b| b != b' ' && b != b'\t')?;
    Some(&token[..=last])
}

/// Whether every byte is one of a `token68`'s. Written without branches or early exit, so the
/// compiler checks many bytes per instruction (a table lookup per byte cost ~6 instructions
/// each, 2,600 per request, under callgrind).
fn is_token68(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        let digit = b.wrapping_sub(b'0') < 10;
        let sign = (b == b'-') | (b == b'.') | (b == b'_') | (b == b'~');
        let other = (b == b'+') | (b == b'/') | (b == b'=');
        ok & (letter | digit | sign | other)
    })
}

/// Finds the access token by the contract's precedence: header, then cookie. A request that
/// carries either auth cookie twice carries bad credentials, whichever cookie it is.
pub fn presented_token(headers: &header::HeaderMap) -> PresentedToken<'_> {
    let mut authorization = headers.get_all(header::AUTHORIZATION);
    if let Some(value) = authorization.next() {
        if authorization.next().is_some() {
            return PresentedToken::MalformedHeader;
        }
        return bearer_token(value).map_or(PresentedToken::MalformedHeader, PresentedToken::Bearer);
    }
    let found = cookies::read(headers);
    match found.access {
        _ if found.any_duplicate() => PresentedToken::DuplicateCookie,
        CookieValue::One(token) => PresentedToken::Cookie(token),
        CookieValue::Duplicate | CookieValue::Absent => PresentedToken::None,
    }
}

/// The whole check of a request's credential, in memory: found by the contract's precedence,
/// then verified and checked against the denylist. `/auth/verify` answers with it too.
pub fn verify_request(state: &AppState, req: &HttpRequest) -> Result<Arc<AccessClaims>, AppError> {
    // The common case first: the one `Authorization` header carries a token verified before.
    // Equal bytes to a stored token are a token68 already, so they are not checked again.
    let mut authorization = req.headers().get_all(header::AUTHORIZATION);
    if let (Some(value), None) = (authorization.next(), authorization.next())
        && let Some(claims) = bearer_bytes(value).and_then(|raw| state.remembered_token(raw))
    {
        return state.unless_revoked(claims).map_err(AppError::InvalidToken);
    }
    let token = match presented_token(req.headers()) {
        PresentedToken::Bearer(token) | PresentedToken::Cookie(token) => token,
        PresentedToken::MalformedHeader => {
            return Err(AppError::InvalidToken(
                "the Authorization header must be 'Bearer <token>'",
            ));
        }
        PresentedToken::DuplicateCookie => {
            return Err(AppError::InvalidToken(DUPLICATE_COOKIE));
        }
        PresentedToken::None => return Err(AppError::Unauthorized),
    };
    state
        .verify_access_token(token)
        .map_err(AppError::InvalidToken)
}

const DUPLICATE_COOKIE: &str = "an authentication cookie was sent twice";

/// The state, once the request has passed the CSRF rule.
fn state_after_csrf(req: &HttpRequest) -> Result<&AppState, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::Internal("application state is missing".into()))?;
    // A safe method passes the rule whatever the origins, so they are not looked up for it.
    if !csrf::is_unsafe_method(req.method()) {
        return Ok(state);
    }
    let origins = req
        .app_data::<web::Data<AllowedOrigins>>()
        .ok_or_else(|| AppError::Internal("allowed origins are missing".into()))?;
    if csrf::is_forbidden(req, origins) {
        return Err(AppError::CsrfFailed);
    }
    Ok(state)
}

/// The extractor's check, in memory: CSRF, then the credential.
pub(crate) fn authenticate(req: &HttpRequest) -> Result<AuthUser, actix_web::Error> {
    let state = state_after_csrf(req)?;
    match verify_request(state, req) {
        Ok(claims) => Ok(AuthUser { claims }),
        // Both cookies are cleared: the browser holds a copy nobody can tell from the genuine.
        Err(error @ AppError::InvalidToken(DUPLICATE_COOKIE)) => {
            let mut response = error.response_builder();
            cookies::clear_both(&mut response);
            let response = error.finish(response);
            Err(InternalError::from_response(error, response).into())
        }
        Err(error) => Err(error.into()),
    }
}

impl FromRequest for AuthUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

impl FromRequest for MaybeAuthUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let user = match presented_token(req.headers()) {
            PresentedToken::None => state_after_csrf(req)
                .map(|_| Self(None))
                .map_err(Into::into),
            _ => authenticate(req).map(|user| Self(Some(user))),
        };
        ready(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_of(value: &'static str) -> Option<&'static str> {
        let value = Box::leak(Box::new(header::HeaderValue::from_static(value)));
        bearer_token(value)
    }

    #[test]
    fn a_bearer_token_is_a_token68_between_optional_spaces() {
        assert_eq!(token_of("Bearer abc.DEF-_~+/="), Some("abc.DEF-_~+/="));
        assert_eq!(token_of("bearer  tok \t"), Some("tok"));
        // Found by fuzzing: a tab inside the value was kept as part of the token.
        assert_eq!(token_of("bearer k\t"), Some("k"));
        for refused in [
            "Bearer a\tb",
            "Bearer a b",
            "Bearer",
            "Bearer ",
            "Basic abc",
            "Bearer a,b",
        ] {
            assert_eq!(token_of(refused), None, "{refused:?}");
        }
    }
}
