//! Changing a password: `POST /api/password` and the account page's form, on both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestUser, assert_error, spawn_app, str_of};
use crate::pages::Browser;

both_backends!(
    a_change_keeps_this_session_and_ends_the_others,
    a_wrong_current_or_weak_new_password_changes_nothing,
    the_account_page_changes_the_password_without_javascript,
);

const NEW_PASSWORD: &str = "a brand-new passphrase 42";

async fn change(app: &TestApp, pair: &Value, current: &str, new: &str) -> reqwest::Response {
    app.post_with_bearer(
        "/api/password",
        str_of(pair, "access_token"),
        Some(&json!({"current_password": current, "new_password": new})),
    )
    .await
}

async fn a_change_keeps_this_session_and_ends_the_others(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, here) = app.signed_up_user().await;
    let there: Value = app.login(&user).await.json().await.unwrap();

    let response = change(&app, &here, &user.password, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    app.assert_session_revoked(&there).await;
    assert_eq!(
        app.get_me(str_of(&here, "access_token")).await.status(),
        StatusCode::OK
    );
    app.rotate(&here).await;

    assert_error(app.login(&user).await, 401, "invalid_credentials").await;
    let renamed = TestUser {
        email: user.email.clone(),
        password: NEW_PASSWORD.to_owned(),
    };
    assert_eq!(app.login(&renamed).await.status(), StatusCode::OK);
    let anonymous = app.post_json("/api/password", &json!({})).await;
    assert_error(anonymous, 401, "unauthorized").await;
}

async fn a_wrong_current_or_weak_new_password_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, here) = app.signed_up_user().await;
    let there: Value = app.login(&user).await.json().await.unwrap();

    let wrong = change(&app, &here, "not my password", NEW_PASSWORD).await;
    let body = assert_error(wrong, 422, "validation_failed").await;
    assert_eq!(
        body["fields"]["current_password"][0],
        "is not your password"
    );
    let weak = change(&app, &here, &user.password, "password").await;
    let body = assert_error(weak, 422, "validation_failed").await;
    assert!(
        !body["fields"]["new_password"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let missing = app
        .post_with_bearer(
            "/api/password",
            str_of(&here, "access_token"),
            Some(&json!({})),
        )
        .await;
    let body = assert_error(missing, 422, "validation_failed").await;
    assert!(body["fields"]["current_password"].is_array());
    assert!(body["fields"]["new_password"].is_array());

    // Nothing changed: the other session and the old password still work.
    app.rotate(&there).await;
    assert_eq!(app.login(&user).await.status(), StatusCode::OK);
}

async fn the_account_page_changes_the_password_without_javascript(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, elsewhere) = app.signed_up_user().await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser.sign_in(&user, None).await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, token) = browser.get_form("/account").await;

    let wrong = browser
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &token),
                ("current_password", "not my password"),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = wrong.text().await.unwrap();
    assert!(
        html.contains("Current password is not your password."),
        "{html}"
    );
    app.rotate(&elsewhere).await;

    let response = browser
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &token),
                ("current_password", &user.password),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/account");
    let (html, _) = browser.get_form("/account").await;
    assert!(html.contains("Your password has been changed"));
    assert_eq!(
        html.matches("data-session=").count(),
        1,
        "only this browser is left"
    );

    let renamed = TestUser {
        email: user.email.clone(),
        password: NEW_PASSWORD.to_owned(),
    };
    let mut another = Browser::new(&app);
    assert_eq!(
        another.sign_in(&renamed, None).await.status(),
        StatusCode::SEE_OTHER
    );
}
