//! The cookie transport for browser apps (contract §3): attributes, strict reading, CSRF,
//! CORS and two tabs refreshing at once.

use futures_util::future::join;
use reqwest::Response;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    Backend, CookieJar, TestApp, TestUser, assert_error, set_cookies, spawn_app, spawn_app_with,
};

fn assert_both_cleared(response: &Response) {
    let set = set_cookies(response.headers());
    for name in ["__Host-access_token=;", "__Host-refresh_token=;"] {
        assert!(
            set.iter()
                .any(|c| c.starts_with(name) && c.contains("Max-Age=0")),
            "{name} not cleared in {set:?}"
        );
    }
}

async fn post(
    app: &TestApp,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Response {
    let mut req = app.client.post(app.url(path));
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn me_by_cookie(app: &TestApp, jar: &CookieJar) -> Response {
    app.get_with_headers("/api/me", &[("cookie", &jar.header())])
        .await
}

async fn cookie_sign_in_sets_both_cookies_with_the_contract_attributes(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = TestUser::generate();
    let body = json!({"email": user.email, "password": user.password});
    for (path, status) in [("/auth/cookie/register", 201), ("/auth/cookie/login", 200)] {
        let response = post(&app, path, "", &[], Some(body.clone())).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let set = set_cookies(response.headers());
        assert_eq!(set.len(), 2, "{set:?}");
        for (name, max_age) in [
            ("__Host-access_token=", 900),
            ("__Host-refresh_token=", 14 * 86_400),
        ] {
            let cookie = set.iter().find(|c| c.starts_with(name)).unwrap();
            for attribute in [
                "HttpOnly",
                "Secure",
                "SameSite=Strict",
                "Path=/",
                &format!("Max-Age={max_age}"),
            ] {
                assert!(
                    cookie.split("; ").any(|a| a == attribute),
                    "{attribute} missing: {cookie}"
                );
            }
            assert!(!cookie.contains("Domain"), "{cookie}");
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["user"]["email"], user.email.as_str());
        assert_eq!(body["expires_in"], 900);
        assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
        let text = body.to_string();
        for cookie in &set {
            let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
            assert!(!text.contains(value), "the body holds no token");
        }
    }
    let wrong = json!({"email": user.email, "password": "not the password"});
    let response = post(&app, "/auth/cookie/login", "", &[], Some(wrong)).await;
    assert!(set_cookies(response.headers()).is_empty());
    assert_error(response, 401, "invalid_credentials").await;
}

async fn the_browser_flow_from_register_to_logout(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, mut jar) = app.cookie_user().await;
    let me = me_by_cookie(&app, &jar).await;
    assert_eq!(me.status(), 200);
    assert_eq!(
        me.json::<Value>().await.unwrap()["email"],
        user.email.as_str()
    );

    let before = jar.clone();
    let refreshed = post(&app, "/auth/cookie/refresh", &jar.header(), &[], None).await;
    assert_eq!(refreshed.status(), 200);
    jar.absorb(refreshed.headers());
    assert_ne!(
        jar.get("__Host-refresh_token"),
        before.get("__Host-refresh_token")
    );
    assert_ne!(
        jar.get("__Host-access_token"),
        before.get("__Host-access_token")
    );
    assert_eq!(
        refreshed.json::<Value>().await.unwrap()["user"]["email"],
        user.email.as_str()
    );
    assert_eq!(me_by_cookie(&app, &jar).await.status(), 200);

    let logout = post(&app, "/auth/logout", &jar.header(), &[], None).await;
    assert_eq!(logout.status(), 204);
    assert_both_cleared(&logout);
    let stolen = jar.clone();
    jar.absorb(logout.headers());
    assert!(jar.0.is_empty(), "{jar:?}");
    assert_error(me_by_cookie(&app, &jar).await, 401, "unauthorized").await;
    // Cookies copied before the logout are dead too: the jti is denylisted, the family revoked.
    assert_error(me_by_cookie(&app, &stolen).await, 401, "invalid_token").await;
    let refresh = post(&app, "/auth/cookie/refresh", &stolen.header(), &[], None).await;
    assert_both_cleared(&refresh);
    assert_error(refresh, 401, "invalid_grant").await;
}

async fn a_failed_cookie_refresh_clears_both_cookies(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, jar) = app.cookie_user().await;
    let refresh = jar.get("__Host-refresh_token").unwrap().to_owned();
    for cookie in [
        String::new(),
        "__Host-refresh_token=garbage".to_owned(),
        format!("__Host-refresh_token={refresh}; __Host-refresh_token={refresh}"),
    ] {
        let response = post(&app, "/auth/cookie/refresh", &cookie, &[], None).await;
        assert_both_cleared(&response);
        assert_error(response, 401, "invalid_grant").await;
    }
}

async fn cookies_are_read_strictly_by_their_exact_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, jar) = app.cookie_user().await;
    let access = jar.get("__Host-access_token").unwrap();
    let planted = format!("%5F%5FHost-access_token={access}");
    let response = app
        .get_with_headers("/api/me", &[("cookie", &planted)])
        .await;
    assert_error(response, 401, "unauthorized").await;
    let spaced = format!("__Host-access_token ={access}");
    assert_eq!(
        app.get_with_headers("/api/me", &[("cookie", &spaced)])
            .await
            .status(),
        200
    );
    let twice = format!("__Host-access_token={access}; __Host-access_token={access}");
    let response = app.get_with_headers("/api/me", &[("cookie", &twice)]).await;
    assert_both_cleared(&response);
    assert_error(response, 401, "invalid_token").await;
}

async fn the_bearer_header_wins_over_the_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, jar) = app.cookie_user().await;
    let (bearer_user, pair) = app.signed_up_user().await;
    let bearer = format!("Bearer {}", pair["access_token"].as_str().unwrap());
    let response = app
        .get_with_headers(
            "/api/me",
            &[("authorization", &bearer), ("cookie", &jar.header())],
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["email"],
        bearer_user.email.as_str()
    );
    let response = app
        .get_with_headers(
            "/api/me",
            &[("authorization", "Bearer bad"), ("cookie", &jar.header())],
        )
        .await;
    assert_error(response, 401, "invalid_token").await;
}

async fn the_csrf_rule_guards_every_cookie_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let (_, mut jar) = app.cookie_user().await;
    let allowed = [
        vec![],
        vec![("origin", format!("http://localhost:{port}"))],
        vec![("origin", format!("http://127.0.0.1:{port}"))],
        vec![("origin", format!("http://[::1]:{port}"))],
        vec![("sec-fetch-site", "same-origin".to_owned())],
    ];
    for headers in allowed {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = post(&app, "/auth/cookie/refresh", &jar.header(), &headers, None).await;
        assert_eq!(response.status(), 200, "{headers:?}");
        jar.absorb(response.headers());
    }
    let refused = [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        (
            "origin",
            &*format!("http://localhost:{}", port.parse::<u16>().unwrap() + 1),
        ),
        ("sec-fetch-site", "cross-site"),
    ];
    for header in refused {
        for path in ["/auth/cookie/refresh", "/auth/logout", "/auth/logout-all"] {
            let response = post(&app, path, &jar.header(), &[header], None).await;
            assert!(
                set_cookies(response.headers()).is_empty(),
                "a refused request changes nothing"
            );
            assert_error(response, 403, "csrf_failed").await;
        }
    }
    // Nothing changed: the session still works.
    assert_eq!(me_by_cookie(&app, &jar).await.status(), 200);
    // Bearer requests without our cookies are exempt.
    let (_, pair) = app.signed_up_user().await;
    let token = pair["access_token"].as_str().unwrap();
    let response = app
        .client
        .post(app.url("/auth/logout-all"))
        .bearer_auth(token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

async fn cors_answers_listed_origins_only(backend: Backend) {
    let listed = "https://app.example.com";
    let app = spawn_app_with(backend, &[("DOORWARD_CORS_ORIGINS", listed)]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/auth/cookie/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight(listed).await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(ok.headers()["access-control-allow-origin"], listed);
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    // A listed origin passes the CSRF rule too.
    let (_, jar) = app.cookie_user().await;
    let response = post(
        &app,
        "/auth/cookie/refresh",
        &jar.header(),
        &[("origin", listed)],
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], listed);
}

async fn two_tabs_refreshing_at_once_both_stay_signed_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, jar) = app.cookie_user().await;
    let (a, b) = join(
        post(&app, "/auth/cookie/refresh", &jar.header(), &[], None),
        post(&app, "/auth/cookie/refresh", &jar.header(), &[], None),
    )
    .await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    for response in [a, b] {
        let mut tab = jar.clone();
        tab.absorb(response.headers());
        assert_eq!(me_by_cookie(&app, &tab).await.status(), 200);
        let next = post(&app, "/auth/cookie/refresh", &tab.header(), &[], None).await;
        assert_eq!(next.status(), 200);
    }
}

async fn without_grace_a_simultaneous_reuse_revokes_the_session(backend: Backend) {
    let app = spawn_app_with(backend, &[("REFRESH_REUSE_GRACE", "0s")]).await;
    let (_, jar) = app.cookie_user().await;
    let (a, b) = join(
        post(&app, "/auth/cookie/refresh", &jar.header(), &[], None),
        post(&app, "/auth/cookie/refresh", &jar.header(), &[], None),
    )
    .await;
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
    let winner = if a.status() == 200 { a } else { b };
    let mut tab = jar.clone();
    tab.absorb(winner.headers());
    assert_error(me_by_cookie(&app, &tab).await, 401, "invalid_token").await;
    let response = post(&app, "/auth/cookie/refresh", &tab.header(), &[], None).await;
    assert_error(response, 401, "invalid_grant").await;
}

async fn a_stolen_cookie_reused_after_the_grace_revokes_the_session(backend: Backend) {
    let app = spawn_app_with(backend, &[("REFRESH_REUSE_GRACE", "1s")]).await;
    let (_, stolen) = app.cookie_user().await;
    let mut victim = stolen.clone();
    let response = post(&app, "/auth/cookie/refresh", &victim.header(), &[], None).await;
    victim.absorb(response.headers());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let thief = post(&app, "/auth/cookie/refresh", &stolen.header(), &[], None).await;
    assert_error(thief, 401, "invalid_grant").await;
    let response = post(&app, "/auth/cookie/refresh", &victim.header(), &[], None).await;
    assert_error(response, 401, "invalid_grant").await;
    assert_error(me_by_cookie(&app, &victim).await, 401, "invalid_token").await;
}

async fn logout_all_by_cookie_signs_out_every_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, laptop) = app.cookie_user().await;
    let login = post(
        &app,
        "/auth/cookie/login",
        "",
        &[],
        Some(json!({"email": user.email, "password": user.password})),
    )
    .await;
    let mut phone = CookieJar::default();
    phone.absorb(login.headers());
    let response = post(&app, "/auth/logout-all", &laptop.header(), &[], None).await;
    assert_eq!(response.status(), 204);
    assert_both_cleared(&response);
    for jar in [&laptop, &phone] {
        assert_error(me_by_cookie(&app, jar).await, 401, "invalid_token").await;
        let refresh = post(&app, "/auth/cookie/refresh", &jar.header(), &[], None).await;
        assert_error(refresh, 401, "invalid_grant").await;
    }
}

/// One byte outside ASCII in a sibling app's cookie must not hide ours (the header is read as
/// bytes). Before the fix the whole header was dropped and this answered 401 `unauthorized`.
async fn a_non_ascii_cookie_beside_ours_does_not_sign_the_user_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, jar) = app.cookie_user().await;
    let mut bytes = b"pref=caf\xc3\xa9; ".to_vec();
    bytes.extend_from_slice(jar.header().as_bytes());
    let response = app
        .client
        .get(app.url("/api/me"))
        .header(
            "cookie",
            reqwest::header::HeaderValue::from_bytes(&bytes).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// A duplicated refresh cookie beside a valid access cookie is bad credentials on a protected
/// route too: 401 with both cleared (it answered 200 before).
async fn a_duplicated_refresh_cookie_is_refused_beside_a_valid_access_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, jar) = app.cookie_user().await;
    let access = jar.get("__Host-access_token").unwrap();
    let refresh = jar.get("__Host-refresh_token").unwrap();
    let cookie = format!(
        "__Host-access_token={access}; __Host-refresh_token={refresh}; __Host-refresh_token=x"
    );
    let response = app
        .get_with_headers("/api/me", &[("cookie", &cookie)])
        .await;
    assert_both_cleared(&response);
    assert_error(response, 401, "invalid_token").await;
}

/// Sign-out with each auth cookie sent twice revokes every value, so neither real session
/// survives (before, both copies were ignored and the real tokens stayed valid).
async fn logout_with_duplicated_cookies_revokes_every_value(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = app.cookie_user().await;
    let (_, second) = app.cookie_user().await;
    let cookie = format!(
        "__Host-access_token={}; __Host-access_token={}; __Host-refresh_token={}; __Host-refresh_token={}",
        first["__Host-access_token"],
        second["__Host-access_token"],
        first["__Host-refresh_token"],
        second["__Host-refresh_token"],
    );
    let response = post(&app, "/auth/logout", &cookie, &[], None).await;
    assert_eq!(response.status(), 204);
    assert_both_cleared(&response);
    for jar in [&first, &second] {
        assert_error(me_by_cookie(&app, jar).await, 401, "invalid_token").await;
        let refresh = format!("__Host-refresh_token={}", jar["__Host-refresh_token"]);
        let response = post(&app, "/auth/cookie/refresh", &refresh, &[], None).await;
        assert_error(response, 401, "invalid_grant").await;
    }
}

/// A cookie sign-in over existing auth cookies revokes the sessions they belonged to: the
/// browser loses those cookies, so nothing may stay alive behind them (they stayed valid before).
async fn signing_in_over_old_cookies_revokes_their_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, old) = app.cookie_user().await;
    let response = post(
        &app,
        "/auth/cookie/login",
        &old.header(),
        &[],
        Some(json!({"email": user.email, "password": user.password})),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut new = CookieJar::default();
    new.absorb(response.headers());
    assert_eq!(me_by_cookie(&app, &new).await.status(), 200);
    assert_error(me_by_cookie(&app, &old).await, 401, "invalid_token").await;
    let refresh = format!("__Host-refresh_token={}", old["__Host-refresh_token"]);
    let response = post(&app, "/auth/cookie/refresh", &refresh, &[], None).await;
    assert_error(response, 401, "invalid_grant").await;
}

both_backends!(
    cookie_sign_in_sets_both_cookies_with_the_contract_attributes,
    the_browser_flow_from_register_to_logout,
    a_failed_cookie_refresh_clears_both_cookies,
    cookies_are_read_strictly_by_their_exact_names,
    the_bearer_header_wins_over_the_cookie,
    the_csrf_rule_guards_every_cookie_request,
    cors_answers_listed_origins_only,
    two_tabs_refreshing_at_once_both_stay_signed_in,
    without_grace_a_simultaneous_reuse_revokes_the_session,
    a_stolen_cookie_reused_after_the_grace_revokes_the_session,
    logout_all_by_cookie_signs_out_every_browser,
    a_non_ascii_cookie_beside_ours_does_not_sign_the_user_out,
    a_duplicated_refresh_cookie_is_refused_beside_a_valid_access_cookie,
    logout_with_duplicated_cookies_revokes_every_value,
    signing_in_over_old_cookies_revokes_their_session,
);
