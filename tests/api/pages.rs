//! The server-rendered pages over HTTP (contract §4): statuses, headers, cookies, the form CSRF
//! token, silent refresh, sign-out and `next`. reqwest's cookie store will not send `Secure`
//! cookies over `http://127.0.0.1`, so [`Browser`] keeps its own jar from `Set-Cookie`.

use reqwest::header::COOKIE;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    Backend, CookieJar, TestApp, TestUser, set_cookies, spawn_app, spawn_app_with,
};

const ACCESS: &str = "__Host-access_token";
const REFRESH: &str = "__Host-refresh_token";
const SESSION: &str = "__Host-doorward_session";

/// A client with a hand-kept cookie jar, as a browser on this origin would have.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub jar: CookieJar,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            jar: CookieJar::default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Response {
        let mut req = self.app.client.get(self.app.url(path));
        if !self.jar.is_empty() {
            req = req.header(COOKIE, self.jar.header());
        }
        let response = req.send().await.expect("request");
        self.jar.absorb(response.headers());
        response
    }

    /// GETs a page and returns its body and its form's CSRF token.
    pub async fn get_form(&mut self, path: &str) -> (String, String) {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let html = response.text().await.expect("html");
        let token = hidden_value(&html, "csrf_token").expect("a csrf_token field");
        (html, token)
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.post_form_with(path, fields, &[]).await
    }

    pub async fn post_form_with(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Response {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = self
            .app
            .client
            .post(self.app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("origin"))
        {
            req = req.header("origin", &self.app.address);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if !self.jar.is_empty() {
            req = req.header(COOKIE, self.jar.header());
        }
        let response = req.send().await.expect("request");
        self.jar.absorb(response.headers());
        response
    }

    /// Signs in through the page form and returns the 303 answer.
    pub async fn sign_in(&mut self, user: &TestUser, next: Option<&str>) -> Response {
        let (_, token) = self.get_form("/login").await;
        let mut fields = vec![
            ("csrf_token", token.as_str()),
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
        ];
        if let Some(next) = next {
            fields.push(("next", next));
        }
        self.post_form("/login", &fields).await
    }
}

/// The `value` of `<input type="hidden" name="{name}" value="…">` (askama escapes no token
/// characters, which are base64url).
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .expect("ascii")
        .to_owned()
}

fn header<'r>(response: &'r Response, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ascii")
}

fn assert_page_headers(response: &Response) {
    let csp = header(response, "content-security-policy");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header(response, "referrer-policy"), "same-origin");
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "cache-control"), "no-store");
}

async fn registered_user(app: &TestApp) -> TestUser {
    let user = TestUser::generate();
    assert_eq!(app.register(&user).await.status(), StatusCode::CREATED);
    user
}

/// A user registered by the API and signed in through the page form.
async fn signed_in_browser(app: &TestApp) -> (TestUser, Browser<'_>) {
    let user = registered_user(app).await;
    let mut browser = Browser::new(app);
    assert_eq!(
        browser.sign_in(&user, None).await.status(),
        StatusCode::SEE_OTHER
    );
    (user, browser)
}

async fn me_with_access_cookie(app: &TestApp, access: &str) -> StatusCode {
    app.get_with_headers("/api/me", &[("cookie", &format!("{ACCESS}={access}"))])
        .await
        .status()
}

// ---------------------------------------------------------------------------------------------

async fn every_page_renders_with_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut browser = Browser::new(&app);
    for path in ["/", "/login", "/register"] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_page_headers(&response);
        assert!(header(&response, "content-type").starts_with("text/html"));
        let html = response.text().await.unwrap();
        assert!(html.contains("<link rel=\"stylesheet\" href=\"static/app.css\">"));
        assert!(!html.contains("<script"), "no script on {path}");
    }
    let landing = browser.get("/").await.text().await.unwrap();
    assert!(landing.contains("href=\"login\"") && landing.contains("href=\"register\""));

    let (login, _) = browser.get_form("/login").await;
    for part in [
        "<label for=\"email\">",
        "autocomplete=\"email\"",
        "autocomplete=\"current-password\"",
        "method=\"post\" action=\"login\"",
    ] {
        assert!(login.contains(part), "{part}");
    }
    let (register, _) = browser.get_form("/register").await;
    assert!(register.contains("autocomplete=\"new-password\""));

    let css = app
        .client
        .get(app.url("/static/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(header(&css, "content-type").starts_with("text/css"));
    assert!(header(&css, "cache-control").contains("max-age="));

    // The session cookie holding the form token has the contract's attributes.
    let response = Browser::new(&app).get("/login").await;
    let session = set_cookies(response.headers())
        .into_iter()
        .find(|c| c.starts_with(SESSION))
        .expect("a session cookie");
    for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(part), "{session}");
    }
    assert!(!session.contains("Domain"), "{session}");
}

async fn login_sets_both_cookies_and_redirects(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = registered_user(&app).await;
    let mut browser = Browser::new(&app);
    let (_, token_before) = browser.get_form("/login").await;
    let response = browser.sign_in(&user, None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/account");
    assert_page_headers(&response);
    let set = set_cookies(response.headers());
    for name in [ACCESS, REFRESH] {
        let cookie = set
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} set"));
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=",
        ] {
            assert!(cookie.contains(part), "{cookie}");
        }
    }
    // The page session is renewed at sign-in: the form token from before no longer works
    // (any re-encryption changes the cookie's bytes, so comparing them would prove nothing).
    assert_eq!(
        browser
            .post_form("/logout", &[("csrf_token", &token_before)])
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "the pre-sign-in form token is refused"
    );

    let account = browser.get("/account").await;
    assert_eq!(account.status(), StatusCode::OK);
    assert_page_headers(&account);
    let html = account.text().await.unwrap();
    assert!(html.contains(&user.email));
    assert!(html.contains(">user<"), "role shown");
    assert!(html.contains("action=\"logout\""));

    // One model of sign-in: the page's cookie works on the API.
    let access = browser.jar.get(ACCESS).unwrap().clone();
    assert_eq!(me_with_access_cookie(&app, &access).await, StatusCode::OK);
    let landing = browser.get("/").await.text().await.unwrap();
    assert!(landing.contains("href=\"account\""));
}

async fn wrong_password_rerenders_with_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = registered_user(&app).await;
    let mut browser = Browser::new(&app);
    let wrong = TestUser {
        email: user.email.clone(),
        password: "not-the-password".into(),
    };
    let response = browser.sign_in(&wrong, Some("/account?tab=1")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_page_headers(&response);
    assert!(
        set_cookies(response.headers())
            .iter()
            .all(|c| !c.starts_with("__Host-a"))
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("Invalid email or password"));
    assert!(
        html.contains(&format!("value=\"{}\"", user.email)),
        "email kept"
    );
    assert!(html.contains("aria-describedby=\"form-error\""));
    assert_eq!(
        hidden_value(&html, "next").as_deref(),
        Some("/account?tab=1")
    );
    assert!(!html.contains("not-the-password"));

    // An unknown email answers the same.
    let response = browser.sign_in(&TestUser::generate(), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Invalid email or password")
    );
}

async fn register_shows_field_errors_and_signs_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut browser = Browser::new(&app);
    let (_, token) = browser.get_form("/register").await;
    let response = browser
        .post_form(
            "/register",
            &[
                ("csrf_token", &token),
                ("email", "not-an-email"),
                ("password", "short"),
                ("name", "Ada"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_page_headers(&response);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"email-error\""));
    assert!(html.contains("aria-describedby=\"email-error\""));
    assert!(html.contains("id=\"password-error\""));
    assert!(html.contains("Password must be at least 8 characters."));
    assert!(html.contains("password-hint password-error"));
    assert!(html.contains("value=\"not-an-email\""), "email kept");
    assert!(html.contains("value=\"Ada\""), "name kept");
    assert!(!html.contains("name-error"));

    let user = TestUser::generate();
    let response = browser
        .post_form(
            "/register",
            &[
                ("csrf_token", &token),
                ("email", &user.email),
                ("password", &user.password),
                ("name", "Ada <Lovelace>"),
                ("next", "/account?tab=1"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/account?tab=1");
    assert!(browser.jar.contains_key(ACCESS) && browser.jar.contains_key(REFRESH));
    let html = browser.get("/account").await.text().await.unwrap();
    assert!(
        html.contains("Your account has been created"),
        "registered notice"
    );
    assert!(html.contains("Ada &#60;Lovelace&#62;") || html.contains("Ada &lt;Lovelace&gt;"));
    let again = browser.get("/account").await.text().await.unwrap();
    assert!(
        !again.contains("Your account has been created"),
        "shown once"
    );

    // A taken email: 409, the problem on the email field.
    let mut other = Browser::new(&app);
    let (_, token) = other.get_form("/register").await;
    let response = other
        .post_form(
            "/register",
            &[
                ("csrf_token", &token),
                ("email", &user.email),
                ("password", "another-good-password"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"email-error\""));
    assert!(html.contains("Email is already registered"));
}

async fn form_posts_without_a_valid_token_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = registered_user(&app).await;
    let mut browser = Browser::new(&app);
    browser.get("/login").await;
    let fields = [("email", user.email.as_str()), ("password", &user.password)];
    let missing = browser.post_form("/login", &fields).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert_page_headers(&missing);
    assert!(
        set_cookies(missing.headers())
            .iter()
            .all(|c| !c.starts_with("__Host-a"))
    );

    let mut wrong = fields.to_vec();
    wrong.push(("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    let response = browser.post_form("/login", &wrong).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!browser.jar.contains_key(ACCESS));

    // A token from another browser's session is no good either.
    let (_, foreign_token) = Browser::new(&app).get_form("/login").await;
    let mut stolen = fields.to_vec();
    stolen.push(("csrf_token", &foreign_token));
    assert_eq!(
        browser.post_form("/login", &stolen).await.status(),
        StatusCode::FORBIDDEN
    );

    // Registration creates nothing without the token.
    let other = TestUser::generate();
    let response = browser
        .post_form(
            "/register",
            &[("email", &other.email), ("password", &other.password)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(app.stored_user(&other.email).await.is_none());

    // Sign-out without the token changes nothing.
    assert_eq!(
        browser.sign_in(&user, None).await.status(),
        StatusCode::SEE_OTHER
    );
    let access = browser.jar.get(ACCESS).unwrap().clone();
    let response = browser.post_form("/logout", &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(me_with_access_cookie(&app, &access).await, StatusCode::OK);
    assert_eq!(browser.get("/account").await.status(), StatusCode::OK);
}

async fn form_posts_from_a_foreign_origin_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = registered_user(&app).await;
    let mut browser = Browser::new(&app);
    let (_, token) = browser.get_form("/login").await;
    let fields = [
        ("csrf_token", token.as_str()),
        ("email", &user.email),
        ("password", &user.password),
    ];
    for headers in [
        [("origin", "https://evil.example")],
        [("origin", "null")],
        [("sec-fetch-site", "cross-site")],
    ] {
        let response = browser.post_form_with("/login", &fields, &headers).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(!browser.jar.contains_key(ACCESS));
    }

    // Signed in, a foreign sign-out is refused before anything changes.
    assert_eq!(
        browser.sign_in(&user, None).await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, token) = browser.get_form("/account").await;
    let response = browser
        .post_form_with(
            "/logout",
            &[("csrf_token", &token)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let access = browser.jar.get(ACCESS).unwrap().clone();
    assert_eq!(me_with_access_cookie(&app, &access).await, StatusCode::OK);
}

async fn account_refreshes_silently_from_the_refresh_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, mut browser) = signed_in_browser(&app).await;
    let old_refresh = browser.jar.get(REFRESH).unwrap().clone();

    // Only the refresh cookie.
    browser.jar.remove(ACCESS);
    let response = browser.get("/account").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_page_headers(&response);
    let set = set_cookies(response.headers());
    assert!(set.iter().any(|c| c.starts_with(&format!("{ACCESS}="))));
    assert!(set.iter().any(|c| c.starts_with(&format!("{REFRESH}="))));
    assert!(response.text().await.unwrap().contains(&user.email));
    let new_refresh = browser.jar.get(REFRESH).unwrap().clone();
    assert_ne!(new_refresh, old_refresh, "rotated");
    let access = browser.jar.get(ACCESS).unwrap().clone();
    assert_eq!(me_with_access_cookie(&app, &access).await, StatusCode::OK);

    // An invalid access cookie beside a valid refresh cookie.
    browser.jar.insert(ACCESS.into(), "garbage".into());
    let response = browser.get("/account").await;
    assert_eq!(response.status(), StatusCode::OK);
    // A new, working access cookie replaced it (a merely cleared one would also differ).
    let renewed = browser
        .jar
        .get(ACCESS)
        .expect("a new access cookie")
        .clone();
    assert_ne!(renewed, "garbage");
    assert_eq!(me_with_access_cookie(&app, &renewed).await, StatusCode::OK);
}

async fn account_without_credentials_redirects_to_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut browser = Browser::new(&app);
    let response = browser.get("/account").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?next=/account");

    // Bad cookies: the same, and they are cleared.
    browser.jar.insert(ACCESS.into(), "garbage".into());
    browser.jar.insert(REFRESH.into(), "unknown".into());
    let response = browser.get("/account").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?next=/account");
    assert!(!browser.jar.contains_key(ACCESS) && !browser.jar.contains_key(REFRESH));

    // The form carries next along.
    let (html, _) = browser.get_form("/login?next=/account").await;
    assert_eq!(hidden_value(&html, "next").as_deref(), Some("/account"));
}

async fn logout_signs_out_and_shows_the_notice(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, mut browser) = signed_in_browser(&app).await;
    let access = browser.jar.get(ACCESS).unwrap().clone();
    let refresh = browser.jar.get(REFRESH).unwrap().clone();
    let (_, token) = browser.get_form("/account").await;

    let response = browser
        .post_form("/logout", &[("csrf_token", &token)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
    let set = set_cookies(response.headers());
    for name in [ACCESS, REFRESH] {
        assert!(
            set.iter()
                .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0")),
            "{name} cleared: {set:?}"
        );
    }
    assert!(!browser.jar.contains_key(ACCESS) && !browser.jar.contains_key(REFRESH));

    // The access token is denylisted and the family revoked.
    assert_eq!(
        me_with_access_cookie(&app, &access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_json("/auth/refresh", &json!({"refresh_token": refresh}))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let login = browser.get("/login").await.text().await.unwrap();
    assert!(login.contains("You have signed out."));
    let again = browser.get("/login").await.text().await.unwrap();
    assert!(
        !again.contains("You have signed out."),
        "the notice shows once"
    );
    assert_eq!(
        browser.get("/account").await.status(),
        StatusCode::SEE_OTHER
    );

    // The old form token died with the session.
    assert_eq!(
        browser
            .post_form("/logout", &[("csrf_token", &token)])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

async fn api_sign_out_signs_the_pages_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, mut browser) = signed_in_browser(&app).await;
    let cookie = browser.jar.header();
    let response = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The browser ignored the clearing (as if the answer was lost): the page still refuses.
    assert_eq!(
        browser.get("/account").await.status(),
        StatusCode::SEE_OTHER
    );
}

async fn logout_all_signs_out_every_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = registered_user(&app).await;
    let mut laptop = Browser::new(&app);
    let mut phone = Browser::new(&app);
    for browser in [&mut laptop, &mut phone] {
        assert_eq!(
            browser.sign_in(&user, None).await.status(),
            StatusCode::SEE_OTHER
        );
        assert_eq!(browser.get("/account").await.status(), StatusCode::OK);
    }
    let pair: serde_json::Value = app.login(&user).await.json().await.unwrap();
    let token = pair["access_token"].as_str().unwrap();
    let response = app.post_with_bearer("/auth/logout-all", token, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for browser in [&mut laptop, &mut phone] {
        let response = browser.get("/account").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/login?next=/account");
    }
}

async fn next_is_honoured_only_for_same_origin_paths(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = registered_user(&app).await;
    for (next, expected) in [
        ("/account?tab=1", "/account?tab=1"),
        ("/", "/"),
        ("/a b/caf\u{e9}", "/a%20b/caf%C3%A9"),
        ("//evil.example", "/account"),
        ("///evil.example", "/account"),
        ("/\\evil.example", "/account"),
        ("\\/evil.example", "/account"),
        ("https://evil.example/", "/account"),
        ("/account\t", "/account"),
        ("/a\nLocation: x", "/account"),
        ("/a\u{0}", "/account"),
        ("account", "/account"),
        ("", "/account"),
    ] {
        let mut browser = Browser::new(&app);
        let response = browser.sign_in(&user, Some(next)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&response), expected, "{next:?}");
    }
    // A refused next is not carried into the form.
    let mut browser = Browser::new(&app);
    let (html, _) = browser.get_form("/login?next=%2F%2Fevil.example").await;
    assert_eq!(hidden_value(&html, "next"), None);
    let (html, _) = browser
        .get_form("/register?next=%2Faccount%3Ftab%3D1")
        .await;
    assert_eq!(
        hidden_value(&html, "next").as_deref(),
        Some("/account?tab=1")
    );
    assert!(html.contains("href=\"login?next=%2Faccount%3Ftab%3D1\""));
}

/// With `DOORWARD_REDIRECT_HOSTS`, an absolute `next` on a listed host (exactly: host and port)
/// is honoured, and every other absolute `next` still is not.
async fn an_absolute_next_is_honoured_only_on_a_listed_host(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("DOORWARD_REDIRECT_HOSTS", "app.example.com, localhost:3000")],
    )
    .await;
    let user = registered_user(&app).await;
    for (next, expected) in [
        (
            "https://app.example.com/dash?tab=1",
            "https://app.example.com/dash?tab=1",
        ),
        ("http://localhost:3000/", "http://localhost:3000/"),
        ("/account?tab=1", "/account?tab=1"),
        ("https://evil.example/", "/account"),
        ("https://app.example.com.evil.example/", "/account"),
        ("https://sub.app.example.com/", "/account"),
        ("https://app.example.com@evil.example/", "/account"),
        ("https://app.example.com:444/", "/account"),
        ("http://localhost:3001/", "/account"),
        ("javascript://app.example.com/%0aalert(1)", "/account"),
        ("https://app.example.com/\t", "/account"),
    ] {
        let mut browser = Browser::new(&app);
        let response = browser.sign_in(&user, Some(next)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&response), expected, "{next:?}");
    }
    let mut browser = Browser::new(&app);
    let (html, _) = browser
        .get_form("/login?next=https%3A%2F%2Fapp.example.com%2Fdash")
        .await;
    assert_eq!(
        hidden_value(&html, "next").as_deref(),
        Some("https://app.example.com/dash")
    );
}

/// Under `DOORWARD_BASE_PATH=/id` every route, page, link and redirect is under `/id`, and
/// nothing is left at the root.
async fn a_base_path_moves_every_route_and_redirect(backend: Backend) {
    let app = spawn_app_with(backend, &[("DOORWARD_BASE_PATH", "/id")]).await;
    let user = TestUser::generate();
    let credentials = json!({"email": user.email, "password": user.password});
    assert_eq!(
        app.post_json("/auth/register", &credentials).await.status(),
        404
    );
    let pair: Value = app
        .post_json("/id/auth/register", &credentials)
        .await
        .json()
        .await
        .unwrap();
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(app.get_me(access).await.status(), 404, "/api/me moved too");
    let me = app
        .get_with_headers(
            "/id/api/me",
            &[("authorization", &format!("Bearer {access}"))],
        )
        .await;
    assert_eq!(me.status(), StatusCode::OK);

    let mut browser = Browser::new(&app);
    assert_eq!(browser.get("/login").await.status(), StatusCode::NOT_FOUND);
    let start = browser.get("/id/").await.text().await.unwrap();
    assert!(
        start.contains("href=\"login\""),
        "links are relative to /id/"
    );
    let unsigned = browser.get("/id/account").await;
    assert_eq!(location(&unsigned), "/id/login?next=/id/account");
    let (html, token) = browser.get_form("/id/login").await;
    assert!(html.contains("action=\"login\"") && html.contains("href=\"static/app.css\""));
    let fields = [
        ("csrf_token", token.as_str()),
        ("email", user.email.as_str()),
        ("password", user.password.as_str()),
    ];
    let signed_in = browser.post_form("/id/login", &fields).await;
    assert_eq!(location(&signed_in), "/id/account");
    let (account, token) = browser.get_form("/id/account").await;
    assert!(account.contains(&user.email));
    let signed_out = browser
        .post_form("/id/logout", &[("csrf_token", &token)])
        .await;
    assert_eq!(location(&signed_out), "/id/login");
    assert_eq!(
        browser.get("/id/static/app.css").await.status(),
        StatusCode::OK
    );
}

/// A form over 64 KiB gets the page's own 413, as HTML with the page headers (actix's plain
/// text answered before).
async fn an_oversized_form_gets_the_page_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = format!("email=a%40x.io&password={}", "p".repeat(70 * 1024));
    let response = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.headers().contains_key("content-security-policy"));
    assert!(response.text().await.unwrap().contains("Form too large"));
}

both_backends!(
    every_page_renders_with_security_headers,
    login_sets_both_cookies_and_redirects,
    wrong_password_rerenders_with_401,
    register_shows_field_errors_and_signs_in,
    form_posts_without_a_valid_token_are_refused,
    form_posts_from_a_foreign_origin_are_refused,
    account_refreshes_silently_from_the_refresh_cookie,
    account_without_credentials_redirects_to_login,
    logout_signs_out_and_shows_the_notice,
    api_sign_out_signs_the_pages_out,
    logout_all_signs_out_every_browser,
    next_is_honoured_only_for_same_origin_paths,
    an_absolute_next_is_honoured_only_on_a_listed_host,
    a_base_path_moves_every_route_and_redirect,
    an_oversized_form_gets_the_page_413,
);
