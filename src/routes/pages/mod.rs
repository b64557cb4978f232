//! The server-rendered pages (contract §4): landing, sign-in, registration, account and
//! sign-out, as plain HTML forms that work with JavaScript off.
//!
//! They use the same sign-in model as the API: a page sign-in sets the two `__Host-` cookies
//! through [`crate::accounts::sign_in`], so `/api/me` works by cookie afterwards, and a
//! sign-out through the API signs the pages out. Forms carry a CSRF token kept in the page
//! session ([`crate::page_session`]) and are refused when posted from a foreign origin
//! ([`form`]). Every answer carries the pages' security headers; failures render small HTML
//! pages ([`response::PageError`]), never JSON and never a panic.
//!
//! Where things are: [`next`] validates where a sign-in goes, [`form`] reads and checks form
//! posts, [`response`] answers, [`sign_in`] and [`account`] are the handlers.

pub mod account;
pub mod form;
pub mod next;
pub mod response;
pub mod sign_in;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::extractors::json::MAX_BODY_BYTES;

/// The stylesheet, built into the binary: a deployed server serves exactly what it was built
/// with, never whatever `static/` folder happens to be in its working directory.
const STYLESHEET: &str = include_str!("../../../static/app.css");

/// How long browsers may keep files under `/static`.
const STATIC_CACHE_CONTROL: &str = "public, max-age=3600";

/// Registers the pages and the stylesheet.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Form bodies get the same limit as JSON bodies (contract §5).
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .route("/login", web::get().to(sign_in::login_form))
        .route("/login", web::post().to(sign_in::login_submit))
        .route("/register", web::get().to(sign_in::register_form))
        .route("/register", web::post().to(sign_in::register_submit))
        .route("/account", web::get().to(account::account))
        .route("/logout", web::post().to(account::logout))
        .route("/static/app.css", web::get().to(stylesheet));
}

/// Registers the start page, `/`: the doorward binary's, and an embedding app's if it wants it.
pub fn configure_start_page(cfg: &mut web::ServiceConfig, at: &str) {
    cfg.route(at, web::get().to(account::landing));
}

/// `GET /static/app.css`.
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, STATIC_CACHE_CONTROL))
        .body(STYLESHEET)
}
