//! Several instances on one database, and what an operator changes behind doorward's back:
//! every revocation and account change reaches every instance within `DOORWARD_SYNC_INTERVAL`
//! (200 ms in tests), by the revocation log's sequence, whatever any clock says.

use std::time::Duration;

use diesel::prelude::*;
use doorward::internals::schema::revocation_log;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    Backend, TestApp, assert_error, claims_of, spawn_app, spawn_app_with, str_of,
};

/// Polls `GET /api/me` for up to two seconds until it answers `status`.
async fn me_becomes(app: &TestApp, access: &str, status: u16) -> reqwest::Response {
    for _ in 0..20 {
        let me = app.get_me(access).await;
        if me.status().as_u16() == status {
            return me;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.get_me(access).await
}

/// A revocation written by a writer whose clock is far behind (or that committed late) is
/// still seen: the old sync selected by `revoked_at ≥ reader clock − 30 s` and missed a row
/// stamped 45 s back. The log has no clock in it; this entry is appended as any writer would.
async fn a_late_or_back_dated_revocation_reaches_running_instances(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = first.another_instance().await;
    let (_, pair) = first.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    assert_eq!(second.get_me(access).await.status(), 200);
    let claims = claims_of(access);
    let forget_at = (claims["exp"].as_i64().unwrap() + 30) * 1000;
    first
        .operator_sql(&format!(
            "INSERT INTO revocation_log (kind, subject, value, forget_at) \
             VALUES ('jti', '{}', 0, {forget_at})",
            claims["jti"].as_str().unwrap()
        ))
        .await;
    for app in [&first, &second] {
        assert_error(me_becomes(app, access, 401).await, 401, "invalid_token").await;
    }
}

/// "Log out everywhere" on one instance ends the sessions on the other, access tokens and
/// refresh tokens alike.
async fn logout_all_on_one_instance_reaches_another(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = first.another_instance().await;
    let (user, pair) = first.signed_up_user().await;
    let other: Value = second.login(&user).await.json().await.unwrap();
    let access = str_of(&other, "access_token");
    assert_eq!(second.get_me(access).await.status(), 200);
    let all = first
        .post_with_bearer("/auth/logout-all", str_of(&pair, "access_token"), None)
        .await;
    assert_eq!(all.status(), 204);
    assert_error(me_becomes(&second, access, 401).await, 401, "invalid_token").await;
    second.assert_session_revoked(&other).await;
    first.assert_session_revoked(&pair).await;
}

/// An operator renames a user and makes them an admin with SQL: `/api/me` on every instance
/// shows it within the sync interval, though both had the user cached.
async fn an_operator_change_reaches_every_cache(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = first.another_instance().await;
    let (user, pair) = first.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    for app in [&first, &second] {
        let me: Value = app.get_me(access).await.json().await.unwrap();
        assert_eq!(me["role"], "user");
    }
    let changed = first
        .operator_sql(&format!(
            "UPDATE users SET name = 'Renamed', role = 'admin' WHERE email = '{}'",
            user.email
        ))
        .await;
    assert_eq!(changed, 1);
    for app in [&first, &second] {
        let mut seen = Value::Null;
        for _ in 0..20 {
            seen = app.get_me(access).await.json().await.unwrap();
            if seen["role"] == "admin" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(seen["role"], "admin", "{seen}");
        assert_eq!(seen["name"], "Renamed", "{seen}");
    }
    // An admin signs in as one: the role is in the new token's claims.
    let again: Value = first.login(&user).await.json().await.unwrap();
    assert_eq!(claims_of(str_of(&again, "access_token"))["role"], "admin");
    assert_eq!(again["user"]["role"], "admin");
}

/// A deleted account gets 401 on `/api/me`, though its user was cached, and its refresh
/// token is refused.
async fn a_deleted_account_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, pair) = app.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    assert_eq!(app.get_me(access).await.status(), 200, "cached now");
    let deleted = app
        .operator_sql(&format!("DELETE FROM users WHERE email = '{}'", user.email))
        .await;
    assert_eq!(deleted, 1);
    let me = me_becomes(&app, access, 401).await;
    let body = assert_error(me, 401, "invalid_token").await;
    assert_eq!(body["error_description"], "the account no longer exists");
    assert_error(
        app.refresh(str_of(&pair, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
}

/// `DOORWARD_PURGE_INTERVAL` deletes what can no longer matter, and nothing else.
async fn the_purge_deletes_only_what_expired(backend: Backend) {
    let app = spawn_app_with(backend, &[("DOORWARD_PURGE_INTERVAL", "300ms")]).await;
    let (_, pair) = app.signed_up_user().await;
    assert_eq!(
        app.post_with_bearer("/auth/logout", str_of(&pair, "access_token"), None)
            .await
            .status(),
        204
    );
    app.operator_sql(
        "INSERT INTO revocation_log (kind, subject, value, forget_at) \
         VALUES ('jti', 'expired-long-ago', 0, 1)",
    )
    .await;
    let count = |subject: Option<&'static str>| {
        let db = app.database();
        async move {
            db.run(move |conn| {
                let mut query = revocation_log::table.into_boxed();
                if let Some(subject) = subject {
                    query = query.filter(revocation_log::subject.eq(subject));
                }
                query.count().get_result::<i64>(conn)
            })
            .await
            .unwrap()
        }
    };
    let mut left = 1;
    for _ in 0..30 {
        left = count(Some("expired-long-ago")).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the expired entry was purged");
    assert!(count(None).await >= 2, "the logout's entries stay");
    app.assert_session_revoked(&pair).await;
}

/// Each refresh token expires after `REFRESH_TOKEN_TTL`, though its session lives on.
async fn a_refresh_token_expires_after_its_ttl(backend: Backend) {
    let app = spawn_app_with(backend, &[("REFRESH_TOKEN_TTL", "1s")]).await;
    let (_, pair) = app.signed_up_user().await;
    assert_eq!(pair["refresh_expires_in"], 1);
    let rotated = app.rotate(&pair).await;
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_error(
        app.refresh(str_of(&rotated, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
}

/// A rotation racing "log out everywhere" never leaves a live session behind: whichever
/// commits first, the pair the rotation may have returned is refused afterwards.
async fn a_rotation_racing_logout_all_leaves_nothing_alive(backend: Backend) {
    let app = spawn_app(backend).await;
    for _ in 0..5 {
        let (_, pair) = app.signed_up_user().await;
        let access = str_of(&pair, "access_token");
        let refresh_token = str_of(&pair, "refresh_token");
        let body = json!({ "refresh_token": refresh_token });
        let (rotation, all) = tokio::join!(
            app.post_json("/auth/refresh", &body),
            app.post_with_bearer("/auth/logout-all", access, None),
        );
        assert_eq!(all.status(), 204);
        if rotation.status() == StatusCode::OK {
            let rotated: Value = rotation.json().await.unwrap();
            app.assert_session_revoked(&rotated).await;
        } else {
            assert_error(rotation, 401, "invalid_grant").await;
        }
        app.assert_session_revoked(&pair).await;
    }
}

both_backends!(
    a_late_or_back_dated_revocation_reaches_running_instances,
    logout_all_on_one_instance_reaches_another,
    an_operator_change_reaches_every_cache,
    a_deleted_account_is_refused,
    the_purge_deletes_only_what_expired,
    a_refresh_token_expires_after_its_ttl,
    a_rotation_racing_logout_all_leaves_nothing_alive,
);
