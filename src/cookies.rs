//! The two auth cookies: built, cleared and read in this one place (contract §3, Cookies).
//!
//! They are read from the raw `Cookie` header by exact byte name. actix-web's `req.cookie()`
//! percent-decodes names and trims Unicode spaces, so a cookie planted by a sibling subdomain as
//! `%5F%5FHost-access_token` would be taken for ours: that is the `__Host-` prefix bypass this
//! module exists to prevent. A request carrying one of our cookies twice carries bad credentials.

use actix_web::HttpRequest;
use actix_web::HttpResponseBuilder;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;

use crate::sessions::IssuedSession;

/// The access token cookie.
pub const ACCESS_COOKIE: &str = "__Host-access_token";
/// The refresh token cookie.
pub const REFRESH_COOKIE: &str = "__Host-refresh_token";

/// One auth cookie as found on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieValue<'a> {
    /// Not sent.
    Absent,
    /// Sent once.
    One(&'a str),
    /// Sent more than once: nobody can tell which is genuine.
    Duplicate,
}

impl<'a> CookieValue<'a> {
    fn add(self, value: &'a str) -> Self {
        match self {
            Self::Absent => Self::One(value),
            Self::One(_) | Self::Duplicate => Self::Duplicate,
        }
    }

    /// True unless absent.
    pub fn is_present(self) -> bool {
        !matches!(self, Self::Absent)
    }
}

/// Both auth cookies of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthCookies<'a> {
    /// `__Host-access_token`.
    pub access: CookieValue<'a>,
    /// `__Host-refresh_token`.
    pub refresh: CookieValue<'a>,
}

impl AuthCookies<'_> {
    /// True when either cookie was sent (such a request is subject to the CSRF rule).
    pub fn any_present(&self) -> bool {
        self.access.is_present() || self.refresh.is_present()
    }

    /// True when either cookie was sent twice.
    pub fn any_duplicate(&self) -> bool {
        self.access == CookieValue::Duplicate || self.refresh == CookieValue::Duplicate
    }
}

/// Reads the auth cookies from every `Cookie` header, by exact name, without decoding.
pub fn read(req: &HttpRequest) -> AuthCookies<'_> {
    let mut found = AuthCookies {
        access: CookieValue::Absent,
        refresh: CookieValue::Absent,
    };
    let pairs = req
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'));
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let name = name.trim_matches([' ', '\t']);
        let value = value.trim_matches([' ', '\t']);
        match name {
            ACCESS_COOKIE => found.access = found.access.add(value),
            REFRESH_COOKIE => found.refresh = found.refresh.add(value),
            _ => {}
        }
    }
    found
}

fn auth_cookie(name: &'static str, value: String, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(name, value)
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(CookieDuration::seconds(max_age_secs))
        .finish()
}

/// Adds both auth cookies of a freshly issued session, with the contract's attributes.
pub fn set_both(response: &mut HttpResponseBuilder, session: &IssuedSession) {
    response.cookie(auth_cookie(
        ACCESS_COOKIE,
        session.access.token.clone(),
        session.access.expires_in,
    ));
    response.cookie(auth_cookie(
        REFRESH_COOKIE,
        session.refresh.expose().to_owned(),
        session.refresh_expires_in,
    ));
}

/// Clears both auth cookies: same names, path and attributes, empty values, `Max-Age=0`.
pub fn clear_both(response: &mut HttpResponseBuilder) {
    response.cookie(auth_cookie(ACCESS_COOKIE, String::new(), 0));
    response.cookie(auth_cookie(REFRESH_COOKIE, String::new(), 0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn names_are_matched_exactly_and_never_decoded() {
        let req = TestRequest::default()
            .insert_header((
                header::COOKIE,
                "%5F%5FHost-access_token=planted; __host-refresh_token=x",
            ))
            .to_http_request();
        assert!(!read(&req).any_present());
    }

    #[test]
    fn values_are_found_across_headers_and_duplicates_detected() {
        let req = TestRequest::default()
            .append_header((header::COOKIE, "a=1; __Host-access_token=tok"))
            .append_header((header::COOKIE, "__Host-refresh_token=r1"))
            .to_http_request();
        let found = read(&req);
        assert_eq!(found.access, CookieValue::One("tok"));
        assert_eq!(found.refresh, CookieValue::One("r1"));
        let twice = TestRequest::default()
            .insert_header((
                header::COOKIE,
                "__Host-access_token=a; __Host-access_token=b",
            ))
            .to_http_request();
        assert!(read(&twice).any_duplicate());
    }

    #[test]
    fn cookies_carry_the_contract_attributes() {
        let set = auth_cookie(ACCESS_COOKIE, "v".into(), 900).to_string();
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=900",
        ] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set.contains("Domain"));
    }
}
