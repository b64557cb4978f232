//! `POST /auth/logout` and `POST /auth/logout-all` over the bearer transport.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, assert_error, spawn_app, str_of};

/// Every auth cookie in a response is cleared: empty value, `Max-Age=0`.
fn assert_cookies_cleared(response: &reqwest::Response) {
    let set: Vec<&str> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    for name in ["__Host-access_token=;", "__Host-refresh_token=;"] {
        let cookie = set
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("{set:?}"));
        assert!(cookie.contains("Max-Age=0"), "{cookie}");
        assert!(
            cookie.contains("Path=/") && cookie.contains("Secure") && cookie.contains("HttpOnly")
        );
    }
}

async fn logout_refuses_the_access_token_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    let response = app.post_with_bearer("/auth/logout", access, None).await;
    assert_eq!(response.status(), 204);
    assert_cookies_cleared(&response);
    let me = app.get_me(access).await;
    let challenge = crate::helpers::challenge(&me);
    assert!(
        challenge.starts_with(r#"Bearer realm="doorward", error="invalid_token""#),
        "{challenge}"
    );
    assert_error(me, 401, "invalid_token").await;
    // The token's family is revoked too: its refresh token no longer works.
    assert_error(
        app.refresh(str_of(&pair, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
}

async fn logout_with_only_a_refresh_token_ends_that_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let response = app
        .post_json(
            "/auth/logout",
            &json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(response.status(), 204);
    app.assert_session_revoked(&pair).await;
}

async fn logout_is_never_blocked_by_bad_credentials_or_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases: Vec<reqwest::RequestBuilder> = vec![
        app.client.post(app.url("/auth/logout")),
        app.client
            .post(app.url("/auth/logout"))
            .bearer_auth("garbage"),
        app.client
            .post(app.url("/auth/logout"))
            .header("authorization", "Basic abc"),
        app.client
            .post(app.url("/auth/logout"))
            .header("content-type", "application/json")
            .body("{not json"),
        app.client
            .post(app.url("/auth/logout"))
            .json(&json!({"refresh_token": 12})),
        app.client
            .post(app.url("/auth/logout"))
            .body(vec![b'x'; 70 * 1024]),
    ];
    for request in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 204);
        assert_cookies_cleared(&response);
    }
}

async fn an_expired_token_is_still_denylisted_at_logout(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let mut claims = crate::helpers::claims_of(str_of(&pair, "access_token"));
    let now = chrono::Utc::now().timestamp();
    claims["exp"] = json!(now - 10);
    claims["iat"] = json!(now - 100);
    claims["nbf"] = json!(now - 100);
    // Within the leeway: still accepted until it is signed out.
    let nearly_expired = crate::helpers::sign_claims(&claims, app.jwt_secret.as_bytes());
    assert_eq!(app.get_me(&nearly_expired).await.status(), 200);
    let response = app
        .post_with_bearer("/auth/logout", &nearly_expired, None)
        .await;
    assert_eq!(response.status(), 204);
    assert_error(app.get_me(&nearly_expired).await, 401, "invalid_token").await;
    assert_error(
        app.refresh(str_of(&pair, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
}

async fn logout_all_refuses_every_earlier_token_of_the_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, first) = app.signed_up_user().await;
    let second: Value = app.login(&user).await.json().await.unwrap();
    let (_, stranger) = app.signed_up_user().await;

    let response = app
        .post_with_bearer("/auth/logout-all", str_of(&second, "access_token"), None)
        .await;
    assert_eq!(response.status(), 204);
    assert_cookies_cleared(&response);

    for pair in [&first, &second] {
        assert_error(
            app.get_me(str_of(pair, "access_token")).await,
            401,
            "invalid_token",
        )
        .await;
        assert_error(
            app.refresh(str_of(pair, "refresh_token")).await,
            401,
            "invalid_grant",
        )
        .await;
    }
    // A sign-in in the same second as the cut-off still works; other users are untouched.
    let fresh: Value = app.login(&user).await.json().await.unwrap();
    assert_eq!(
        app.get_me(str_of(&fresh, "access_token")).await.status(),
        200
    );
    let rotated = app.refresh(str_of(&fresh, "refresh_token")).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    assert_eq!(
        app.get_me(str_of(&rotated, "access_token")).await.status(),
        200
    );
    assert_eq!(
        app.get_me(str_of(&stranger, "access_token")).await.status(),
        200
    );
}

async fn logout_all_requires_a_valid_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/auth/logout-all"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
    let response = app
        .post_with_bearer("/auth/logout-all", "a.b.c", None)
        .await;
    assert_error(response, 401, "invalid_token").await;
}

both_backends!(
    logout_refuses_the_access_token_at_once,
    logout_with_only_a_refresh_token_ends_that_session,
    logout_is_never_blocked_by_bad_credentials_or_body,
    an_expired_token_is_still_denylisted_at_logout,
    logout_all_refuses_every_earlier_token_of_the_user,
    logout_all_requires_a_valid_token,
);
