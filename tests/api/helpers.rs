//! Test harness: a real doorward on a real TCP port (port 0), over a fresh SQLite file or a
//! fresh PostgreSQL database of its own, spoken to over HTTP with reqwest.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (a server URL; `tests/run.sh` starts a throwaway
//! cluster and sets it). Each test creates `doorward_test_<uuid>` on that server, and drops it
//! when the test ends.

use std::collections::{BTreeMap, HashMap};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use diesel::{Connection, PgConnection, RunQueryDsl};
use doorward::Application;
use doorward::config::Config;
use doorward::internals::UserRow;
use doorward::internals::{Db, repo};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: HashMap<String, String>,
    pub jwt_secret: String,
    handle: ServerHandle,
    _dir: TempDir,
    _database: Option<DropDatabase>,
}

/// Drops a test's PostgreSQL database when the test ends, passed or failed. `WITH (FORCE)`
/// closes the connections a server still holds.
pub struct DropDatabase {
    server: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Its own thread: a drop may run on an async worker, which must not block.
        let dropped = std::thread::spawn(move || {
            let mut admin = PgConnection::establish(&server).ok()?;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .ok()
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// A database of its own for one test, and the settings that point at it.
pub fn fresh_database(backend: Backend, dir: &TempDir) -> (String, Option<DropDatabase>) {
    match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.path().join("doorward.db").display()),
            None,
        ),
        Backend::Postgres => {
            let server = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
                panic!(
                    "TEST_DATABASE_URL is not set: run the suite with tests/run.sh, which starts \
                     a throwaway PostgreSQL, or point it at a server you run"
                )
            });
            let name = format!("doorward_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = PgConnection::establish(&server).expect("connect to TEST_DATABASE_URL");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .expect("create the test database");
            let (base, _) = server
                .rsplit_once('/')
                .expect("TEST_DATABASE_URL has a path");
            (
                format!("{base}/{name}"),
                Some(DropDatabase {
                    server: server.clone(),
                    name,
                }),
            )
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// Starts a server with the test defaults, then `overrides`.
pub async fn spawn_app_with(backend: Backend, overrides: &[(&str, &str)]) -> TestApp {
    let (settings, dir, database) = test_settings(backend, overrides);
    start(settings, dir, database).await
}

/// The test defaults on a fresh database, then `overrides`.
pub fn test_settings(
    backend: Backend,
    overrides: &[(&str, &str)],
) -> (HashMap<String, String>, TempDir, Option<DropDatabase>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (database_url, database) = tokio::task::block_in_place(|| fresh_database(backend, &dir));
    let jwt_secret = format!("test-secret-{}", uuid::Uuid::new_v4().simple());
    let outbox = dir.path().join("outbox");
    let outbox = outbox.to_str().expect("utf-8 temp path");
    let mut settings: HashMap<String, String> = [
        ("DATABASE_URL", database_url.as_str()),
        ("DOORWARD_BIND", "127.0.0.1:0"),
        ("JWT_SECRET", jwt_secret.as_str()),
        ("BCRYPT_COST", "4"),
        ("DOORWARD_WORKERS", "2"),
        ("DOORWARD_SYNC_INTERVAL", "200ms"),
        ("DOORWARD_MAIL_OUTBOX", outbox),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in overrides {
        settings.insert((*k).to_owned(), (*v).to_owned());
    }
    (settings, dir, database)
}

async fn start(
    settings: HashMap<String, String>,
    dir: TempDir,
    database: Option<DropDatabase>,
) -> TestApp {
    let config = Config::from_lookup(|k| settings.get(k).cloned()).expect("valid test config");
    let app = Application::build(config).await.expect("server starts");
    let port = app.port();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp::serving(port, handle, settings, dir, database)
}

impl TestApp {
    /// The test's view of a server already running on `port`.
    pub fn serving(
        port: u16,
        handle: ServerHandle,
        settings: HashMap<String, String>,
        dir: TempDir,
        database: Option<DropDatabase>,
    ) -> TestApp {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            client,
            jwt_secret: settings.get("JWT_SECRET").cloned().unwrap_or_default(),
            settings,
            handle,
            _dir: dir,
            _database: database,
        }
    }
}

/// A user registered through the API.
pub struct TestUser {
    pub email: String,
    pub password: String,
}

impl TestUser {
    pub fn generate() -> Self {
        Self {
            email: format!("user-{}@example.com", uuid::Uuid::new_v4().simple()),
            password: format!("pw-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

impl TestApp {
    /// Stops this server and starts another on the same database and settings.
    pub async fn restart(self) -> TestApp {
        self.restart_with(&[]).await
    }

    /// As [`Self::restart`], changing some settings.
    pub async fn restart_with(self, overrides: &[(&str, &str)]) -> TestApp {
        self.handle.stop(true).await;
        let mut settings = self.settings;
        for (k, v) in overrides {
            settings.insert((*k).to_owned(), (*v).to_owned());
        }
        start(settings, self._dir, self._database).await
    }

    /// A second instance on the same database and settings, as in a scaled-out deployment.
    pub async fn another_instance(&self) -> TestApp {
        start(
            self.settings.clone(),
            tempfile::tempdir().expect("tempdir"),
            None,
        )
        .await
    }

    /// A pool on this test's database, as another program (an operator's tool) would open.
    pub fn database(&self) -> Db {
        let config = Config::from_lookup(|k| self.settings.get(k).cloned()).expect("config");
        tokio::task::block_in_place(|| Db::connect(&config.database)).expect("db")
    }

    /// Runs one SQL statement on this test's database, as an operator would with psql.
    pub async fn operator_sql(&self, statement: &str) -> usize {
        let statement = statement.to_owned();
        self.database()
            .run(move |conn| diesel::sql_query(statement).execute(conn))
            .await
            .expect("operator statement")
    }

    /// The links of the mails in the outbox sent to `to`, oldest first, that point at `path`
    /// (`/verify-email`, `/reset-password`). The mails may be sent just after the answer, so
    /// this waits up to 5 s for at least `at_least` of them.
    pub async fn mailed_links(&self, to: &str, path: &str, at_least: usize) -> Vec<String> {
        let outbox = std::path::PathBuf::from(&self.settings["DOORWARD_MAIL_OUTBOX"]);
        let prefix = format!("{}{path}?token=", self.public_url());
        for _ in 0..100 {
            let mut mails: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(&outbox)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                        .filter_map(|e| {
                            let modified = e.metadata().ok()?.modified().ok()?;
                            Some((modified, std::fs::read_to_string(e.path()).ok()?))
                        })
                        .collect()
                })
                .unwrap_or_default();
            mails.sort();
            let links: Vec<String> = mails
                .iter()
                .filter(|(_, mail)| {
                    mail.lines()
                        .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to))
                })
                .flat_map(|(_, mail)| {
                    mail.lines()
                        .map(str::trim_end)
                        .filter(|l| l.starts_with(&prefix))
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
            if links.len() >= at_least {
                return links;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {at_least} mails to {to} with {path} links in {outbox:?}");
    }

    /// The origin the server calls itself by (`DOORWARD_PUBLIC_URL`'s default).
    pub fn public_url(&self) -> String {
        self.address.replace("127.0.0.1", "localhost")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Reads a user row straight from the database, to check what was stored.
    pub async fn stored_user(&self, email: &str) -> Option<UserRow> {
        let email = email.to_owned();
        self.database()
            .run(move |conn| repo::find_user_by_email(conn, &email))
            .await
            .expect("query")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_with_bearer(
        &self,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.post(self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send().await.expect("request")
    }

    pub async fn register(&self, user: &TestUser) -> Response {
        self.post_json(
            "/auth/register",
            &json!({"email": user.email, "password": user.password}),
        )
        .await
    }

    pub async fn login(&self, user: &TestUser) -> Response {
        self.post_json(
            "/auth/login",
            &json!({"email": user.email, "password": user.password}),
        )
        .await
    }

    /// Registers a fresh user and returns it with its first TokenPair.
    pub async fn signed_up_user(&self) -> (TestUser, Value) {
        let user = TestUser::generate();
        let response = self.register(&user).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        (user, response.json().await.expect("json"))
    }

    /// Registers a fresh user through the cookie route; the jar holds both cookies.
    pub async fn cookie_user(&self) -> (TestUser, CookieJar) {
        let user = TestUser::generate();
        let response = self
            .post_json(
                "/auth/cookie/register",
                &json!({"email": user.email, "password": user.password}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let mut jar = CookieJar::default();
        jar.absorb(response.headers());
        (user, jar)
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/auth/refresh", &json!({"refresh_token": refresh_token}))
            .await
    }

    /// Rotates a TokenPair's refresh token, asserting success; returns the new pair.
    pub async fn rotate(&self, pair: &Value) -> Value {
        let response = self.refresh(str_of(pair, "refresh_token")).await;
        assert_eq!(response.status(), StatusCode::OK, "rotation");
        response.json().await.expect("json")
    }

    /// Asserts a TokenPair's session is over: its refresh token is refused, and so is its
    /// access token.
    pub async fn assert_session_revoked(&self, pair: &Value) {
        let refresh = self.refresh(str_of(pair, "refresh_token")).await;
        assert_error(refresh, 401, "invalid_grant").await;
        let me = self.get_me(str_of(pair, "access_token")).await;
        assert_error(me, 401, "invalid_token").await;
    }

    pub async fn get_me(&self, token: &str) -> Response {
        self.get_with_headers("/api/me", &[("authorization", &format!("Bearer {token}"))])
            .await
    }

    pub async fn get_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        self.client
            .get(self.url(path))
            .headers(map)
            .send()
            .await
            .expect("request")
    }
}

/// A string field of a JSON body.
pub fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {body}"))
}

/// Asserts the status and the contract's error body; returns the body.
pub async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status for {code}");
    let body: Value = response.json().await.expect("json error body");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

/// The `WWW-Authenticate` header of a response.
pub fn challenge(response: &Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default()
}

/// Signs arbitrary claims with `secret` (HS256), to forge tokens the server must judge.
pub fn sign_claims(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("sign")
}

/// The claims of a token, unverified, to build forgeries from real ones.
pub fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("claims json")
}

/// A cookie jar that, like a browser on localhost, sends `Secure` cookies over plain HTTP
/// (reqwest's own store will not send them to `http://127.0.0.1`).
#[derive(Default, Clone, Debug)]
pub struct CookieJar(pub BTreeMap<String, String>);

impl CookieJar {
    /// Applies every `Set-Cookie` of a response: `Max-Age=0` or an empty value removes.
    pub fn absorb(&mut self, headers: &HeaderMap) {
        for set in set_cookies(headers) {
            let first = set.split(';').next().unwrap_or_default();
            let (name, value) = first.split_once('=').expect("name=value");
            let removed = value.is_empty()
                || set
                    .split(';')
                    .any(|attr| attr.trim().eq_ignore_ascii_case("max-age=0"));
            if removed {
                self.0.remove(name.trim());
            } else {
                self.0.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }

    /// The `Cookie` header a browser would send.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Deref for CookieJar {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for CookieJar {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// Every `Set-Cookie` header of a response.
pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect()
}

/// Runs `tests/<script>` with the test venv's Python (`bash tests/run.sh` makes it: PyJWT and
/// prometheus_client, the outside readers of what doorward serves), `input` on its stdin; its
/// output.
pub fn run_test_python(script: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let python = std::env::var("DOORWARD_TEST_PYTHON")
        .expect("DOORWARD_TEST_PYTHON: run the tests with bash tests/run.sh, which makes the venv");
    let script = format!("{}/tests/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .env("NO_PROXY", "*")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}
