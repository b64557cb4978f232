//! [`RequestChecks`]: the layer in front of every route of doorward's. On the way in, the
//! connection cap and header budget ([`limits::refusal`]), then the CSRF rule (403
//! `csrf_failed`, [`csrf::is_forbidden`]); on the way out, the security headers, and the
//! request counted and timed for `/metrics`.
//!
//! Written as a plain actix `Transform` rather than with `from_fn` or `DefaultHeaders`: every
//! request passes here, and this way it costs no boxed future, no boxed body and one layer
//! instead of two.

use std::future::{Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{Error, ResponseError};
use pin_project_lite::pin_project;

use crate::csrf::{self, AllowedOrigins};
use crate::error::AppError;
use crate::limits;
use crate::metrics::{AnswerCounters, Metrics};

/// HSTS for a year, when the public URL is https: a browser that once reached doorward over
/// TLS never falls back to plain http.
const HSTS: &str = "max-age=31536000";

/// The checks and headers of doorward's routes, as a layer: `scope.wrap(RequestChecks {…})`.
#[derive(Clone)]
pub struct RequestChecks {
    /// Origins that may send cookie requests (the CSRF rule).
    pub origins: Arc<AllowedOrigins>,
    /// `DOORWARD_MAX_HEADER_BYTES`.
    pub max_header_bytes: usize,
    /// Whether the public URL is https (HSTS).
    pub is_https: bool,
    /// Where answers are counted.
    pub metrics: Arc<Metrics>,
    /// The one route the layer is in front of, if one: its pattern, for the metrics.
    pub route: Option<Arc<str>>,
}

impl<S, B> Transform<S, ServiceRequest> for RequestChecks
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RequestChecksService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let counters = AnswerCounters::new(Arc::clone(&self.metrics), self.route.clone());
        ready(Ok(RequestChecksService {
            service,
            layer: Rc::new(LayerState {
                settings: self.clone(),
                counters,
            }),
        }))
    }
}

/// What one layer's requests share: the settings, and the counters this layer keeps.
pub struct LayerState {
    settings: RequestChecks,
    counters: AnswerCounters,
}

/// [`RequestChecks`] around a service.
pub struct RequestChecksService<S> {
    service: S,
    layer: Rc<LayerState>,
}

impl<S, B> Service<ServiceRequest> for RequestChecksService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Checked<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let layer = Rc::clone(&self.layer);
        let started = Instant::now();
        let refusal = if let Some(refusal) = limits::refusal(layer.settings.max_header_bytes, &req)
        {
            refusal
        } else if csrf::is_forbidden(req.request(), &layer.settings.origins) {
            AppError::CsrfFailed.error_response()
        } else {
            return Checked::Passed {
                handler: self.service.call(req),
                layer,
                started,
            };
        };
        Checked::Refused {
            response: Some(req.into_response(refusal)),
            layer,
            started,
        }
    }
}

pin_project! {
    /// The answer of [`RequestChecksService`]: the handler's, or a refusal made at once; either
    /// with the security headers added, and counted.
    #[project = CheckedProjection]
    pub enum Checked<F> {
        /// The request passed: the handler's future.
        Passed { #[pin] handler: F, layer: Rc<LayerState>, started: Instant },
        /// Refused before the handler (taken when polled).
        Refused {
            response: Option<ServiceResponse<BoxBody>>,
            layer: Rc<LayerState>,
            started: Instant,
        },
    }
}

impl<F, B> Future for Checked<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (mut response, layer, started) = match self.project() {
            CheckedProjection::Passed {
                handler,
                layer,
                started,
            } => (
                ready!(handler.poll(cx))?.map_into_left_body(),
                layer,
                started,
            ),
            CheckedProjection::Refused {
                response,
                layer,
                started,
            } => match response.take() {
                Some(response) => (response.map_into_right_body(), layer, started),
                None => {
                    return Poll::Ready(Err(AppError::Internal(
                        "checked future polled again".into(),
                    )
                    .into()));
                }
            },
        };
        add_security_headers(response.headers_mut(), layer.settings.is_https);
        layer.counters.observe(
            response.request(),
            response.status().as_u16(),
            started.elapsed(),
        );
        Poll::Ready(Ok(response))
    }
}

/// Headers every answer carries, JSON included: `nosniff`, and [`HSTS`] when the public URL is
/// https. No handler of doorward's sets either, so they are inserted without a lookup first.
fn add_security_headers(headers: &mut HeaderMap, is_https: bool) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if is_https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
}

/// The same headers as a layer, for the routes outside doorward's scope (the binary's start
/// page and its 404s).
pub fn security_headers(is_https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if is_https {
        headers.add((header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        headers
    }
}
