//! `GET /healthz`, `GET /readyz` and `GET /metrics`, against the real server: readiness follows
//! the database, and the metrics count what the test did.

use std::time::{Duration, Instant};

use doorward::Application;
use doorward::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::database_outage::rename_database;
use crate::helpers::{
    Backend, TestApp, TestUser, run_test_python, spawn_app, spawn_app_with, str_of, test_settings,
};

both_backends!(
    health_and_readiness_answer_while_the_database_does,
    metrics_count_requests_sign_ins_reuse_and_throttling,
);

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

async fn health_and_readiness_answer_while_the_database_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = get(&app, "/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.headers()["cache-control"], "no-store");
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );

    let ready = get(&app, "/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let report: Value = ready.json().await.unwrap();
    assert_eq!(report["status"], "ready");
    assert_eq!(report["database"], "ok");
    assert_eq!(report["denylist"]["current"], true);
    assert!(report["denylist"]["synced_ms_ago"].as_i64().unwrap() < 5_000);

    // Not a credential check: a token, good or bad, changes nothing, and other methods are 405.
    let with_token = app
        .client
        .get(app.url("/readyz"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), StatusCode::OK);
    let post = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_while_the_database_is_away_and_health_does_not() {
    let app = spawn_app(Backend::Postgres).await;
    let url = app.settings["DATABASE_URL"].clone();
    tokio::task::block_in_place(|| rename_database(&url, "", "_away"));

    let started = Instant::now();
    let ready = get(&app, "/readyz").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.headers()["retry-after"], "1");
    let report: Value = ready.json().await.unwrap();
    assert_eq!(report["status"], "unavailable");
    assert_eq!(report["database"], "unreachable");
    assert_eq!(get(&app, "/healthz").await.status(), StatusCode::OK);

    tokio::task::block_in_place(|| rename_database(&url, "_away", ""));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = get(&app, "/readyz").await;
        if ready.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "still {}", ready.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An exposition as prometheus_client's OpenMetrics parser read it (`tests/metrics/parse.py`,
/// run with the test venv's Python): each sample keyed `name{label="value",…}`, labels in
/// name order. A text that parser refuses fails the test.
struct Exposition(std::collections::HashMap<String, f64>);

impl Exposition {
    fn parse(text: &str) -> Self {
        let output = run_test_python("metrics/parse.py", &[], text.as_bytes());
        assert!(output.status.success(), "the parser refused:\n{text}");
        let samples: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        let keyed = samples.iter().map(|sample| {
            let labels: std::collections::BTreeMap<&str, &str> = sample["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
                .collect();
            let mut key = str_of(sample, "name").to_owned();
            if !labels.is_empty() {
                let pairs: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                key = format!("{key}{{{}}}", pairs.join(","));
            }
            (key, sample["value"].as_f64().unwrap())
        });
        Self(keyed.collect())
    }

    /// The value of the sample `series` (name and labels, in name order), if present.
    fn sample(&self, series: &str) -> Option<f64> {
        self.0.get(series).copied()
    }
}

async fn metrics_count_requests_sign_ins_reuse_and_throttling(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("DOORWARD_SIGN_IN_RATE_PER_IP", "4/1m"),
            ("REFRESH_REUSE_GRACE", "0s"),
        ],
    )
    .await;
    let (user, pair) = app.signed_up_user().await;
    let wrong = TestUser {
        email: user.email.clone(),
        password: "not the password at all".into(),
    };
    assert_eq!(app.login(&wrong).await.status(), StatusCode::UNAUTHORIZED);
    let signed_in = app.login(&user).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let second: Value = signed_in.json().await.unwrap();
    // A rotated refresh token presented again: reuse, the session revoked.
    app.rotate(&pair).await;
    assert_eq!(
        app.refresh(str_of(&pair, "refresh_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Sign-ins until the address is throttled.
    let mut throttled = false;
    for _ in 0..6 {
        if app.login(&user).await.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(throttled);
    // Made-up methods, which must not each become a series.
    let mut made_up_status = 0;
    for method in ["MADEUP1", "MADEUP2"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer = app
            .client
            .request(method, app.url("/auth/login"))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_client_error());
        made_up_status = answer.status().as_u16();
    }
    // A path no route matches, carrying something that must never become a label.
    let stray = get(&app, "/auth/token-abc123-secret").await;
    assert_eq!(stray.status(), StatusCode::NOT_FOUND);
    let session_route = app
        .client
        .delete(app.url("/api/sessions/no-such-session"))
        .bearer_auth(str_of(&second, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(session_route.status(), StatusCode::NOT_FOUND);

    let metrics = get(&app, "/metrics").await;
    assert_eq!(metrics.status(), StatusCode::OK);
    assert_eq!(
        metrics.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = metrics.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let parsed = Exposition::parse(&text);
    let series = |s: &str| {
        parsed
            .sample(s)
            .unwrap_or_else(|| panic!("no {s} in\n{text}"))
    };

    assert_eq!(
        series(
            r#"doorward_http_requests_total{method="POST",route="/auth/register",status="201"}"#
        ),
        1.0
    );
    assert!(
        series(r#"doorward_http_requests_total{method="POST",route="/auth/login",status="200"}"#)
            >= 2.0
    );
    assert_eq!(
        series(r#"doorward_http_requests_total{method="POST",route="/auth/login",status="401"}"#),
        1.0
    );
    assert_eq!(
        series(
            r#"doorward_http_requests_total{method="DELETE",route="/api/sessions/{id}",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        series(r#"doorward_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        1.0
    );
    assert!(!text.contains("abc123"), "a raw path became a label");
    assert!(!text.contains("MADEUP"), "a made-up method became a label");
    assert_eq!(
        series(&format!(
            r#"doorward_http_requests_total{{method="other",route="/auth/login",status="{made_up_status}"}}"#
        )),
        2.0
    );
    assert_eq!(
        series(
            r#"doorward_http_request_duration_seconds_count{route="/auth/register",status="201"}"#
        ),
        1.0
    );
    assert_eq!(
        series(
            r#"doorward_http_request_duration_seconds_bucket{le="+Inf",route="/auth/register",status="201"}"#
        ),
        1.0
    );
    assert_eq!(
        series(r#"doorward_sign_ins_total{outcome="invalid_credentials"}"#),
        1.0
    );
    assert!(series(r#"doorward_sign_ins_total{outcome="success"}"#) >= 2.0);
    assert!(series(r#"doorward_sign_ins_total{outcome="throttled"}"#) >= 1.0);
    assert!(series(r#"doorward_throttled_requests_total{route="/auth/login"}"#) >= 1.0);
    assert_eq!(series("doorward_refresh_reuse_detected_total"), 1.0);
    assert!(series("doorward_denylist_entries") >= 1.0);
    assert_eq!(series("doorward_bcrypt_jobs"), 0.0);
    let pool_max = match backend {
        Backend::Sqlite => 8.0,
        Backend::Postgres => 16.0,
    };
    assert_eq!(series("doorward_db_pool_max_connections"), pool_max);
    assert!(series("doorward_db_pool_connections") >= 1.0);
    assert!(series("doorward_revocation_sync_lag_seconds") < 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_served_on_an_address_of_their_own() {
    let (settings, dir, database) =
        test_settings(Backend::Sqlite, &[("DOORWARD_METRICS_BIND", "127.0.0.1:0")]);
    let config = Config::from_lookup(|k| settings.get(k).cloned()).unwrap();
    let server = Application::build(config).await.unwrap();
    let metrics_port = server.metrics_port().expect("a metrics listener");
    let (port, handle) = (server.port(), server.handle());
    tokio::spawn(server.run_until_stopped());
    let app = TestApp::serving(port, handle.clone(), settings, dir, database);

    app.signed_up_user().await;
    // Not beside the API any more; health stays there.
    assert_eq!(get(&app, "/metrics").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/healthz").await.status(), StatusCode::OK);

    let admin = format!("http://127.0.0.1:{metrics_port}");
    let metrics = app
        .client
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    assert_eq!(
        Exposition::parse(&text).sample(
            r#"doorward_http_requests_total{method="POST",route="/auth/register",status="201"}"#
        ),
        Some(1.0)
    );
    // The metrics address serves nothing else.
    let login = app
        .client
        .post(format!("{admin}/auth/login"))
        .json(&json!({"email": "a@example.com", "password": "whatever it is"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::NOT_FOUND);

    // Stopping the server stops the metrics listener too.
    handle.stop(true).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .client
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "the metrics server outlived the server"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
