//! Forward-auth: `/auth/verify` on its own, then a real nginx (Debian's package; `tests/run.sh`
//! installs it) running the shipped `docs/nginx/doorward.conf` in front of doorward and of a
//! tiny upstream that echoes what it receives.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::both_backends;
use crate::helpers::{
    Backend, CookieJar, TestApp, TestUser, assert_error, challenge, claims_of, spawn_app,
    spawn_app_with, str_of,
};
use crate::pages::hidden_value;
use crate::ws::{assert_ended_with, next_event, open_at};

/// A free port for nginx, below Linux's ephemeral range (32768–60999): a server binding port 0
/// (doorward, the upstream, another test's) can never be handed it between this check and
/// nginx's bind, which once sent a test's requests to another test's server.
fn free_port() -> u16 {
    loop {
        let port = 20_000 + (uuid::Uuid::new_v4().as_u128() % 10_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The app behind nginx: answers every request with what it received, and counts them.
struct Upstream {
    port: u16,
    seen: Arc<AtomicUsize>,
}

async fn echo(req: HttpRequest, seen: web::Data<AtomicUsize>) -> HttpResponse {
    seen.fetch_add(1, Ordering::SeqCst);
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("?"))))
        .collect();
    HttpResponse::Ok().json(json!({
        "method": req.method().as_str(),
        "uri": req.uri().to_string(),
        "headers": headers,
    }))
}

impl Upstream {
    fn start() -> Self {
        let seen = Arc::new(AtomicUsize::new(0));
        let data = web::Data::from(Arc::clone(&seen));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(echo))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { port, seen }
    }

    fn seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

/// A real nginx with the shipped site config, stopped (by its pid) when dropped.
struct Nginx {
    child: Child,
    _dir: TempDir,
}

impl Nginx {
    fn start(listen_port: u16, doorward: &str, app_port: u16) -> Self {
        let binary = std::env::var("NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into());
        assert!(
            std::path::Path::new(&binary).exists(),
            "nginx not found at {binary}: run the suite with tests/run.sh, which installs it"
        );
        let dir = tempfile::tempdir().unwrap();
        let site = include_str!("../../docs/nginx/doorward.conf")
            .replace("LISTEN_ADDRESS", &format!("127.0.0.1:{listen_port}"))
            .replace("DOORWARD_ADDRESS", doorward.trim_start_matches("http://"))
            .replace("APP_ADDRESS", &format!("127.0.0.1:{app_port}"));
        let d = dir.path().display();
        // One process, no master: killing it by its pid leaves no worker behind (a killed
        // master once left its workers running, holding their ports).
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let user = if is_root { "user root;" } else { "" };
        let conf = format!(
            "{user}\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             daemon off;\nevents {{ worker_connections 128; }}\nhttp {{\n\
             access_log {d}/access.log;\nclient_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\nfastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n{site}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut nginx = Self { child, _dir: dir };
        for _ in 0..100 {
            let listening = std::net::TcpStream::connect(("127.0.0.1", listen_port)).is_ok();
            std::thread::sleep(Duration::from_millis(50));
            // nginx exits at once when it cannot bind: what listens then is not this nginx.
            let exited = nginx.child.try_wait().unwrap();
            if listening && exited.is_none() {
                return nginx;
            }
            if let Some(status) = exited {
                let log = std::fs::read_to_string(nginx._dir.path().join("error.log"));
                panic!("nginx exited with {status}: {}", log.unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(nginx._dir.path().join("error.log")).unwrap_or_default();
        panic!("nginx did not start: {log}");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// doorward, the echoing app and nginx in front of both, on one origin.
struct Site {
    app: TestApp,
    upstream: Upstream,
    origin: String,
    _nginx: Nginx,
}

impl Site {
    async fn start(backend: Backend) -> Self {
        let port = free_port();
        let origin = format!("http://127.0.0.1:{port}");
        let app = spawn_app_with(
            backend,
            &[
                ("DOORWARD_TRUSTED_PROXIES", "127.0.0.1"),
                ("DOORWARD_PUBLIC_URL", origin.as_str()),
            ],
        )
        .await;
        let upstream = Upstream::start();
        let nginx = tokio::task::block_in_place(|| Nginx::start(port, &app.address, upstream.port));
        Self {
            app,
            upstream,
            origin,
            _nginx: nginx,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = self.app.client.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
        let mut req = self.app.client.post(self.url(path)).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// Registers through nginx; the TokenPair.
    async fn register(&self, user: &TestUser) -> Value {
        let body = json!({"email": user.email, "password": user.password});
        let response = self.post("/auth/register", &[], &body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Signs in with cookies through nginx; the cookie jar.
    async fn cookie_login(&self, user: &TestUser) -> CookieJar {
        let body = json!({"email": user.email, "password": user.password});
        let response = self.post("/auth/cookie/login", &[], &body).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut jar = CookieJar::default();
        jar.absorb(response.headers());
        jar
    }
}

/// The app sees who signed in, by bearer and by cookie; a client's own `X-Doorward-*` header
/// never reaches it, nor do doorward's cookies, while the app's own cookies do.
async fn the_app_sees_who_signed_in_and_nothing_forged(backend: Backend) {
    let site = Site::start(backend).await;
    let user = TestUser::generate();
    let pair = site.register(&user).await;
    let claims = claims_of(str_of(&pair, "access_token"));
    let bearer = format!("Bearer {}", str_of(&pair, "access_token"));
    let response = site
        .get(
            "/app/hello",
            &[
                ("authorization", bearer.as_str()),
                ("x-doorward-user-id", "someone-else"),
                ("x-doorward-role", "admin"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Value = response.json().await.unwrap();
    let headers = &echoed["headers"];
    assert_eq!(headers["x-doorward-user-id"], claims["sub"], "{echoed}");
    assert_eq!(headers["x-doorward-email"], user.email.as_str());
    assert_eq!(headers["x-doorward-role"], "user");
    assert_eq!(headers["x-doorward-session"], claims["sid"]);

    let jar = site.cookie_login(&user).await;
    let cookie = format!("theme=dark; {}", jar.header());
    let response = site.get("/app/page", &[("cookie", cookie.as_str())]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["headers"]["x-doorward-user-id"], claims["sub"]);
    let app_cookies = echoed["headers"]["cookie"].as_str().unwrap_or_default();
    assert!(app_cookies.contains("theme=dark"), "{app_cookies}");
    assert!(!app_cookies.contains("__Host-"), "{app_cookies}");

    // The verification route itself is not reachable through nginx.
    let direct = site
        .get("/auth/verify", &[("authorization", bearer.as_str())])
        .await;
    assert_eq!(direct.status(), StatusCode::NOT_FOUND);
}

/// A token signed out through nginx is refused at nginx at once, before the app.
async fn a_revoked_token_is_refused_at_nginx_at_once(backend: Backend) {
    let site = Site::start(backend).await;
    let pair = site.register(&TestUser::generate()).await;
    let bearer = format!("Bearer {}", str_of(&pair, "access_token"));
    let auth = [("authorization", bearer.as_str())];
    assert_eq!(site.get("/app/x", &auth).await.status(), StatusCode::OK);
    let seen = site.upstream.seen();
    let logout = site.post("/auth/logout", &auth, &json!({})).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let refused = site.get("/app/x", &auth).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&refused).contains("invalid_token"), "{refused:?}");
    assert!(
        header(&refused, "location").is_empty(),
        "an API call gets no redirect"
    );
    assert_eq!(site.upstream.seen(), seen, "the app never saw it");
}

/// doorward's WebSocket through nginx: upgraded, and closed when the session is signed out.
async fn the_websocket_works_through_nginx(backend: Backend) {
    let site = Site::start(backend).await;
    let pair = site.register(&TestUser::generate()).await;
    let access = str_of(&pair, "access_token");
    let path = format!("/ws?access_token={access}");
    let mut socket = open_at(&site.origin, &path, &[]).await.unwrap();
    assert_eq!(next_event(&mut socket).await["event"], "ready");
    let bearer = format!("Bearer {access}");
    let auth = [("authorization", bearer.as_str())];
    let logout = site.post("/auth/logout", &auth, &json!({})).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_ended_with(&mut socket, "revoked").await;
    let (status, _) = open_at(&site.origin, &path, &[]).await.err().unwrap();
    assert_eq!(status, 401);
}

/// A browser navigation without credentials ends on the sign-in page and, after signing in,
/// back at the original URL; an API call without credentials gets the plain 401.
async fn a_browser_navigation_signs_in_and_comes_back(backend: Backend) {
    let site = Site::start(backend).await;
    let user = TestUser::generate();
    site.register(&user).await;
    let html = [("accept", "text/html,application/xhtml+xml")];
    let denied = site.get("/app/page?tab=2", &html).await;
    assert_eq!(denied.status(), StatusCode::FOUND);
    let login = header(&denied, "location");
    assert_eq!(
        login,
        site.url("/login?next=%2Fapp%2Fpage%3Ftab%3D2"),
        "to the sign-in page, with the way back"
    );

    let form = site
        .get(login.trim_start_matches(&site.origin), &html)
        .await;
    assert_eq!(form.status(), StatusCode::OK);
    let mut jar = CookieJar::default();
    jar.absorb(form.headers());
    let page = form.text().await.unwrap();
    let token = hidden_value(&page, "csrf_token").unwrap();
    let next = hidden_value(&page, "next").unwrap();
    assert_eq!(next, "/app/page?tab=2");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("csrf_token", token.as_str()),
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("next", next.as_str()),
        ])
        .finish();
    let signed_in = site
        .app
        .client
        .post(site.url("/login"))
        .header("cookie", jar.header())
        .header("origin", site.origin.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&signed_in, "location"), "/app/page?tab=2");
    jar.absorb(signed_in.headers());
    let back = site
        .get("/app/page?tab=2", &[("cookie", jar.header().as_str())])
        .await;
    assert_eq!(back.status(), StatusCode::OK);
    let echoed: Value = back.json().await.unwrap();
    assert_eq!(echoed["uri"], "/app/page?tab=2");

    let api = site
        .get("/app/api", &[("accept", "application/json")])
        .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&api, "location").is_empty());
    assert!(challenge(&api).starts_with("Bearer realm=\"doorward\""));
}

/// The CSRF rule applies to the original request: a cookie POST from a foreign origin is 403
/// at nginx and the app never sees it; from the site itself it goes through.
async fn a_foreign_cookie_post_never_reaches_the_app(backend: Backend) {
    let site = Site::start(backend).await;
    let user = TestUser::generate();
    site.register(&user).await;
    let jar = site.cookie_login(&user).await;
    let cookie = jar.header();
    let seen = site.upstream.seen();
    let forged = site
        .post(
            "/app/tasks",
            &[
                ("cookie", cookie.as_str()),
                ("origin", "https://evil.example"),
            ],
            &json!({"title": "x"}),
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(site.upstream.seen(), seen, "nothing reached the app");
    let own = site
        .post(
            "/app/tasks",
            &[
                ("cookie", cookie.as_str()),
                ("origin", site.origin.as_str()),
            ],
            &json!({"title": "x"}),
        )
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    let echoed: Value = own.json().await.unwrap();
    assert_eq!(echoed["method"], "POST");
}

/// `/auth/verify` on its own: any method, identity headers and `no-store` on success, the
/// contract's 401 otherwise, and forwarded headers believed only from trusted proxies.
async fn verify_answers_from_memory_with_identity_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    let claims = claims_of(access);
    for method in [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::HEAD,
    ] {
        let response = app
            .client
            .request(method.clone(), app.url("/auth/verify"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert_eq!(
            header(&response, "x-doorward-user-id"),
            claims["sub"].as_str().unwrap()
        );
        assert_eq!(header(&response, "x-doorward-role"), "user");
        assert_eq!(header(&response, "cache-control"), "no-store");
    }
    let anonymous = app
        .client
        .get(app.url("/auth/verify"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&anonymous, "cache-control"), "no-store");
    assert_eq!(challenge(&anonymous), "Bearer realm=\"doorward\"");
    assert_error(anonymous, 401, "unauthorized").await;
    let bad = app
        .client
        .get(app.url("/auth/verify"))
        .header("authorization", "Bearer nope")
        .send()
        .await
        .unwrap();
    assert_error(bad, 401, "invalid_token").await;

    // Without DOORWARD_TRUSTED_PROXIES, a claimed original method is ignored: this GET with a
    // cookie and a foreign Origin is judged as the GET it is.
    let cookie = format!("__Host-access_token={access}");
    let claimed = [
        ("cookie", cookie.as_str()),
        ("origin", "https://evil.example"),
        ("x-forwarded-method", "POST"),
    ];
    let untrusted = app.get_with_headers("/auth/verify", &claimed).await;
    assert_eq!(untrusted.status(), StatusCode::OK);
    let trusting = spawn_app_with(backend, &[("DOORWARD_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let (_, pair) = trusting.signed_up_user().await;
    let cookie = format!("__Host-access_token={}", str_of(&pair, "access_token"));
    let claimed = [
        ("cookie", cookie.as_str()),
        ("origin", "https://evil.example"),
        ("x-forwarded-method", "POST"),
    ];
    let refused = trusting.get_with_headers("/auth/verify", &claimed).await;
    assert_error(refused, 403, "csrf_failed").await;
}

/// A browser navigation to an app on another host comes back there after signing in only when
/// `DOORWARD_REDIRECT_HOSTS` lists that host; with `DOORWARD_FORWARD_AUTH_REDIRECT=302` the
/// answer is a 302 (for Traefik and Caddy).
async fn a_listed_app_host_gets_its_whole_url_as_next(backend: Backend) {
    let settings = [
        ("DOORWARD_TRUSTED_PROXIES", "127.0.0.1"),
        ("DOORWARD_REDIRECT_HOSTS", "app.example.com"),
        ("DOORWARD_FORWARD_AUTH_REDIRECT", "302"),
    ];
    let app = spawn_app_with(backend, &settings).await;
    let navigation = |url: &'static str| {
        app.client
            .get(app.url("/auth/verify"))
            .header("accept", "text/html")
            .header("x-original-url", url)
            .send()
    };
    let listed = navigation("https://app.example.com/dash?tab=1")
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::FOUND);
    let login = header(&listed, "location");
    assert!(
        login.ends_with("/login?next=https%3A%2F%2Fapp.example.com%2Fdash%3Ftab%3D1"),
        "{login}"
    );
    let other = navigation("https://other.example.com/dash").await.unwrap();
    assert!(
        header(&other, "location").ends_with("/login"),
        "no next to an unlisted host"
    );
    // The sign-in page carries the whole URL on, and the sign-in ends there.
    let path = login.split_once("/login").unwrap().1;
    let form = app.get_with_headers(&format!("/login{path}"), &[]).await;
    let html = form.text().await.unwrap();
    assert_eq!(
        hidden_value(&html, "next").as_deref(),
        Some("https://app.example.com/dash?tab=1")
    );
}

both_backends!(
    the_app_sees_who_signed_in_and_nothing_forged,
    a_revoked_token_is_refused_at_nginx_at_once,
    the_websocket_works_through_nginx,
    a_browser_navigation_signs_in_and_comes_back,
    a_foreign_cookie_post_never_reaches_the_app,
    verify_answers_from_memory_with_identity_headers,
    a_listed_app_host_gets_its_whole_url_as_next,
);
