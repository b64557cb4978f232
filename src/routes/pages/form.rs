//! Form posts and queries, and the forgery checks every form post passes.

use std::collections::HashMap;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use url::form_urlencoded;

use super::response::PageError;
use crate::csrf::{self, AllowedOrigins};
use crate::page_session::{self, CSRF_FIELD};
use crate::state::AppState;

/// A decoded `application/x-www-form-urlencoded` body or query; the first value of a name wins.
pub(crate) struct FormFields(HashMap<String, String>);

impl FormFields {
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        let mut fields = HashMap::new();
        for (name, value) in form_urlencoded::parse(bytes) {
            fields
                .entry(name.into_owned())
                .or_insert_with(|| value.into_owned());
        }
        Self(fields)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

pub(super) fn query(req: &HttpRequest) -> FormFields {
    FormFields::parse(req.query_string().as_bytes())
}

/// A form post that passed the forgery checks: sent from this site (by [`csrf::is_cross_site`],
/// which applies here without auth cookies too, so nobody can sign a visitor into an account
/// of the attacker's), with the page session's CSRF token. A forged post never reaches a
/// handler: it gets the 403 page and changes nothing.
pub(super) struct CheckedForm(pub(super) FormFields);

impl FromRequest for CheckedForm {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        let deadline = req
            .app_data::<web::Data<AppState>>()
            .map_or(std::time::Duration::from_secs(10), |state| {
                state.body_timeout
            });
        Box::pin(async move {
            // A body over the 64 KiB limit gets the page's own answer, never actix's plain text.
            let Ok(body) = tokio::time::timeout(deadline, body).await else {
                return Err(PageError::TooSlow);
            };
            let body = match body {
                Ok(body) => body,
                Err(e) if matches!(e.as_error::<PayloadError>(), Some(PayloadError::Overflow)) => {
                    return Err(PageError::TooLarge);
                }
                Err(_) => return Err(PageError::Unreadable),
            };
            let form = FormFields::parse(&body);
            let is_same_site = req
                .app_data::<web::Data<AllowedOrigins>>()
                .is_some_and(|origins| !csrf::is_cross_site(&req, origins));
            if is_same_site && page_session::csrf_matches(&req.get_session(), form.get(CSRF_FIELD))
            {
                return Ok(Self(form));
            }
            Err(PageError::Forged)
        })
    }
}
