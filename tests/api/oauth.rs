//! The OAuth2 endpoints (`/auth/token`, `/auth/revoke`, `/auth/introspect`) and discovery,
//! driven by the `oauth2` crate (oauth2-rs) as a client nobody here wrote, and by hand for the
//! form edge cases RFC 6749 names.

use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    AccessToken, AuthType, ClientId, ClientSecret, HttpRequest, HttpResponse, IntrospectionUrl,
    RefreshToken, RequestTokenError, ResourceOwnerPassword, ResourceOwnerUsername, RevocationUrl,
    StandardRevocableToken, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use reqwest::Response;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{
    Backend, TestApp, TestUser, assert_error, claims_of, spawn_app, spawn_app_with, str_of,
};

const GATEWAY_ID: &str = "gateway";
/// With `+`, `/` and `=`: oauth2-rs form-encodes the secret before Basic (RFC 6749 §2.3.1),
/// reqwest's `basic_auth` sends it raw; both must pass.
const GATEWAY_SECRET: &str = "9f8e7d6c5b4a3928+1706/f5e4d3c2b1a0=gateway";

/// oauth2-rs's HTTP client, on the tests' reqwest: the crate's own reqwest feature pins another
/// major version. It also plays the TLS-terminating proxy a deployment has in front of
/// doorward: oauth2-rs refuses a revocation URL that is not https (RFC 7009 §2 requires TLS),
/// so the test gives it one, and an `https://` request is sent to the loopback server over
/// plain http, byte for byte as oauth2-rs built it.
fn http_client(
    client: reqwest::Client,
) -> impl Fn(HttpRequest) -> std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>>>>
{
    move |request: HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = parts.uri.to_string();
            let url = match url.strip_prefix("https://") {
                Some(rest) => format!("http://{rest}"),
                None => url,
            };
            let mut outgoing = client.request(parts.method, url).body(body);
            for (name, value) in &parts.headers {
                outgoing = outgoing.header(name, value);
            }
            let response = outgoing.send().await?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await?.to_vec();
            Ok(builder.body(body).expect("a response"))
        })
    }
}

fn user_of(user: &TestUser) -> (ResourceOwnerUsername, ResourceOwnerPassword) {
    (
        ResourceOwnerUsername::new(user.email.clone()),
        ResourceOwnerPassword::new(user.password.clone()),
    )
}

/// Password grant, refresh grant, revocation, all by oauth2-rs; then its error types parse
/// doorward's errors.
async fn the_oauth2_crate_signs_in_refreshes_and_revokes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, _) = app.signed_up_user().await;
    let client = BasicClient::new(ClientId::new("flutter-app".into()))
        .set_token_uri(TokenUrl::new(app.url("/auth/token")).unwrap())
        .set_revocation_url(
            RevocationUrl::new(app.url("/auth/revoke").replace("http:", "https:")).unwrap(),
        );
    let http = http_client(app.client.clone());
    let (username, password) = user_of(&user);

    let first = client
        .exchange_password(&username, &password)
        .request_async(&http)
        .await
        .expect("password grant");
    assert_eq!(*first.token_type(), BasicTokenType::Bearer);
    assert!(first.expires_in().is_some_and(|ttl| ttl.as_secs() > 0));
    let access = first.access_token().secret().clone();
    assert_eq!(app.get_me(&access).await.status(), 200);

    let refresh = first.refresh_token().expect("a refresh token").clone();
    let second = client
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .expect("refresh grant");
    let rotated = second.refresh_token().expect("rotated").clone();
    assert_ne!(
        rotated.secret(),
        refresh.secret(),
        "the refresh token rotates"
    );
    assert_eq!(
        app.get_me(second.access_token().secret()).await.status(),
        200
    );

    client
        .revoke_token(StandardRevocableToken::RefreshToken(rotated.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("revocation");
    // The session is over: its access token and its refresh token are refused.
    assert_error(
        app.get_me(second.access_token().secret()).await,
        401,
        "invalid_token",
    )
    .await;
    let refused = client
        .exchange_refresh_token(&rotated)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_server_error(refused, BasicErrorResponseType::InvalidGrant);

    let wrong = ResourceOwnerPassword::new("not the password at all".into());
    let refused = client
        .exchange_password(&username, &wrong)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_server_error(refused, BasicErrorResponseType::InvalidGrant);
    // A token the server never issued: revocation still succeeds (RFC 7009 §2.2).
    client
        .revoke_token(StandardRevocableToken::RefreshToken(RefreshToken::new(
            "no-such-token".into(),
        )))
        .unwrap()
        .request_async(&http)
        .await
        .expect("revoking an unknown token is a success");
}

fn assert_server_error<E: std::error::Error>(
    error: RequestTokenError<E, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
    expected: BasicErrorResponseType,
) {
    match error {
        RequestTokenError::ServerResponse(response) => {
            assert_eq!(*response.error(), expected, "{response:?}");
            assert!(response.error_description().is_some());
        }
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

/// A gateway introspects by HTTP Basic, with oauth2-rs's introspection request.
async fn introspection_answers_from_memory_for_the_client_only(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("DOORWARD_INTROSPECTION_CLIENT_ID", GATEWAY_ID),
            ("DOORWARD_INTROSPECTION_CLIENT_SECRET", GATEWAY_SECRET),
        ],
    )
    .await;
    let (user, pair) = app.signed_up_user().await;
    let gateway = BasicClient::new(ClientId::new(GATEWAY_ID.into()))
        .set_client_secret(ClientSecret::new(GATEWAY_SECRET.into()))
        .set_auth_type(AuthType::BasicAuth)
        .set_introspection_url(IntrospectionUrl::new(app.url("/auth/introspect")).unwrap());
    let http = http_client(app.client.clone());
    let access = AccessToken::new(str_of(&pair, "access_token").to_owned());

    let live = gateway
        .introspect(&access)
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(live.active());
    assert_eq!(live.username(), Some(user.email.as_str()));
    assert_eq!(live.sub(), Some(str_of(&pair["user"], "id")));
    assert!(live.exp().is_some() && live.iat().is_some() && live.jti().is_some());
    // The raw answer carries the session and the role too.
    let raw = introspect_raw(&app, Some((GATEWAY_ID, GATEWAY_SECRET)), access.secret()).await;
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.headers()["cache-control"], "no-store");
    let raw: Value = raw.json().await.unwrap();
    assert_eq!(raw["role"], "user");
    assert_eq!(raw["token_type"], "Bearer");
    assert!(raw["sid"].is_string(), "{raw}");

    // A refresh token, garbage, and a signed-out access token are all inactive.
    for token in [str_of(&pair, "refresh_token"), "garbage"] {
        let answer = introspect_raw(&app, Some((GATEWAY_ID, GATEWAY_SECRET)), token).await;
        assert_eq!(
            answer.json::<Value>().await.unwrap(),
            serde_json::json!({"active": false})
        );
    }
    let logout = app
        .post_with_bearer("/auth/logout", access.secret(), None)
        .await;
    assert_eq!(logout.status(), 204);
    let gone = gateway
        .introspect(&access)
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(!gone.active(), "revocation is honoured at once");

    // Without the client's credentials, or with wrong ones: 401 invalid_client.
    for credentials in [
        None,
        Some((GATEWAY_ID, "wrong-secret")),
        Some(("other", GATEWAY_SECRET)),
    ] {
        let refused = introspect_raw(&app, credentials, "garbage").await;
        assert!(
            refused.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_error(refused, 401, "invalid_client").await;
    }
}

/// Without the introspection settings, nobody may introspect.
async fn introspection_is_closed_unless_configured(backend: Backend) {
    let app = spawn_app(backend).await;
    let refused = introspect_raw(&app, Some((GATEWAY_ID, GATEWAY_SECRET)), "t").await;
    assert_error(refused, 401, "invalid_client").await;
}

async fn introspect_raw(app: &TestApp, basic: Option<(&str, &str)>, token: &str) -> Response {
    let mut request = app
        .client
        .post(app.url("/auth/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", token)]));
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn post_form(app: &TestApp, path: &str, body: String) -> Response {
    app.client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// FastAPI's `OAuth2PasswordRequestForm` clients send no `grant_type`; `scope` is ignored.
/// The answer is RFC 6749 §5.1's, never cached.
async fn a_form_without_grant_type_is_the_password_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, _) = app.signed_up_user().await;
    let body = form(&[
        ("username", &user.email),
        ("password", &user.password),
        ("scope", "read write"),
    ]);
    let response = post_form(&app, "/auth/token", body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let tokens: Value = response.json().await.unwrap();
    let mut fields: Vec<&str> = tokens
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "access_token",
            "expires_in",
            "refresh_expires_in",
            "refresh_token",
            "token_type"
        ]
    );
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(
        app.get_me(str_of(&tokens, "access_token")).await.status(),
        200
    );
}

/// RFC 6749 §3.1, §3.2 and §5.2 at the token endpoint, and the body limits.
async fn bad_token_requests_get_rfc_6749_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, _) = app.signed_up_user().await;
    let password = [
        ("grant_type", "password"),
        ("username", &*user.email),
        ("password", &*user.password),
    ];

    // Wrong content type: JSON is not a form.
    let json = app
        .post_json(
            "/auth/token",
            &serde_json::json!({"grant_type": "password"}),
        )
        .await;
    assert_oauth_error(json, 400, "invalid_request").await;
    // A parameter twice, even with the same value.
    let twice = format!("{}&grant_type=password", form(&password));
    assert_oauth_error(
        post_form(&app, "/auth/token", twice).await,
        400,
        "invalid_request",
    )
    .await;
    // Empty values are omitted ones.
    let empty = form(&[
        ("grant_type", "password"),
        ("username", &user.email),
        ("password", ""),
    ]);
    let body = assert_oauth_error(
        post_form(&app, "/auth/token", empty).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(
        str_of(&body, "error_description").contains("password"),
        "{body}"
    );
    let no_grant = form(&[("username", &user.email)]);
    assert_oauth_error(
        post_form(&app, "/auth/token", no_grant).await,
        400,
        "invalid_request",
    )
    .await;
    let echoed = form(&[("grant_type", "\r\nX: \"y\"")]);
    let body = assert_oauth_error(
        post_form(&app, "/auth/token", echoed).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    let description = str_of(&body, "error_description");
    assert!(
        description
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'),
        "RFC 6749 §5.2: {description:?}"
    );
    let unknown = form(&[("grant_type", "client_credentials")]);
    assert_oauth_error(
        post_form(&app, "/auth/token", unknown).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    let no_refresh = form(&[("grant_type", "refresh_token")]);
    assert_oauth_error(
        post_form(&app, "/auth/token", no_refresh).await,
        400,
        "invalid_request",
    )
    .await;
    let bad_refresh = form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")]);
    assert_oauth_error(
        post_form(&app, "/auth/token", bad_refresh).await,
        400,
        "invalid_grant",
    )
    .await;
    // Not UTF-8 once decoded.
    let latin1 = "grant_type=password&username=a%40b.io&password=%FF%FE".to_owned();
    assert_oauth_error(
        post_form(&app, "/auth/token", latin1).await,
        400,
        "invalid_request",
    )
    .await;
    // Over 64 KiB.
    let huge = form(&[
        ("grant_type", "password"),
        ("username", &"a".repeat(70 * 1024)),
    ]);
    assert_error(
        post_form(&app, "/auth/token", huge).await,
        413,
        "payload_too_large",
    )
    .await;
    // And a good request still works after all that.
    assert_eq!(
        post_form(&app, "/auth/token", form(&password))
            .await
            .status(),
        200
    );
    // Revocation needs its token parameter too.
    assert_oauth_error(
        post_form(&app, "/auth/revoke", String::new()).await,
        400,
        "invalid_request",
    )
    .await;
}

async fn assert_oauth_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    assert_error(response, status, code).await
}

/// RFC 7009 for an access token: that token dies at once, its session goes on.
async fn revoking_an_access_token_denylists_it_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    let body = form(&[("token", access), ("token_type_hint", "access_token")]);
    let response = post_form(&app, "/auth/revoke", body).await;
    assert_eq!(response.status(), 200);
    assert_error(app.get_me(access).await, 401, "invalid_token").await;
    let refreshed = app.refresh(str_of(&pair, "refresh_token")).await;
    assert_eq!(refreshed.status(), 200, "the session itself is not revoked");
    // A wrong hint changes nothing: the token is recognised for what it is.
    let (_, other) = app.signed_up_user().await;
    let body = form(&[
        ("token", str_of(&other, "refresh_token")),
        ("token_type_hint", "access_token"),
    ]);
    assert_eq!(post_form(&app, "/auth/revoke", body).await.status(), 200);
    app.assert_session_revoked(&other).await;
}

/// Discovery: RFC 8414 metadata naming every endpoint, and the (for HS256, empty) key set.
async fn discovery_documents_name_the_endpoints(backend: Backend) {
    let app = spawn_app(backend).await;
    let metadata = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 200);
    assert!(
        metadata.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let metadata: Value = metadata.json().await.unwrap();
    // The issuer is the public URL (here the default, http://localhost:<port>).
    let issuer = str_of(&metadata, "issuer");
    let port = app.address.rsplit(':').next().unwrap();
    assert_eq!(issuer, format!("http://localhost:{port}"));
    for (field, path) in [
        ("token_endpoint", "/auth/token"),
        ("revocation_endpoint", "/auth/revoke"),
        ("introspection_endpoint", "/auth/introspect"),
        ("jwks_uri", "/.well-known/jwks.json"),
    ] {
        assert_eq!(
            str_of(&metadata, field),
            format!("{issuer}{path}"),
            "{field}"
        );
    }
    assert_eq!(
        metadata["grant_types_supported"],
        serde_json::json!(["password", "refresh_token"])
    );
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks,
        serde_json::json!({"keys": []}),
        "an HS256 key is never published"
    );
}

/// A form posted by another site's page is refused, cookies or not (it needs no preflight);
/// the same request from a native client, or from doorward's own origin, passes.
async fn forms_from_another_site_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, pair) = app.signed_up_user().await;
    let body = form(&[
        ("grant_type", "password"),
        ("username", &user.email),
        ("password", &user.password),
    ]);
    let port = app.address.rsplit(':').next().unwrap();
    let own_origin = format!("http://localhost:{port}");
    for (header, value, status) in [
        ("origin", "https://evil.example", 403),
        ("sec-fetch-site", "cross-site", 403),
        ("origin", own_origin.as_str(), 200),
        ("sec-fetch-site", "same-origin", 200),
    ] {
        for path in ["/auth/token", "/auth/revoke"] {
            let body = if path == "/auth/token" {
                body.clone()
            } else {
                form(&[("token", "not-a-token")])
            };
            let response = app
                .client
                .post(app.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .header(header, value)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{path} with {header}: {value}");
            if status == 403 {
                assert_oauth_error(response, 403, "csrf_failed").await;
            }
        }
    }
    // Nothing was revoked by the refused requests.
    assert_eq!(
        app.get_me(str_of(&pair, "access_token")).await.status(),
        200
    );
}

/// Revoking one access token again and again writes its revocation once; a token already
/// expired past the leeway, which can never be accepted again, writes nothing.
async fn revoking_a_token_again_writes_nothing_more(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    for _ in 0..5 {
        let response = post_form(&app, "/auth/revoke", form(&[("token", access)])).await;
        assert_eq!(response.status(), 200);
    }
    let jti = str_of(&claims_of(access), "jti").to_owned();
    let rows = app
        .operator_sql(&format!(
            "DELETE FROM revocation_log WHERE kind = 'jti' AND subject = '{jti}'"
        ))
        .await;
    assert_eq!(rows, 1, "five revocations of one token, one row");
}

/// Revocations at the same instant each wait their turn for the database, whatever they
/// revoke: RFC 7009 wants 200 for each, never a 503 for a lock lost to another.
async fn simultaneous_revocations_all_succeed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, _) = app.signed_up_user().await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        let pair: serde_json::Value = app.login(&user).await.json().await.unwrap();
        tokens.push(str_of(&pair, "access_token").to_owned());
    }
    tokens.extend((0..8).map(|n| format!("not-a-token-{n}")));
    let answers = futures_util::future::join_all(
        tokens
            .iter()
            .map(|token| post_form(&app, "/auth/revoke", form(&[("token", token)]))),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(statuses, [200; 16]);
    for token in &tokens[..8] {
        assert_eq!(app.get_me(token).await.status(), 401, "each one revoked");
    }
}

both_backends!(
    forms_from_another_site_are_refused,
    revoking_a_token_again_writes_nothing_more,
    simultaneous_revocations_all_succeed,
    the_oauth2_crate_signs_in_refreshes_and_revokes,
    introspection_answers_from_memory_for_the_client_only,
    introspection_is_closed_unless_configured,
    a_form_without_grant_type_is_the_password_grant,
    bad_token_requests_get_rfc_6749_errors,
    revoking_an_access_token_denylists_it_alone,
    discovery_documents_name_the_endpoints,
);
