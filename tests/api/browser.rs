//! The pages in a real browser: headless Chromium driven over WebDriver by fantoccini.
//!
//! `tests/run.sh` installs Debian's `chromium` and `chromium-driver` when missing, starts
//! chromedriver and exports `CHROMEDRIVER_URL`; without it these tests fail (never skip). Each
//! test gets its own server and its own browser with a fresh profile, since cookies ignore
//! ports. Every page visited is saved under `target/screenshots/`. They run on SQLite only: the
//! pages' behaviour on both databases is covered over HTTP in `pages.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{Backend, TestApp, TestUser, claims_of, sign_claims, spawn_app};

const ACCESS: &str = "__Host-access_token";
const REFRESH: &str = "__Host-refresh_token";

/// One browser, with its own profile, pointed at one server.
struct Chromium {
    client: Client,
    app: TestApp,
    test: &'static str,
    shots: usize,
    _profile: TempDir,
}

fn chromedriver_url() -> String {
    std::env::var("CHROMEDRIVER_URL").unwrap_or_else(|_| {
        panic!(
            "CHROMEDRIVER_URL is not set: the browser tests need a running chromedriver. Run the \
             suite with tests/run.sh (it installs chromium and chromium-driver and starts \
             chromedriver), or start `chromedriver --port=9515` and set \
             CHROMEDRIVER_URL=http://127.0.0.1:9515"
        )
    })
}

impl Chromium {
    async fn start(test: &'static str) -> Self {
        let app = spawn_app(Backend::Sqlite).await;
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1100,800".to_owned(),
        ];
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut options = json!({ "args": args });
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let url = chromedriver_url();
        let client = ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot start Chromium through {url}: {e}"));
        Self {
            client,
            app,
            test,
            shots: 0,
            _profile: profile,
        }
    }

    fn url(&self, path: &str) -> String {
        self.app.url(path)
    }

    async fn goto(&mut self, path: &str) {
        self.client.goto(&self.url(path)).await.expect("navigate");
        self.screenshot().await;
    }

    /// Saves the current page as `target/screenshots/<test>-<n>-<path>.png`.
    async fn screenshot(&mut self) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let page: String = self
            .path()
            .await
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        self.shots += 1;
        let file = dir.join(format!("{}-{:02}{}.png", self.test, self.shots, page));
        std::fs::write(&file, png).expect("write screenshot");
    }

    /// The path and query of the current page.
    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits (up to 10 s) until the page's path is `path`, then screenshots it.
    async fn wait_for_path(&mut self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.path().await;
            if now == path {
                break;
            }
            assert!(Instant::now() < deadline, "still on {now}, expected {path}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.screenshot().await;
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.expect(css);
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    async fn submit(&self) {
        self.client
            .find(Locator::Css("main form button[type=submit]"))
            .await
            .expect("submit button")
            .click()
            .await
            .expect("click");
    }

    async fn text_of(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} on {}: {e}", self.url("")))
            .text()
            .await
            .expect("text")
    }

    async fn body(&self) -> String {
        self.text_of("body").await
    }

    async fn sign_in(&mut self, user: &TestUser, path: &str) {
        self.goto(path).await;
        self.fill("#email", &user.email).await;
        self.fill("#password", &user.password).await;
        self.screenshot().await;
        self.submit().await;
    }

    async fn cookie(&self, name: &str) -> Option<String> {
        self.client
            .get_all_cookies()
            .await
            .expect("cookies")
            .into_iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
    }

    /// Replaces a `__Host-` cookie as the server would have set it. WebDriver's Add Cookie
    /// sends a `domain`, which makes a domain cookie that the `__Host-` prefix forbids, so this
    /// goes through chromedriver's DevTools bridge with a URL instead (a host-only cookie).
    async fn plant_host_cookie(&self, name: &str, value: &str) {
        let session = self
            .client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let response = reqwest::Client::new()
            .post(format!(
                "{}/session/{session}/goog/cdp/execute",
                chromedriver_url()
            ))
            .json(&json!({
                "cmd": "Network.setCookie",
                "params": {
                    "name": name,
                    "value": value,
                    "url": self.url("/"),
                    "path": "/",
                    "secure": true,
                    "httpOnly": true,
                    "sameSite": "Strict",
                },
            }))
            .send()
            .await
            .expect("chromedriver answers");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["value"]["success"], json!(true), "{body}");
    }

    async fn close(self) {
        self.client.close().await.expect("close the browser");
    }
}

async fn registered_user(app: &TestApp) -> TestUser {
    let user = TestUser::generate();
    assert_eq!(app.register(&user).await.status().as_u16(), 201);
    user
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_reload_and_sign_out_in_a_browser() {
    let mut b = Chromium::start("register").await;
    b.goto("/").await;
    b.client
        .find(Locator::LinkText("Create an account"))
        .await
        .expect("link")
        .click()
        .await
        .expect("click");
    b.wait_for_path("/register").await;
    let user = TestUser::generate();
    b.fill("#email", &user.email).await;
    b.fill("#name", "Ada Lovelace").await;
    b.fill("#password", &user.password).await;
    b.submit().await;
    b.wait_for_path("/account").await;
    assert_eq!(b.text_of("#account-email").await, user.email);
    assert_eq!(b.text_of("#account-name").await, "Ada Lovelace");
    assert_eq!(b.text_of("#account-role").await, "user");
    assert!(b.body().await.contains("Your account has been created"));

    b.client.refresh().await.expect("reload");
    b.wait_for_path("/account").await;
    assert_eq!(b.text_of("#account-email").await, user.email);
    assert!(!b.body().await.contains("Your account has been created"));

    b.client
        .find(Locator::Css("form[action='logout'] button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("click");
    b.wait_for_path("/login").await;
    assert!(b.body().await.contains("You have signed out."));
    assert!(b.cookie(ACCESS).await.is_none() && b.cookie(REFRESH).await.is_none());

    b.goto("/account").await;
    b.wait_for_path("/login?next=/account").await;
    assert!(b.body().await.contains("Sign in"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_shows_the_message_in_a_browser() {
    let mut b = Chromium::start("wrong_password").await;
    let user = registered_user(&b.app).await;
    let wrong = TestUser {
        email: user.email.clone(),
        password: "definitely-wrong".into(),
    };
    b.sign_in(&wrong, "/login").await;
    b.wait_for_path("/login").await;
    assert_eq!(b.text_of("#form-error").await, "Invalid email or password");
    let email = b.client.find(Locator::Css("#email")).await.expect("email");
    assert_eq!(
        email.prop("value").await.expect("value"),
        Some(user.email.clone())
    );
    assert!(b.cookie(ACCESS).await.is_none());

    // The form still works after the failure (its token is still good).
    b.fill("#password", &user.password).await;
    b.submit().await;
    b.wait_for_path("/account").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_cookie_is_refreshed_silently_in_a_browser() {
    let mut b = Chromium::start("silent_refresh").await;
    let user = registered_user(&b.app).await;
    b.sign_in(&user, "/login").await;
    b.wait_for_path("/account").await;
    let first_access = b.cookie(ACCESS).await.expect("access cookie");
    let first_refresh = b.cookie(REFRESH).await.expect("refresh cookie");

    // A missing access cookie.
    b.client.delete_cookie(ACCESS).await.expect("delete");
    b.goto("/account").await;
    assert_eq!(b.path().await, "/account");
    assert_eq!(b.text_of("#account-email").await, user.email);
    let second_refresh = b.cookie(REFRESH).await.expect("refresh cookie");
    assert_ne!(second_refresh, first_refresh, "rotated");

    // An expired one: the real token's claims, signed properly, with `exp` long past.
    let mut claims: Value = claims_of(&first_access);
    claims["iat"] = json!(1_000_000_000);
    claims["exp"] = json!(1_000_000_600);
    let expired = sign_claims(&claims, b.app.jwt_secret.as_bytes());
    b.plant_host_cookie(ACCESS, &expired).await;
    assert_eq!(b.cookie(ACCESS).await.as_deref(), Some(expired.as_str()));
    b.client.refresh().await.expect("reload");
    b.wait_for_path("/account").await;
    assert_eq!(b.text_of("#account-email").await, user.email);
    let renewed = b.cookie(ACCESS).await.expect("access cookie");
    assert_ne!(renewed, expired, "a new access cookie was set");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_next_is_ignored_in_a_browser() {
    let mut b = Chromium::start("foreign_next").await;
    let user = registered_user(&b.app).await;
    b.sign_in(&user, "/login?next=//evil.example/steal").await;
    b.wait_for_path("/account").await;
    let url = b.client.current_url().await.expect("url");
    assert_eq!(url.host_str(), Some("127.0.0.1"));

    // A good next is followed (the path does not exist: any same-origin page will do).
    b.client
        .delete_all_cookies()
        .await
        .expect("sign out locally");
    b.sign_in(&user, "/login?next=/account%3Ftab%3D1").await;
    b.wait_for_path("/account?tab=1").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_app_signs_in_with_fetch_and_cannot_read_the_tokens() {
    let mut b = Chromium::start("browser_app").await;
    let user = registered_user(&b.app).await;
    b.goto("/").await;
    let script = r#"
        const [email, password, done] = arguments;
        (async () => {
            const login = await fetch('/auth/cookie/login', {
                method: 'POST',
                credentials: 'include',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({email, password}),
            });
            const loginBody = await login.json();
            const me = await fetch('/api/me', {credentials: 'include'});
            done({
                login: login.status,
                loginBody,
                me: me.status,
                user: await me.json(),
                cookies: document.cookie,
            });
        })().catch((e) => done({error: String(e)}));
    "#;
    let outcome = b
        .client
        .execute_async(script, vec![json!(user.email), json!(user.password)])
        .await
        .expect("script ran");
    assert!(outcome.get("error").is_none(), "{outcome}");
    assert_eq!(outcome["login"], 200, "{outcome}");
    assert!(
        outcome["loginBody"].get("access_token").is_none(),
        "{outcome}"
    );
    assert_eq!(outcome["me"], 200, "{outcome}");
    assert_eq!(outcome["user"]["email"], json!(user.email));
    let visible = outcome["cookies"].as_str().expect("document.cookie");
    assert!(!visible.contains(ACCESS), "{visible}");
    assert!(!visible.contains(REFRESH), "{visible}");
    assert!(!visible.contains("doorward_session"), "{visible}");
    // The cookies exist all the same, HttpOnly: the pages see the same sign-in.
    assert!(b.cookie(ACCESS).await.is_some());
    b.goto("/account").await;
    assert_eq!(b.path().await, "/account");
    assert_eq!(b.text_of("#account-email").await, user.email);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_read_well_on_a_phone() {
    let mut b = Chromium::start("phone").await;
    b.client
        .set_window_size(390, 844)
        .await
        .expect("phone-sized window");
    b.goto("/register").await;
    b.submit().await;
    b.wait_for_path("/register").await;
    assert!(
        b.body()
            .await
            .contains("Please correct the fields marked below.")
    );
    let email = b.client.find(Locator::Css("#email")).await.expect("email");
    assert_eq!(
        email
            .attr("aria-describedby")
            .await
            .expect("attr")
            .as_deref(),
        Some("email-error")
    );
    // Nothing overflows sideways on a narrow screen.
    let overflow = b
        .client
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(overflow, json!(false));
    b.goto("/login").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_is_reset_from_the_mailed_link_in_a_browser() {
    let mut b = Chromium::start("reset").await;
    let user = registered_user(&b.app).await;
    b.goto("/login").await;
    b.client
        .find(Locator::LinkText("Forgot your password?"))
        .await
        .expect("link")
        .click()
        .await
        .expect("click");
    b.wait_for_path("/forgot-password").await;
    b.fill("#email", &user.email).await;
    b.submit().await;
    b.wait_for_path("/forgot-password").await;
    assert!(b.body().await.contains("Check your email"));

    // The link, as the mail in the outbox has it.
    let links = b.app.mailed_links(&user.email, "/reset-password", 1).await;
    let path = links[0]
        .strip_prefix(&b.app.public_url())
        .expect("a link to this server")
        .to_owned();
    b.goto(&path).await;
    b.fill("#new_password", "a brand-new passphrase 42").await;
    b.submit().await;
    b.wait_for_path("/login").await;
    assert!(
        b.body()
            .await
            .contains("Your password has been changed: sign in with it.")
    );

    let renewed = TestUser {
        email: user.email.clone(),
        password: "a brand-new passphrase 42".to_owned(),
    };
    b.sign_in(&renewed, "/login").await;
    b.wait_for_path("/account").await;
    assert_eq!(b.text_of("#account-email").await, user.email);
    // The link was spent: opening it again gets the "does not work" page once submitted.
    b.goto(&path).await;
    b.fill("#new_password", "yet another passphrase 43").await;
    b.submit().await;
    b.wait_for_path("/reset-password").await;
    assert!(b.body().await.contains("This link does not work"));
    b.close().await;
}
