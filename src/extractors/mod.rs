//! Request extractors: the one authentication extractor every protected route takes
//! ([`auth::AuthUser`], [`auth::MaybeAuthUser`]), a role requirement ([`role::RequireRole`])
//! and the JSON body readers ([`json`]).

pub mod auth;
pub mod json;
pub mod role;
