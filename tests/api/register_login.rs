//! `POST /auth/register`, `POST /auth/login` and `GET /api/me`.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestUser, assert_error, spawn_app, spawn_app_with};

async fn registration_signs_the_user_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = format!(" Ada.{}@Example.COM ", uuid::Uuid::new_v4().simple());
    let response = app
        .post_json(
            "/auth/register",
            &json!({"email": email, "password": "correct horse battery", "name": "Ada"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let pair: Value = response.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["refresh_expires_in"], 14 * 86_400);
    assert!(pair["refresh_token"].as_str().unwrap().len() >= 43);
    let canonical = email.trim().to_lowercase();
    assert_eq!(pair["user"]["email"], canonical.as_str());
    assert_eq!(pair["user"]["name"], "Ada");
    assert_eq!(pair["user"]["role"], "user");
    assert!(
        chrono::DateTime::parse_from_rfc3339(pair["user"]["created_at"].as_str().unwrap()).is_ok()
    );

    let me = app.get_me(pair["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers()["cache-control"], "no-store");
    let me: Value = me.json().await.unwrap();
    assert_eq!(me, pair["user"]);

    let stored = app.stored_user(&canonical).await.expect("stored");
    assert!(
        stored.password_hash.starts_with("$2b$04$"),
        "bcrypt at the configured cost"
    );
}

async fn the_same_email_in_another_case_is_taken(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, _) = app.signed_up_user().await;
    let again = TestUser {
        email: format!("  {}  ", user.email.to_uppercase()),
        password: "another good password".into(),
    };
    assert_error(app.register(&again).await, 409, "email_taken").await;
}

/// Fullwidth letters and decomposed accents make no second account of an address that looks
/// the same (NFKC), and sign in to the first.
async fn look_alike_emails_are_the_same_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let plain = TestUser {
        email: format!("jos\u{e9}-{}@example.com", uuid::Uuid::new_v4().simple()),
        password: "correct horse battery".into(),
    };
    assert_eq!(app.register(&plain).await.status(), 201);
    let fullwidth: String = plain
        .email
        .chars()
        .map(|c| match c {
            'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 0xFF41).unwrap(),
            other => other,
        })
        .collect();
    let decomposed = plain.email.replace('\u{e9}', "e\u{301}");
    for email in [fullwidth, decomposed] {
        let look_alike = TestUser {
            email: email.clone(),
            password: plain.password.clone(),
        };
        assert_error(app.register(&look_alike).await, 409, "email_taken").await;
        let login: serde_json::Value = app.login(&look_alike).await.json().await.unwrap();
        assert_eq!(login["user"]["email"], plain.email.as_str(), "{email}");
    }
}

async fn sixteen_simultaneous_registrations_of_one_email_give_one_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = TestUser::generate();
    let responses = join_all((0..16).map(|_| app.register(&user))).await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses[0], 201, "{statuses:?}");
    assert!(statuses[1..].iter().all(|&s| s == 409), "{statuses:?}");
}

async fn registration_fields_are_validated(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (
            json!({"password": "correct horse battery"}),
            "email",
            "is required",
        ),
        (
            json!({"email": 5, "password": "correct horse battery"}),
            "email",
            "must be a string",
        ),
        (
            json!({"email": "not-an-email", "password": "correct horse battery"}),
            "email",
            "must be an email address",
        ),
        (
            json!({"email": "a\u{0}b@x.io", "password": "correct horse battery"}),
            "email",
            "must not contain control characters",
        ),
        (
            json!({"email": format!("{}@x.io", "a".repeat(250)), "password": "correct horse battery"}),
            "email",
            "must be at most 254 bytes",
        ),
        (json!({"email": "a@x.io"}), "password", "is required"),
        (
            json!({"email": "a@x.io", "password": "short"}),
            "password",
            "must be at least 8 characters",
        ),
        (
            json!({"email": "a@x.io", "password": "x".repeat(73)}),
            "password",
            "must be at most 72 bytes",
        ),
        (
            json!({"email": "a@x.io", "password": "password1"}),
            "password",
            "is too common: choose one that is harder to guess",
        ),
        (
            json!({"email": "a@x.io", "password": "correct horse battery", "name": "n".repeat(101)}),
            "name",
            "must be at most 100 characters",
        ),
        (
            json!({"email": "a@x.io", "password": "correct horse battery", "name": "bad\u{0}name"}),
            "name",
            "must not contain control characters",
        ),
        (
            json!({"email": "a\u{200b}b@x.io", "password": "correct horse battery"}),
            "email",
            "must not contain control characters",
        ),
        (
            json!({"email": "a@x.io", "password": "correct horse battery", "name": "evil\u{202e}gpj.exe"}),
            "name",
            "must not contain control characters",
        ),
        (
            json!({"email": "a@x.io", "password": "correct horse battery", "name": 7}),
            "name",
            "must be a string",
        ),
    ];
    for (body, field, problem) in cases {
        let response = app.post_json("/auth/register", &body).await;
        let error = assert_error(response, 422, "validation_failed").await;
        let problems = error["fields"][field]
            .as_array()
            .unwrap_or_else(|| panic!("{error}"));
        assert!(problems.iter().any(|p| p == problem), "{field}: {error}");
    }
    // 72 bytes exactly is accepted: the limit is bcrypt's, refused past it, never truncated.
    let at_limit = format!("{}@x.io", uuid::Uuid::new_v4().simple());
    let password = "é".repeat(36);
    let response = app
        .post_json(
            "/auth/register",
            &json!({"email": at_limit, "password": password}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": at_limit, "password": password}),
        )
        .await;
    assert_eq!(login.status(), 200);
    let truncated = app
        .post_json(
            "/auth/login",
            &json!({"email": at_limit, "password": "é".repeat(35)}),
        )
        .await;
    assert_eq!(truncated.status(), 401);
}

async fn login_answers_the_same_for_unknown_email_and_wrong_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, _) = app.signed_up_user().await;

    let ok = app.login(&user).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    let pair: Value = ok.json().await.unwrap();
    assert_eq!(pair["user"]["email"], user.email.as_str());
    assert_eq!(
        app.get_me(pair["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    let upper = TestUser {
        email: user.email.to_uppercase(),
        password: user.password.clone(),
    };
    assert_eq!(
        app.login(&upper).await.status(),
        200,
        "emails are canonicalized"
    );

    let wrong = TestUser {
        email: user.email.clone(),
        password: "wrong password!".into(),
    };
    let unknown = TestUser::generate();
    let a = assert_error(app.login(&wrong).await, 401, "invalid_credentials").await;
    let b = assert_error(app.login(&unknown).await, 401, "invalid_credentials").await;
    assert_eq!(a, b, "the same body either way");
    let malformed = app
        .post_json(
            "/auth/login",
            &json!({"email": "nope", "password": "whatever1"}),
        )
        .await;
    assert_eq!(assert_error(malformed, 401, "invalid_credentials").await, a);
    let missing = app
        .post_json("/auth/login", &json!({"email": user.email}))
        .await;
    assert_error(missing, 422, "validation_failed").await;
}

async fn a_password_hashed_at_another_cost_is_rehashed_at_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, _) = app.signed_up_user().await;
    let app = app.restart_with(&[("BCRYPT_COST", "5")]).await;
    assert_eq!(app.login(&user).await.status(), 200);
    let stored = app.stored_user(&user.email).await.unwrap();
    assert!(
        stored.password_hash.starts_with("$2b$05$"),
        "{}",
        &stored.password_hash[..7]
    );
    assert_eq!(
        app.login(&user).await.status(),
        200,
        "the new hash verifies"
    );
}

async fn a_full_hashing_queue_answers_503_with_retry_after(backend: Backend) {
    // 120 sign-ins from one address: its connection cap, its share of the queue and its
    // sign-in throttles are raised, since the queue's own bound is what is checked here.
    let settings = [
        ("BCRYPT_COST", "10"),
        ("DOORWARD_MAX_CONNECTIONS_PER_IP", "1000"),
        ("DOORWARD_HASH_JOBS_PER_IP", "1000"),
        ("DOORWARD_SIGN_IN_RATE_PER_IP", "off"),
        ("DOORWARD_FAILED_SIGN_INS_PER_IP", "off"),
        ("DOORWARD_FAILED_SIGN_INS_PER_ACCOUNT", "off"),
    ];
    let app = spawn_app_with(backend, &settings).await;
    let user = TestUser::generate();
    let responses = join_all((0..120).map(|_| app.login(&user))).await;
    let busy: Vec<_> = responses.iter().filter(|r| r.status() == 503).collect();
    assert!(
        !busy.is_empty(),
        "120 logins at once overflow a 64-job queue"
    );
    assert!(busy.iter().all(|r| r.headers().contains_key("retry-after")));
    assert!(
        responses
            .iter()
            .all(|r| r.status() == 503 || r.status() == 401)
    );
}

both_backends!(
    registration_signs_the_user_in,
    the_same_email_in_another_case_is_taken,
    look_alike_emails_are_the_same_account,
    sixteen_simultaneous_registrations_of_one_email_give_one_account,
    registration_fields_are_validated,
    login_answers_the_same_for_unknown_email_and_wrong_password,
    a_password_hashed_at_another_cost_is_rehashed_at_login,
    a_full_hashing_queue_answers_503_with_retry_after,
);
