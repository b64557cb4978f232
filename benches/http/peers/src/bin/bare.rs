//! The ceiling: actix-web on one worker answering a fixed JSON body (a real `/api/me` body of
//! doorward, from `BENCH_ME_JSON`) with no authentication at all.
//!
//! `bare PORT` listens on 127.0.0.1:PORT.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{App, HttpResponse, HttpServer, web};

async fn me(body: web::Data<String>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body.get_ref().clone())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: bare PORT");
    let body = web::Data::new(std::env::var("BENCH_ME_JSON").expect("BENCH_ME_JSON is not set"));
    HttpServer::new(move || {
        App::new()
            .app_data(body.clone())
            .route("/api/me", web::get().to(me))
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
