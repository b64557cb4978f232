//! Forward-auth (`/auth/verify`): a reverse proxy (nginx `auth_request`, Traefik `forwardAuth`,
//! Caddy `forward_auth`) asks doorward about each request before passing it to the app.
//!
//! The credential is read and verified exactly as [`crate::extractors::auth::AuthUser`] reads
//! it (bearer wins, no fall-back, strict cookies, revocation from memory: no database). The
//! CSRF rule is applied to the *original* request, whose method the proxy forwards. Forwarded
//! headers are believed only from the peers `DOORWARD_TRUSTED_PROXIES` lists; from anyone else
//! the request is judged as it arrived.

use std::sync::Arc;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use url::{Url, form_urlencoded};

use super::respond::no_store;
use crate::config::RedirectHosts;
use crate::cookies;
use crate::csrf::{self, AllowedOrigins};
use crate::error::{AppError, ErrorBody};
use crate::extractors::auth::verify_request;
use crate::state::AppState;

/// The identity headers of an allowed request; a proxy copies them to the app.
pub mod identity_header {
    /// The user's id (`sub`).
    pub const USER_ID: &str = "x-doorward-user-id";
    /// The user's canonical email.
    pub const EMAIL: &str = "x-doorward-email";
    /// `user` or `admin`.
    pub const ROLE: &str = "x-doorward-role";
    /// The session (`sid`), for apps that key their own state by session.
    pub const SESSION: &str = "x-doorward-session";
}

/// How `/auth/verify` answers, fixed at start.
#[derive(Debug, Clone)]
pub struct ForwardAuth {
    /// `DOORWARD_FORWARD_AUTH_REDIRECT=302`.
    pub redirects: bool,
    /// Where the sign-in page is.
    pub public_url: Url,
    /// The origins the CSRF rule allows.
    pub origins: Arc<AllowedOrigins>,
}

/// `/auth/verify` (every method) at `path` (the base path included), with its own settings
/// attached, so it cannot be wired without them. Registered on its own, outside doorward's
/// scope, with that scope's layers ([`crate::embed`]): a proxy asks it on every request.
pub fn resource(path: &str, settings: ForwardAuth) -> Resource {
    web::resource(path)
        .app_data(web::Data::new(settings))
        .route(web::route().to(verify))
}

/// The request the proxy asks about, as far as it can be believed.
struct Original {
    method: Method,
    url: Option<Url>,
}

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

impl Original {
    /// From a trusted proxy: `X-Forwarded-Method` (else `X-Original-Method`) and
    /// `X-Original-URL` (else `X-Forwarded-Proto` + `X-Forwarded-Host` + `X-Forwarded-Uri`).
    /// From anyone else: the request itself, with no URL to return to.
    fn of(req: &HttpRequest, trusted: bool) -> Self {
        if !trusted {
            return Self {
                method: req.method().clone(),
                url: None,
            };
        }
        let method = header_str(req, "x-forwarded-method")
            .or_else(|| header_str(req, "x-original-method"))
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
            .unwrap_or_else(|| req.method().clone());
        let url = header_str(req, "x-original-url")
            .map(str::to_owned)
            .or_else(|| {
                let proto = header_str(req, "x-forwarded-proto")?;
                let host = header_str(req, "x-forwarded-host")?;
                let uri = header_str(req, "x-forwarded-uri").unwrap_or("/");
                Some(format!("{proto}://{host}{uri}"))
            })
            .and_then(|raw| Url::parse(&raw).ok());
        Self { method, url }
    }

    fn is_unsafe(&self) -> bool {
        !matches!(
            self.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        )
    }

    /// Where a denied browser navigation signs in: doorward's `/login`, with `next` when the
    /// original URL is on doorward's own origin (the single-host layout), as a path, or on a
    /// host `DOORWARD_REDIRECT_HOSTS` lists, as the whole URL.
    fn login_location(&self, public_url: &Url, hosts: &RedirectHosts, login_path: &str) -> String {
        let mut login = format!("{}{login_path}", public_url.origin().ascii_serialization());
        let next = self.url.as_ref().and_then(|url| {
            if url.origin() == public_url.origin() {
                let mut next = url.path().to_owned();
                if let Some(query) = url.query() {
                    next.push('?');
                    next.push_str(query);
                }
                Some(next)
            } else {
                hosts.allows(url).then(|| url.to_string())
            }
        });
        if let Some(next) = next {
            login.push_str("?next=");
            login.extend(form_urlencoded::byte_serialize(next.as_bytes()));
        }
        login
    }
}

/// True when the original request is a browser navigation: it accepts HTML.
fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|accept| accept.contains("text/html"))
}

/// Asks whether the request a proxy is about to pass carries a live credential; every method.
#[utoipa::path(
    method(get, head, post, put, patch, delete, options, trace),
    path = "/auth/verify",
    tag = "proxy",
    security(("bearer" = []), ("access_cookie" = [])),
    params(
        ("x-forwarded-method" = Option<String>, Header, description = "The original method (else `X-Original-Method`); believed from `DOORWARD_TRUSTED_PROXIES` only"),
        ("x-original-url" = Option<String>, Header, description = "The original URL (else `X-Forwarded-Proto`, `-Host`, `-Uri`); trusted proxies only"),
    ),
    responses(
        (status = 200, description = "Allowed", headers(
            ("x-doorward-user-id" = String, description = "`sub`"),
            ("x-doorward-email" = String, description = "The canonical email"),
            ("x-doorward-role" = String, description = "`user` or `admin`"),
            ("x-doorward-session" = String, description = "`sid`"),
        )),
        (status = 302, description = "Denied browser navigation with `DOORWARD_FORWARD_AUTH_REDIRECT=302`: `Location` is the sign-in page", body = ErrorBody<'static>),
        (status = 401, description = "No valid credential; `Location` set for browser navigations", body = ErrorBody<'static>),
        (status = 403, description = "`csrf_failed`: an unsafe cross-site original request with cookies", body = ErrorBody<'static>),
    )
)]
async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    settings: web::Data<ForwardAuth>,
) -> HttpResponse {
    let trusted = req
        .peer_addr()
        .is_some_and(|peer| state.trusted_proxies.contains(&peer.ip()));
    let original = Original::of(&req, trusted);
    if original.is_unsafe()
        && cookies::read(req.headers()).any_present()
        && csrf::is_cross_site(&req, &settings.origins)
    {
        let error = AppError::CsrfFailed;
        return error.finish(error.response_builder());
    }
    match verify_request(&state, &req) {
        Ok(claims) => {
            let mut builder = no_store(StatusCode::OK);
            builder
                .insert_header((identity_header::USER_ID, claims.sub.as_str()))
                .insert_header((identity_header::EMAIL, claims.email.as_str()))
                .insert_header((identity_header::ROLE, claims.role.as_str()))
                .insert_header((identity_header::SESSION, claims.sid.to_string()));
            builder.finish()
        }
        Err(error) => {
            let mut builder = error.response_builder();
            if wants_html(&req) {
                builder.insert_header((
                    header::LOCATION,
                    original.login_location(
                        &settings.public_url,
                        &state.redirect_hosts,
                        &state.path("/login"),
                    ),
                ));
                if settings.redirects {
                    builder.status(StatusCode::FOUND);
                }
            }
            error.finish(builder)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let req = TestRequest::get()
            .insert_header(("x-forwarded-method", "POST"))
            .insert_header(("x-original-url", "http://localhost:8080/app?x=1"))
            .to_http_request();
        let believed = Original::of(&req, true);
        assert_eq!(believed.method, Method::POST);
        assert!(believed.is_unsafe());
        let public = Url::parse("http://localhost:8080").unwrap();
        let none = RedirectHosts::default();
        assert_eq!(
            believed.login_location(&public, &none, "/login"),
            "http://localhost:8080/login?next=%2Fapp%3Fx%3D1"
        );
        let ignored = Original::of(&req, false);
        assert_eq!(ignored.method, Method::GET);
        assert_eq!(
            ignored.login_location(&public, &none, "/login"),
            "http://localhost:8080/login"
        );
        let elsewhere = Url::parse("https://auth.example.com").unwrap();
        assert_eq!(
            believed.login_location(&elsewhere, &none, "/login"),
            "https://auth.example.com/login",
            "no next to another origin"
        );
        let listed = RedirectHosts::parse("localhost:8080").unwrap();
        assert_eq!(
            believed.login_location(&elsewhere, &listed, "/login"),
            "https://auth.example.com/login?next=http%3A%2F%2Flocalhost%3A8080%2Fapp%3Fx%3D1",
            "the whole URL, to a listed host"
        );
    }
}
