//! JSON request bodies, read with the contract's limits and error answers (contract §3, §5).
//!
//! actix-web's `web::Json` answers its own error shapes, allows 2 MiB by default and cannot
//! report a wrong field type per field, so bodies are read here: 413 over 64 KiB, 400
//! `invalid_request` for a wrong content type or malformed JSON, and 422 `validation_failed`
//! with `fields` for valid JSON of the wrong shape.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};

use crate::error::{AppError, FieldErrors};
use crate::state::AppState;

/// The largest body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON object body.
#[derive(Debug)]
pub struct JsonFields(Map<String, Value>);

impl JsonFields {
    /// A required string field; records "is required" or "must be a string" otherwise.
    pub fn required_str(&self, name: &'static str, errors: &mut FieldErrors) -> Option<&str> {
        match self.0.get(name) {
            None | Some(Value::Null) => {
                errors.add(name, "is required");
                None
            }
            Some(value) => self.as_str(name, value, errors),
        }
    }

    /// An optional string field (absent or `null` is `None`).
    pub fn optional_str(&self, name: &'static str, errors: &mut FieldErrors) -> Option<&str> {
        match self.0.get(name) {
            None | Some(Value::Null) => None,
            Some(value) => self.as_str(name, value, errors),
        }
    }

    fn as_str<'a>(
        &self,
        name: &'static str,
        value: &'a Value,
        errors: &mut FieldErrors,
    ) -> Option<&'a str> {
        let text = value.as_str();
        if text.is_none() {
            errors.add(name, "must be a string");
        }
        text
    }
}

/// Whether the request's media type (parameters aside) is `mime`.
fn has_content_type(req: &HttpRequest, mime: &str) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|sent| sent.trim().eq_ignore_ascii_case(mime))
}

/// The whole body of a request sent as `mime` ([`read_limited`]); 400 `invalid_request` with
/// `wrong_type` for any other content type.
pub(super) fn typed_body(
    req: &HttpRequest,
    payload: &mut Payload,
    mime: &'static str,
    wrong_type: &'static str,
) -> LocalBoxFuture<'static, Result<web::BytesMut, AppError>> {
    let req = req.clone();
    let payload = payload.take();
    Box::pin(async move {
        if !has_content_type(&req, mime) {
            return Err(AppError::InvalidRequest(wrong_type));
        }
        read_limited(&req, payload).await
    })
}

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] (by header or by count) and a
/// body slower than `DOORWARD_BODY_TIMEOUT` (408).
async fn read_limited(req: &HttpRequest, mut payload: Payload) -> Result<web::BytesMut, AppError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(AppError::PayloadTooLarge);
    }
    let deadline = req
        .app_data::<web::Data<AppState>>()
        .map_or(DEFAULT_BODY_TIMEOUT, |state| state.body_timeout);
    let read = async move {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|_| AppError::InvalidRequest("the request body could not be read"))?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(AppError::PayloadTooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| AppError::RequestTimeout)?
}

/// The body deadline when no state is registered (it always is, in doorward's routes).
const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A top-level JSON object whose member names are all distinct. serde_json keeps the last of
/// two members with one name, so `{"email":"a…","email":"b…"}` would be read differently by
/// doorward and by whatever proxy or log inspected the first: such a body is refused instead.
struct DistinctObject(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for DistinctObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = DistinctObject;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Map::new();
                while let Some((name, value)) = map.next_entry::<String, Value>()? {
                    if members.contains_key(&name) {
                        return Err(serde::de::Error::custom(DUPLICATE_MEMBER));
                    }
                    members.insert(name, value);
                }
                Ok(DistinctObject(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

const DUPLICATE_MEMBER: &str = "the request body names a member twice";

pub(crate) fn parse_object(body: &[u8]) -> Result<JsonFields, AppError> {
    if let Ok(DistinctObject(map)) = serde_json::from_slice::<DistinctObject>(body) {
        return Ok(JsonFields(map));
    }
    // Only a refused body is read a second time, to say why it was refused.
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(_)) => Err(AppError::InvalidRequest(DUPLICATE_MEMBER)),
        Ok(_) => {
            let mut errors = FieldErrors::default();
            errors.add("body", "must be a JSON object");
            Err(AppError::Validation(errors))
        }
        Err(_) => Err(AppError::InvalidRequest(
            "the request body is not valid JSON",
        )),
    }
}

impl FromRequest for JsonFields {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = typed_body(
            req,
            payload,
            "application/json",
            "the request body must be JSON, sent with Content-Type: application/json",
        );
        Box::pin(async move { parse_object(&body.await?) })
    }
}

/// A body that may be absent, empty, or anything at all: for sign-out, which must never be
/// blocked by what the client sent. Anything unreadable is `None`.
#[derive(Debug)]
pub struct LenientJsonFields(pub Option<JsonFields>);

impl FromRequest for LenientJsonFields {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let body = read_limited(&req, payload).await.ok();
            Ok(Self(body.and_then(|b| parse_object(&b).ok())))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_report_their_own_problems() {
        let fields = parse_object(br#"{"email": 5, "name": null}"#).unwrap();
        let mut errors = FieldErrors::default();
        assert_eq!(fields.required_str("email", &mut errors), None);
        assert_eq!(fields.required_str("password", &mut errors), None);
        assert_eq!(fields.optional_str("name", &mut errors), None);
        assert_eq!(errors.get("email"), ["must be a string"]);
        assert_eq!(errors.get("password"), ["is required"]);
        assert!(errors.get("name").is_empty());
    }

    #[test]
    fn non_objects_and_garbage_are_told_apart() {
        assert!(matches!(parse_object(b"[1]"), Err(AppError::Validation(_))));
        assert!(matches!(
            parse_object(b"{"),
            Err(AppError::InvalidRequest(_))
        ));
    }

    #[test]
    fn a_member_named_twice_is_refused() {
        assert!(matches!(
            parse_object(br#"{"email":"a@x.io","email":"b@x.io"}"#),
            Err(AppError::InvalidRequest(DUPLICATE_MEMBER))
        ));
        assert!(parse_object(br#"{"email":"a@x.io","password":"p"}"#).is_ok());
    }
}
