//! Request extractors: the one authentication extractor every protected route takes
//! ([`auth::AuthUser`], [`auth::MaybeAuthUser`]), a role requirement ([`role::RequireRole`])
//! the JSON and OAuth2 form body readers ([`json`], [`form`]) and the address throttling counts by
//! ([`client_ip::ClientIp`]).

pub mod auth;
pub mod client_ip;
pub mod form;
pub mod json;
pub mod role;
