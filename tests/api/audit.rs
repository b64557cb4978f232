//! The audit log: every security event recorded with its time, account, session, address and
//! user agent, never a secret; `GET /api/audit` for one's own, admins for anyone's; purged past
//! `DOORWARD_AUDIT_RETENTION`. On both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::cli::succeeds;
use crate::helpers::{Backend, TestApp, TestUser, assert_error, claims_of, spawn_app_with, str_of};
use crate::mail_links::token_of;

both_backends!(
    every_security_event_of_a_session_s_life_is_listed_newest_first,
    only_admins_read_other_accounts_events,
    revocations_resets_and_operator_commands_are_recorded,
    events_past_the_retention_are_purged,
);

const AGENT: &str = "audit-test/1.0 (+https://example.com)";

/// Posts JSON from [`AGENT`], with a bearer token when given.
async fn post(
    app: &TestApp,
    path: &str,
    bearer: Option<&Value>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("user-agent", AGENT)
        .json(body);
    if let Some(pair) = bearer {
        request = request.bearer_auth(str_of(pair, "access_token"));
    }
    request.send().await.unwrap()
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Value {
    let response = post(
        app,
        "/auth/login",
        None,
        &json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    post(app, "/auth/refresh", None, &json!({"refresh_token": token})).await
}

/// `GET /api/audit?query` as the holder of `pair`.
async fn audit(app: &TestApp, pair: &Value, query: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/audit?{query}")))
        .bearer_auth(str_of(pair, "access_token"))
        .send()
        .await
        .unwrap()
}

/// The events `pair`'s holder reads with `query`, asserting a 200 that is not cached.
async fn events(app: &TestApp, pair: &Value, query: &str) -> Vec<Value> {
    let response = audit(app, pair, query).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| str_of(e, "event")).collect()
}

fn sid(pair: &Value) -> String {
    claims_of(str_of(pair, "access_token"))["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn user_id(pair: &Value) -> String {
    claims_of(str_of(pair, "access_token"))["sub"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn every_security_event_of_a_session_s_life_is_listed_newest_first(backend: Backend) {
    let app = spawn_app_with(backend, &[("REFRESH_REUSE_GRACE", "0s")]).await;
    let user = TestUser::generate();
    let registered = post(
        &app,
        "/auth/register",
        None,
        &json!({"email": user.email, "password": user.password}),
    )
    .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let a: Value = registered.json().await.unwrap();
    let wrong = post(
        &app,
        "/auth/login",
        None,
        &json!({"email": user.email, "password": "not the password"}),
    )
    .await;
    assert_error(wrong, 401, "invalid_credentials").await;
    let b = sign_in(&app, &user.email, &user.password).await;
    let c = sign_in(&app, &user.email, &user.password).await;
    assert_eq!(
        refresh(&app, str_of(&b, "refresh_token")).await.status(),
        StatusCode::OK
    );
    assert_error(
        refresh(&app, str_of(&b, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
    let ended = app
        .client
        .delete(app.url(&format!("/api/sessions/{}", sid(&c))))
        .header("user-agent", AGENT)
        .bearer_auth(str_of(&a, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let d = sign_in(&app, &user.email, &user.password).await;
    let logout = post(&app, "/auth/logout", Some(&d), &json!({})).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let new_password = "a new passphrase for the audit 7";
    let guess =
        json!({"current_password": "a guess at the password", "new_password": new_password});
    let guessed = post(&app, "/api/password", Some(&a), &guess).await;
    assert_error(guessed, 422, "validation_failed").await;
    let body = json!({"current_password": user.password, "new_password": new_password});
    assert_eq!(
        post(&app, "/api/password", Some(&a), &body).await.status(),
        StatusCode::NO_CONTENT
    );
    let e = sign_in(&app, &user.email, new_password).await;
    let everywhere = post(&app, "/auth/logout-all", Some(&e), &json!({})).await;
    assert_eq!(everywhere.status(), StatusCode::NO_CONTENT);
    let f = sign_in(&app, &user.email, new_password).await;

    let listed = events(&app, &f, "").await;
    assert_eq!(
        kinds(&listed),
        [
            "sign_in",
            "sign_out_everywhere",
            "sign_in",
            "password_changed",
            "password_change_failed",
            "sign_out",
            "sign_in",
            "session_revoked",
            "refresh_reuse_detected",
            "refresh",
            "sign_in",
            "sign_in",
            "sign_in_failed",
            "register",
        ]
    );
    let sessions: Vec<Option<String>> = listed
        .iter()
        .map(|e| e["session_id"].as_str().map(str::to_owned))
        .collect();
    let expected = [&f, &e, &e, &a, &a, &d, &d, &c, &b, &b, &c, &b].map(|pair| Some(sid(pair)));
    assert_eq!(sessions[..12], expected, "each event names its session");
    assert_eq!(sessions[12], None, "a failed sign-in has no session");
    assert_eq!(listed[12]["detail"], "invalid_credentials");
    assert_eq!(sessions[13], Some(sid(&a)));
    let ids: Vec<i64> = listed.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    for event in &listed {
        assert_eq!(event["user_id"], user_id(&a).as_str());
        assert_eq!(event["ip"], "127.0.0.1");
        assert_eq!(event["user_agent"], AGENT);
        let at = chrono::DateTime::parse_from_rfc3339(str_of(event, "at")).unwrap();
        assert!((chrono::Utc::now() - at.to_utc()).num_seconds().abs() < 120);
    }
    let text = serde_json::to_string(&listed).unwrap();
    for secret in [
        &user.password,
        new_password,
        "a guess at the password",
        str_of(&b, "refresh_token"),
        str_of(&a, "access_token"),
    ] {
        assert!(!text.contains(secret), "no secret in the audit log");
    }
    assert!(!text.contains(&user.email), "nor the email");

    // Paging: `limit`, then `before` the last one seen.
    let first = events(&app, &f, "limit=5").await;
    assert_eq!(first, listed[..5]);
    let last_id = first[4]["id"].as_i64().unwrap();
    let next = events(&app, &f, &format!("limit=5&before={last_id}")).await;
    assert_eq!(next, listed[5..10]);
    assert_eq!(
        events(&app, &f, &format!("user_id={}", user_id(&f))).await,
        listed,
        "one's own id is allowed"
    );
}

async fn only_admins_read_other_accounts_events(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let (_, mine) = app.signed_up_user().await;
    let (_, theirs) = app.signed_up_user().await;
    let own = events(&app, &mine, "").await;
    assert_eq!(kinds(&own), ["register"], "only the caller's own events");
    let other = format!("user_id={}", user_id(&theirs));
    assert_error(audit(&app, &mine, &other).await, 403, "insufficient_role").await;
    assert_error(
        audit(&app, &mine, "user_id=*").await,
        403,
        "insufficient_role",
    )
    .await;
    for (query, status, code) in [
        ("limit=0", 422, "validation_failed"),
        ("limit=201", 422, "validation_failed"),
        ("limit=ten", 400, "invalid_request"),
        ("before=yesterday", 400, "invalid_request"),
    ] {
        assert_error(audit(&app, &mine, query).await, status, code).await;
    }
    let anonymous = app.client.get(app.url("/api/audit")).send().await.unwrap();
    assert_error(anonymous, 401, "unauthorized").await;

    // Made an admin (as `doorward user set-role` would), the same token may read anyone's.
    let promoted = format!(
        "UPDATE users SET role = 'admin' WHERE id = '{}'",
        user_id(&mine)
    );
    assert_eq!(app.operator_sql(&promoted).await, 1);
    // The server drops the account from its user cache within DOORWARD_SYNC_INTERVAL.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while audit(&app, &mine, &other).await.status() == StatusCode::FORBIDDEN {
        assert!(
            std::time::Instant::now() < deadline,
            "the new role is honoured"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let read = events(&app, &mine, &other).await;
    assert_eq!(kinds(&read), ["register"]);
    assert_eq!(read[0]["user_id"], user_id(&theirs).as_str());
    let everyone = events(&app, &mine, "user_id=*").await;
    let owners: Vec<&str> = everyone.iter().map(|e| str_of(e, "user_id")).collect();
    assert_eq!(owners, [user_id(&theirs), user_id(&mine)]);
}

async fn revocations_resets_and_operator_commands_are_recorded(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let user = TestUser::generate();
    succeeds(
        &app,
        &["user", "create", "--email", &user.email],
        &format!("{}\n", user.password),
    )
    .await;
    succeeds(
        &app,
        &[
            "user",
            "set-role",
            "--email",
            &user.email,
            "--role",
            "admin",
        ],
        "",
    )
    .await;
    succeeds(&app, &["user", "disable", "--email", &user.email], "").await;
    succeeds(&app, &["user", "enable", "--email", &user.email], "").await;
    let first = sign_in(&app, &user.email, &user.password).await;
    succeeds(&app, &["revoke", "--session", &sid(&first)], "").await;
    let second = sign_in(&app, &user.email, &user.password).await;
    succeeds(&app, &["revoke", "--user", &user.email], "").await;

    // RFC 7009 revocation: of an access token (its session goes on), then of a refresh token.
    let third = sign_in(&app, &user.email, &user.password).await;
    let fourth = sign_in(&app, &user.email, &user.password).await;
    let revoke = |token: &str| {
        // JWTs and refresh tokens are URL-safe: no form encoding needed.
        app.client
            .post(app.url("/auth/revoke"))
            .header("user-agent", AGENT)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    assert_eq!(
        revoke(str_of(&third, "access_token"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        revoke(str_of(&third, "refresh_token"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // Revoking what is revoked already changes nothing, and writes nothing: no flood of rows
    // from a token replayed at the revocation routes.
    for _ in 0..3 {
        for token in [
            str_of(&third, "access_token"),
            str_of(&third, "refresh_token"),
        ] {
            assert_eq!(revoke(token).await.unwrap().status(), StatusCode::OK);
        }
        let body = json!({"refresh_token": str_of(&third, "refresh_token")});
        let again = post(&app, "/auth/logout", Some(&third), &body).await;
        assert_eq!(again.status(), StatusCode::NO_CONTENT);
    }
    let others = post(
        &app,
        "/api/sessions/revoke-others",
        Some(&fourth),
        &json!({}),
    )
    .await;
    assert_eq!(others.status(), StatusCode::OK);

    let reset = post(
        &app,
        "/auth/password-reset",
        None,
        &json!({"email": user.email}),
    )
    .await;
    assert_eq!(reset.status(), StatusCode::ACCEPTED);
    let links = app.mailed_links(&user.email, "/reset-password", 1).await;
    let new_password = "the reset passphrase of the audit 9";
    let body = json!({"token": token_of(&links[0]), "new_password": new_password});
    let confirmed = post(&app, "/auth/password-reset/confirm", None, &body).await;
    assert_eq!(confirmed.status(), StatusCode::NO_CONTENT);
    let last = sign_in(&app, &user.email, new_password).await;

    let listed = events(&app, &last, "").await;
    let described: Vec<(&str, Option<&str>, Option<String>)> = listed
        .iter()
        .map(|e| {
            (
                str_of(e, "event"),
                e["detail"].as_str(),
                e["session_id"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let (s1, s2, s3, s4, s5) = (
        sid(&first),
        sid(&second),
        sid(&third),
        sid(&fourth),
        sid(&last),
    );
    assert_eq!(
        described,
        [
            ("sign_in", None, Some(s5)),
            ("password_reset", None, None),
            // Then revoke-others found no other live session, and the replays changed
            // nothing: nothing to record.
            ("sign_out", None, Some(s3.clone())),
            ("token_revoked", None, Some(s3.clone())),
            ("sign_in", None, Some(s4)),
            ("sign_in", None, Some(s3)),
            ("sign_out_everywhere", Some("operator"), None),
            ("sign_in", None, Some(s2)),
            ("session_revoked", Some("operator"), Some(s1.clone())),
            ("sign_in", None, Some(s1)),
            ("user_enabled", Some("operator"), None),
            ("user_disabled", Some("operator"), None),
            ("role_changed", Some("admin"), None),
            ("user_created", Some("user"), None),
        ]
    );
    let from_the_web = |e: &&Value| e["ip"] == "127.0.0.1";
    let web: Vec<&str> = listed
        .iter()
        .filter(from_the_web)
        .map(|e| str_of(e, "event"))
        .collect();
    assert_eq!(
        web,
        [
            "sign_in",
            "password_reset",
            "sign_out",
            "token_revoked",
            "sign_in",
            "sign_in",
            "sign_in",
            "sign_in"
        ]
    );
    assert!(
        listed
            .iter()
            .all(|e| e["user_id"] == user_id(&last).as_str())
    );
}

async fn events_past_the_retention_are_purged(backend: Backend) {
    let app = spawn_app_with(backend, &[("DOORWARD_AUDIT_RETENTION", "30d")]).await;
    let (user, pair) = app.signed_up_user().await;
    let later = sign_in(&app, &user.email, &user.password).await;
    assert_eq!(
        kinds(&events(&app, &later, "").await),
        ["sign_in", "register"]
    );
    let thirty_one_days_ms = 31 * 86_400_000_i64;
    let aged = format!(
        "UPDATE audit_events SET at = at - {thirty_one_days_ms} WHERE kind = 'register' AND user_id = '{}'",
        user_id(&pair)
    );
    assert_eq!(app.operator_sql(&aged).await, 1);
    succeeds(&app, &["purge"], "").await;
    assert_eq!(
        kinds(&events(&app, &later, "").await),
        ["sign_in"],
        "the aged event is gone"
    );
}
