//! The fuzz targets' entry points (`fuzz/`, run by `bash fuzz/run.sh`): each feeds the fuzzer's
//! bytes to one parser of hostile input and checks what that parser promises, so a fuzzer finds
//! wrong answers as well as panics. An assertion here failing is a bug in the parser.
//!
//! Every input a fuzzer ever crashed is kept in `fuzz/regressions/<target>/` and replayed by this
//! module's test on every `cargo test`, on stable, with no fuzzer.

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use url::Url;

use crate::config::{JwtSecret, RedirectHosts, parse_duration};
use crate::cookies::{self, ACCESS_COOKIE, CookieValue, REFRESH_COOKIE};
use crate::extractors::auth::{PresentedToken, bearer_token, presented_token};
use crate::extractors::client_ip;
use crate::extractors::form::{OAuthForm, PARAMETERS};
use crate::extractors::json;
use crate::routes::pages::form::FormFields;
use crate::routes::pages::next::{next_location, safe_next};
use crate::tokens::jwt::{JwtKeys, LEEWAY_SECS};

/// A target's entry point: the fuzzer's bytes in, a panic out when a promise is broken.
pub type EntryPoint = fn(&[u8]);

/// Every target: its name (as `fuzz/fuzz_targets/<name>.rs` and the regression folder call it)
/// and its entry point.
pub const TARGETS: &[(&str, EntryPoint)] = &[
    ("access_token", access_token),
    ("authorization_header", authorization_header),
    ("cookie_header", cookie_header),
    ("json_body", json_body),
    ("form_body", form_body),
    ("duration", duration),
    ("next_param", next_param),
    ("forwarded_for", forwarded_for),
];

const SECRET: &str = "fuzzing-secret-0123456789abcdefghijklmnop";
const ISSUER: &str = "doorward";
const TTL_SECS: u64 = 900;

fn keys() -> &'static JwtKeys {
    static KEYS: OnceLock<JwtKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let secret = JwtSecret::parse("JWT_SECRET", SECRET.to_owned())
            .unwrap_or_else(|e| unreachable!("the fuzzing secret is valid: {e}"));
        JwtKeys::new(
            &secret,
            ISSUER,
            ISSUER,
            std::time::Duration::from_secs(TTL_SECS),
        )
    })
}

/// The access-token verifier. The first byte picks the mode: the rest as a whole token (which
/// must never verify: nobody but the key's holder can sign), or split at the first `0xFF` into
/// a header and claims that are encoded and signed with the real key, so the fuzzer reaches the
/// header and claim checks behind the signature. Whatever verifies must satisfy every claim
/// rule of contract §2.
pub fn access_token(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let Ok(token) = std::str::from_utf8(rest) else {
            return;
        };
        assert!(keys().verify(token).is_err(), "an unsigned token verified");
        assert!(keys().verify_ignoring_expiry(token).is_err());
        return;
    }
    let (header, claims) = match rest.iter().position(|&b| b == 0xFF) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&br#"{"alg":"HS256","typ":"JWT"}"#[..], rest),
    };
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let Ok(signature) =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::HS256)
    else {
        return;
    };
    let token = format!("{signing_input}.{signature}");
    let now = chrono::Utc::now().timestamp();
    let leeway = LEEWAY_SECS as i64;
    if let Ok(verified) = keys().verify(&token) {
        let header = jsonwebtoken::decode_header(&token);
        assert!(header.is_ok_and(|h| h.alg == Algorithm::HS256 && h.jku.is_none()));
        assert_eq!(verified.iss, ISSUER);
        assert!(verified.exp + leeway >= now, "an expired token verified");
        assert!(
            verified.nbf <= now + leeway,
            "a token not yet valid verified"
        );
        assert!(
            verified.iat <= now + leeway,
            "a token from the future verified"
        );
        assert!(verified.exp - verified.iat <= TTL_SECS as i64 + leeway);
        let lenient = keys().verify_ignoring_expiry(&token);
        assert!(
            lenient.is_ok(),
            "sign-out refused a token the strict check accepts"
        );
    }
}

/// Lines of the input, each a header value where the bytes allow one.
fn header_values(data: &[u8]) -> Vec<HeaderValue> {
    data.split(|&b| b == b'\n')
        .filter_map(|line| HeaderValue::from_bytes(line).ok())
        .collect()
}

/// `Authorization` parsing: a bearer token found is the header's own non-empty `token68`
/// tail; the header wins over any cookie, and a header that is not a bearer token is malformed
/// (never a fall-back to the cookie).
pub fn authorization_header(data: &[u8]) {
    let values = header_values(data);
    let mut headers = HeaderMap::new();
    let cookie = HeaderValue::from_static("__Host-access_token=from-the-cookie");
    headers.insert(header::COOKIE, cookie);
    for value in &values {
        if let Some(token) = bearer_token(value) {
            let token68 = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
            assert!(!token.is_empty() && token.bytes().all(token68));
            let text = value.to_str().unwrap_or_default();
            assert!(text.trim_end_matches([' ', '\t']).ends_with(token));
        }
        headers.append(header::AUTHORIZATION, value.clone());
    }
    let presented = presented_token(&headers);
    match values.as_slice() {
        [] => assert_eq!(presented, PresentedToken::Cookie("from-the-cookie")),
        [one] => match bearer_token(one) {
            Some(token) => assert_eq!(presented, PresentedToken::Bearer(token)),
            None => assert_eq!(presented, PresentedToken::MalformedHeader),
        },
        _ => assert_eq!(presented, PresentedToken::MalformedHeader),
    }
}

/// The `Cookie` reader, over one or more `Cookie` headers: what it reports for each auth cookie
/// agrees with the count of its values, and a value found holds no separator or padding.
pub fn cookie_header(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for value in header_values(data) {
        headers.append(header::COOKIE, value);
    }
    let found = cookies::read(&headers);
    for (name, value) in [
        (ACCESS_COOKIE, found.access),
        (REFRESH_COOKIE, found.refresh),
    ] {
        let count = cookies::all_values(&headers, name).count();
        match value {
            CookieValue::Absent => assert_eq!(count, 0),
            CookieValue::One(text) => {
                assert_eq!(count, 1);
                assert!(!text.contains(';'));
                assert_eq!(text, text.trim_matches([' ', '\t']));
            }
            CookieValue::Duplicate => assert!(count >= 2),
        }
    }
    let presented = presented_token(&headers);
    if found.any_duplicate() {
        assert_eq!(presented, PresentedToken::DuplicateCookie);
    }
}

/// The JSON body reader: it accepts exactly the objects whose member names are distinct, and
/// answers everything else with a client error.
pub fn json_body(data: &[u8]) {
    let parsed = json::parse_object(data);
    let reference = serde_json::from_slice::<serde_json::Value>(data);
    match parsed {
        Ok(fields) => {
            let object = reference.ok();
            assert!(object.as_ref().is_some_and(serde_json::Value::is_object));
            let mut errors = crate::error::FieldErrors::default();
            let _ = fields.required_str("email", &mut errors);
            let _ = fields.optional_str("name", &mut errors);
        }
        Err(error) => {
            let status = actix_web::ResponseError::status_code(&error);
            assert!(status.is_client_error(), "{status} for a bad body");
        }
    }
}

/// The form readers. The pages': the first value of a name wins, as with the query string.
/// The OAuth2 endpoints' (RFC 6749): a form it accepts names each parameter it reads once and
/// reads every such value as the standard decoder does, an empty one as absent, any other
/// parameter not at all; it refuses only a read parameter sent twice or text that is not UTF-8.
pub fn form_body(data: &[u8]) {
    let form = FormFields::parse(data);
    let mut seen = std::collections::HashSet::new();
    for (name, value) in url::form_urlencoded::parse(data) {
        if seen.insert(name.clone().into_owned()) {
            assert_eq!(form.get(&name), Some(value.as_ref()));
        }
    }
    let mut known_seen = std::collections::HashSet::new();
    let known_repeated = url::form_urlencoded::parse(data)
        .filter(|(name, _)| PARAMETERS.contains(&name.as_ref()))
        .any(|(name, _)| !known_seen.insert(name.into_owned()));
    match OAuthForm::parse(data) {
        Ok(strict) => {
            assert!(!known_repeated, "a parameter read twice was accepted");
            for (name, value) in url::form_urlencoded::parse(data) {
                let expected = Some(value.as_ref())
                    .filter(|v| !v.is_empty() && PARAMETERS.contains(&name.as_ref()));
                assert_eq!(strict.get(&name), expected, "{name}");
            }
        }
        Err(_) => {
            let lossy = url::form_urlencoded::parse(data)
                .any(|(name, value)| name.contains('\u{FFFD}') || value.contains('\u{FFFD}'));
            assert!(known_repeated || lossy, "a well-formed form was refused");
        }
    }
}

/// The duration parser: a duration it reads is written back the same in milliseconds.
pub fn duration(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(parsed) = parse_duration(text) {
        let millis = format!("{}ms", parsed.as_millis());
        assert_eq!(parse_duration(&millis), Some(parsed));
    }
}

fn redirect_hosts() -> &'static RedirectHosts {
    static HOSTS: OnceLock<RedirectHosts> = OnceLock::new();
    HOSTS.get_or_init(|| {
        RedirectHosts::parse("app.example.com,localhost:3000")
            .unwrap_or_else(|e| unreachable!("the fuzzing hosts are valid: {e}"))
    })
}

/// The `next` validator: an accepted `next` becomes a `Location` that is a valid header value
/// and that a browser resolves to this origin, or to a listed host; never anywhere else.
pub fn next_param(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Some(next) = safe_next(Some(raw), redirect_hosts()) else {
        return;
    };
    let location = next_location(Some(next), "/account");
    assert!(HeaderValue::from_str(&location).is_ok(), "{location:?}");
    let here = Url::parse("https://doorward.example/base/")
        .unwrap_or_else(|e| unreachable!("the base URL is valid: {e}"));
    let resolved = here.join(&location);
    assert!(resolved.is_ok(), "{location:?} does not resolve");
    if let Ok(target) = resolved {
        let same_origin = target.origin() == here.origin();
        assert!(
            same_origin || redirect_hosts().allows(&target),
            "{raw:?} sends the browser to {target}"
        );
    }
}

/// The forwarded-chain walk: whatever the headers say, the client is the peer unless the peer
/// is a trusted proxy, and it is never a trusted proxy while an untrusted hop exists.
pub fn forwarded_for(data: &[u8]) {
    let peer = std::net::IpAddr::from([10, 0, 0, 1]);
    let trusted = [peer, std::net::IpAddr::from([10, 0, 0, 2])];
    let mut headers = HeaderMap::new();
    for (i, value) in header_values(data).into_iter().enumerate() {
        let name = if i % 2 == 0 {
            header::FORWARDED
        } else {
            header::HeaderName::from_static("x-forwarded-for")
        };
        headers.append(name, value);
    }
    let untrusted_peer = std::net::IpAddr::from([192, 0, 2, 7]);
    assert_eq!(
        client_ip::client_address(untrusted_peer, &headers, &trusted),
        untrusted_peer
    );
    let _ = client_ip::client_address(peer, &headers, &trusted);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays every input kept under `fuzz/regressions/` and `fuzz/seeds/`.
    #[test]
    fn every_kept_fuzz_input_passes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut replayed = 0;
        for kind in ["regressions", "seeds"] {
            for (name, target) in TARGETS {
                let Ok(entries) = std::fs::read_dir(root.join(kind).join(name)) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    target(&std::fs::read(&path).unwrap());
                    replayed += 1;
                }
            }
        }
        assert!(replayed > 0, "no kept fuzz inputs under {}", root.display());
    }

    #[test]
    fn every_target_has_a_fuzz_target_file() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
        for (name, _) in TARGETS {
            assert!(root.join(format!("{name}.rs")).is_file(), "{name}");
        }
    }
}
