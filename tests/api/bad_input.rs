//! Bodies the server must refuse cleanly (contract §3, §5).

use crate::both_backends;
use crate::helpers::{Backend, TestUser, assert_error, spawn_app};

async fn malformed_bodies_are_400_and_oversized_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let post = |content_type: Option<&'static str>, body: Vec<u8>| {
        let mut req = app.client.post(app.url("/auth/register")).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let json = Some("application/json");
    assert_error(
        post(json, b"{\"email\":".to_vec()).await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        post(json, b"".to_vec()).await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        post(Some("text/plain"), b"{}".to_vec()).await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        post(None, b"{}".to_vec()).await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        post(json, b"[1,2]".to_vec()).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    let mut big = b"{\"email\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 65 * 1024));
    big.extend(b"\"}");
    assert_error(post(json, big).await.unwrap(), 413, "payload_too_large").await;
    let ok_charset = post(Some("application/json; charset=utf-8"), b"{}".to_vec())
        .await
        .unwrap();
    assert_error(ok_charset, 422, "validation_failed").await;
}

async fn optional_body_routes_accept_no_content_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let token = pair["access_token"].as_str().unwrap();
    let response = app
        .client
        .post(app.url("/auth/logout-all"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app
        .client
        .post(app.url("/auth/cookie/refresh"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "invalid_grant").await;
}

/// `{"email":"a…","email":"b…"}` is refused with 400 (the last one won before).
async fn a_json_member_named_twice_is_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = TestUser::generate();
    let body = format!(
        r#"{{"email":"{}","email":"other-{}","password":"{}"}}"#,
        user.email, user.email, user.password
    );
    for path in ["/auth/register", "/auth/login", "/auth/cookie/login"] {
        let response = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_error(response, 400, "invalid_request").await;
    }
    assert_eq!(
        app.login(&user).await.status(),
        401,
        "nothing was registered"
    );
}

both_backends!(
    malformed_bodies_are_400_and_oversized_413,
    optional_body_routes_accept_no_content_type,
    a_json_member_named_twice_is_400,
);
