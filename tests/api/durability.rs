//! What survives a restart, and how the server starts (contract §1, §5).

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, assert_error, spawn_app, spawn_app_with, str_of};

async fn a_restart_keeps_registrations_rotations_and_revocations(backend: Backend) {
    let app = spawn_app_with(backend, &[("REFRESH_REUSE_GRACE", "0s")]).await;
    let (user, first) = app.signed_up_user().await;
    let rotated: Value = app.rotate(&first).await;
    let (_, other) = app.signed_up_user().await;
    assert_eq!(
        app.post_with_bearer("/auth/logout", str_of(&other, "access_token"), None)
            .await
            .status(),
        204
    );

    let app = app.restart().await;

    assert_eq!(
        app.login(&user).await.status(),
        200,
        "the registration survived"
    );
    assert_error(
        app.get_me(str_of(&other, "access_token")).await,
        401,
        "invalid_token",
    )
    .await;
    assert_eq!(
        app.get_me(str_of(&rotated, "access_token")).await.status(),
        200
    );
    let again = app.refresh(str_of(&rotated, "refresh_token")).await;
    assert_eq!(again.status(), 200, "the rotation survived");
    // The first token was rotated before the restart: presenting it is reuse.
    assert_error(
        app.refresh(str_of(&first, "refresh_token")).await,
        401,
        "invalid_grant",
    )
    .await;
}

async fn logout_all_survives_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let access = str_of(&pair, "access_token").to_owned();
    assert_eq!(
        app.post_with_bearer("/auth/logout-all", &access, None)
            .await
            .status(),
        204
    );
    let app = app.restart().await;
    assert_error(app.get_me(&access).await, 401, "invalid_token").await;
}

async fn a_revocation_on_one_instance_reaches_another(backend: Backend) {
    let first = spawn_app(backend).await;
    let second_settings: Vec<(String, String)> = first.settings.clone().into_iter().collect();
    let overrides: Vec<(&str, &str)> = second_settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let second = spawn_app_with(backend, &overrides).await;
    let (_, pair) = first.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    assert_eq!(
        second.get_me(access).await.status(),
        200,
        "the second instance shares the key"
    );
    assert_eq!(
        first
            .post_with_bearer("/auth/logout", access, None)
            .await
            .status(),
        204
    );
    // DOORWARD_SYNC_INTERVAL is 200ms in tests.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_error(second.get_me(access).await, 401, "invalid_token").await;
}

/// SQLite only: PostgreSQL never generates a key (see `a_bad_setting_stops_the_binary`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_generates_and_keeps_a_key_file() {
    let app = spawn_app_with(Backend::Sqlite, &[("JWT_SECRET", "")]).await;
    let (user, pair) = app.signed_up_user().await;
    let db_path = app.settings["DATABASE_URL"]
        .trim_start_matches("sqlite://")
        .to_owned();
    let key = std::path::Path::new(&db_path).with_file_name("doorward.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The database holds the bcrypt hashes: it and its WAL files are private too (0644 before).
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{db_path}{suffix}");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let app = app.restart().await;
    assert_eq!(
        app.get_me(str_of(&pair, "access_token")).await.status(),
        200,
        "same key after restart"
    );
    assert_eq!(app.login(&user).await.status(), 200);
}

/// The probe of issue 8: sign in with a 1 h TTL, sign out, restart with `ACCESS_TOKEN_TTL=2s`.
/// The same token answered 200 before (the restart forgot its revocation); it is refused now,
/// since no token may outlive the TTL in force.
async fn lowering_the_ttl_across_a_restart_resurrects_no_token(backend: Backend) {
    let app = spawn_app_with(backend, &[("ACCESS_TOKEN_TTL", "1h")]).await;
    let (_, pair) = app.signed_up_user().await;
    let access = str_of(&pair, "access_token").to_owned();
    let logout = app.post_with_bearer("/auth/logout", &access, None).await;
    assert_eq!(logout.status(), 204);
    assert_error(app.get_me(&access).await, 401, "invalid_token").await;
    // Past what a 2 s TTL (plus the 30 s leeway) would remember of a revocation.
    tokio::time::sleep(std::time::Duration::from_secs(33)).await;
    let app = app.restart_with(&[("ACCESS_TOKEN_TTL", "2s")]).await;
    assert_error(app.get_me(&access).await, 401, "invalid_token").await;
}

/// A revocation made by another instance after this one loaded its denylist, but before it
/// began serving, is still merged: the sync continues from where the load stopped in the
/// revocation log (it once started from a fresh clock minus a 30 s overlap, and missed this).
async fn a_revocation_between_the_load_and_the_first_sync_is_seen(backend: Backend) {
    let first = spawn_app(backend).await;
    let (_, pair) = first.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    let config = doorward::config::Config::from_lookup(|k| first.settings.get(k).cloned()).unwrap();
    let second = doorward::Application::build(config).await.unwrap();
    let port = second.port();
    let handle = second.handle();
    assert_eq!(
        first
            .post_with_bearer("/auth/logout", access, None)
            .await
            .status(),
        204
    );
    // The log is read by sequence, so no wait is needed to open a gap; a second makes sure
    // a clock-based sync (the old one started from a fresh `now`) would have missed it.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    tokio::spawn(second.run_until_stopped());
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let me = first
        .client
        .get(format!("http://127.0.0.1:{port}/api/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    handle.stop(true).await;
    assert_error(me, 401, "invalid_token").await;
}

both_backends!(
    a_restart_keeps_registrations_rotations_and_revocations,
    logout_all_survives_a_restart,
    a_revocation_on_one_instance_reaches_another,
    nothing_acknowledged_is_lost_to_kill_9,
    a_revocation_between_the_load_and_the_first_sync_is_seen,
    lowering_the_ttl_across_a_restart_resurrects_no_token,
);

/// The real binary, started with bad settings, exits non-zero with one line naming the setting.
#[test]
fn a_bad_setting_stops_the_binary() {
    let cases = [
        (vec![("ACCESS_TOKEN_TTL", "15 minutes")], "ACCESS_TOKEN_TTL"),
        (vec![("BCRYPT_COST", "99")], "BCRYPT_COST"),
        (vec![("REFRESH_REUSE_GRACE", "2m")], "REFRESH_REUSE_GRACE"),
        (
            vec![("DOORWARD_CORS_ORIGINS", "*")],
            "DOORWARD_CORS_ORIGINS",
        ),
        (
            vec![("DOORWARD_PUBLIC_URL", "http://example.com")],
            "DOORWARD_PUBLIC_URL",
        ),
        (
            vec![("DATABASE_URL", "postgres://127.0.0.1:1/none")],
            "JWT_SECRET",
        ),
        (vec![("JWT_SECRET", "too-short")], "JWT_SECRET"),
        (
            vec![("JWT_SECRET", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")],
            "JWT_SECRET",
        ),
        (
            vec![
                ("DOORWARD_BIND", "nowhere"),
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ],
            "DOORWARD_BIND",
        ),
        (
            vec![("DOORWARD_CORS_ORIGINS", "http://app.example.com")],
            "DOORWARD_CORS_ORIGINS",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (env, setting) in cases {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_doorward"))
            .current_dir(dir.path())
            .env_clear()
            .env("DOORWARD_BIND", "127.0.0.1:0")
            .env("DATABASE_URL", dir.path().join("doorward.db"))
            .envs(env)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{setting}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(setting), "{stderr}");
    }
}

/// A `.env` in a parent directory is never read: one planted in /tmp used to set the signing
/// key, and a token forged with it was accepted. A group- or world-writable `./.env` stops the
/// server at start.
#[tokio::test]
async fn only_a_private_dotenv_in_the_working_directory_is_read() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let planted = "planted-secret-0123456789abcdefghijklmnop";
    std::fs::write(
        parent.path().join(".env"),
        format!("JWT_SECRET={planted}\n"),
    )
    .unwrap();
    let cwd = parent.path().join("app");
    std::fs::create_dir(&cwd).unwrap();
    let database_url = format!("sqlite://{}", cwd.join("doorward.db").display());
    let (mut child, port) = start_binary_with(&database_url, &cwd, false);
    let forged = crate::helpers::sign_claims(
        &serde_json::json!({
            "iss": "doorward", "aud": "doorward", "sub": "u1", "email": "a@x.io",
            "role": "admin", "sid": uuid::Uuid::new_v4(), "jti": uuid::Uuid::new_v4(),
            "iat": chrono_now(), "nbf": chrono_now(), "exp": chrono_now() + 600,
        }),
        planted.as_bytes(),
    );
    let status = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/me"))
        .bearer_auth(&forged)
        .send()
        .await
        .map(|r| r.status().as_u16());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status.unwrap(), 401, "a token signed with the planted key");

    std::fs::write(cwd.join(".env"), "BCRYPT_COST=4\n").unwrap();
    std::fs::set_permissions(cwd.join(".env"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_doorward"))
        .current_dir(&cwd)
        .env_clear()
        .env("DATABASE_URL", &database_url)
        .env("DOORWARD_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains(".env"));
}

/// SIGTERM: the listener closes at once, a request still arriving 2.5 s later is answered
/// (with a 1 s shutdown timeout it was cut off: tried), and the process exits 0 within the
/// shutdown timeout (5 s).
#[test]
fn sigterm_answers_the_request_in_flight_then_exits_0() {
    use std::io::{Read, Write};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("doorward.db").display());
    let (mut server, port) = start_binary(&database_url, dir.path());
    let body = r#"{"email":"in-flight@example.com","password":"a long enough password"}"#;
    let (first, rest) = body.split_at(20);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let term = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no new connection after SIGTERM"
    );
    std::thread::sleep(Duration::from_millis(2000));
    stream.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
}

/// The stylesheet is built into the binary: a `static/` folder in the working directory is never
/// served (before, a deployed binary served whatever folder it started in).
#[tokio::test]
async fn the_binary_serves_its_own_stylesheet_wherever_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("static")).unwrap();
    std::fs::write(dir.path().join("static/app.css"), "planted").unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("doorward.db").display());
    let (mut child, port) = start_binary(&database_url, dir.path());
    let response = reqwest::get(format!("http://127.0.0.1:{port}/static/app.css")).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let response = response.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let body = response.text().await.unwrap();
    assert_eq!(body, include_str!("../../static/app.css"));
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Starts the real binary on `database_url` and returns it with the port it bound.
fn start_binary(database_url: &str, dir: &std::path::Path) -> (RunningBinary, u16) {
    start_binary_with(database_url, dir, true)
}

/// As [`start_binary`]; without `with_secret`, an SQLite server makes its own key file.
fn start_binary_with(
    database_url: &str,
    dir: &std::path::Path,
    with_secret: bool,
) -> (RunningBinary, u16) {
    let (child, port, _log) = start_binary_logging(database_url, dir, with_secret);
    (child, port)
}

/// The real binary, stopped by its pid when the test ends, passed or failed.
pub struct RunningBinary(std::process::Child);

impl std::ops::Deref for RunningBinary {
    type Target = std::process::Child;

    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for RunningBinary {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server's log lines, as it writes them.
pub type ServerLog = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// As [`start_binary_with`], also keeping every line the server logs at `info`.
pub fn start_binary_logging(
    database_url: &str,
    dir: &std::path::Path,
    with_secret: bool,
) -> (RunningBinary, u16, ServerLog) {
    start_binary_configured(database_url, dir, with_secret, &[])
}

/// As [`start_binary_logging`], with more settings (or other values for the test's own:
/// `BCRYPT_COST`, `RUST_LOG`).
pub fn start_binary_configured(
    database_url: &str,
    dir: &std::path::Path,
    with_secret: bool,
    settings: &[(&str, &str)],
) -> (RunningBinary, u16, ServerLog) {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_doorward"));
    command
        .current_dir(dir)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("DOORWARD_BIND", "127.0.0.1:0");
    if with_secret {
        command.env("JWT_SECRET", "kill-nine-test-secret-0123456789abcdef");
    }
    let mut child = command
        .env("BCRYPT_COST", "4")
        .env("RUST_LOG", "info")
        .envs(settings.iter().copied())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines.next().expect("the server logs its port").unwrap();
        if let Some(rest) = line.split("listening on port ").nth(1) {
            break rest.split(',').next().unwrap().parse().unwrap();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    let log = ServerLog::default();
    let kept = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    (RunningBinary(child), port, log)
}

/// `kill -9` right after the answers: nothing acknowledged may be lost.
async fn nothing_acknowledged_is_lost_to_kill_9(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _database) =
        tokio::task::block_in_place(|| crate::helpers::fresh_database(backend, &dir));
    let (mut server, port) =
        tokio::task::block_in_place(|| start_binary(&database_url, dir.path()));
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let user = crate::helpers::TestUser::generate();
    let body = serde_json::json!({"email": user.email, "password": user.password});
    let pair: Value = client
        .post(format!("{base}/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated: Value = client
        .post(format!("{base}/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": pair["refresh_token"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // A second session, signed out: its revocation must survive too.
    let second: Value = client
        .post(format!("{base}/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let logout = client
        .post(format!("{base}/auth/logout"))
        .bearer_auth(str_of(&second, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();

    let (mut server, port) =
        tokio::task::block_in_place(|| start_binary(&database_url, dir.path()));
    let base = format!("http://127.0.0.1:{port}");
    let login = client
        .post(format!("{base}/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the registration survived");
    let me = client
        .get(format!("{base}/api/me"))
        .bearer_auth(str_of(&second, "access_token"))
        .send()
        .await
        .unwrap();
    assert_error(me, 401, "invalid_token").await;
    let refresh = client
        .post(format!("{base}/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": rotated["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 200, "the rotation survived");
    server.kill().unwrap();
    server.wait().unwrap();
}
