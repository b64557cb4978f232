//! "Your sessions": `GET /api/sessions`, `DELETE /api/sessions/{id}` and
//! `POST /api/sessions/revoke-others`, on both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestUser, assert_error, spawn_app, str_of};
use crate::pages::Browser;

both_backends!(
    the_list_shows_each_live_session_and_which_is_current,
    ending_one_session_kills_its_tokens_at_once,
    nobody_can_end_a_session_that_is_not_theirs,
    signing_out_other_devices_keeps_only_this_one,
    cookie_callers_end_sessions_only_from_this_site,
    the_account_page_lists_sessions_and_ends_them_without_javascript,
);

/// Signs `user` in with `user_agent`; the TokenPair.
async fn sign_in_from(app: &TestApp, user: &TestUser, user_agent: &str) -> Value {
    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("user-agent", user_agent)
        .json(&json!({"email": user.email, "password": user.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn sessions_of(app: &TestApp, pair: &Value) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/sessions"))
        .bearer_auth(str_of(pair, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json::<Vec<Value>>().await.unwrap()
}

async fn end_session(app: &TestApp, pair: &Value, id: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/api/sessions/{id}")))
        .bearer_auth(str_of(pair, "access_token"))
        .send()
        .await
        .unwrap()
}

fn sid_of(pair: &Value) -> String {
    crate::helpers::claims_of(str_of(pair, "access_token"))["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn the_list_shows_each_live_session_and_which_is_current(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, first) = app.signed_up_user().await;
    let phone = sign_in_from(&app, &user, "Phone/1.0 (test)").await;
    let laptop = sign_in_from(&app, &user, "Laptop/2.0 (test)").await;
    // A rotation moves "last used"; the session stays the same.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let phone = app.rotate(&phone).await;

    let listed = sessions_of(&app, &laptop).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let find = |sid: &str| listed.iter().find(|s| s["id"] == sid).unwrap().clone();
    let (phone_row, laptop_row) = (find(&sid_of(&phone)), find(&sid_of(&laptop)));
    assert_eq!(phone_row["user_agent"], "Phone/1.0 (test)");
    assert_eq!(laptop_row["user_agent"], "Laptop/2.0 (test)");
    assert_eq!(laptop_row["ip"], "127.0.0.1");
    assert_eq!(laptop_row["current"], true);
    assert_eq!(phone_row["current"], false);
    assert_eq!(find(&sid_of(&first))["current"], false);
    assert_ne!(phone_row["last_used_at"], phone_row["created_at"]);
    assert_eq!(laptop_row["last_used_at"], laptop_row["created_at"]);
    assert_eq!(listed[0]["id"], sid_of(&phone), "most recently used first");
    chrono::DateTime::parse_from_rfc3339(str_of(&phone_row, "created_at")).unwrap();

    // Signed out sessions are not listed.
    let response = app
        .post_with_bearer("/auth/logout", str_of(&first, "access_token"), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(sessions_of(&app, &laptop).await.len(), 2);
    let anonymous = app
        .client
        .get(app.url("/api/sessions"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "unauthorized").await;
}

async fn ending_one_session_kills_its_tokens_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, here) = app.signed_up_user().await;
    let there = sign_in_from(&app, &user, "Elsewhere/1").await;
    assert_eq!(
        app.get_me(str_of(&there, "access_token")).await.status(),
        StatusCode::OK
    );

    let response = end_session(&app, &here, &sid_of(&there)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    app.assert_session_revoked(&there).await;
    assert_eq!(
        app.get_me(str_of(&here, "access_token")).await.status(),
        StatusCode::OK
    );
    assert_eq!(sessions_of(&app, &here).await.len(), 1);
    // Ended already: nothing left to end.
    assert_error(
        end_session(&app, &here, &sid_of(&there)).await,
        404,
        "not_found",
    )
    .await;

    // The caller may end its own session too.
    let response = end_session(&app, &here, &sid_of(&here)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    app.assert_session_revoked(&here).await;
}

async fn nobody_can_end_a_session_that_is_not_theirs(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, mallory) = app.signed_up_user().await;
    let (_, victim) = app.signed_up_user().await;
    for id in [
        sid_of(&victim),
        "not-a-session".to_owned(),
        uuid::Uuid::new_v4().to_string(),
    ] {
        assert_error(end_session(&app, &mallory, &id).await, 404, "not_found").await;
    }
    assert_eq!(
        app.get_me(str_of(&victim, "access_token")).await.status(),
        StatusCode::OK
    );
    app.rotate(&victim).await;
    let listed = sessions_of(&app, &mallory).await;
    assert_eq!(listed.len(), 1, "only mallory's own: {listed:?}");
}

async fn signing_out_other_devices_keeps_only_this_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, here) = app.signed_up_user().await;
    let others = [
        sign_in_from(&app, &user, "A/1").await,
        sign_in_from(&app, &user, "B/1").await,
    ];
    let response = app
        .post_with_bearer(
            "/api/sessions/revoke-others",
            str_of(&here, "access_token"),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"ended": 2}));
    for other in &others {
        app.assert_session_revoked(other).await;
    }
    let listed = sessions_of(&app, &here).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["current"], true);
    app.rotate(&here).await;
    // Nothing else left: the count says so.
    let response = app
        .post_with_bearer(
            "/api/sessions/revoke-others",
            str_of(&here, "access_token"),
            None,
        )
        .await;
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"ended": 0}));
}

async fn cookie_callers_end_sessions_only_from_this_site(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, jar) = app.cookie_user().await;
    let other = sign_in_from(&app, &user, "Other/1").await;
    let path = format!("/api/sessions/{}", sid_of(&other));
    let forged = app
        .client
        .delete(app.url(&path))
        .header("cookie", jar.header())
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_error(forged, 403, "csrf_failed").await;
    assert_eq!(
        app.get_me(str_of(&other, "access_token")).await.status(),
        StatusCode::OK
    );
    let same_site = app
        .client
        .delete(app.url(&path))
        .header("cookie", jar.header())
        .header("origin", app.address.replace("127.0.0.1", "localhost"))
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), StatusCode::NO_CONTENT);
    app.assert_session_revoked(&other).await;
}

async fn the_account_page_lists_sessions_and_ends_them_without_javascript(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, registered) = app.signed_up_user().await;
    let phone = sign_in_from(&app, &user, "Phone/1.0 <b>not html</b>").await;
    let tablet = sign_in_from(&app, &user, "Tablet/3.0").await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser.sign_in(&user, None).await.status(),
        StatusCode::SEE_OTHER
    );

    let (html, token) = browser.get_form("/account").await;
    assert_eq!(html.matches("data-session=").count(), 4, "{html}");
    assert_eq!(html.matches("This device").count(), 1);
    assert!(html.contains(&sid_of(&phone)));
    assert!(
        html.contains("Phone/1.0 &#60;b&#62;not html&#60;/b&#62;"),
        "escaped: {html}"
    );
    assert!(html.contains("Sign out other devices"));

    let response = browser
        .post_form(
            "/account/sessions/end",
            &[("csrf_token", &token), ("session", &sid_of(&phone))],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/account");
    app.assert_session_revoked(&phone).await;
    let (html, token) = browser.get_form("/account").await;
    assert!(html.contains("That session has been signed out."));
    assert!(!html.contains(&sid_of(&phone)));
    assert_eq!(html.matches("data-session=").count(), 3);

    // A forged form ends nothing.
    let forged = browser
        .post_form("/account/sessions/end-others", &[("csrf_token", "forged")])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let tablet = app.rotate(&tablet).await;

    let response = browser
        .post_form("/account/sessions/end-others", &[("csrf_token", &token)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    app.assert_session_revoked(&registered).await;
    app.assert_session_revoked(&tablet).await;
    let (html, _) = browser.get_form("/account").await;
    assert!(html.contains("Your other devices have been signed out."));
    assert_eq!(html.matches("data-session=").count(), 1);
    assert!(
        !html.contains("Sign out other devices"),
        "nothing else to sign out"
    );
}
