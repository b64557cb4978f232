//! What protecting a route costs, measured side by side in one run through the whole actix-web
//! service stack (middleware, routing, extractor, handler; no socket): doorward's own
//! `GET /api/me`, forward-auth's `GET /auth/verify`, and an embedding app's route taking
//! `AuthUser`, each with a valid bearer token on an SQLite database.
//!
//! Run: `cargo bench --bench protect`. Prints nanoseconds per request (the median of rounds that
//! interleave the three routes) and each route's ratio to `/api/me`.

#![allow(clippy::expect_used)] // a benchmark stops at its first failure

use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, test, web};
use doorward::{AuthUser, Config, Doorward};

const ROUNDS: usize = 15;
const PER_ROUND: u32 = 2_000;

async fn app_route(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().body(user.claims.sub.clone())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("protect: measured only by `cargo bench --bench protect`");
        return;
    }
    actix_web::rt::System::new().block_on(measure());
}

async fn measure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::builder()
        .database_url(format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ))
        .public_url("http://localhost:8080")
        .jwt_secret("bench-secret-0123456789abcdef0123456789")
        .bcrypt_cost(4)
        .build()
        .expect("config");
    let doorward = Doorward::start(config).await.expect("doorward");
    let app = test::init_service(
        App::new()
            .configure(doorward.routes())
            .route("/app/me", web::get().to(app_route)),
    )
    .await;
    let register = test::TestRequest::post()
        .uri("/auth/register")
        .set_json(
            serde_json::json!({"email": "bench@example.com", "password": "a long bench password"}),
        )
        .to_request();
    let pair: serde_json::Value = test::call_and_read_body_json(&app, register).await;
    let bearer = format!("Bearer {}", pair["access_token"].as_str().expect("token"));

    let routes = ["/api/me", "/auth/verify", "/app/me"];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); routes.len()];
    for round in 0..=ROUNDS {
        for (i, path) in routes.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                let req = test::TestRequest::get()
                    .uri(path)
                    .insert_header(("authorization", bearer.as_str()))
                    .to_request();
                let response = test::call_service(&app, req).await;
                assert!(response.status().is_success(), "{path}");
            }
            // Round 0 warms the caches and is not counted.
            if round > 0 {
                samples[i].push(start.elapsed() / PER_ROUND);
            }
        }
    }
    let medians: Vec<Duration> = samples.into_iter().map(median).collect();
    let baseline = medians[0].as_nanos() as f64;
    println!("per request, median of {ROUNDS} interleaved rounds of {PER_ROUND}:");
    for (path, median) in routes.iter().zip(&medians) {
        let ns = median.as_nanos();
        println!(
            "  {path:<14} {ns:>8} ns   {:.2}x /api/me",
            ns as f64 / baseline
        );
    }
}
