//! `POST /auth/refresh`: rotation, the reuse grace and theft detection (contract §2).

use futures_util::future::join;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, assert_error, spawn_app, spawn_app_with, str_of};

async fn refresh_rotates_the_pair(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = app.signed_up_user().await;
    let response = app.refresh(str_of(&first, "refresh_token")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second: Value = response.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["user"], first["user"]);
    assert_eq!(
        app.get_me(str_of(&second, "access_token")).await.status(),
        200
    );
    let sid = |t: &str| crate::helpers::claims_of(t)["sid"].clone();
    assert_eq!(
        sid(str_of(&first, "access_token")),
        sid(str_of(&second, "access_token"))
    );
    assert_eq!(
        app.refresh(str_of(&second, "refresh_token")).await.status(),
        200
    );
}

async fn unknown_or_malformed_refresh_tokens_are_invalid_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_error(app.refresh("not-a-token").await, 401, "invalid_grant").await;
    assert_error(app.refresh("").await, 401, "invalid_grant").await;
    assert_error(app.refresh(&"x".repeat(5000)).await, 401, "invalid_grant").await;
    let wrong_type = app
        .post_json("/auth/refresh", &json!({"refresh_token": 1}))
        .await;
    assert_error(wrong_type, 422, "validation_failed").await;
}

async fn reuse_within_the_grace_gives_a_sibling(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = app.signed_up_user().await;
    let old = str_of(&first, "refresh_token");
    let tab_a: Value = app.refresh(old).await.json().await.unwrap();
    let tab_b = app.refresh(old).await;
    assert_eq!(tab_b.status(), 200, "the second tab is not signed out");
    let tab_b: Value = tab_b.json().await.unwrap();
    assert_ne!(tab_a["refresh_token"], tab_b["refresh_token"]);
    for pair in [&tab_a, &tab_b] {
        assert_eq!(app.get_me(str_of(pair, "access_token")).await.status(), 200);
        assert_eq!(
            app.refresh(str_of(pair, "refresh_token")).await.status(),
            200
        );
    }
}

async fn reuse_after_the_child_was_used_revokes_the_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = app.signed_up_user().await;
    let second: Value = app.rotate(&first).await;
    let third: Value = app.rotate(&second).await;
    // The first token's child has been used: presenting it again is theft, grace or not.
    assert_error(
        app.refresh(str_of(&first, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
    assert_error(
        app.refresh(str_of(&third, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
    let me = app.get_me(str_of(&third, "access_token")).await;
    assert_error(me, 401, "invalid_token").await;
}

async fn reuse_after_the_grace_revokes_the_family(backend: Backend) {
    let app = spawn_app_with(backend, &[("REFRESH_REUSE_GRACE", "1s")]).await;
    let (_, first) = app.signed_up_user().await;
    let second: Value = app.rotate(&first).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_error(
        app.refresh(str_of(&first, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
    app.assert_session_revoked(&second).await;
    assert_error(
        app.get_me(str_of(&first, "access_token")).await,
        401,
        "invalid_token",
    )
    .await;
}

async fn simultaneous_reuse_without_grace_gives_one_winner_then_revokes_all(backend: Backend) {
    let app = spawn_app_with(backend, &[("REFRESH_REUSE_GRACE", "0s")]).await;
    let (_, first) = app.signed_up_user().await;
    let token = str_of(&first, "refresh_token");
    let (a, b) = join(app.refresh(token), app.refresh(token)).await;
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
    let winner: Value = if a.status() == 200 {
        a.json().await.unwrap()
    } else {
        b.json().await.unwrap()
    };
    // The family is revoked, the winner's new tokens included.
    app.assert_session_revoked(&winner).await;
}

async fn simultaneous_reuse_with_grace_gives_two_working_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = app.signed_up_user().await;
    let token = str_of(&first, "refresh_token");
    let (a, b) = join(app.refresh(token), app.refresh(token)).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    for pair in [
        a.json::<Value>().await.unwrap(),
        b.json::<Value>().await.unwrap(),
    ] {
        assert_eq!(
            app.get_me(str_of(&pair, "access_token")).await.status(),
            200
        );
        assert_eq!(
            app.refresh(str_of(&pair, "refresh_token")).await.status(),
            200
        );
    }
}

async fn a_family_ends_at_the_session_max_age(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("SESSION_MAX_AGE", "2s"), ("REFRESH_TOKEN_TTL", "1h")],
    )
    .await;
    let (_, first) = app.signed_up_user().await;
    assert!(first["refresh_expires_in"].as_i64().unwrap() <= 2);
    let second: Value = app.rotate(&first).await;
    assert!(
        second["refresh_expires_in"].as_i64().unwrap() <= 2,
        "rotation never extends it"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_error(
        app.refresh(str_of(&second, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
}

/// Within the grace a rotated token mints exactly one sibling: a third presentation is theft
/// and revokes the whole family (before, every presentation minted another live branch).
async fn a_second_reuse_within_the_grace_revokes_the_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = app.signed_up_user().await;
    let rotated = app.rotate(&first).await;
    let sibling = app.rotate(&first).await;
    let third = app.refresh(str_of(&first, "refresh_token")).await;
    assert_error(third, 401, "invalid_grant").await;
    app.assert_session_revoked(&rotated).await;
    app.assert_session_revoked(&sibling).await;
}

both_backends!(
    refresh_rotates_the_pair,
    unknown_or_malformed_refresh_tokens_are_invalid_grant,
    reuse_within_the_grace_gives_a_sibling,
    reuse_after_the_child_was_used_revokes_the_family,
    reuse_after_the_grace_revokes_the_family,
    simultaneous_reuse_without_grace_gives_one_winner_then_revokes_all,
    simultaneous_reuse_with_grace_gives_two_working_sessions,
    a_family_ends_at_the_session_max_age,
    a_second_reuse_within_the_grace_revokes_the_family,
);
