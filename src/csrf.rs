//! The CSRF rule of contract §3, applied to every route before any handler runs.
//!
//! An unsafe request (POST, PUT, PATCH, DELETE) that carries a doorward cookie is refused with
//! 403 `csrf_failed`, changing nothing, when `Sec-Fetch-Site: cross-site` or when `Origin` is
//! present and not allowed (`Origin: null` never is). Bearer requests without our cookies are
//! exempt: a browser never attaches a bearer header on its own. Page forms carry a session CSRF
//! token as well (`routes::pages`).

use actix_web::HttpRequest;
use actix_web::http::{Method, header};

use url::Url;

use crate::config::is_loopback_host;
use crate::cookies;

/// The origins whose unsafe cookie requests are accepted.
#[derive(Debug, Clone)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// The public origin, its loopback aliases when it is on loopback, and the CORS origins.
    pub fn new(public_url: &Url, cors_origins: &[String]) -> Self {
        let mut origins = vec![public_url.origin().ascii_serialization()];
        if let Some(host) = public_url.host_str()
            && is_loopback_host(host)
        {
            let port = public_url
                .port()
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            for alias in ["localhost", "127.0.0.1", "[::1]"] {
                origins.push(format!("{}://{alias}{port}", public_url.scheme()));
            }
        }
        origins.extend(cors_origins.iter().cloned());
        origins.sort();
        origins.dedup();
        Self(origins)
    }

    /// True for an exact, listed origin.
    pub fn allows(&self, origin: &str) -> bool {
        origin != "null" && self.0.iter().any(|allowed| allowed == origin)
    }
}

/// The one origin rule: true when `req` comes from another site, by `Sec-Fetch-Site:
/// cross-site` or by an `Origin` that is present and not allowed. Every value counts: a request
/// carrying two `Origin` headers is judged by the worse. The middleware applies it to unsafe
/// cookie requests; page forms apply it always (login CSRF, `routes::pages`).
pub fn is_cross_site(req: &HttpRequest, allowed: &AllowedOrigins) -> bool {
    let values = |name| {
        req.headers()
            .get_all(name)
            .map(|v| v.to_str().unwrap_or("null"))
    };
    values(header::HeaderName::from_static("sec-fetch-site")).any(|site| site == "cross-site")
        || values(header::ORIGIN).any(|origin| !allowed.allows(origin))
}

/// True when `req` must be refused under the CSRF rule: unsafe, carrying a doorward cookie,
/// and cross-site.
pub fn is_forbidden(req: &HttpRequest, allowed: &AllowedOrigins) -> bool {
    is_unsafe_method(req.method())
        && cookies::read(req.headers()).any_present()
        && is_cross_site(req, allowed)
}

/// The methods the rule applies to: those that change something.
pub fn is_unsafe_method(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn allowed() -> AllowedOrigins {
        AllowedOrigins::new(
            &Url::parse("http://localhost:8080").unwrap(),
            &["https://app.example.com".to_owned()],
        )
    }

    fn post(headers: &[(&str, &str)]) -> HttpRequest {
        let mut req = TestRequest::post().insert_header((header::COOKIE, "__Host-access_token=t"));
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        req.to_http_request()
    }

    #[test]
    fn loopback_aliases_are_allowed() {
        let a = allowed();
        for origin in [
            "http://localhost:8080",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "https://app.example.com",
        ] {
            assert!(a.allows(origin), "{origin}");
        }
        for origin in [
            "null",
            "http://localhost:8081",
            "https://evil.example",
            "http://localhost",
        ] {
            assert!(!a.allows(origin), "{origin}");
        }
    }

    #[test]
    fn cookie_requests_follow_the_rule() {
        let a = allowed();
        assert!(!is_forbidden(&post(&[]), &a));
        assert!(!is_forbidden(
            &post(&[("origin", "http://127.0.0.1:8080")]),
            &a
        ));
        assert!(is_forbidden(
            &post(&[("origin", "https://evil.example")]),
            &a
        ));
        assert!(is_forbidden(&post(&[("origin", "null")]), &a));
        assert!(is_forbidden(&post(&[("sec-fetch-site", "cross-site")]), &a));
        assert!(!is_forbidden(
            &post(&[("sec-fetch-site", "same-origin")]),
            &a
        ));
        let bearer = TestRequest::post()
            .insert_header(("origin", "https://evil.example"))
            .to_http_request();
        assert!(!is_forbidden(&bearer, &a), "no cookie, no CSRF rule");
        let get = TestRequest::get()
            .insert_header((header::COOKIE, "__Host-access_token=t"))
            .insert_header(("origin", "https://evil.example"))
            .to_http_request();
        assert!(!is_forbidden(&get, &a));
    }
}
