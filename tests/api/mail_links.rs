//! Email verification and password reset, following the real links from the mail outbox, on
//! both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestUser, assert_error, spawn_app, spawn_app_with, str_of};
use crate::pages::Browser;

both_backends!(
    registration_mails_a_link_that_verifies_the_address_once,
    a_reset_link_changes_the_password_and_ends_every_session,
    a_reset_request_answers_the_same_for_any_email,
    unverified_accounts_may_not_sign_in_when_required,
    the_pages_reset_a_password_from_the_mailed_link,
);

const NEW_PASSWORD: &str = "a brand-new passphrase 42";

pub(crate) fn token_of(link: &str) -> &str {
    link.split_once("token=").unwrap().1
}

async fn me(app: &TestApp, pair: &Value) -> Value {
    let response = app.get_me(str_of(pair, "access_token")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn post_owned(app: &TestApp, path: &'static str, body: Value) -> reqwest::Response {
    app.post_json(path, &body).await
}

async fn verify_with(app: &TestApp, token: String) -> reqwest::Response {
    post_owned(app, "/auth/verify-email", json!({"token": token})).await
}

async fn registration_mails_a_link_that_verifies_the_address_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, pair) = app.signed_up_user().await;
    assert_eq!(me(&app, &pair).await["email_verified"], false);
    let links = app.mailed_links(&user.email, "/verify-email", 1).await;
    let token = token_of(&links[0]);

    let verify = |token: &str| verify_with(&app, token.to_owned());
    assert_eq!(verify(token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &pair).await["email_verified"], true);
    assert_error(verify(token).await, 400, "invalid_link").await;
    assert_error(verify("made-up").await, 400, "invalid_link").await;

    // Verified already: nothing more is sent.
    let resend = app
        .post_with_bearer(
            "/auth/verify-email/resend",
            str_of(&pair, "access_token"),
            None,
        )
        .await;
    assert_eq!(resend.status(), StatusCode::NO_CONTENT);
    let (other, other_pair) = app.signed_up_user().await;
    let resend = app
        .post_with_bearer(
            "/auth/verify-email/resend",
            str_of(&other_pair, "access_token"),
            None,
        )
        .await;
    assert_eq!(resend.status(), StatusCode::ACCEPTED);
    let links = app.mailed_links(&other.email, "/verify-email", 2).await;
    assert_ne!(links[0], links[1], "each link is its own");
    assert_eq!(
        verify(token_of(&links[1])).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(verify(token_of(&links[0])).await, 400, "invalid_link").await;
}

async fn a_reset_link_changes_the_password_and_ends_every_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, pair) = app.signed_up_user().await;
    let other: Value = app.login(&user).await.json().await.unwrap();
    let response = app
        .post_json(
            "/auth/password-reset",
            &json!({"email": user.email.to_uppercase()}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let links = app.mailed_links(&user.email, "/reset-password", 1).await;
    let token = token_of(&links[0]).to_owned();

    let confirm = |token: &str, password: &str| {
        let body = json!({"token": token, "new_password": password});
        post_owned(&app, "/auth/password-reset/confirm", body)
    };
    let weak = confirm(&token, "password").await;
    assert_error(weak, 422, "validation_failed").await;
    assert_eq!(
        confirm(&token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    app.assert_session_revoked(&pair).await;
    app.assert_session_revoked(&other).await;
    assert_error(app.login(&user).await, 401, "invalid_credentials").await;
    let renewed = TestUser {
        email: user.email.clone(),
        password: NEW_PASSWORD.to_owned(),
    };
    let fresh: Value = app.login(&renewed).await.json().await.unwrap();
    assert_eq!(
        me(&app, &fresh).await["email_verified"],
        true,
        "the mailbox was read"
    );
    assert_error(
        confirm(&token, "another passphrase 43").await,
        400,
        "invalid_link",
    )
    .await;
}

async fn a_reset_request_answers_the_same_for_any_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, _) = app.signed_up_user().await;
    let known = app
        .post_json("/auth/password-reset", &json!({"email": user.email}))
        .await;
    let unknown = app
        .post_json(
            "/auth/password-reset",
            &json!({"email": "nobody@example.com"}),
        )
        .await;
    let garbage = app
        .post_json("/auth/password-reset", &json!({"email": "not an email"}))
        .await;
    let mut bodies = Vec::new();
    for response in [known, unknown, garbage] {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        bodies.push(response.text().await.unwrap());
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:?}");
    app.mailed_links(&user.email, "/reset-password", 1).await;
    // A second request within the minute sends nothing more.
    app.post_json("/auth/password-reset", &json!({"email": user.email}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        app.mailed_links(&user.email, "/reset-password", 1)
            .await
            .len(),
        1
    );
}

async fn unverified_accounts_may_not_sign_in_when_required(backend: Backend) {
    let app = spawn_app_with(backend, &[("DOORWARD_REQUIRE_VERIFIED_EMAIL", "true")]).await;
    let user = TestUser::generate();
    let response = app.register(&user).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("access_token").is_none());
    assert_eq!(body["user"]["email_verified"], false);
    assert_error(app.login(&user).await, 403, "email_not_verified").await;
    let wrong = TestUser {
        email: user.email.clone(),
        password: "wrong password 1".into(),
    };
    assert_error(app.login(&wrong).await, 401, "invalid_credentials").await;

    let links = app.mailed_links(&user.email, "/verify-email", 1).await;
    let verified = app
        .post_json("/auth/verify-email", &json!({"token": token_of(&links[0])}))
        .await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.login(&user).await.status(), StatusCode::OK);
}

async fn the_pages_reset_a_password_from_the_mailed_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, pair) = app.signed_up_user().await;
    let mut browser = Browser::new(&app);
    let (html, token) = browser.get_form("/login").await;
    assert!(html.contains("href=\"forgot-password\""));
    let (_, token2) = browser.get_form("/forgot-password").await;
    assert_eq!(token, token2);
    let sent = browser
        .post_form(
            "/forgot-password",
            &[("csrf_token", &token), ("email", &user.email)],
        )
        .await;
    assert_eq!(sent.status(), StatusCode::OK);
    assert!(sent.text().await.unwrap().contains("Check your email"));

    let links = app.mailed_links(&user.email, "/reset-password", 1).await;
    let path = links[0].strip_prefix(&app.public_url()).unwrap();
    let (html, token) = browser.get_form(path).await;
    assert!(html.contains(token_of(&links[0])));
    let link_token = token_of(&links[0]);
    let weak = browser
        .post_form(
            "/reset-password",
            &[
                ("csrf_token", &token),
                ("token", link_token),
                ("new_password", "password"),
            ],
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let done = browser
        .post_form(
            "/reset-password",
            &[
                ("csrf_token", &token),
                ("token", link_token),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["location"], "/login");
    let login = browser.get("/login").await.text().await.unwrap();
    assert!(login.contains("Your password has been changed: sign in with it."));
    app.assert_session_revoked(&pair).await;
    let again = browser
        .post_form(
            "/reset-password",
            &[
                ("csrf_token", &token),
                ("token", link_token),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // The verification link's page only shows a button; pressing it confirms.
    let links = app.mailed_links(&user.email, "/verify-email", 1).await;
    let path = links[0].strip_prefix(&app.public_url()).unwrap();
    let (_, token) = browser.get_form(path).await;
    let confirmed = browser
        .post_form(
            "/verify-email",
            &[("csrf_token", &token), ("token", token_of(&links[0]))],
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert!(
        confirmed
            .text()
            .await
            .unwrap()
            .contains("Email address confirmed")
    );
}

/// With `DOORWARD_SMTP_URL`, mail goes over SMTP: to Python 3.11's own `smtpd` debugging server,
/// which prints what it receives; the link it printed verifies the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_over_smtp_when_configured() {
    use tokio::io::AsyncBufReadExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new("python3")
        .args([
            "-u",
            "-W",
            "ignore",
            "-m",
            "smtpd",
            "-n",
            "-c",
            "DebuggingServer",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 -m smtpd (Python 3.11)");
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let smtp = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(Backend::Sqlite, &[("DOORWARD_SMTP_URL", &smtp)]).await;
    let user = TestUser::generate();
    assert_eq!(app.register(&user).await.status(), StatusCode::CREATED);
    let prefix = format!("{}/verify-email?token=", app.public_url());
    let link = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // The server prints each line as a Python bytes literal: b'…'.
            let line = line.trim_start_matches("b'").trim_end_matches('\'');
            if line.starts_with(&prefix) {
                return line.to_owned();
            }
        }
        panic!("the SMTP server ended without the link");
    })
    .await
    .expect("the mail arrives over SMTP");
    let verified = app
        .post_json("/auth/verify-email", &json!({"token": token_of(&link)}))
        .await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    server.kill().await.unwrap();
}
