//! Slow and oversized clients, over raw TCP: a head or a body trickled one byte at a time is cut
//! off within its timeout while others are served, oversized headers get 431 (never a hang), and
//! one address cannot hold more than its connections. The limits are transport-level, the same
//! on both backends; these run on SQLite.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, assert_error, spawn_app_with};

async fn slow_app() -> TestApp {
    spawn_app_with(
        crate::helpers::Backend::Sqlite,
        &[
            ("DOORWARD_HEAD_TIMEOUT", "1s"),
            ("DOORWARD_BODY_TIMEOUT", "1s"),
            ("DOORWARD_KEEP_ALIVE", "10s"),
            ("DOORWARD_MAX_CONNECTIONS_PER_IP", "3"),
        ],
    )
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Writes `prefix`, then one byte of `trickle` every 200 ms, until the server answers or closes;
/// returns what it answered and when.
async fn trickle(app: &TestApp, prefix: &str, trickle: &[u8]) -> (String, Duration) {
    let mut stream = connect(app).await;
    let start = Instant::now();
    stream.write_all(prefix.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    for byte in trickle.iter().cycle() {
        assert!(start.elapsed() < Duration::from_secs(8), "never cut off");
        let read = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer));
        match read.await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
            }
        }
        if !answer.is_empty() {
            break;
        }
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        start.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_head_is_cut_off_while_others_are_served() {
    let app = slow_app().await;
    let slow = trickle(&app, "GET /api/me HTTP/1.1\r\nHost: x\r\nX-Slow: ", b"a");
    let others = async {
        for _ in 0..5 {
            let started = Instant::now();
            let response = app
                .client
                .get(app.url("/static/app.css"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert!(started.elapsed() < Duration::from_millis(500));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let ((answer, took), ()) = tokio::join!(slow, others);
    assert!(took < Duration::from_millis(2500), "cut off after {took:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_gets_408_within_its_timeout() {
    let app = slow_app().await;
    let head = "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 60\r\n\r\n{\"email\"";
    let (answer, took) = trickle(&app, head, b" ").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(took < Duration::from_millis(2500), "cut off after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_are_refused_never_hung() {
    let app = slow_app().await;
    let big = "x".repeat(20 * 1024);
    let response = app
        .client
        .get(app.url("/api/me"))
        .header("x-big", big)
        .send()
        .await
        .unwrap();
    assert_error(response, 431, "request_header_fields_too_large").await;
    let mut many = app.client.get(app.url("/api/me"));
    for i in 0..200 {
        many = many.header(format!("x-h{i}"), "v");
    }
    let started = Instant::now();
    let status = many.send().await.map(|r| r.status().as_u16());
    assert!(started.elapsed() < Duration::from_secs(5));
    // actix refuses over 96 headers before any handler; reqwest may see the close instead.
    assert!(matches!(status, Ok(400 | 431) | Err(_)), "{status:?}");
}

/// Sends one request on an open connection and returns the status line.
async fn request_on(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /auth/verify HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_connections() {
    let app = slow_app().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&app).await;
        assert_eq!(request_on(&mut stream).await, "HTTP/1.1 401 Unauthorized");
        held.push(stream);
    }
    let mut fourth = connect(&app).await;
    assert_eq!(
        request_on(&mut fourth).await,
        "HTTP/1.1 429 Too Many Requests"
    );
    drop(fourth);
    // Closing one frees its place as soon as the server sees the close.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut again = connect(&app).await;
        let status = request_on(&mut again).await;
        if status == "HTTP/1.1 401 Unauthorized" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the place was never freed: {status}"
        );
        drop(again);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
