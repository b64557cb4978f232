//! Request extractors: the one authentication extractor every protected route takes
//! ([`auth::AuthUser`]) and the JSON body readers ([`json`]).

pub mod auth;
pub mod json;
