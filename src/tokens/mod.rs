//! Tokens: signed JWT access tokens ([`jwt`]), the cache of those already verified
//! ([`verified`]), and opaque tokens ([`opaque`]): refresh tokens and WebSocket tickets.

pub mod jwt;
pub mod opaque;
pub mod verified;
