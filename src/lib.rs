//! doorward: an authentication server for browser apps (HttpOnly cookies), API and mobile
//! clients (bearer tokens) and server-rendered sites, on SQLite or PostgreSQL.
//!
//! Where things are:
//! - [`config`]: settings from the environment; [`keyfile`]: the SQLite deployment's key file.
//! - [`db`]: the pool, migrations and every query ([`db::repo`]).
//! - [`domain`]: parsed emails, passwords and names; [`passwords`]: bcrypt on its own threads.
//! - [`state`]: the shared [`state::AppState`] and the lifetimes, derived once.
//! - [`users`]: the public user, a new account, and the user cache.
//! - [`accounts`]: registration and password sign-in.
//! - [`sessions`]: refresh families — start, rotate, revoke.
//! - [`tokens`]: JWT access tokens and opaque refresh tokens.
//! - [`denylist`]: revocations, answered from memory; [`revocation_sync`]: following the
//!   revocation log every instance writes.
//! - [`extractors`]: the one auth extractor and the JSON body readers.
//! - [`cookies`] and [`csrf`]: the browser transport's cookies and its CSRF rule.
//! - [`routes`]: the HTTP routes and pages; [`templates`]: the pages' views; [`error`]: the
//!   one error type of the JSON API and its shape.
//! - [`ws`]: authenticated WebSockets that close when their session ends.
//! - [`startup`]: wiring only.

pub mod accounts;
pub mod config;
pub mod cookies;
pub mod csrf;
pub mod db;
pub mod denylist;
pub mod domain;
pub mod embed;
pub mod error;
pub mod extractors;
pub mod keyfile;
pub mod page_session;
pub mod passwords;
pub mod revocation_sync;
pub mod routes;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod templates;
pub mod tokens;
pub mod users;
pub mod ws;
