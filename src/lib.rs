//! doorward: an authentication server for browser apps (HttpOnly cookies), API and mobile
//! clients (bearer tokens) and server-rendered sites, on SQLite or PostgreSQL — as its own
//! binary, or inside your actix-web app.
//!
//! Inside your app, doorward serves its routes and pages beside yours, and your handlers take
//! [`AuthUser`] (signed in, or 401), [`MaybeAuthUser`] (anonymous allowed, a bad credential
//! still 401) or [`RequireRole<Admin>`](RequireRole) (403 `insufficient_role`). Every check is
//! the one doorward's own routes make: bearer wins, strict cookies, CSRF on unsafe cookie
//! requests, revocation honoured at once, no database round trip.
//!
//! ```
//! use actix_web::{App, HttpResponse, test, web};
//! use doorward::{AuthUser, Config, Doorward};
//!
//! async fn hello(user: AuthUser) -> HttpResponse {
//!     HttpResponse::Ok().body(format!("hello, {}", user.claims.email))
//! }
//!
//! # #[actix_web::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let database_url = format!("sqlite://{}", dir.path().join("app.db").display());
//! let config = Config::builder()
//!     .database_url(database_url)
//!     .public_url("https://app.example.com")
//!     .jwt_secret("a-secret-of-at-least-32-bytes-0123456789")
//!     .build()?;
//! let doorward = Doorward::start(config).await?;
//! let app = test::init_service(
//!     App::new()
//!         .configure(doorward.routes())
//!         .route("/hello", web::get().to(hello)),
//! )
//! .await;
//!
//! // Nobody signed in: 401.
//! let anonymous = test::TestRequest::get().uri("/hello").to_request();
//! assert_eq!(test::call_service(&app, anonymous).await.status(), 401);
//!
//! // Register through doorward, then call the app's route with the access token.
//! let register = test::TestRequest::post()
//!     .uri("/auth/register")
//!     .set_json(serde_json::json!({"email": "ada@example.com", "password": "correct horse battery"}))
//!     .to_request();
//! let pair: serde_json::Value = test::call_and_read_body_json(&app, register).await;
//! let token = pair["access_token"].as_str().unwrap();
//! let hello = test::TestRequest::get()
//!     .uri("/hello")
//!     .insert_header(("authorization", format!("Bearer {token}")))
//!     .to_request();
//! assert_eq!(test::call_and_read_body(&app, hello).await, "hello, ada@example.com");
//! # Ok(())
//! # }
//! ```
//!
//! The example app `examples/tasks_app.rs` is a whole one, with its own WebSocket
//! ([`AuthSocket`]).
//!
//! Inside the crate: [`config`] (settings, and [`ConfigBuilder`]); `db` (the pool, migrations
//! and every query); `domain` (emails, passwords, names, [`Role`]); `passwords` (bcrypt on its
//! own threads); `state` (the shared state); `users`, `accounts`, `sessions` (the flows);
//! `tokens` (JWTs and opaque tokens); `denylist` and `revocation_sync` (revocations, in memory
//! and across instances); `extractors`, `cookies`, `csrf`; `routes` and `templates` (the HTTP
//! routes and pages); `checks` (the layer before every route: limits, CSRF, security headers); `error` ([`Error`], the one error type of the JSON API); `embed`
//! ([`Doorward`]); `ws` ([`AuthSocket`]); `startup` (the binary's [`Application`]); [`cli`]
//! (the command line) and `admin` (what the operator's commands do).

#![warn(missing_docs)]

pub mod cli;
pub mod config;

pub(crate) mod accounts;
pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod checks;
pub(crate) mod cookies;
pub(crate) mod csrf;
pub(crate) mod db;
pub(crate) mod denylist;
pub(crate) mod domain;
pub(crate) mod embed;
pub(crate) mod error;
pub(crate) mod extractors;
pub(crate) mod keyfile;
pub(crate) mod limits;
pub(crate) mod mail;
pub(crate) mod mail_links;
pub(crate) mod metrics;
pub(crate) mod page_session;
pub(crate) mod passwords;
pub(crate) mod revocation_sync;
pub(crate) mod routes;
pub(crate) mod sessions;
pub(crate) mod startup;
pub(crate) mod state;
pub(crate) mod templates;
pub(crate) mod throttle;
pub(crate) mod tokens;
pub(crate) mod users;
pub(crate) mod ws;

pub use config::{Config, ConfigBuilder, ConfigError};
pub use domain::Role;
pub use embed::{Doorward, StartupError};
pub use error::AppError as Error;
pub use extractors::auth::{AuthUser, MaybeAuthUser};
pub use extractors::role::{Admin, RequireRole, RoleRequirement};
pub use startup::Application;
pub use tokens::jwt::AccessClaims;
pub use ws::{AuthSocket, SocketMessage};

/// What doorward's own tests and benchmarks reach into. Not part of the API: no promise of
/// stability, and hidden from the docs.
#[doc(hidden)]
pub mod internals {
    pub use crate::db::models::UserRow;
    pub use crate::db::{Db, repo, schema};
    pub use crate::denylist::Denylist;
    pub use crate::tokens::jwt::{JwtKeys, Subject};
    pub use crate::tokens::keys::KeySet;
    pub use crate::tokens::verified::VerifiedTokens;
}

/// The fuzz targets' entry points (`fuzz/`), and their regression test.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

/// The README's Rust examples, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
