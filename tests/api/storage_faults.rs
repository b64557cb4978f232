//! Storage failing under a running server (issue 10): an SQLite file that turns read-only, a
//! disk that fills up, a PostgreSQL that restarts mid-traffic. Each is 503 `unavailable` (never
//! 500) while it lasts, nothing the server acknowledged is lost, and service resumes by itself.
//!
//! These tests need root, as `tests/run.sh` runs them on these machines: `chattr +i` makes the
//! SQLite file read-only even for root, a small tmpfs is the disk that fills, and the restarted
//! PostgreSQL is a cluster of the test's own (the shared one serves every other test).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestUser, spawn_app_with, str_of};

/// Runs a system command the test needs, with a message saying why it failed.
fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e} (these tests need root)"));
    assert!(status.success(), "{program} {args:?}: {status}");
}

/// What one request was answered, and whether the answer acknowledges a change.
#[derive(Default)]
struct Ledger {
    /// Registrations answered 201: each must sign in afterwards.
    registered: Vec<TestUser>,
    /// Access tokens whose sign-out was answered 204: each must stay refused.
    signed_out: Vec<String>,
    /// Tokens whose session is still signed in: they must still verify.
    signed_in: Vec<String>,
    /// Every 503 seen.
    unavailable: usize,
}

impl Ledger {
    /// One user's round: register, sign in, `/api/me`, sign out; every answer a success or 503.
    async fn round(&mut self, app: &TestApp) {
        let user = TestUser::generate();
        let registered = app.register(&user).await;
        if !self.accept(registered.status(), StatusCode::CREATED, "register") {
            return;
        }
        self.registered.push(user);
        let Some(user) = self.registered.last() else {
            return;
        };
        let login = app.login(user).await;
        if !self.accept(login.status(), StatusCode::OK, "login") {
            return;
        }
        let pair: Value = login.json().await.unwrap();
        let access = str_of(&pair, "access_token").to_owned();
        assert_eq!(
            app.get_me(&access).await.status(),
            200,
            "verified from memory"
        );
        let logout = app.post_with_bearer("/auth/logout", &access, None).await;
        if self.accept(logout.status(), StatusCode::NO_CONTENT, "logout") {
            self.signed_out.push(access);
        } else {
            self.signed_in.push(access);
        }
    }

    /// True for `expected`; a 503 is counted; anything else fails the test.
    fn accept(&mut self, status: StatusCode, expected: StatusCode, what: &str) -> bool {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            self.unavailable += 1;
            return false;
        }
        assert_eq!(status, expected, "{what} during a storage fault");
        true
    }

    /// Runs rounds until `until` says stop (checked after each round), at most `limit`.
    async fn rounds_until(
        &mut self,
        app: &TestApp,
        limit: Duration,
        until: impl Fn(&Self) -> bool,
    ) {
        let started = Instant::now();
        while started.elapsed() < limit {
            self.round(app).await;
            if until(self) {
                return;
            }
        }
        panic!("the condition did not hold within {limit:?}");
    }

    /// Everything acknowledged held: every registered user signs in, every signed-out token is
    /// refused, every token still signed in verifies.
    async fn check(&self, app: &TestApp) {
        for user in &self.registered {
            assert_eq!(app.login(user).await.status(), 200, "{} lost", user.email);
        }
        for token in &self.signed_out {
            assert_eq!(app.get_me(token).await.status(), 401, "a sign-out was lost");
        }
        for token in &self.signed_in {
            assert_eq!(app.get_me(token).await.status(), 200);
        }
    }
}

/// Starts doorward on `database_url`, its per-address limits off: every request here comes
/// from 127.0.0.1, and what is tested is the storage, not the throttle.
async fn app_on(database_url: &str) -> TestApp {
    let settings = [
        ("DATABASE_URL", database_url),
        ("DOORWARD_SIGN_IN_RATE_PER_IP", "off"),
        ("DOORWARD_REGISTER_RATE_PER_IP", "off"),
    ];
    // The backend follows DATABASE_URL; `Sqlite` only spares the shared cluster a database.
    spawn_app_with(Backend::Sqlite, &settings).await
}

/// Starts doorward on the SQLite file `dir/doorward.db`.
async fn sqlite_app_in(dir: &Path) -> TestApp {
    app_on(&format!("sqlite://{}", dir.join("doorward.db").display())).await
}

/// Files made immutable (`chattr +i`: read-only even for root), made writable again on drop.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(paths: Vec<PathBuf>) -> Self {
        let guard = Self(paths);
        guard.chattr("+i");
        guard
    }

    fn chattr(&self, flag: &str) {
        let mut args = vec![flag];
        args.extend(self.0.iter().filter_map(|p| p.to_str()));
        run("chattr", &args);
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        self.chattr("-i");
    }
}

/// The database file (and its write-ahead log) turning read-only under a running server: the
/// kind of failure a disk remounted read-only after errors gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_sqlite_file_is_503_then_heals() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_app_in(dir.path()).await;
    let mut ledger = Ledger::default();
    for _ in 0..3 {
        ledger.round(&app).await;
    }
    assert_eq!(ledger.unavailable, 0);

    let db = dir.path().join("doorward.db");
    let read_only = Immutable::set(vec![db.clone(), db.with_extension("db-wal")]);
    ledger
        .rounds_until(&app, Duration::from_secs(30), |l| l.unavailable >= 3)
        .await;
    drop(read_only);

    let before = ledger.unavailable;
    ledger
        .rounds_until(&app, Duration::from_secs(30), |l| !l.signed_out.is_empty())
        .await;
    for _ in 0..3 {
        ledger.round(&app).await;
    }
    assert_eq!(ledger.unavailable, before, "it healed by itself");
    ledger.check(&app).await;
    // And what was acknowledged is on disk, not only in this process's memory.
    let app = app.restart().await;
    ledger.check(&app).await;
}

/// A small tmpfs holding the database, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: PathBuf, size: &str) -> Self {
        std::fs::create_dir_all(&at).unwrap();
        let option = format!("size={size}");
        run(
            "mount",
            &["-t", "tmpfs", "-o", &option, "tmpfs", at.to_str().unwrap()],
        );
        Self(at)
    }

    /// Writes a filler file until the disk refuses more.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 16 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.write_all(&[0; 512]);
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The disk filling up: SQLite answers "database or disk is full", doorward 503, until space
/// is freed. The WAL may have room for a few more writes first, so rounds run until the 503s
/// come; those acknowledged meanwhile must all be kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_503_then_heals() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(dir.path().join("disk"), "4m");
    let app = sqlite_app_in(&disk.0).await;
    let mut ledger = Ledger::default();
    for _ in 0..3 {
        ledger.round(&app).await;
    }

    let filler = disk.fill();
    ledger
        .rounds_until(&app, Duration::from_secs(60), |l| l.unavailable >= 3)
        .await;
    std::fs::remove_file(filler).unwrap();

    let before = ledger.unavailable;
    let registered = ledger.registered.len();
    ledger
        .rounds_until(&app, Duration::from_secs(30), |l| {
            l.registered.len() > registered + 2 && l.unavailable == before
        })
        .await;
    ledger.check(&app).await;
    let app = app.restart().await;
    ledger.check(&app).await;
    drop(app);
}

/// A PostgreSQL cluster of this test's own, stopped and removed on drop.
struct OwnCluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnCluster {
    fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("doorward-pg-restart")
            .tempdir()
            .unwrap();
        let path = dir.path().to_str().unwrap().to_owned();
        run("chmod", &["755", &path]);
        if is_root() {
            run("chown", &["postgres", &path]);
        }
        let data = format!("{path}/data");
        as_postgres(&["initdb", "--auth=trust", "-U", "postgres", "-D", &data]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self { dir, port };
        cluster.pg_ctl("start");
        cluster
    }

    fn pg_ctl(&self, action: &str) {
        let path = self.dir.path().to_str().unwrap();
        let (data, log) = (format!("{path}/data"), format!("{path}/log"));
        let options = format!(
            "-p {} -k {path} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        match action {
            "start" => as_postgres(&[
                "pg_ctl", "-D", &data, "-w", "-l", &log, "-o", &options, "start",
            ]),
            _ => as_postgres(&["pg_ctl", "-D", &data, "-m", "fast", "-w", action]),
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let data = format!("{}/data", self.dir.path().display());
        let _ = Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                "pg_ctl",
                "-D",
                &data,
                "-m",
                "immediate",
            ])
            .arg("stop")
            .stdout(std::process::Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// PostgreSQL's programs refuse to run as root: as root they run as the `postgres` user.
fn as_postgres(command: &[&str]) {
    let output = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args(command)
            .output()
    } else {
        Command::new(command[0]).args(&command[1..]).output()
    };
    let output = output.unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// PostgreSQL stopped and started again while users register, sign in and sign out: 503 while
/// it is down, never 500, the same server serving again once it is back, with every
/// acknowledged registration and sign-out kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_traffic_is_503_then_heals() {
    let cluster = tokio::task::block_in_place(OwnCluster::start);
    let app = app_on(&cluster.url()).await;
    let mut ledger = Ledger::default();
    for _ in 0..3 {
        ledger.round(&app).await;
    }
    assert_eq!(ledger.unavailable, 0);

    // The restart happens on another thread while this one keeps the traffic going.
    let cluster = std::sync::Arc::new(cluster);
    let restart = std::thread::spawn({
        let cluster = std::sync::Arc::clone(&cluster);
        move || {
            std::thread::sleep(Duration::from_millis(300));
            let stopped = Instant::now();
            cluster.pg_ctl("stop");
            // Longer than a request waits for a connection (3 s), so some get their 503.
            std::thread::sleep(Duration::from_secs(6));
            cluster.pg_ctl("start");
            stopped.elapsed()
        }
    });
    let started = Instant::now();
    while !restart.is_finished() && started.elapsed() < Duration::from_secs(60) {
        ledger.round(&app).await;
    }
    let downtime = restart.join().unwrap();
    assert!(ledger.unavailable > 0, "no 503 in {downtime:?} of downtime");

    let before = (ledger.unavailable, ledger.registered.len());
    ledger
        .rounds_until(&app, Duration::from_secs(30), |l| {
            l.registered.len() >= before.1 + 3 && !l.signed_out.is_empty()
        })
        .await;
    let healed_at = ledger.unavailable;
    for _ in 0..3 {
        ledger.round(&app).await;
    }
    assert_eq!(ledger.unavailable, healed_at, "it healed by itself");
    ledger.check(&app).await;
    let other = app.another_instance().await;
    ledger.check(&other).await;
    drop((other, app));
    drop(cluster);
}
