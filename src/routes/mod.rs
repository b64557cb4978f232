//! HTTP routes, split by audience: bearer JSON ([`auth`]), cookie JSON for browser apps
//! ([`cookie_auth`]) and the protected API ([`api`]). Each module exposes `configure`.

pub mod api;
pub mod auth;
pub mod cookie_auth;
pub mod pages;
pub mod respond;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    auth::configure(cfg);
    cookie_auth::configure(cfg);
    api::configure(cfg);
    pages::configure(cfg);
}
