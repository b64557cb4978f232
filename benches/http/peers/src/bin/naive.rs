//! A JWT check written the obvious way, on doorward's own stack (actix-web, jsonwebtoken, serde):
//! read `Authorization: Bearer`, `jsonwebtoken::decode` with HS256 and iss/aud/exp validated,
//! look the `jti` up in an `RwLock<HashSet<String>>` denylist, and answer the user as JSON from
//! an in-memory map (seeded with the real `/api/me` body in `BENCH_ME_JSON`).
//!
//! `naive PORT` listens on 127.0.0.1:PORT; the HS256 key comes from `JWT_SECRET`.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    email: String,
    role: String,
    sid: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct User {
    id: String,
    email: String,
    name: Option<String>,
    role: String,
    created_at: String,
}

struct State {
    key: DecodingKey,
    validation: Validation,
    denylist: RwLock<HashSet<String>>,
    users: HashMap<String, User>,
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header(("WWW-Authenticate", "Bearer"))
        .json(serde_json::json!({"error": "invalid_token"}))
}

async fn me(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let Some(token) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized();
    };
    let claims = match decode::<Claims>(token, &state.key, &state.validation) {
        Ok(data) => data.claims,
        Err(_) => return unauthorized(),
    };
    if state.denylist.read().unwrap().contains(&claims.jti) {
        return unauthorized();
    }
    match state.users.get(&claims.sub) {
        Some(user) => HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store"))
            .json(user),
        None => HttpResponse::NotFound().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: naive PORT");
    let secret = std::env::var("JWT_SECRET").expect("JWT_SECRET is not set");
    let me_json = std::env::var("BENCH_ME_JSON").expect("BENCH_ME_JSON is not set");
    let user: User = serde_json::from_str(&me_json).expect("BENCH_ME_JSON is not a user");

    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["doorward"]);
    validation.set_audience(&["doorward"]);
    let state = web::Data::new(State {
        key: DecodingKey::from_secret(secret.as_bytes()),
        validation,
        denylist: RwLock::new(HashSet::new()),
        users: HashMap::from([(user.id.clone(), user)]),
    });
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/api/me", web::get().to(me))
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
