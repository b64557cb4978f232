//! Authenticated WebSockets (`GET /ws`, `POST /auth/ws-ticket`) through a real WebSocket
//! client, tokio-tungstenite: every credential kind, the bad ones, the foreign Origin,
//! revocation pushed from this instance and from another, expiry and reauth.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestUser, claims_of, spawn_app, spawn_app_with, str_of};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any one frame may take to arrive.
const PATIENCE: Duration = Duration::from_secs(10);

/// Opens `/ws{query}` with `headers`; a refused upgrade gives its status and JSON body.
async fn open(
    app: &TestApp,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, (u16, Value)> {
    open_path(app, &format!("/ws{query}"), headers).await
}

/// Opens the WebSocket at `path` (with its query) with `headers`.
pub async fn open_path(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, (u16, Value)> {
    open_at(&app.address, path, headers).await
}

/// Opens the WebSocket at `path` on the server at `address` (`http://host:port`).
pub async fn open_at(
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, (u16, Value)> {
    let url = format!("{}{path}", address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, response)) => {
            assert_eq!(response.status(), 101);
            Ok(socket)
        }
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("the upgrade failed without an answer: {other}"),
    }
}

/// Opens a socket that must be accepted, and reads its `ready` event.
async fn open_ready(app: &TestApp, query: &str, headers: &[(&str, &str)], user_id: &str) -> Socket {
    let mut socket = match open(app, query, headers).await {
        Ok(socket) => socket,
        Err((status, body)) => panic!("refused with {status}: {body}"),
    };
    let ready = next_event(&mut socket).await;
    assert_eq!(ready["event"], "ready", "{ready}");
    assert_eq!(ready["user_id"], user_id);
    assert!(ready["expires_in"].as_i64().unwrap() > 0, "{ready}");
    socket
}

/// The next text frame, as JSON; pings and pongs are skipped.
pub async fn next_event(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a well-formed frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

/// Waits for the server's close frame and returns its code.
async fn close_code(socket: &mut Socket) -> u16 {
    loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a close in time");
        match frame {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("socket error before the close: {e}"),
        }
    }
}

/// Asserts the server pushes `event` and then closes with 1008.
pub async fn assert_ended_with(socket: &mut Socket, event: &str) {
    assert_eq!(next_event(socket).await, json!({ "event": event }));
    assert_eq!(close_code(socket).await, 1008);
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn ticket(app: &TestApp, access: &str) -> String {
    let response = app.post_with_bearer("/auth/ws-ticket", access, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 30);
    str_of(&body, "ticket").to_owned()
}

fn user_id(pair: &Value) -> String {
    str_of(&pair["user"], "id").to_owned()
}

async fn every_credential_kind_opens_the_socket(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    let id = user_id(&pair);

    let by_header = bearer(access);
    let mut socket = open_ready(&app, "", &[("authorization", &by_header)], &id).await;
    // Pings are answered; a message that is not doorward's gets an error, not a close.
    socket
        .send(Message::Ping(b"hi".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(PATIENCE, socket.next()).await.unwrap();
    assert!(
        matches!(pong, Some(Ok(Message::Pong(ref data))) if &data[..] == b"hi"),
        "{pong:?}"
    );
    send(&mut socket, json!({"type": "hello"})).await;
    assert_eq!(next_event(&mut socket).await["error"], "unknown_message");

    open_ready(&app, &format!("?access_token={access}"), &[], &id).await;
    open_ready(&app, &format!("?token={access}"), &[], &id).await;
    let ticket = ticket(&app, access).await;
    open_ready(&app, &format!("?ticket={ticket}"), &[], &id).await;

    let (_, jar) = app.cookie_user().await;
    let cookie_id = claims_of(&jar.0["__Host-access_token"])["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = jar.header();
    open_ready(&app, "", &[("cookie", &cookie)], &cookie_id).await;
    let own_origin = app.address.clone();
    open_ready(
        &app,
        "",
        &[("cookie", &cookie), ("origin", &own_origin)],
        &cookie_id,
    )
    .await;
    // A ticket over cookies: an unsafe request from our own origin.
    let response = app
        .client
        .post(app.url("/auth/ws-ticket"))
        .header("cookie", &cookie)
        .header("origin", &own_origin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let query = format!("?ticket={}", str_of(&body, "ticket"));
    open_ready(&app, &query, &[], &cookie_id).await;
}

async fn bad_credentials_are_refused_before_the_upgrade(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    let (_, jar) = app.cookie_user().await;
    let cookie = jar.header();

    let refused = |status: u16, code: &'static str| {
        move |result: Result<Socket, (u16, Value)>| match result {
            Ok(_) => panic!("accepted, expected {status} {code}"),
            Err((got, body)) => {
                assert_eq!(got, status, "{body}");
                assert_eq!(body["error"], code, "{body}");
            }
        }
    };
    refused(401, "unauthorized")(open(&app, "", &[]).await);
    refused(401, "invalid_token")(open(&app, "?access_token=not.a.jwt", &[]).await);
    refused(401, "invalid_token")(open(&app, "?ticket=unknown", &[]).await);
    // A bad bearer header never falls back to a good query token or cookie.
    let bad_header = [
        ("authorization", "Bearer nope"),
        ("cookie", cookie.as_str()),
    ];
    refused(401, "invalid_token")(open(&app, &format!("?token={access}"), &bad_header).await);
    // Two credentials in the query are ambiguous.
    let ticket = ticket(&app, access).await;
    let both = format!("?ticket={ticket}&access_token={access}");
    refused(401, "invalid_token")(open(&app, &both, &[]).await);
    // A ticket opens one socket, once.
    let ticket = self::ticket(&app, access).await;
    let query = format!("?ticket={ticket}");
    assert!(open(&app, &query, &[]).await.is_ok());
    refused(401, "invalid_token")(open(&app, &query, &[]).await);
    // Cross-site WebSocket hijacking: the browser attaches the cookie, the Origin gives it away.
    let foreign = [
        ("cookie", cookie.as_str()),
        ("origin", "https://evil.example"),
    ];
    refused(403, "csrf_failed")(open(&app, "", &foreign).await);
    let cross_site = [
        ("cookie", cookie.as_str()),
        ("sec-fetch-site", "cross-site"),
    ];
    refused(403, "csrf_failed")(open(&app, "", &cross_site).await);
    // A ticket for a cookie session cannot be fetched cross-site either.
    let response = app
        .client
        .post(app.url("/auth/ws-ticket"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // A revoked token, in the query, is refused like any other.
    let logout = app.post_with_bearer("/auth/logout", access, None).await;
    assert_eq!(logout.status(), 204);
    refused(401, "invalid_token")(open(&app, &format!("?access_token={access}"), &[]).await);
    // Without the upgrade it is a plain 400, not a 500.
    let (_, other) = app.signed_up_user().await;
    let plain = app
        .client
        .get(app.url("/ws"))
        .bearer_auth(str_of(&other, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::BAD_REQUEST);
}

/// Many upgrades racing with one ticket: exactly one opens, every other is a clean 401.
async fn a_ticket_raced_by_many_upgrades_opens_one_socket(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let ticket = ticket(&app, str_of(&pair, "access_token")).await;
    let query = format!("?ticket={ticket}");
    let attempts = (0..8).map(|_| open(&app, &query, &[]));
    let results = futures_util::future::join_all(attempts).await;
    let opened = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(opened, 1);
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.0, 401, "{refused:?}");
    }
}

/// A frame header declaring 2^63 bytes ends the socket at once, however much follows (actix
/// buffered it all before, waiting for the whole frame).
async fn an_oversized_frame_is_refused_from_its_header(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(backend).await;
    let (_, pair) = app.signed_up_user().await;
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: Bearer {}\r\n\r\n",
        str_of(&pair, "access_token")
    );
    stream.write_all(handshake.as_bytes()).await.unwrap();
    let mut buffer = vec![0u8; 64 * 1024];
    let n = stream.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 101"));
    let header = [
        0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4,
    ];
    stream.write_all(&header).await.unwrap();
    let filler = vec![b'x'; 1024 * 1024];
    for _ in 0..8 {
        if stream.write_all(&filler).await.is_err() {
            break;
        }
    }
    // The server's close frame (0x88), or the connection's end, must come promptly.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await;
        match read.expect("the socket stayed open") {
            Ok(0) | Err(_) => break,
            Ok(n) if buffer[..n].contains(&0x88) => break,
            Ok(_) => {}
        }
    }
}

async fn a_revocation_is_pushed_and_closes_the_socket(backend: Backend) {
    let app = spawn_app(backend).await;

    // Logout of the socket's own token.
    let (user, pair) = app.signed_up_user().await;
    let access = str_of(&pair, "access_token");
    let mut socket = open_ready(
        &app,
        &format!("?access_token={access}"),
        &[],
        &user_id(&pair),
    )
    .await;
    let logout = app.post_with_bearer("/auth/logout", access, None).await;
    assert_eq!(logout.status(), 204);
    assert_ended_with(&mut socket, "revoked").await;

    // Logout everywhere, from another session of the same user; the socket came by ticket.
    let second: Value = app.login(&user).await.json().await.unwrap();
    let third: Value = app.login(&user).await.json().await.unwrap();
    let ticket = ticket(&app, str_of(&second, "access_token")).await;
    let mut socket = open_ready(&app, &format!("?ticket={ticket}"), &[], &user_id(&pair)).await;
    let everywhere = app
        .post_with_bearer("/auth/logout-all", str_of(&third, "access_token"), None)
        .await;
    assert_eq!(everywhere.status(), 204);
    assert_ended_with(&mut socket, "revoked").await;

    // Refresh reuse revokes the family the socket's token belongs to.
    let (_, pair) = app.signed_up_user().await;
    let header = bearer(str_of(&pair, "access_token"));
    let mut socket = open_ready(&app, "", &[("authorization", &header)], &user_id(&pair)).await;
    let rotated = app.rotate(&pair).await;
    app.rotate(&rotated).await;
    let reused = app.refresh(str_of(&pair, "refresh_token")).await;
    assert_eq!(reused.status(), 401);
    assert_ended_with(&mut socket, "revoked").await;

    // Another user's logout does not touch this socket.
    let (_, mine) = app.signed_up_user().await;
    let (_, theirs) = app.signed_up_user().await;
    let query = format!("?token={}", str_of(&mine, "access_token"));
    let mut socket = open_ready(&app, &query, &[], &user_id(&mine)).await;
    let logout = app
        .post_with_bearer("/auth/logout", str_of(&theirs, "access_token"), None)
        .await;
    assert_eq!(logout.status(), 204);
    send(&mut socket, json!({"type": "still-there"})).await;
    assert_eq!(next_event(&mut socket).await["error"], "unknown_message");
}

async fn a_revocation_on_another_instance_closes_the_socket(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.another_instance().await;
    let (user, pair) = app.signed_up_user().await;
    let header = bearer(str_of(&pair, "access_token"));
    let mut socket = open_ready(&app, "", &[("authorization", &header)], &user_id(&pair)).await;
    let elsewhere: Value = other.login(&user).await.json().await.unwrap();
    let everywhere = other
        .post_with_bearer("/auth/logout-all", str_of(&elsewhere, "access_token"), None)
        .await;
    assert_eq!(everywhere.status(), 204);
    // The test instances sync every 200 ms; PATIENCE bounds the wait.
    assert_ended_with(&mut socket, "revoked").await;
}

async fn an_expiring_token_closes_the_socket_unless_renewed(backend: Backend) {
    let app = spawn_app_with(backend, &[("ACCESS_TOKEN_TTL", "3s")]).await;
    let (user, pair) = app.signed_up_user().await;
    let (_, stranger) = app.signed_up_user().await;
    let first = str_of(&pair, "access_token");
    let first_exp = claims_of(first)["exp"].as_i64().unwrap();

    // Not renewed: `expired` at the token's exp, then 1008.
    let query = format!("?access_token={first}");
    let mut idle = open_ready(&app, &query, &[], &user_id(&pair)).await;
    let mut renewed = open_ready(&app, &query, &[], &user_id(&pair)).await;

    // Another user's token, or garbage, is refused and the socket keeps its own.
    send(
        &mut renewed,
        json!({"type": "reauth", "access_token": str_of(&stranger, "access_token")}),
    )
    .await;
    assert_eq!(next_event(&mut renewed).await["error"], "invalid_token");
    send(
        &mut renewed,
        json!({"type": "reauth", "access_token": "garbage"}),
    )
    .await;
    assert_eq!(next_event(&mut renewed).await["error"], "invalid_token");
    send(&mut renewed, json!({"type": "reauth"})).await;
    assert_eq!(next_event(&mut renewed).await["error"], "invalid_token");
    // The same user's other session cannot take the socket over: signing this one out must
    // end it.
    let other_session: Value = app.login(&user).await.json().await.unwrap();
    let other_access = str_of(&other_session, "access_token");
    send(
        &mut renewed,
        json!({"type": "reauth", "access_token": other_access}),
    )
    .await;
    assert_eq!(next_event(&mut renewed).await["error"], "invalid_token");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = app.rotate(&pair).await;
    let fresh_access = str_of(&fresh, "access_token");
    let fresh_exp = claims_of(fresh_access)["exp"].as_i64().unwrap();
    assert!(fresh_exp > first_exp);
    send(
        &mut renewed,
        json!({"type": "reauth", "access_token": fresh_access}),
    )
    .await;
    let answer = next_event(&mut renewed).await;
    assert_eq!(answer["event"], "reauthenticated", "{answer}");
    assert!(answer["expires_in"].as_i64().unwrap() > 0);
    // Going back to the older token is refused: reauth only moves forward.
    send(
        &mut renewed,
        json!({"type": "reauth", "access_token": first}),
    )
    .await;
    assert_eq!(next_event(&mut renewed).await["error"], "invalid_token");

    assert_ended_with(&mut idle, "expired").await;
    assert!(now_secs() >= first_exp);
    assert_ended_with(&mut renewed, "expired").await;
    assert!(
        now_secs() >= fresh_exp,
        "the renewed socket outlived its first token"
    );
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

both_backends!(
    every_credential_kind_opens_the_socket,
    bad_credentials_are_refused_before_the_upgrade,
    a_ticket_raced_by_many_upgrades_opens_one_socket,
    an_oversized_frame_is_refused_from_its_header,
    a_revocation_is_pushed_and_closes_the_socket,
    a_revocation_on_another_instance_closes_the_socket,
    an_expiring_token_closes_the_socket_unless_renewed,
);

/// The real binary's request log shows `/ws`, never the token or ticket of its query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_credential_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = dir.path().join("doorward.db").display().to_string();
    let (_server, port, log) = tokio::task::block_in_place(|| {
        crate::durability::start_binary_logging(&database_url, dir.path(), true)
    });
    let app_address = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let user = TestUser::generate();
    let pair: Value = client
        .post(format!("{app_address}/auth/register"))
        .json(&json!({"email": user.email, "password": user.password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = str_of(&pair, "access_token");
    let ticket: Value = client
        .post(format!("{app_address}/auth/ws-ticket"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ticket = str_of(&ticket, "ticket");
    let ws = format!("ws://127.0.0.1:{port}/ws");
    for query in [
        format!("?access_token={access}"),
        format!("?ticket={ticket}"),
    ] {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("{ws}{query}"))
            .await
            .unwrap();
        assert!(matches!(socket.next().await, Some(Ok(Message::Text(_)))));
        socket.close(None).await.unwrap();
    }
    // The log line is written when the upgrade's response completes.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let lines = log.lock().unwrap().clone();
        let upgrades = lines.iter().filter(|l| l.contains("GET /ws")).count();
        if upgrades >= 2 {
            for line in &lines {
                assert!(!line.contains(access), "token logged: {line}");
                assert!(!line.contains(ticket), "ticket logged: {line}");
                assert!(!line.contains("access_token="), "query logged: {line}");
            }
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no upgrade logged: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
