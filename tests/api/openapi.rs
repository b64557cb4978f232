//! `GET /openapi.json`: the document's shape on both backends, every documented operation
//! routed, and schemathesis (an outside fuzzer, from PyPI) run from the document against the
//! live server on SQLite: no 5xx, every response as documented.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestUser, spawn_app, spawn_app_with};

both_backends!(the_document_describes_every_route_and_its_security);

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    response.json().await.unwrap()
}

async fn the_document_describes_every_route_and_its_security(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["servers"][0]["url"],
        app.address.replace("127.0.0.1", "localhost")
    );
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["access_cookie"]["in"], "cookie");
    assert_eq!(schemes["access_cookie"]["name"], "__Host-access_token");
    assert_eq!(schemes["introspection_client"]["scheme"], "basic");
    let token_url = &schemes["oauth2_password"]["flows"]["password"]["tokenUrl"];
    assert_eq!(
        token_url.as_str().unwrap(),
        format!("{}/auth/token", doc["servers"][0]["url"].as_str().unwrap())
    );

    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/logout-all",
        "/auth/cookie/register",
        "/auth/cookie/login",
        "/auth/cookie/refresh",
        "/api/me",
        "/api/sessions",
        "/api/sessions/{id}",
        "/api/sessions/revoke-others",
        "/api/password",
        "/auth/verify-email",
        "/auth/verify-email/resend",
        "/auth/password-reset",
        "/auth/password-reset/confirm",
        "/auth/verify",
        "/auth/ws-ticket",
        "/ws",
        "/auth/token",
        "/auth/revoke",
        "/auth/introspect",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
        "/openapi.json",
        "/login",
        "/register",
        "/account",
        "/logout",
        "/account/sessions/end",
        "/account/sessions/end-others",
        "/account/password",
        "/forgot-password",
        "/reset-password",
        "/verify-email",
        "/static/app.css",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    // Every documented operation is routed (no 404), names only schemes the document has,
    // and documents at least one answer.
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let status = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap()
                .status();
            assert_ne!(status, StatusCode::NOT_FOUND, "{method} {path}");
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for name in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(name), "{method} {path}: {name}");
                }
            }
            assert!(!operation["responses"].as_object().unwrap().is_empty());
        }
    }
    // A method a route does not take is 405 with `Allow`, not 404.
    let response = app.client.get(app.url("/auth/login")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
}

/// schemathesis, from `target/schemathesis-venv` (tests/run.sh makes it), with
/// tests/openapi/schemathesis.toml. It signs in through `/auth/login` itself as `user`, and
/// introspects as the configured client.
async fn schemathesis(app: &TestApp, user: &TestUser, secret: &str, args: &[&str]) {
    let st = std::env::var("DOORWARD_SCHEMATHESIS").expect(
        "DOORWARD_SCHEMATHESIS: run the tests with bash tests/run.sh, which makes the venv",
    );
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/openapi/schemathesis.toml"
    );
    let reports = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(st);
    command
        .arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args(["--url", &app.address])
        .args([
            "--checks",
            "all",
            "--workers",
            "1",
            "--no-shrink",
            "--seed",
            "1",
        ])
        // Cases per operation; `--max-time` would instead fuzz until the time is spent.
        .args(["--max-examples", "60"])
        .args(["--report", "junit", "--report-dir"])
        .arg(reports.path())
        .args(args)
        .current_dir(reports.path())
        .env("DOORWARD_ST_EMAIL", &user.email)
        .env("DOORWARD_ST_PASSWORD", &user.password)
        .env("DOORWARD_ST_CLIENT_ID", "gateway")
        .env("DOORWARD_ST_CLIENT_SECRET", secret)
        .env("NO_PROXY", "*")
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .expect("schemathesis finishes within its time budget")
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("Tested: "), "{report}");
    assert!(!report.contains("Tested: 0"), "{report}");
    eprintln!(
        "{}",
        report.lines().rev().take(12).collect::<Vec<_>>().join("\n")
    );
}

/// Every operation, every check: no 5xx, every status, header, content type and body as the
/// document says. Forward-auth answers any method a proxy passes on, so the undeclared-method
/// check is run everywhere but there; the second run covers `/auth/verify` with the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure() {
    let secret = format!("introspection-{}", uuid::Uuid::new_v4().simple());
    // One client sends all of schemathesis's traffic, wrong passwords for the account it signs
    // in with included: the throttles (tests/api/throttling.rs) would lock it out for 15
    // minutes and leave the signed-in routes untested.
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("DOORWARD_INTROSPECTION_CLIENT_ID", "gateway"),
            ("DOORWARD_INTROSPECTION_CLIENT_SECRET", &secret),
            ("DOORWARD_SIGN_IN_RATE_PER_IP", "100000/1m"),
            ("DOORWARD_REGISTER_RATE_PER_IP", "100000/1m"),
            ("DOORWARD_FAILED_SIGN_INS_PER_IP", "100000"),
            ("DOORWARD_FAILED_SIGN_INS_PER_ACCOUNT", "100000"),
        ],
    )
    .await;
    let user = TestUser::generate();
    assert_eq!(app.register(&user).await.status(), StatusCode::CREATED);
    schemathesis(&app, &user, &secret, &["--exclude-path", "/auth/verify"]).await;
    schemathesis(
        &app,
        &user,
        &secret,
        &[
            "--include-path",
            "/auth/verify",
            "--exclude-checks",
            "unsupported_method",
        ],
    )
    .await;
}
