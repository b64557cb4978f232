//! HTTP routes, split by audience: bearer JSON ([`auth`]), cookie JSON for browser apps
//! ([`cookie_auth`]), the protected API ([`api`]), forward-auth for reverse proxies
//! ([`forward_auth`]), the OAuth2 endpoints and discovery ([`oauth`]), doorward's WebSocket ([`ws`]) and the HTML pages ([`pages`]). Each
//! module exposes `configure`.

pub mod api;
pub mod auth;
pub mod cookie_auth;
pub mod forward_auth;
pub mod oauth;
pub mod pages;
pub mod respond;
pub mod ws;

use actix_web::cookie::Key;
use actix_web::web;

/// Registers every route; `/auth/verify` and the OAuth2 endpoints carry their own settings, the
/// pages their session key.
pub fn configure(
    forward_auth: forward_auth::ForwardAuth,
    oauth: oauth::OAuth,
    session_key: Key,
) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let verify = forward_auth::configure(forward_auth);
    let oauth = oauth::configure(oauth);
    // A scope tries its routes in order: the ones every request takes come first.
    move |cfg: &mut web::ServiceConfig| {
        api::configure(cfg);
        verify(cfg);
        auth::configure(cfg);
        cookie_auth::configure(cfg);
        oauth(cfg);
        ws::configure(cfg);
        pages::configure(cfg, &session_key);
    }
}
