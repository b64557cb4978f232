//! The pages' own cookie session (contract §4): form CSRF tokens and flash notices.
//!
//! Server-rendered forms need state that is neither a credential nor an account: a random
//! anti-forgery token per browser and a one-shot notice ("you have signed out"). It lives in an
//! actix-session cookie (`__Host-doorward_session`), signed and encrypted with a key derived
//! from the JWT secret, so every instance sharing the secret reads it and no database is needed.
//! The auth cookies stay where they are ([`crate::cookies`]); this cookie never authenticates.

use actix_session::config::CookieContentSecurity;
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionInsertError, SessionMiddleware};
use actix_web::cookie::{Key, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha512};

/// The session cookie's name: `__Host-`, so only this exact origin can set it.
pub const SESSION_COOKIE: &str = "__Host-doorward_session";

/// The form field (and session entry) holding the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";

const FLASH_KEY: &str = "flash";

/// A label that separates this key from every other use of the JWT secret.
const KEY_LABEL: &[u8] = b"doorward page session key v1\0";

/// Derives the 64-byte session key from the JWT secret: SHA-512 over a fixed label and the
/// secret, so the cookie key is never the signing key itself.
pub fn session_key(jwt_secret: &[u8]) -> Result<Key, String> {
    let digest = Sha512::new()
        .chain_update(KEY_LABEL)
        .chain_update(jwt_secret)
        .finalize();
    Key::try_from(digest.as_slice()).map_err(|e| format!("page session key: {e}"))
}

/// The session middleware for the pages: a private (encrypted) cookie, `Secure; HttpOnly;
/// SameSite=Strict; Path=/`, that lasts as long as the browser session.
pub fn middleware(key: Key) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), key)
        .cookie_name(SESSION_COOKIE.to_owned())
        .cookie_secure(true)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Strict)
        .cookie_path("/".to_owned())
        .cookie_domain(None)
        .cookie_content_security(CookieContentSecurity::Private)
        .build()
}

/// The session's CSRF token, created (32 random bytes) when there is none yet.
pub fn csrf_token(session: &Session) -> Result<String, TokenError> {
    if let Ok(Some(token)) = session.get::<String>(CSRF_FIELD)
        && !token.is_empty()
    {
        return Ok(token);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError(e.to_string()))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    session
        .insert(CSRF_FIELD, &token)
        .map_err(|e: SessionInsertError| TokenError(e.to_string()))?;
    Ok(token)
}

/// True when `presented` equals the session's token, compared in constant time. A session
/// without a token accepts nothing.
pub fn csrf_matches(session: &Session, presented: Option<&str>) -> bool {
    let Ok(Some(expected)) = session.get::<String>(CSRF_FIELD) else {
        return false;
    };
    let Some(presented) = presented else {
        return false;
    };
    !expected.is_empty() && constant_time_eq(expected.as_bytes(), presented.as_bytes())
}

/// Compares two byte strings without an early exit on the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Starts a fresh session at sign-in (no fixation): a new cookie, and no CSRF token carried
/// over from before the sign-in; the next form gets a new one.
pub fn renew_at_sign_in(session: &Session) {
    session.remove(CSRF_FIELD);
    session.renew();
}

/// Empties the session at sign-out. actix-session ignores every write after `purge()`, so to
/// leave the "signed out" notice behind, the state is cleared and the cookie renewed instead:
/// nothing from the signed-in session survives except the notice itself.
pub fn purge_at_sign_out(session: &Session) {
    session.clear();
    session.renew();
    set_flash(session, Flash::SignedOut);
}

/// A one-shot notice shown on the next page that looks for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flash {
    /// After `POST /logout`, on the sign-in page.
    SignedOut,
    /// After a registration, on the account page.
    Registered,
    /// After "Sign out" on another session, on the account page.
    SessionEnded,
    /// After "Sign out other devices", on the account page.
    OthersEnded,
    /// After "Change password", on the account page.
    PasswordChanged,
    /// After a reset link's new password, on the sign-in page.
    PasswordReset,
}

impl Flash {
    fn code(self) -> &'static str {
        match self {
            Self::SignedOut => "signed_out",
            Self::Registered => "registered",
            Self::SessionEnded => "session_ended",
            Self::OthersEnded => "others_ended",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
        }
    }

    /// The text shown to people.
    pub fn message(self) -> &'static str {
        match self {
            Self::SignedOut => "You have signed out.",
            Self::Registered => "Your account has been created and you are signed in.",
            Self::SessionEnded => "That session has been signed out.",
            Self::OthersEnded => "Your other devices have been signed out.",
            Self::PasswordReset => "Your password has been changed: sign in with it.",
            Self::PasswordChanged => {
                "Your password has been changed, and your other devices signed out."
            }
        }
    }
}

/// Leaves a notice for the next page. A failure only loses the notice.
pub fn set_flash(session: &Session, flash: Flash) {
    if let Err(e) = session.insert(FLASH_KEY, flash.code()) {
        log::warn!("flash notice dropped: {e}");
    }
}

/// Takes the pending notice if it is one of `accepted`, leaving any other for its own page.
pub fn take_flash(session: &Session, accepted: &[Flash]) -> Option<Flash> {
    let code = session.get::<String>(FLASH_KEY).ok().flatten()?;
    let flash = accepted.iter().copied().find(|f| f.code() == code)?;
    session.remove(FLASH_KEY);
    Some(flash)
}

/// A CSRF token could not be created or stored.
#[derive(Debug, thiserror::Error)]
#[error("cannot create a form token: {0}")]
pub struct TokenError(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_derived_and_stable() {
        let a = session_key(&[7u8; 32]).unwrap();
        let b = session_key(&[7u8; 32]).unwrap();
        let c = session_key(&[8u8; 32]).unwrap();
        assert!(a == b);
        assert!(a != c);
    }

    #[test]
    fn comparison_needs_equal_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
