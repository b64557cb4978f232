//! Tokens: signed JWT access tokens ([`jwt`]) and opaque tokens ([`opaque`]): refresh
//! tokens and WebSocket tickets.

pub mod jwt;
pub mod opaque;
