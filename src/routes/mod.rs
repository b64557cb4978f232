//! HTTP routes, split by audience: bearer JSON ([`auth`]), cookie JSON for browser apps
//! ([`cookie_auth`]), the protected API ([`api`]), forward-auth for reverse proxies
//! ([`forward_auth`]), doorward's WebSocket ([`ws`]) and the HTML pages ([`pages`]). Each
//! module exposes `configure`.

pub mod api;
pub mod auth;
pub mod cookie_auth;
pub mod forward_auth;
pub mod pages;
pub mod respond;
pub mod ws;

use actix_web::web;

/// Registers every route; `/auth/verify` carries its own settings.
pub fn configure(
    forward_auth: forward_auth::ForwardAuth,
) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let verify = forward_auth::configure(forward_auth);
    move |cfg: &mut web::ServiceConfig| {
        auth::configure(cfg);
        cookie_auth::configure(cfg);
        api::configure(cfg);
        verify(cfg);
        ws::configure(cfg);
        pages::configure(cfg);
    }
}
