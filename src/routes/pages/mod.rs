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
pub mod mail_links;
pub mod next;
pub mod response;
pub mod sign_in;

use actix_web::cookie::Key;
use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::page_session;

use crate::extractors::json::MAX_BODY_BYTES;

/// The stylesheet, built into the binary: a deployed server serves exactly what it was built
/// with, never whatever `static/` folder happens to be in its working directory.
const STYLESHEET: &str = include_str!("../../../static/app.css");

/// How long browsers may keep files under `/static`.
const STATIC_CACHE_CONTROL: &str = "public, max-age=3600";

/// Registers the pages and the stylesheet. Only the pages carry the page session (its
/// middleware reads and writes a cookie): the API, forward-auth and the socket never pay for it.
pub fn configure(cfg: &mut web::ServiceConfig, session_key: &Key) {
    let page = |path: &str| web::resource(path).wrap(page_session::middleware(session_key.clone()));
    // Form bodies get the same limit as JSON bodies (contract §5).
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .service(
            page("/login")
                .route(web::get().to(sign_in::login_form))
                .route(web::post().to(sign_in::login_submit)),
        )
        .service(
            page("/register")
                .route(web::get().to(sign_in::register_form))
                .route(web::post().to(sign_in::register_submit)),
        )
        .service(page("/account").route(web::get().to(account::account)))
        .service(page("/logout").route(web::post().to(account::logout)))
        .service(page("/account/sessions/end").route(web::post().to(account::end_session)))
        .service(page("/account/password").route(web::post().to(account::change_password)))
        .service(
            page("/forgot-password")
                .route(web::get().to(mail_links::forgot_form))
                .route(web::post().to(mail_links::forgot_submit)),
        )
        .service(
            page("/reset-password")
                .route(web::get().to(mail_links::reset_form))
                .route(web::post().to(mail_links::reset_submit)),
        )
        .service(
            page("/verify-email")
                .route(web::get().to(mail_links::verify_form))
                .route(web::post().to(mail_links::verify_submit)),
        )
        .service(
            page("/account/sessions/end-others").route(web::post().to(account::end_other_sessions)),
        )
        .service(web::resource("/static/app.css").get(stylesheet));
}

/// Registers the start page, `/`: the doorward binary's, and an embedding app's if it wants it.
pub fn configure_start_page(cfg: &mut web::ServiceConfig, at: &str) {
    cfg.route(at, web::get().to(account::landing));
}

/// The pages' stylesheet.
#[utoipa::path(
    get,
    path = "/static/app.css",
    tag = "pages",
    responses((status = 200, description = "CSS, cacheable for an hour", content_type = "text/css"))
)]
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, STATIC_CACHE_CONTROL))
        .body(STYLESHEET)
}
