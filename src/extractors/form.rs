//! Form bodies of the OAuth2 endpoints, read as RFC 6749 asks: `application/x-www-form-urlencoded`
//! in UTF-8 (Appendix B), no parameter more than once (§3.2), a parameter sent without a
//! value treated as omitted, and unrecognized parameters ignored (§3.1). The limits are the JSON bodies' ([`super::json`]): 413 over
//! 64 KiB, 408 past `DOORWARD_BODY_TIMEOUT`.
//!
//! The pages read their forms leniently instead (`routes::pages::form`): a browser's form is
//! not a protocol message.

use std::collections::HashMap;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use percent_encoding::percent_decode;

use super::json::typed_body;
use crate::error::AppError;

/// The parameters of a form body that any OAuth2 endpoint reads; each appears once.
#[derive(Debug, Default)]
pub struct OAuthForm(HashMap<&'static str, String>);

/// Every parameter the OAuth2 endpoints read (RFC 6749 §4.3.2, §6, §2.3.1; RFC 7009 §2.1;
/// RFC 7662 §2.1). Any other is ignored, however often it is sent.
pub const PARAMETERS: &[&str] = &[
    "grant_type",
    "username",
    "password",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "token",
    "token_type_hint",
];

impl OAuthForm {
    /// The value of `name`, or `None` when it is absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Parses a body, refusing text that is not UTF-8 or one of [`PARAMETERS`] named twice.
    pub fn parse(body: &[u8]) -> Result<Self, AppError> {
        let mut fields = HashMap::new();
        for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            let Some(&known) = PARAMETERS.iter().find(|known| **known == name) else {
                continue;
            };
            if fields.insert(known, value).is_some() {
                return Err(AppError::InvalidRequest(
                    "a parameter is sent more than once (RFC 6749 section 3.2)",
                ));
            }
        }
        Ok(Self(fields))
    }
}

/// One name or value: `+` is a space, then percent-decoding, and the result must be UTF-8.
fn decode(raw: &[u8]) -> Result<String, AppError> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| AppError::InvalidRequest("the form is not valid UTF-8"))
}

impl FromRequest for OAuthForm {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = typed_body(
            req,
            payload,
            "application/x-www-form-urlencoded",
            "the request body must be sent with Content-Type: application/x-www-form-urlencoded",
        );
        Box::pin(async move { Self::parse(&body.await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_decoded_and_empty_ones_are_absent() {
        let form =
            OAuthForm::parse(b"username=ada%40example.com&password=a+b%2Bc&scope=&x").unwrap();
        assert_eq!(form.get("username"), Some("ada@example.com"));
        assert_eq!(form.get("password"), Some("a b+c"));
        assert_eq!(form.get("scope"), None);
        assert_eq!(form.get("missing"), None);
    }

    #[test]
    fn a_parameter_twice_and_bad_utf8_are_refused() {
        assert!(OAuthForm::parse(b"grant_type=password&grant_type=password").is_err());
        assert!(
            OAuthForm::parse(b"token=1&token=").is_err(),
            "empty or not, it is sent twice"
        );
        assert!(OAuthForm::parse(b"password=%FF%FE").is_err());
        assert!(
            OAuthForm::parse(b"x=%FF").is_err(),
            "the whole body is UTF-8"
        );
        assert!(OAuthForm::parse(b"password=%C3%A9").is_ok());
    }

    #[test]
    fn unrecognized_parameters_are_ignored_even_repeated() {
        let form = OAuthForm::parse(b"x=1&x=2&=3&=4&token=t&p%C3%A4ss=%C3%A9").unwrap();
        assert_eq!(form.get("token"), Some("t"));
        assert_eq!(form.get("x"), None);
        assert_eq!(form.get(""), None);
    }
}
