//! HTTP routes, split by audience: bearer JSON ([`auth`]), cookie JSON for browser apps
//! ([`cookie_auth`]), the protected API ([`api`]), forward-auth for reverse proxies
//! ([`forward_auth`]), the OAuth2 endpoints and discovery ([`oauth`]), doorward's WebSocket
//! ([`ws`]), the HTML pages ([`pages`]) and health and metrics ([`operations`]). Each module exposes `configure`; [`openapi`]
//! describes them all at `GET /openapi.json`.

pub mod api;
pub mod auth;
pub mod cookie_auth;
pub mod forward_auth;
pub mod mail_links;
pub mod oauth;
pub mod openapi;
pub mod operations;
pub mod pages;
pub mod respond;
pub mod ws;

use actix_web::cookie::Key;
use actix_web::{Resource, web};

/// The routes nearly every request takes, `GET /api/me` and `/auth/verify` (full paths under
/// `base_path`), each with its path: the caller registers them before the scope of the rest,
/// each with the same layers, so they skip the scope's guard and router.
pub fn hot(base_path: &str, forward_auth: forward_auth::ForwardAuth) -> [(String, Resource); 2] {
    let (me, verify) = (
        format!("{base_path}/api/me"),
        format!("{base_path}/auth/verify"),
    );
    [
        (me.clone(), api::me_resource(&me)),
        (
            verify.clone(),
            forward_auth::resource(&verify, forward_auth),
        ),
    ]
}

/// Registers every other route; the OAuth2 endpoints carry their own settings, the pages their
/// session key.
pub fn configure(
    oauth: oauth::OAuth,
    session_key: Key,
) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let openapi = openapi::configure(&oauth.issuer_url);
    let oauth = oauth::configure(oauth);
    move |cfg: &mut web::ServiceConfig| {
        openapi(cfg);
        auth::configure(cfg);
        api::configure(cfg);
        mail_links::configure(cfg);
        cookie_auth::configure(cfg);
        oauth(cfg);
        ws::configure(cfg);
        pages::configure(cfg, &session_key);
    }
}
