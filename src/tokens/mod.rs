//! Tokens: signed JWT access tokens ([`jwt`]), the cache of those already verified
//! ([`verified`]), the asymmetric key files ([`keys`]), and opaque tokens ([`opaque`]): refresh tokens and WebSocket tickets.

pub mod jwt;
pub mod keys;
pub mod opaque;
pub mod verified;
