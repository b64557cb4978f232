//! Access tokens: JWTs with the claims of contract §2, issued and verified here only; HS256 with
//! `JWT_SECRET`, or EdDSA, RS256 or ES256 with the key files of [`super::keys`].
//!
//! The `Validation` is built once at start. jsonwebtoken's own defaults are too lax for us (60 s
//! leeway, `nbf` unchecked, `iss`/`aud` checked only when present, `crit` never enforced), so
//! every one of those is set explicitly, and the header is checked strictly before the
//! signature: `alg` (the configured one only), `typ`, and for asymmetric keys a `kid` naming a
//! known key; anything else (`jku`, `jwk`, `x5u`, `x5c`, `crit`…) is refused. Revocation is not
//! checked here but in [`crate::denylist`].

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::KeySet;
use crate::config::JwtSecret;
use crate::domain::Role;

/// Clock leeway for `exp` and `nbf`, in seconds (contract §2: at most 30).
pub const LEEWAY_SECS: u64 = 30;

/// The longest token accepted; anything larger is refused before decoding (contract §5).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// `aud` as a string, or an array that must contain our audience.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    /// The form doorward issues.
    One(String),
    /// Accepted when it contains the audience.
    Many(Vec<String>),
}

/// The claims of every access token doorward issues and accepts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: Audience,
    /// The user id.
    pub sub: String,
    /// The user's canonical email.
    pub email: String,
    /// The user's role.
    pub role: Role,
    /// The refresh family this token belongs to.
    pub sid: Uuid,
    /// Issued at, Unix seconds (never before the user's "log out everywhere" cut-off).
    pub iat: i64,
    /// Not before, Unix seconds.
    pub nbf: i64,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Unique id, for the denylist.
    pub jti: Uuid,
}

/// The only header fields a token may carry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictHeader<'a> {
    #[serde(borrow)]
    alg: &'a str,
    #[serde(borrow, default)]
    typ: Option<&'a str>,
    #[serde(borrow, default)]
    kid: Option<&'a str>,
}

/// Who a new access token is for.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The user id.
    pub user_id: &'a str,
    /// Canonical email.
    pub email: &'a str,
    /// Role.
    pub role: Role,
    /// The refresh family.
    pub sid: Uuid,
    /// The user's "log out everywhere" cut-off, Unix seconds.
    pub cutoff: i64,
}

/// A freshly signed access token. Its `Debug` never prints the token.
pub struct IssuedAccessToken {
    /// The compact JWS.
    pub token: String,
    /// Its lifetime in seconds from now.
    pub expires_in: i64,
}

impl std::fmt::Debug for IssuedAccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuedAccessToken(expires_in: {})", self.expires_in)
    }
}

/// Signing and verification keys, with the validation rules built once.
pub struct JwtKeys {
    encoding: EncodingKey,
    verifying: Verifying,
    strict: Validation,
    /// For sign-out only: the signature, issuer and audience must hold, the times need not.
    signature_only: Validation,
    header: Header,
    /// The one `alg` a token may name.
    alg: &'static str,
    /// `/.well-known/jwks.json`: empty for HS256, whose key is secret.
    jwks: jsonwebtoken::jwk::JwkSet,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

/// The keys tokens are checked with.
enum Verifying {
    /// HS256: the one secret; a token naming a `kid` is refused.
    Secret(DecodingKey),
    /// Asymmetric: the key the token's `kid` names, which it must.
    ByKid(HashMap<String, DecodingKey>),
}

impl JwtKeys {
    /// HS256 keys and both validations.
    pub fn new(secret: &JwtSecret, issuer: &str, audience: &str, ttl: std::time::Duration) -> Self {
        Self::build(
            Algorithm::HS256,
            EncodingKey::from_secret(secret.expose()),
            Verifying::Secret(DecodingKey::from_secret(secret.expose())),
            None,
            jsonwebtoken::jwk::JwkSet { keys: Vec::new() },
            (issuer, audience, ttl),
        )
    }

    /// Keys of an asymmetric `alg` (EdDSA, RS256, ES256) from [`KeySet::load`].
    pub fn asymmetric(
        alg: Algorithm,
        keys: KeySet,
        issuer: &str,
        audience: &str,
        ttl: std::time::Duration,
    ) -> Self {
        Self::build(
            alg,
            keys.signing,
            Verifying::ByKid(keys.verifying),
            Some(keys.signing_kid),
            keys.jwks,
            (issuer, audience, ttl),
        )
    }

    fn build(
        alg: Algorithm,
        encoding: EncodingKey,
        verifying: Verifying,
        kid: Option<String>,
        jwks: jsonwebtoken::jwk::JwkSet,
        (issuer, audience, ttl): (&str, &str, std::time::Duration),
    ) -> Self {
        let mut strict = Validation::new(alg);
        strict.leeway = LEEWAY_SECS;
        strict.validate_exp = true;
        strict.validate_nbf = true;
        strict.set_issuer(&[issuer]);
        strict.set_audience(&[audience]);
        strict.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let mut signature_only = strict.clone();
        signature_only.validate_exp = false;
        signature_only.validate_nbf = false;
        let mut header = Header::new(alg);
        header.kid = kid;
        Self {
            encoding,
            verifying,
            strict,
            signature_only,
            header,
            alg: algorithm_name(alg),
            jwks,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl_secs: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// The public keys, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> &jsonwebtoken::jwk::JwkSet {
        &self.jwks
    }

    /// The `alg` tokens are signed with, as the header names it.
    pub fn algorithm(&self) -> &'static str {
        self.alg
    }

    /// Signs a new access token; `iat` is never before the subject's cut-off (contract §2).
    pub fn issue(
        &self,
        subject: Subject<'_>,
        now_secs: i64,
    ) -> Result<IssuedAccessToken, jsonwebtoken::errors::Error> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: Audience::One(self.audience.clone()),
            sub: subject.user_id.to_owned(),
            email: subject.email.to_owned(),
            role: subject.role,
            sid: subject.sid,
            iat: now_secs.max(subject.cutoff),
            nbf: now_secs,
            exp: now_secs + self.ttl_secs,
            jti: Uuid::new_v4(),
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.encoding)?;
        Ok(IssuedAccessToken {
            token,
            expires_in: self.ttl_secs,
        })
    }

    /// Verifies signature, header, issuer, audience, times and claim types; the error is the
    /// `error_description` of the 401. Revocation is the caller's next check.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, &'static str> {
        self.decode(token, &self.strict)
    }

    /// Verifies everything but the times, for sign-out: an expired token is still denylisted.
    pub fn verify_ignoring_expiry(&self, token: &str) -> Result<AccessClaims, &'static str> {
        self.decode(token, &self.signature_only)
    }

    fn decode(&self, token: &str, validation: &Validation) -> Result<AccessClaims, &'static str> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err("the token is too large");
        }
        let kid = check_header(token, self.alg)?;
        let key = match (&self.verifying, kid) {
            (Verifying::Secret(key), None) => key,
            (Verifying::Secret(_), Some(_)) => return Err(UNSUPPORTED_FIELDS),
            (Verifying::ByKid(keys), Some(kid)) => {
                keys.get(&kid).ok_or("the token's key (kid) is not known")?
            }
            (Verifying::ByKid(_), None) => return Err("the token names no key (kid)"),
        };
        let claims = jsonwebtoken::decode::<AccessClaims>(token, key, validation)
            .map(|data| data.claims)
            .map_err(|e| describe(e.kind()))?;
        self.check_lifetime(&claims, chrono::Utc::now().timestamp())?;
        Ok(claims)
    }

    /// Refuses a token that doorward could not have issued under the lifetime in force: one
    /// that lives longer than `ACCESS_TOKEN_TTL` plus the leeway (a TTL lowered across a restart
    /// must not let old long-lived tokens through), or one issued in the future (a far-future
    /// `iat` would pass every "log out everywhere" cut-off). Sign-out applies it too: an
    /// out-of-bounds token is nothing to revoke, since it can never be accepted.
    fn check_lifetime(&self, claims: &AccessClaims, now_secs: i64) -> Result<(), &'static str> {
        let leeway = LEEWAY_SECS as i64;
        let lifetime = claims.exp.checked_sub(claims.iat);
        if lifetime.is_none_or(|secs| secs > self.ttl_secs.saturating_add(leeway)) {
            return Err("the token lifetime is longer than this server issues");
        }
        if claims.iat > now_secs.saturating_add(leeway) {
            return Err("the token was issued in the future");
        }
        Ok(())
    }
}

const UNSUPPORTED_FIELDS: &str = "the token header has unsupported fields";

/// The header's name of `alg`.
fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::EdDSA => "EdDSA",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        _ => "HS256",
    }
}

/// Refuses any header but `{"alg":<alg>,"typ":"JWT"}` and an optional `kid` before the
/// signature is checked; returns the `kid`.
fn check_header(token: &str, alg: &str) -> Result<Option<String>, &'static str> {
    const MALFORMED: &str = "the token is malformed";
    let mut segments = token.split('.');
    let (Some(header), Some(_), Some(_), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(MALFORMED);
    };
    let mut buf = [0u8; 512];
    let len = URL_SAFE_NO_PAD
        .decode_slice(header, &mut buf)
        .map_err(|_| "the token header is malformed or too large")?;
    let parsed: StrictHeader<'_> =
        serde_json::from_slice(&buf[..len]).map_err(|_| UNSUPPORTED_FIELDS)?;
    if parsed.alg != alg {
        return Err("the token algorithm is not accepted");
    }
    if parsed.typ != Some("JWT") {
        return Err("the token type is not JWT");
    }
    // Copied out of the decoded header (this runs only when the verified-token cache misses).
    Ok(parsed.kid.map(str::to_owned))
}

fn describe(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidSignature => "the token signature is invalid",
        ErrorKind::InvalidIssuer => "the token issuer is not accepted",
        ErrorKind::InvalidAudience => "the token audience is not accepted",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the token algorithm is not accepted"
        }
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
            "the token claims are missing or malformed"
        }
        _ => "the token is malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const KEY: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

    fn keys() -> JwtKeys {
        let secret = JwtSecret::parse("JWT_SECRET", String::from_utf8(KEY.to_vec()).unwrap())
            .expect("a 32-byte secret is valid");
        JwtKeys::new(&secret, "doorward", "doorward", Duration::from_secs(900))
    }

    fn subject(cutoff: i64) -> Subject<'static> {
        Subject {
            user_id: "u1",
            email: "a@x.io",
            role: Role::User,
            sid: Uuid::nil(),
            cutoff,
        }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn sign_raw(header: &str, claims: &serde_json::Value, secret: &[u8]) -> String {
        use hmac_sign::sign;
        let h = URL_SAFE_NO_PAD.encode(header);
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{h}.{c}");
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(sign(secret, input.as_bytes()))
        )
    }

    mod hmac_sign {
        /// HS256 by hand, so tests can forge tokens with any header.
        pub fn sign(key: &[u8], msg: &[u8]) -> Vec<u8> {
            use sha2::{Digest, Sha256};
            let mut k = [0u8; 64];
            k[..key.len()].copy_from_slice(key);
            let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
            let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
            let inner = Sha256::new()
                .chain_update(&ipad)
                .chain_update(msg)
                .finalize();
            Sha256::new()
                .chain_update(&opad)
                .chain_update(inner)
                .finalize()
                .to_vec()
        }
    }

    fn claims_json(n: i64) -> serde_json::Value {
        serde_json::json!({
            "iss": "doorward", "aud": "doorward", "sub": "u1", "email": "a@x.io",
            "role": "user", "sid": Uuid::nil(), "iat": n, "nbf": n, "exp": n + 60,
            "jti": Uuid::new_v4(),
        })
    }

    #[test]
    fn an_issued_token_verifies() {
        let keys = keys();
        let issued = keys.issue(subject(0), now()).unwrap();
        let claims = keys.verify(&issued.token).unwrap();
        assert_eq!(claims.sub, "u1");
        assert_eq!(issued.expires_in, 900);
    }

    #[test]
    fn iat_is_never_before_the_cutoff() {
        let n = now();
        let issued = keys().issue(subject(n + 1), n).unwrap();
        let claims = keys().verify(&issued.token).unwrap();
        assert_eq!(claims.iat, n + 1);
        assert_eq!(claims.nbf, n);
    }

    #[test]
    fn a_hand_signed_token_with_the_right_key_verifies() {
        let token = sign_raw(r#"{"alg":"HS256","typ":"JWT"}"#, &claims_json(now()), KEY);
        assert!(keys().verify(&token).is_ok());
    }

    #[test]
    fn forbidden_headers_and_algorithms_are_refused() {
        let c = claims_json(now());
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"HS256","typ":"JWT","kid":"1"}"#,
            r#"{"alg":"HS256","typ":"JWT","crit":["exp"]}"#,
            r#"{"alg":"HS256","typ":"JWT","jku":"https://evil"}"#,
            r#"{"alg":"HS256","typ":"JWT","x5u":"https://evil"}"#,
            r#"{"alg":"HS256","typ":"JWT","x5c":["a"]}"#,
            r#"{"alg":"HS256","typ":"JWT","jwk":{}}"#,
            r#"{"alg":"HS256","typ":"JWS"}"#,
            r#"{"alg":"HS256"}"#,
        ] {
            let token = sign_raw(header, &c, KEY);
            assert!(keys().verify(&token).is_err(), "{header}");
        }
    }

    #[test]
    fn times_issuer_audience_and_key_are_checked() {
        let n = now();
        let sign = |c: &serde_json::Value| sign_raw(r#"{"alg":"HS256","typ":"JWT"}"#, c, KEY);
        let mut expired = claims_json(n - 200);
        expired["exp"] = (n - 31).into();
        assert_eq!(keys().verify(&sign(&expired)), Err("the token has expired"));
        let mut within_leeway = claims_json(n - 200);
        within_leeway["exp"] = (n - 20).into();
        assert!(keys().verify(&sign(&within_leeway)).is_ok());
        let mut future = claims_json(n);
        future["nbf"] = (n + 60).into();
        assert_eq!(
            keys().verify(&sign(&future)),
            Err("the token is not valid yet")
        );
        let mut iss = claims_json(n);
        iss["iss"] = "other".into();
        assert!(keys().verify(&sign(&iss)).is_err());
        let mut aud = claims_json(n);
        aud["aud"] = serde_json::json!(["other", "doorward"]);
        assert!(keys().verify(&sign(&aud)).is_ok());
        aud["aud"] = serde_json::json!(["other"]);
        assert!(keys().verify(&sign(&aud)).is_err());
        let mut missing = claims_json(n);
        missing.as_object_mut().unwrap().remove("sid");
        assert!(keys().verify(&sign(&missing)).is_err());
        let wrong_key = sign_raw(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &claims_json(n),
            &[b'x'; 32],
        );
        assert_eq!(
            keys().verify(&wrong_key),
            Err("the token signature is invalid")
        );
        assert!(keys().verify_ignoring_expiry(&sign(&expired)).is_ok());
        assert!(keys().verify_ignoring_expiry(&wrong_key).is_err());
    }

    #[test]
    fn lifetimes_longer_than_the_ttl_or_issued_in_the_future_are_refused() {
        let n = now();
        let sign = |c: &serde_json::Value| sign_raw(r#"{"alg":"HS256","typ":"JWT"}"#, c, KEY);
        let mut long = claims_json(n);
        long["exp"] = (n + 900 + 31).into();
        assert_eq!(
            keys().verify(&sign(&long)),
            Err("the token lifetime is longer than this server issues")
        );
        long["exp"] = i64::MAX.into();
        assert!(keys().verify(&sign(&long)).is_err());
        assert!(keys().verify_ignoring_expiry(&sign(&long)).is_err());
        let mut at_limit = claims_json(n);
        at_limit["exp"] = (n + 900 + 30).into();
        assert!(keys().verify(&sign(&at_limit)).is_ok());
        let mut future = claims_json(n + 3600);
        future["nbf"] = n.into();
        assert_eq!(
            keys().verify(&sign(&future)),
            Err("the token was issued in the future")
        );
    }

    #[test]
    fn garbage_never_panics() {
        for bad in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b",
            "a.b.c.d",
            "%%%.%%%.%%%",
            &"a".repeat(9000),
        ] {
            assert!(keys().verify(bad).is_err(), "{bad}");
        }
    }
}
