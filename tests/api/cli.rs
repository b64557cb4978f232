//! The operator's command line: the real `doorward` binary, run against a running server's
//! database, whose effects the server must honour within `DOORWARD_SYNC_INTERVAL`.

use std::process::Output;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::both_backends;
use crate::embedded::{spawn_tasks_app, wait_for_status};
use crate::helpers::Backend;
use crate::helpers::{TestApp, TestUser, assert_error, claims_of, spawn_app, str_of};

both_backends!(
    an_operator_creates_accounts_that_sign_in,
    a_role_set_from_the_command_line_reaches_the_running_server,
    a_disabled_account_is_signed_out_and_cannot_sign_in_until_enabled,
    revoke_ends_one_session_or_every_session_of_a_user,
    purge_deletes_what_can_no_longer_matter,
);

/// Runs `doorward args…` with only the app's settings in its environment (no `.env`: it runs
/// in an empty directory), `stdin` piped in; its output.
async fn doorward(app: &TestApp, args: &[&str], stdin: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorward"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .envs(&app.settings)
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the command finishes within a minute")
        .unwrap()
}

/// Runs a command that must succeed; what it printed.
pub(crate) async fn succeeds(app: &TestApp, args: &[&str], stdin: &str) -> String {
    let output = doorward(app, args, stdin).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// Runs a command that must fail with exit code 1; what it printed on stderr.
async fn fails(app: &TestApp, args: &[&str], stdin: &str) -> String {
    let output = doorward(app, args, stdin).await;
    assert_eq!(output.status.code(), Some(1), "{args:?} did not fail");
    assert!(output.stdout.is_empty());
    String::from_utf8(output.stderr).unwrap()
}

/// Polls `/api/me` with `token` until it answers `status`, within a few sync intervals.
async fn wait_for_me(app: &TestApp, token: &str, status: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = app.get_me(token).await.status();
        if got == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/api/me still {got}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_explains_itself_without_any_settings() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["user", "--help"],
        &["user", "create", "--help"],
        &["user", "set-role", "--help"],
        &["user", "disable", "--help"],
        &["user", "enable", "--help"],
        &["revoke", "--help"],
        &["purge", "--help"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_doorward"))
            .args(args)
            .env_clear()
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{args:?}");
        let help = String::from_utf8(output.stdout).unwrap();
        assert!(help.contains("Usage: doorward"), "{args:?}: {help}");
    }
    // Misuse is refused by the parser (exit 2) before any setting is read.
    for args in [
        &["revoke"][..],
        &["revoke", "--user", "a@example.com", "--session", "s"],
        &[
            "user",
            "set-role",
            "--email",
            "a@example.com",
            "--role",
            "root",
        ],
        &[
            "user",
            "create",
            "--email",
            "a@example.com",
            "--password",
            "secret",
        ],
        &["frobnicate"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_doorward"))
            .args(args)
            .env_clear()
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}

async fn an_operator_creates_accounts_that_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = TestUser::generate();
    let printed = succeeds(
        &app,
        &["user", "create", "--email", &user.email, "--name", "Ada"],
        &format!("{}\n", user.password),
    )
    .await;
    assert!(printed.contains(&user.email), "{printed}");

    let login = app.login(&user).await;
    assert_eq!(login.status(), StatusCode::OK);
    let pair: Value = login.json().await.unwrap();
    assert_eq!(claims_of(str_of(&pair, "access_token"))["role"], "user");
    let me: Value = app
        .get_me(str_of(&pair, "access_token"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["name"], "Ada");

    // `--admin`, the password piped with a CRLF ending as a Windows script would.
    let admin = TestUser::generate();
    succeeds(
        &app,
        &["user", "create", "--email", &admin.email, "--admin"],
        &format!("{}\r\n", admin.password),
    )
    .await;
    let pair: Value = app.login(&admin).await.json().await.unwrap();
    assert_eq!(claims_of(str_of(&pair, "access_token"))["role"], "admin");

    // The registration rules hold here too, and nothing is stored when they fail.
    let weak = TestUser::generate();
    let refused = fails(&app, &["user", "create", "--email", &weak.email], "short\n").await;
    assert!(refused.starts_with("doorward: password:"), "{refused}");
    assert!(app.stored_user(&weak.email).await.is_none());
    let taken = fails(
        &app,
        &["user", "create", "--email", &user.email.to_uppercase()],
        &format!("{}\n", user.password),
    )
    .await;
    assert!(taken.contains("already registered"), "{taken}");
    let bad_email = fails(&app, &["user", "create", "--email", "nobody"], "x\n").await;
    assert!(bad_email.starts_with("doorward: email:"), "{bad_email}");
}

async fn a_role_set_from_the_command_line_reaches_the_running_server(backend: Backend) {
    let app = spawn_tasks_app(backend).await;
    let (user, pair) = app.signed_up_user().await;
    let bearer = format!("Bearer {}", str_of(&pair, "access_token"));
    let stats = || {
        app.client
            .get(app.url("/api/admin/stats"))
            .header("authorization", bearer.clone())
            .send()
    };
    assert_eq!(stats().await.unwrap().status(), StatusCode::FORBIDDEN);

    let printed = succeeds(
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
    assert!(printed.contains("is now admin"), "{printed}");
    wait_for_status(&stats, 200).await;

    // By account id as well as by email.
    let id = claims_of(str_of(&pair, "access_token"))["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    succeeds(
        &app,
        &["user", "set-role", "--email", &id, "--role", "user"],
        "",
    )
    .await;
    wait_for_status(&stats, 403).await;

    let unknown = fails(
        &app,
        &[
            "user",
            "set-role",
            "--email",
            "nobody@example.com",
            "--role",
            "admin",
        ],
        "",
    )
    .await;
    assert!(
        unknown.contains("no account is nobody@example.com"),
        "{unknown}"
    );
}

async fn a_disabled_account_is_signed_out_and_cannot_sign_in_until_enabled(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, pair) = app.signed_up_user().await;
    let (_, bystander) = app.signed_up_user().await;

    succeeds(&app, &["user", "disable", "--email", &user.email], "").await;
    wait_for_me(
        &app,
        str_of(&pair, "access_token"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.assert_session_revoked(&pair).await;
    assert_error(app.login(&user).await, 401, "invalid_credentials").await;
    let me = app.get_me(str_of(&bystander, "access_token")).await;
    assert_eq!(me.status(), StatusCode::OK);

    succeeds(&app, &["user", "enable", "--email", &user.email], "").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let login = app.login(&user).await;
        if login.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused: {}",
            login.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Enabling does not bring the old sessions back.
    app.assert_session_revoked(&pair).await;
}

async fn revoke_ends_one_session_or_every_session_of_a_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, first) = app.signed_up_user().await;
    let second: Value = app.login(&user).await.json().await.unwrap();
    let third: Value = app.login(&user).await.json().await.unwrap();
    let sid = claims_of(str_of(&first, "access_token"))["sid"]
        .as_str()
        .unwrap()
        .to_owned();

    let printed = succeeds(&app, &["revoke", "--session", &sid], "").await;
    assert!(printed.contains(&sid), "{printed}");
    wait_for_me(
        &app,
        str_of(&first, "access_token"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.assert_session_revoked(&first).await;
    let me = app.get_me(str_of(&second, "access_token")).await;
    assert_eq!(me.status(), StatusCode::OK);

    // An ended session cannot be ended twice, nor one that never was.
    let again = fails(&app, &["revoke", "--session", &sid], "").await;
    assert!(again.contains("no live session"), "{again}");
    fails(&app, &["revoke", "--session", "not-a-session"], "").await;

    succeeds(&app, &["revoke", "--user", &user.email], "").await;
    wait_for_me(
        &app,
        str_of(&second, "access_token"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.assert_session_revoked(&second).await;
    app.assert_session_revoked(&third).await;
    // Signing in afterwards works: the cut-off is in the past for new tokens.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh: Value = app.login(&user).await.json().await.unwrap();
    let me = app.get_me(str_of(&fresh, "access_token")).await;
    assert_eq!(me.status(), StatusCode::OK);
}

async fn purge_deletes_what_can_no_longer_matter(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let logout = app
        .post_with_bearer("/auth/logout", str_of(&pair, "access_token"), None)
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    // Age the sign-out's log entries past their time, as an hour would.
    let aged = app
        .operator_sql("UPDATE revocation_log SET forget_at = 1")
        .await;
    assert!(aged >= 1);

    let printed = succeeds(&app, &["purge"], "").await;
    let deleted: usize = printed
        .strip_prefix("purged ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output: {printed}"));
    assert!(deleted >= aged, "{printed}");
    assert_eq!(
        app.operator_sql("UPDATE revocation_log SET forget_at = 2 WHERE forget_at = 1")
            .await,
        0
    );
    assert_eq!(
        succeeds(&app, &["purge"], "").await,
        "purged 0 expired row(s)\n"
    );
}
