//! Throttling (issue 10): per address in memory, failed sign-ins per account and address in the
//! database (shared by instances), the account-wide backstop, registrations, refresh per
//! address and per session, the pages' 429, and the bcrypt queue's fairness.
//!
//! Other client addresses are real: a client bound to 127.0.0.2 (any 127/8 address reaches a
//! server on 127.0.0.1 on Linux) is another peer to doorward, with no forwarded header.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestUser, assert_error, spawn_app_with, str_of};
use crate::pages::Browser;

/// Settings that lift every throttle, so a test sets only the one it checks.
const ALL_OFF: &[(&str, &str)] = &[
    ("DOORWARD_SIGN_IN_RATE_PER_IP", "off"),
    ("DOORWARD_REGISTER_RATE_PER_IP", "off"),
    ("DOORWARD_REFRESH_RATE_PER_IP", "off"),
    ("DOORWARD_REFRESH_RATE_PER_SESSION", "off"),
    ("DOORWARD_FAILED_SIGN_INS_PER_IP", "off"),
    ("DOORWARD_FAILED_SIGN_INS_PER_ACCOUNT", "off"),
];

/// A server with every throttle off but those in `limits`.
async fn app_with(backend: Backend, limits: &[(&str, &str)]) -> TestApp {
    let mut settings: Vec<(&str, &str)> = ALL_OFF
        .iter()
        .filter(|(name, _)| !limits.iter().any(|(set, _)| set == name))
        .copied()
        .collect();
    settings.extend_from_slice(limits);
    spawn_app_with(backend, &settings).await
}

/// A client whose connections come from `127.0.0.<last>`.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, last]))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn login_from(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> Response {
    client
        .post(app.url("/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// The status of a sign-in from `client`.
async fn login_status(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> StatusCode {
    login_from(app, client, email, password).await.status()
}

/// The `Retry-After` of a 429 `too_many_requests`, checked.
async fn assert_throttled(response: Response) -> u64 {
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("a Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_error(response, 429, "too_many_requests").await;
    retry_after
}

/// Sign-ins from one address share one limit whatever the route (JSON, cookie); another
/// address is not affected.
async fn sign_ins_per_address_are_limited_on_every_route(backend: Backend) {
    let app = app_with(backend, &[("DOORWARD_SIGN_IN_RATE_PER_IP", "3/1m")]).await;
    let (user, _) = app.signed_up_user().await;
    let here = client_from(1);
    assert_eq!(
        login_status(&app, &here, &user.email, &user.password).await,
        200
    );
    assert_eq!(
        login_status(&app, &here, &user.email, "wrong-password").await,
        401
    );
    let cookie_login = here
        .post(app.url("/auth/cookie/login"))
        .json(&json!({"email": user.email, "password": user.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(cookie_login.status(), 200);
    let over = login_from(&app, &here, &user.email, &user.password).await;
    let retry_after = assert_throttled(over).await;
    assert!(
        retry_after <= 20,
        "one sign-in refills every 20 s: {retry_after}"
    );
    let cookie_over = here
        .post(app.url("/auth/cookie/login"))
        .json(&json!({"email": user.email, "password": user.password}))
        .send()
        .await
        .unwrap();
    assert_throttled(cookie_over).await;

    let elsewhere = client_from(2);
    assert_eq!(
        login_status(&app, &elsewhere, &user.email, &user.password).await,
        200
    );
}

/// Wrong passwords from one address lock that address out of that account (even with the
/// right password, and before any bcrypt), while the owner signs in from elsewhere. An
/// unknown email is locked the same way, so throttling does not tell which emails exist.
async fn failed_sign_ins_lock_out_only_that_address(backend: Backend) {
    let app = app_with(backend, &[("DOORWARD_FAILED_SIGN_INS_PER_IP", "3")]).await;
    let (user, _) = app.signed_up_user().await;
    let attacker = client_from(2);
    for _ in 0..3 {
        let wrong = login_from(&app, &attacker, &user.email, "wrong-password").await;
        assert_error(wrong, 401, "invalid_credentials").await;
    }
    let locked = login_from(&app, &attacker, &user.email, &user.password).await;
    let retry_after = assert_throttled(locked).await;
    assert!((60..=900).contains(&retry_after), "{retry_after}");
    // The same email written otherwise is the same account.
    let shouted = login_from(&app, &attacker, &user.email.to_uppercase(), &user.password).await;
    assert_throttled(shouted).await;

    let owner = client_from(1);
    assert_eq!(
        login_status(&app, &owner, &user.email, &user.password).await,
        200
    );
    // Other accounts from the attacker's address are not locked.
    let (other, _) = app.signed_up_user().await;
    assert_eq!(
        login_status(&app, &attacker, &other.email, &other.password).await,
        200
    );

    let nobody = "nobody-here@example.com";
    for _ in 0..3 {
        assert_eq!(
            login_status(&app, &attacker, nobody, "wrong-password").await,
            401
        );
    }
    assert_throttled(login_from(&app, &attacker, nobody, "wrong-password").await).await;
}

/// A success clears the count of its address.
async fn a_success_resets_the_count(backend: Backend) {
    let app = app_with(backend, &[("DOORWARD_FAILED_SIGN_INS_PER_IP", "3")]).await;
    let (user, _) = app.signed_up_user().await;
    let here = client_from(1);
    for _ in 0..2 {
        assert_eq!(
            login_status(&app, &here, &user.email, "wrong-password").await,
            401
        );
    }
    assert_eq!(
        login_status(&app, &here, &user.email, &user.password).await,
        200
    );
    for _ in 0..3 {
        assert_eq!(
            login_status(&app, &here, &user.email, "wrong-password").await,
            401
        );
    }
    assert_throttled(login_from(&app, &here, &user.email, &user.password).await).await;
}

/// Guesses spread over addresses meet the account-wide backstop; an address the account
/// signed in from before still gets through, so an attacker cannot lock the owner out.
async fn the_backstop_stops_spread_guesses_but_not_the_owners_address(backend: Backend) {
    let app = app_with(
        backend,
        &[
            ("DOORWARD_FAILED_SIGN_INS_PER_IP", "2"),
            ("DOORWARD_FAILED_SIGN_INS_PER_ACCOUNT", "4"),
        ],
    )
    .await;
    let (user, _) = app.signed_up_user().await;
    let owner = client_from(1);
    assert_eq!(
        login_status(&app, &owner, &user.email, &user.password).await,
        200
    );
    for attacker in [client_from(2), client_from(3)] {
        for _ in 0..2 {
            assert_eq!(
                login_status(&app, &attacker, &user.email, "guess").await,
                401
            );
        }
    }
    let new_address = client_from(4);
    assert_throttled(login_from(&app, &new_address, &user.email, &user.password).await).await;
    assert_eq!(
        login_status(&app, &owner, &user.email, &user.password).await,
        200
    );
}

/// Two instances on one database count one account's failures together.
async fn instances_share_an_accounts_count(backend: Backend) {
    let first = app_with(backend, &[("DOORWARD_FAILED_SIGN_INS_PER_IP", "3")]).await;
    let second = first.another_instance().await;
    let (user, _) = first.signed_up_user().await;
    let attacker = client_from(2);
    assert_eq!(
        login_status(&first, &attacker, &user.email, "guess").await,
        401
    );
    assert_eq!(
        login_status(&second, &attacker, &user.email, "guess").await,
        401
    );
    assert_eq!(
        login_status(&first, &attacker, &user.email, "guess").await,
        401
    );
    assert_throttled(login_from(&second, &attacker, &user.email, &user.password).await).await;
    assert_throttled(login_from(&first, &attacker, &user.email, &user.password).await).await;
}

/// Registrations and refreshes per address.
async fn registrations_and_refreshes_per_address_are_limited(backend: Backend) {
    let app = app_with(
        backend,
        &[
            ("DOORWARD_REGISTER_RATE_PER_IP", "2/10m"),
            ("DOORWARD_REFRESH_RATE_PER_IP", "2/1m"),
        ],
    )
    .await;
    let here = client_from(1);
    let register = |user: TestUser| {
        let request = here
            .post(app.url("/auth/register"))
            .json(&json!({"email": user.email, "password": user.password}));
        async move { request.send().await.unwrap() }
    };
    let first = register(TestUser::generate()).await;
    assert_eq!(first.status(), 201);
    let pair: Value = first.json().await.unwrap();
    assert_eq!(register(TestUser::generate()).await.status(), 201);
    let over = register(TestUser::generate()).await;
    assert!(assert_throttled(over).await <= 300);
    let elsewhere = client_from(2)
        .post(app.url("/auth/register"))
        .json(&json!({"email": TestUser::generate().email, "password": "another-long-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 201);

    let refresh = |token: String| {
        let request = here
            .post(app.url("/auth/refresh"))
            .json(&json!({"refresh_token": token}));
        async move { request.send().await.unwrap() }
    };
    let rotated: Value = refresh(str_of(&pair, "refresh_token").to_owned())
        .await
        .json()
        .await
        .unwrap();
    let again = refresh(str_of(&rotated, "refresh_token").to_owned()).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_throttled(refresh(str_of(&again, "refresh_token").to_owned()).await).await;
}

/// One session rotates at most `DOORWARD_REFRESH_RATE_PER_SESSION` times; the throttled token
/// is not consumed and rotates after `Retry-After`, and a reused token is still theft.
async fn refresh_is_limited_per_session(backend: Backend) {
    let app = app_with(
        backend,
        &[
            ("DOORWARD_REFRESH_RATE_PER_SESSION", "3/5s"),
            ("REFRESH_REUSE_GRACE", "0s"),
        ],
    )
    .await;
    let (_, pair) = app.signed_up_user().await;
    let second = app.rotate(&pair).await;
    let third = app.rotate(&second).await;
    let throttled = app.refresh(str_of(&third, "refresh_token")).await;
    let retry_after = assert_throttled(throttled).await;
    assert!(retry_after <= 5, "{retry_after}");
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let fourth = app.rotate(&third).await;
    assert_eq!(
        app.get_me(str_of(&fourth, "access_token")).await.status(),
        200
    );

    // Reuse is detected even while a session is throttled.
    // It rotates until throttled: on a loaded machine the window may pass between two rotations.
    let (_, first) = app.signed_up_user().await;
    let mut newest = app.rotate(&first).await;
    let mut throttled = false;
    for _ in 0..20 {
        let response = app.refresh(str_of(&newest, "refresh_token")).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_throttled(response).await;
            throttled = true;
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        newest = response.json().await.unwrap();
    }
    assert!(throttled, "20 quick rotations were never throttled");
    assert_error(
        app.refresh(str_of(&first, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
    assert_error(
        app.refresh(str_of(&newest, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
}

/// A throttled page form is shown again with 429, `Retry-After` and a message saying to wait.
async fn pages_show_the_form_again_with_429(backend: Backend) {
    let app = app_with(
        backend,
        &[
            ("DOORWARD_FAILED_SIGN_INS_PER_IP", "1"),
            ("DOORWARD_REGISTER_RATE_PER_IP", "1/10m"),
        ],
    )
    .await;
    let (user, _) = app.signed_up_user().await;
    let mut browser = Browser::new(&app);
    let wrong = TestUser {
        email: user.email.clone(),
        password: "wrong-password".into(),
    };
    assert_eq!(browser.sign_in(&wrong, None).await.status(), 401);
    let throttled = browser.sign_in(&user, None).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
    let html = throttled.text().await.unwrap();
    assert!(html.contains("Too many attempts. Please wait"), "{html}");
    assert!(
        html.contains("name=\"csrf_token\""),
        "the form is shown again"
    );
    assert!(html.contains(&user.email), "the email is kept");

    // The signup above used the one registration this address may make.
    let (_, token) = browser.get_form("/register").await;
    let new = TestUser::generate();
    let fields = [
        ("csrf_token", token.as_str()),
        ("email", new.email.as_str()),
        ("password", new.password.as_str()),
    ];
    let throttled = browser.post_form("/register", &fields).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
    let html = throttled.text().await.unwrap();
    assert!(html.contains("Too many attempts. Please wait"), "{html}");
    assert!(html.contains(&new.email), "the email is kept");
}

both_backends!(
    sign_ins_per_address_are_limited_on_every_route,
    failed_sign_ins_lock_out_only_that_address,
    a_success_resets_the_count,
    the_backstop_stops_spread_guesses_but_not_the_owners_address,
    instances_share_an_accounts_count,
    registrations_and_refreshes_per_address_are_limited,
    refresh_is_limited_per_session,
    pages_show_the_form_again_with_429,
);

/// A flood of sign-ins from one address holds at most its share of the bcrypt queue: the rest
/// of the flood is refused at once (429), and another address is served meanwhile, never 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bcrypt_queue_is_shared_fairly() {
    let app = app_with(
        Backend::Sqlite,
        &[("BCRYPT_COST", "10"), ("DOORWARD_HASH_JOBS_PER_IP", "4")],
    )
    .await;
    let (user, _) = app.signed_up_user().await;
    let flooder = client_from(2);
    let flood: Vec<_> = (0..100)
        .map(|_| {
            let request = flooder
                .post(app.url("/auth/login"))
                .json(&json!({"email": user.email, "password": "wrong-password"}));
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let owner = login_from(&app, &client_from(1), &user.email, &user.password).await;
    assert_eq!(
        owner.status(),
        200,
        "another address is served during the flood"
    );
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for answer in flood {
        *statuses.entry(answer.await.unwrap().unwrap()).or_default() += 1;
    }
    assert!(
        statuses.get(&429).copied().unwrap_or(0) >= 50,
        "{statuses:?}"
    );
    assert_eq!(statuses.get(&503), None, "{statuses:?}");
    assert!(
        statuses.keys().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
}

/// Sign-ins whose clients hang up while queued cost no bcrypt: each queued job sees its request
/// gone and is skipped before it hashes (the real binary, read from its debug log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_client_has_gone_is_skipped() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("doorward.db").display());
    let (_server, port, log) = crate::durability::start_binary_configured(
        &database_url,
        dir.path(),
        false,
        &[
            ("BCRYPT_COST", "12"),
            ("RUST_LOG", "info,doorward=debug"),
            ("DOORWARD_SIGN_IN_RATE_PER_IP", "off"),
            ("DOORWARD_FAILED_SIGN_INS_PER_IP", "off"),
            ("DOORWARD_FAILED_SIGN_INS_PER_ACCOUNT", "off"),
            ("DOORWARD_HASH_JOBS_PER_IP", "64"),
        ],
    );
    let body = r#"{"email":"someone@example.com","password":"a-wrong-password"}"#;
    let request = format!(
        "POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut streams = Vec::new();
    for _ in 0..30 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        streams.push(stream);
    }
    // Two threads hash at cost 12 (each check takes a good fraction of a second): once every
    // request is queued, the clients all hang up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for mut stream in streams {
        stream.shutdown().await.unwrap();
    }
    let skipped = || {
        log.lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains("skipped a password job whose client has gone"))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while skipped() < 20 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        skipped() >= 20,
        "only {} of 30 jobs were skipped",
        skipped()
    );
    let app_url = format!("http://127.0.0.1:{port}/auth/login");
    let answer = reqwest::Client::new()
        .post(app_url)
        .json(&json!({"email": "someone@example.com", "password": "a-wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401, "the server goes on serving");
}
