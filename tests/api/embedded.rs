//! doorward as a crate: `examples/tasks_app.rs`, an app that embeds it and owns
//! `/api/tasks`, served on a real port and driven over HTTP by bearer and by cookie, and over
//! its own WebSocket.

use std::net::TcpListener;

use reqwest::Response;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestUser, assert_error, challenge, str_of, test_settings};
use crate::ws::{assert_ended_with, next_event, open_path};

#[allow(dead_code)]
#[path = "../../examples/tasks_app.rs"]
mod tasks_app;

/// The example app on a port of its own, over a fresh database, configured in code.
pub(crate) async fn spawn_tasks_app(backend: Backend) -> TestApp {
    spawn_tasks_app_at(backend, "").await
}

/// As [`spawn_tasks_app`], with doorward mounted under `base`.
async fn spawn_tasks_app_at(backend: Backend, base: &str) -> TestApp {
    let (settings, dir, database) = test_settings(backend, &[]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = doorward::Config::builder()
        .database_url(&settings["DATABASE_URL"])
        .jwt_secret(&settings["JWT_SECRET"])
        .public_url(format!("http://localhost:{port}"))
        .bcrypt_cost(4)
        .base_path(base)
        .sync_interval(std::time::Duration::from_millis(200))
        .build()
        .unwrap();
    let server = tasks_app::serve(config, listener).await.unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    TestApp::serving(port, handle, settings, dir, database)
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    app.get_with_headers(path, headers).await
}

async fn post_task(app: &TestApp, title: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.client.post(app.url("/api/tasks"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .json(&json!({ "title": title }))
        .send()
        .await
        .unwrap()
}

async fn titles(response: Response) -> Vec<String> {
    assert_eq!(response.status(), 200);
    let tasks: Vec<Value> = response.json().await.unwrap();
    tasks
        .iter()
        .map(|t| str_of(t, "title").to_owned())
        .collect()
}

async fn tasks_are_per_user_by_bearer_and_by_cookie(backend: Backend) {
    let app = spawn_tasks_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let bearer = format!("Bearer {}", str_of(&pair, "access_token"));
    let (_, jar) = app.cookie_user().await;
    let cookie = jar.header();
    let own_origin = app.address.clone();
    let by_cookie = [("cookie", cookie.as_str()), ("origin", own_origin.as_str())];

    assert_eq!(
        post_task(&app, "bearer's", &[("authorization", &bearer)])
            .await
            .status(),
        201
    );
    assert_eq!(post_task(&app, "cookie's", &by_cookie).await.status(), 201);
    assert_eq!(
        titles(get(&app, "/api/tasks", &[("authorization", &bearer)]).await).await,
        ["bearer's"]
    );
    assert_eq!(
        titles(get(&app, "/api/tasks", &[("cookie", &cookie)]).await).await,
        ["cookie's"]
    );

    // No credentials: the contract's 401, on the app's routes too.
    let anonymous = get(&app, "/api/tasks", &[]).await;
    assert_eq!(challenge(&anonymous), r#"Bearer realm="doorward""#);
    assert_error(anonymous, 401, "unauthorized").await;
    assert_error(post_task(&app, "nobody's", &[]).await, 401, "unauthorized").await;
    // Bearer wins: a bad header never falls back to the good cookie.
    let bad_header = [
        ("authorization", "Bearer nope"),
        ("cookie", cookie.as_str()),
    ];
    assert_error(
        get(&app, "/api/tasks", &bad_header).await,
        401,
        "invalid_token",
    )
    .await;
    // doorward's own routes and pages sit beside the app's.
    assert_eq!(
        get(&app, "/api/me", &[("authorization", &bearer)])
            .await
            .status(),
        200
    );
    assert_eq!(get(&app, "/login", &[]).await.status(), 200);
    assert_eq!(get(&app, "/not-a-route", &[]).await.status(), 404);
}

async fn a_logged_out_token_is_refused_by_the_app_at_once(backend: Backend) {
    let app = spawn_tasks_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    let bearer = format!("Bearer {access}");
    assert_eq!(
        get(&app, "/api/tasks", &[("authorization", &bearer)])
            .await
            .status(),
        200
    );
    let logout = app.post_with_bearer("/auth/logout", access, None).await;
    assert_eq!(logout.status(), 204);
    let refused = get(&app, "/api/tasks", &[("authorization", &bearer)]).await;
    assert_error(refused, 401, "invalid_token").await;
    let refused = post_task(&app, "after logout", &[("authorization", &bearer)]).await;
    assert_error(refused, 401, "invalid_token").await;
}

async fn a_foreign_cookie_post_creates_nothing(backend: Backend) {
    let app = spawn_tasks_app(backend).await;
    let (_, jar) = app.cookie_user().await;
    let cookie = jar.header();
    for forged in [
        [
            ("cookie", cookie.as_str()),
            ("origin", "https://evil.example"),
        ],
        [
            ("cookie", cookie.as_str()),
            ("sec-fetch-site", "cross-site"),
        ],
        [("cookie", cookie.as_str()), ("origin", "null")],
    ] {
        assert_error(post_task(&app, "forged", &forged).await, 403, "csrf_failed").await;
    }
    assert!(
        titles(get(&app, "/api/tasks", &[("cookie", &cookie)]).await)
            .await
            .is_empty()
    );
}

async fn anonymous_is_allowed_but_a_bad_token_is_not(backend: Backend) {
    let app = spawn_tasks_app(backend).await;
    let (user, pair) = app.signed_up_user().await;
    let hello = get(&app, "/api/hello", &[]).await;
    assert_eq!(
        hello.json::<Value>().await.unwrap(),
        json!({"hello": "stranger"})
    );
    let bearer = format!("Bearer {}", str_of(&pair, "access_token"));
    let hello = get(&app, "/api/hello", &[("authorization", &bearer)]).await;
    assert_eq!(
        hello.json::<Value>().await.unwrap(),
        json!({"hello": user.email})
    );
    // A bad, or revoked, credential is a 401 even where anonymous is allowed.
    let garbage = get(&app, "/api/hello", &[("authorization", "Bearer garbage")]).await;
    assert_error(garbage, 401, "invalid_token").await;
    let logout = app
        .post_with_bearer("/auth/logout", str_of(&pair, "access_token"), None)
        .await;
    assert_eq!(logout.status(), 204);
    let revoked = get(&app, "/api/hello", &[("authorization", &bearer)]).await;
    assert_error(revoked, 401, "invalid_token").await;
}

async fn the_admin_route_follows_the_current_role(backend: Backend) {
    let app = spawn_tasks_app(backend).await;
    let (user, pair) = app.signed_up_user().await;
    let bearer = format!("Bearer {}", str_of(&pair, "access_token"));
    let stats = || {
        app.client
            .get(app.url("/api/admin/stats"))
            .header("authorization", bearer.clone())
            .send()
    };

    let refused = stats().await.unwrap();
    assert_eq!(
        challenge(&refused),
        r#"Bearer realm="doorward", error="insufficient_scope""#
    );
    assert_error(refused, 403, "insufficient_role").await;
    assert_error(
        get(&app, "/api/admin/stats", &[]).await,
        401,
        "unauthorized",
    )
    .await;

    // An operator grants the role in the database: the same token is let in once the change
    // has synced, and shut out again once it is taken back.
    let set_role = |role: &str| {
        format!(
            "UPDATE users SET role = '{role}' WHERE email = '{}'",
            user.email
        )
    };
    assert_eq!(app.operator_sql(&set_role("admin")).await, 1);
    wait_for_status(&stats, 200).await;
    assert_eq!(app.operator_sql(&set_role("user")).await, 1);
    wait_for_status(&stats, 403).await;
}

/// Polls `request` until it answers `status`, within a few sync intervals.
pub(crate) async fn wait_for_status<F, Fut>(request: &F, status: u16)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<Response>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let got = request().await.unwrap().status().as_u16();
        if got == status {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {got}, not {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn the_task_socket_pushes_its_owner_s_tasks_until_the_session_ends(backend: Backend) {
    let app = spawn_tasks_app(backend).await;
    let (_, mine) = app.signed_up_user().await;
    let (_, theirs) = app.signed_up_user().await;
    let access = str_of(&mine, "access_token");
    let mut socket = open_path(&app, &format!("/ws/tasks?access_token={access}"), &[])
        .await
        .unwrap();
    assert_eq!(next_event(&mut socket).await["event"], "ready");

    let their_bearer = format!("Bearer {}", str_of(&theirs, "access_token"));
    assert_eq!(
        post_task(&app, "theirs", &[("authorization", &their_bearer)])
            .await
            .status(),
        201
    );
    let my_bearer = format!("Bearer {access}");
    assert_eq!(
        post_task(&app, "mine", &[("authorization", &my_bearer)])
            .await
            .status(),
        201
    );
    // Only the owner's task arrives: theirs, sent first, would have come first.
    let event = next_event(&mut socket).await;
    assert_eq!(event["event"], "task_created", "{event}");
    assert_eq!(event["task"]["title"], "mine");

    // The socket's session ends: doorward closes the app's socket too.
    let logout = app.post_with_bearer("/auth/logout", access, None).await;
    assert_eq!(logout.status(), 204);
    assert_ended_with(&mut socket, "revoked").await;

    // A foreign Origin cannot open it with the cookie.
    let (_, jar) = app.cookie_user().await;
    let cookie = jar.header();
    let foreign = [
        ("cookie", cookie.as_str()),
        ("origin", "https://evil.example"),
    ];
    let (status, body) = open_path(&app, "/ws/tasks", &foreign).await.err().unwrap();
    assert_eq!((status, body["error"].as_str()), (403, Some("csrf_failed")));
}

/// doorward under a prefix the app chose; the app's own routes stay where the app put them.
async fn doorward_can_live_under_a_prefix(backend: Backend) {
    let app = spawn_tasks_app_at(backend, "/id").await;
    let user = TestUser::generate();
    let credentials = json!({"email": user.email, "password": user.password});
    let at_root = app.post_json("/auth/register", &credentials).await;
    assert_eq!(at_root.status(), 404);
    let pair: Value = app
        .post_json("/id/auth/register", &credentials)
        .await
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", str_of(&pair, "access_token"));
    assert_eq!(
        post_task(&app, "prefixed", &[("authorization", &bearer)])
            .await
            .status(),
        201
    );
    assert_eq!(
        titles(get(&app, "/api/tasks", &[("authorization", &bearer)]).await).await,
        ["prefixed"]
    );
    assert_eq!(get(&app, "/id/login", &[]).await.status(), 200);
    let query = format!("/id/ws?access_token={}", str_of(&pair, "access_token"));
    let mut socket = open_path(&app, &query, &[]).await.unwrap();
    assert_eq!(next_event(&mut socket).await["event"], "ready");
}

both_backends!(
    doorward_can_live_under_a_prefix,
    tasks_are_per_user_by_bearer_and_by_cookie,
    a_logged_out_token_is_refused_by_the_app_at_once,
    a_foreign_cookie_post_creates_nothing,
    anonymous_is_allowed_but_a_bad_token_is_not,
    the_admin_route_follows_the_current_role,
    the_task_socket_pushes_its_owner_s_tasks_until_the_session_ends,
);
