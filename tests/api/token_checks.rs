//! The extractor's verdicts on every kind of bad token (contract §2, §3, §5).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    Backend, assert_error, challenge, claims_of, sign_claims, spawn_app, spawn_app_with,
};

async fn no_credentials_is_401_with_a_bare_challenge(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get_with_headers("/api/me", &[]).await;
    assert_eq!(challenge(&response), r#"Bearer realm="doorward""#);
    assert_error(response, 401, "unauthorized").await;
}

async fn every_bad_token_is_401_invalid_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let good = pair["access_token"].as_str().unwrap();
    let claims = claims_of(good);
    let secret = app.jwt_secret.as_bytes();
    let now = chrono::Utc::now().timestamp();
    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        sign_claims(&c, secret)
    };
    let without = |key: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(key);
        sign_claims(&c, secret)
    };
    let (header, rest) = good.split_once('.').unwrap();
    let payload = rest.split_once('.').unwrap().0;
    let unsigned = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap();
    let mut kid_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    kid_header.kid = Some("other".into());
    let with_kid = jsonwebtoken::encode(
        &kid_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap();

    let bad_tokens = vec![
        ("malformed", "not-a-jwt".to_owned()),
        ("two segments", format!("{header}.{payload}")),
        ("bad base64", format!("{header}.%%%.sig")),
        ("alg none", unsigned),
        ("HS512", hs512),
        ("kid header", with_kid),
        (
            "wrong key",
            sign_claims(&claims, b"another-secret-another-secret-xx"),
        ),
        ("expired", with("exp", json!(now - 31))),
        ("not yet valid", with("nbf", json!(now + 120))),
        ("wrong issuer", with("iss", json!("someone-else"))),
        ("wrong audience", with("aud", json!("someone-else"))),
        ("audience array without us", with("aud", json!(["a", "b"]))),
        ("missing sid", without("sid")),
        ("missing jti", without("jti")),
        ("role of the wrong type", with("role", json!(1))),
        ("unknown role", with("role", json!("root"))),
        ("huge", "a".repeat(9 * 1024)),
    ];
    for (what, token) in bad_tokens {
        let response = app.get_me(&token).await;
        assert_eq!(response.status(), 401, "{what}");
        assert!(
            challenge(&response).contains(r#"error="invalid_token""#),
            "{what}"
        );
        assert_error(response, 401, "invalid_token").await;
    }
    assert_eq!(
        app.get_me(&with("aud", json!(["x", "doorward"])))
            .await
            .status(),
        200
    );

    for header in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Token abc",
        "Bearer a b",
    ] {
        let response = app
            .get_with_headers("/api/me", &[("authorization", header)])
            .await;
        assert_error(response, 401, "invalid_token").await;
    }
}

async fn a_bad_bearer_header_never_falls_back_to_the_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let good = pair["access_token"].as_str().unwrap();
    let cookie = format!("__Host-access_token={good}");
    let with_bad_header = app
        .get_with_headers(
            "/api/me",
            &[("authorization", "Bearer nope"), ("cookie", &cookie)],
        )
        .await;
    assert_error(with_bad_header, 401, "invalid_token").await;
    let cookie_only = app
        .get_with_headers("/api/me", &[("cookie", &cookie)])
        .await;
    assert_eq!(cookie_only.status(), 200);
}

/// RFC 7235: the scheme is case-insensitive (`bearer x` was refused before).
async fn the_bearer_scheme_is_matched_in_any_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let token = pair["access_token"].as_str().unwrap();
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let response = app
            .get_with_headers(
                "/api/me",
                &[("authorization", &format!("{scheme} {token}"))],
            )
            .await;
        assert_eq!(response.status(), 200, "{scheme}");
    }
    for bad in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        "Bearer ".to_owned(),
    ] {
        let response = app
            .get_with_headers("/api/me", &[("authorization", &bad)])
            .await;
        assert_error(response, 401, "invalid_token").await;
    }
}

/// A validly signed token that lives longer than the TTL allows, or was issued in the future,
/// is refused (a far-future `iat` slipped past "log out everywhere"; `exp = i64::MAX` passed).
async fn tokens_outside_the_lifetime_this_server_issues_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let claims = claims_of(pair["access_token"].as_str().unwrap());
    let iat = claims["iat"].as_i64().unwrap();
    let forge = |changes: &[(&str, i64)]| {
        let mut forged = claims.clone();
        for (k, v) in changes {
            forged[*k] = (*v).into();
        }
        sign_claims(&forged, app.jwt_secret.as_bytes())
    };
    for token in [
        forge(&[("exp", i64::MAX)]),
        forge(&[("exp", iat + 900 + 31)]),
        forge(&[("iat", iat + 7200), ("exp", iat + 7200 + 60)]),
    ] {
        assert_error(app.get_me(&token).await, 401, "invalid_token").await;
    }
    assert_eq!(
        app.get_me(&forge(&[("exp", iat + 600)])).await.status(),
        200
    );
}

/// Every answer, JSON included, carries `nosniff`; HSTS comes with an https public URL.
async fn json_answers_carry_nosniff_and_https_brings_hsts(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get_with_headers("/api/me", &[]).await;
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
    let https = spawn_app_with(
        backend,
        &[("DOORWARD_PUBLIC_URL", "https://auth.example.com")],
    )
    .await;
    let response = https.get_with_headers("/api/me", &[]).await;
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
}

both_backends!(
    no_credentials_is_401_with_a_bare_challenge,
    every_bad_token_is_401_invalid_token,
    a_bad_bearer_header_never_falls_back_to_the_cookie,
    the_bearer_scheme_is_matched_in_any_case,
    tokens_outside_the_lifetime_this_server_issues_are_refused,
    json_answers_carry_nosniff_and_https_brings_hsts,
);
