//! The two auth cookies: built, cleared and read in this one place (contract §3, Cookies).
//!
//! They are read from the raw `Cookie` header by exact byte name. actix-web's `req.cookie()`
//! percent-decodes names and trims Unicode spaces, so a cookie planted by a sibling subdomain as
//! `%5F%5FHost-access_token` would be taken for ours: that is the `__Host-` prefix bypass this
//! module exists to prevent. A request carrying one of our cookies twice carries bad credentials.

use actix_web::HttpResponseBuilder;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header::{self, HeaderMap};

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

/// Every `name=value` pair of every `Cookie` header, split as bytes: one non-UTF-8 byte in a
/// sibling app's cookie must not hide ours. Names are never decoded; ASCII spaces and tabs
/// around names and values are trimmed (RFC 6265). Pairs that are not UTF-8 are skipped.
fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .flat_map(|line| line.as_bytes().split(|&b| b == b';'))
        .filter_map(|pair| {
            let eq = pair.iter().position(|&b| b == b'=')?;
            let name = std::str::from_utf8(&pair[..eq]).ok()?;
            let value = std::str::from_utf8(&pair[eq + 1..]).ok()?;
            Some((
                name.trim_matches([' ', '\t']),
                value.trim_matches([' ', '\t']),
            ))
        })
}

/// Reads the auth cookies from every `Cookie` header, by exact name, without decoding.
pub fn read(headers: &HeaderMap) -> AuthCookies<'_> {
    let mut found = AuthCookies {
        access: CookieValue::Absent,
        refresh: CookieValue::Absent,
    };
    for (name, value) in pairs(headers) {
        match name {
            ACCESS_COOKIE => found.access = found.access.add(value),
            REFRESH_COOKIE => found.refresh = found.refresh.add(value),
            _ => {}
        }
    }
    found
}

/// Every value sent under `name`, duplicates included: sign-out revokes all of them, since
/// nobody can tell which of two copies is the genuine one.
pub fn all_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    pairs(headers)
        .filter(move |(n, _)| *n == name)
        .map(|(_, v)| v)
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

/// A freshly issued pair, as the cookies carry it: each token with its `Max-Age` in seconds.
#[derive(Clone, Copy)]
pub struct TokenCookies<'a> {
    /// The access token.
    pub access_token: &'a str,
    /// Seconds until it expires.
    pub access_max_age: i64,
    /// The refresh token.
    pub refresh_token: &'a str,
    /// Seconds until it expires.
    pub refresh_max_age: i64,
}

/// Adds both auth cookies of a freshly issued pair, with the contract's attributes.
pub fn set_both(response: &mut HttpResponseBuilder, pair: TokenCookies<'_>) {
    response.cookie(auth_cookie(
        ACCESS_COOKIE,
        pair.access_token.to_owned(),
        pair.access_max_age,
    ));
    response.cookie(auth_cookie(
        REFRESH_COOKIE,
        pair.refresh_token.to_owned(),
        pair.refresh_max_age,
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
        assert!(!read(req.headers()).any_present());
    }

    #[test]
    fn values_are_found_across_headers_and_duplicates_detected() {
        let req = TestRequest::default()
            .append_header((header::COOKIE, "a=1; __Host-access_token=tok"))
            .append_header((header::COOKIE, "__Host-refresh_token=r1"))
            .to_http_request();
        let found = read(req.headers());
        assert_eq!(found.access, CookieValue::One("tok"));
        assert_eq!(found.refresh, CookieValue::One("r1"));
        let twice = TestRequest::default()
            .insert_header((
                header::COOKIE,
                "__Host-access_token=a; __Host-access_token=b",
            ))
            .to_http_request();
        assert!(read(twice.headers()).any_duplicate());
        assert_eq!(
            all_values(twice.headers(), ACCESS_COOKIE).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn a_non_ascii_byte_in_another_cookie_hides_nothing() {
        let value =
            header::HeaderValue::from_bytes(b"pref=caf\xc3\xa9; __Host-access_token=tok").unwrap();
        let req = TestRequest::default()
            .insert_header((header::COOKIE, value))
            .to_http_request();
        assert_eq!(read(req.headers()).access, CookieValue::One("tok"));
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
