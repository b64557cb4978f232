//! doorward: an authentication server for browser apps (HttpOnly cookies), API and mobile
//! clients (bearer tokens) and server-rendered sites, on SQLite or PostgreSQL.
//!
//! Where things are:
//! - [`config`]: settings from the environment; [`keyfile`]: the SQLite deployment's key file.
//! - [`db`]: the pool, migrations and every query ([`db::repo`]).
//! - [`domain`]: parsed emails, passwords and names; [`passwords`]: bcrypt on its own threads.
//! - [`accounts`]: registration, sign-in and the user cache.
//! - [`sessions`]: refresh families — start, rotate, revoke.
//! - [`tokens`]: JWT access tokens and opaque refresh tokens.
//! - [`denylist`]: revocations, answered from memory.
//! - [`extractors`]: the one auth extractor and the JSON body readers.
//! - [`cookies`] and [`csrf`]: the browser transport's cookies and its CSRF rule.
//! - [`routes`]: the HTTP routes; [`error`]: the one error type and its JSON shape.
//! - [`startup`]: wiring, the server and the denylist sync.

pub mod accounts;
pub mod config;
pub mod cookies;
pub mod csrf;
pub mod db;
pub mod denylist;
pub mod domain;
pub mod error;
pub mod extractors;
pub mod keyfile;
pub mod page_session;
pub mod passwords;
pub mod routes;
pub mod sessions;
pub mod startup;
pub mod templates;
pub mod tokens;
