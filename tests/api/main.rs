//! The one integration test binary: every file here drives a real server over HTTP, each test
//! once on SQLite and once on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod audit;
mod bad_input;
mod browser;
mod cli;
mod cookies;
mod database_outage;
mod durability;
mod embedded;
mod forward_auth;
mod instances;
mod logout;
mod mail_links;
mod notify;
mod oauth;
mod openapi;
mod operations;
mod pages;
mod password;
mod refresh;
mod register_login;
mod sessions;
mod signing_keys;
mod slow_clients;
mod storage_faults;
mod throttling;
mod token_checks;
mod ws;
