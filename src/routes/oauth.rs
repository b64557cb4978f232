//! The OAuth2 endpoints, for clients that speak the standards rather than doorward's JSON:
//! the token endpoint (RFC 6749 §4.3 password grant, §6 refresh), revocation (RFC 7009),
//! introspection (RFC 7662) and the authorization server metadata (RFC 8414).
//!
//! Each is a front for a flow doorward already has: the password grant is `/auth/login`
//! (same throttling, same timing, same bcrypt pool), the refresh grant is `/auth/refresh`
//! (same rotation and reuse detection), revocation is sign-out of one token, introspection is
//! the extractor's in-memory check. Only the wire format differs: form bodies in
//! ([`OAuthForm`]), RFC 6749 §5 answers out.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};
use serde::Serialize;
use subtle::ConstantTimeEq;
use url::Url;
use utoipa::ToSchema;

use super::openapi::{TokenForm, TokenRequest};
use crate::accounts;
use crate::config::IntrospectionClient;
use crate::csrf::{self, AllowedOrigins};
use crate::error::{AppError, ErrorBody};
use crate::extractors::client_ip::Client;
use crate::extractors::form::OAuthForm;
use crate::sessions::{self, IssuedSession};
use crate::state::AppState;

/// What the OAuth2 endpoints need besides the state, fixed at start.
#[derive(Debug, Clone)]
pub struct OAuth {
    /// Where doorward is reached, base path included (`https://example.com/id`): the metadata's
    /// `issuer` and the base of every endpoint it lists.
    pub issuer_url: Url,
    /// The client that may introspect; `None`: nobody may.
    pub introspection_client: Option<IntrospectionClient>,
}

/// Registers the endpoints, with their settings attached to the routes that read them (data on
/// the scope itself would be pushed for every request to doorward, the hot ones included).
pub fn configure(settings: OAuth) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let settings = web::Data::new(settings);
    move |cfg: &mut web::ServiceConfig| {
        cfg.service(web::resource("/auth/token").post(token))
            .service(web::resource("/auth/revoke").post(revoke))
            .service(
                web::resource("/auth/introspect")
                    .app_data(settings.clone())
                    .route(web::post().to(introspect)),
            )
            .service(
                web::resource("/.well-known/oauth-authorization-server")
                    .app_data(settings.clone())
                    .route(web::get().to(metadata)),
            )
            .service(web::resource("/.well-known/jwks.json").get(jwks));
    }
}

/// An RFC 6749 §5.2 error: 400 (or 401 for `invalid_client`) with `{error, error_description}`.
struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl OAuthError {
    fn bad_request(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
        }
    }

    fn response(&self) -> HttpResponse {
        let mut builder = no_store(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            builder.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="doorward""#));
        }
        builder.json(OAuthErrorBody {
            error: self.code,
            error_description: &self.description,
        })
    }
}

/// RFC 6749 §5.2's error body.
#[derive(Serialize, ToSchema)]
pub struct OAuthErrorBody<'a> {
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type` or `invalid_client`.
    error: &'static str,
    /// What went wrong, in English.
    error_description: &'a str,
}

/// doorward's failures in RFC 6749's words where it has them: bad credentials and bad refresh
/// tokens are `invalid_grant`, a malformed request `invalid_request`. The rest (413, 429, 503…)
/// keep their status and `error` code, as RFC 6749 has none for them.
fn oauth_failure(error: AppError) -> HttpResponse {
    let oauth = match &error {
        AppError::InvalidCredentials | AppError::InvalidGrant => {
            OAuthError::bad_request("invalid_grant", error.to_string())
        }
        AppError::InvalidRequest(description) => {
            OAuthError::bad_request("invalid_request", *description)
        }
        AppError::Validation(fields) => OAuthError::bad_request(
            "invalid_request",
            format!("{error}: {}", fields.names().collect::<Vec<_>>().join(", ")),
        ),
        _ => {
            let mut response = error.error_response();
            response
                .headers_mut()
                .insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
            return response;
        }
    };
    oauth.response()
}

/// 403 `csrf_failed` for a form posted by a page of another site, cookies or not: a form post
/// needs no CORS preflight, so any page could otherwise make its visitors' browsers guess
/// passwords (spreading them over many addresses) or lock accounts through the throttles.
/// Native and server clients send neither `Origin` nor `Sec-Fetch-Site` and pass.
fn from_another_site(req: &HttpRequest) -> Option<HttpResponse> {
    let origins = req.app_data::<web::Data<AllowedOrigins>>()?;
    csrf::is_cross_site(req, origins).then(|| oauth_failure(AppError::CsrfFailed))
}

/// RFC 6749 §5.1: tokens must not be cached, by HTTP/1.1 caches or HTTP/1.0 ones.
fn no_store(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = super::respond::no_store(status);
    builder.insert_header((header::PRAGMA, "no-cache"));
    builder
}

/// RFC 6749 §5.1's answer.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse<'a> {
    /// The access JWT.
    access_token: &'a str,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: i64,
    /// Opaque, single-use.
    refresh_token: &'a str,
    /// Seconds the refresh token lives.
    refresh_expires_in: i64,
}

/// The OAuth2 token endpoint: the password and refresh-token grants.
///
/// `POST /auth/token`: the password and refresh-token grants. `scope` is accepted and ignored
/// (doorward's tokens carry a role, not scopes), as is `client_id`: clients are public.
#[utoipa::path(
    post,
    path = "/auth/token",
    tag = "oauth2",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens; `Cache-Control: no-store`", body = TokenResponse<'static>),
        (status = 400, description = "`invalid_request`, `invalid_grant` or `unsupported_grant_type`", body = OAuthErrorBody<'static>),
        (status = 403, description = "`csrf_failed`: posted by another site's page", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 429, description = "Throttled; see `Retry-After`", body = ErrorBody<'static>),
        (status = 503, description = "Database or hashing queue busy", body = ErrorBody<'static>),
    )
)]
async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: Client,
    form: Result<OAuthForm, AppError>,
) -> HttpResponse {
    if let Some(refusal) = from_another_site(&req) {
        return refusal;
    }
    let form = match form {
        Ok(form) => form,
        Err(error) => return oauth_failure(error),
    };
    match grant(&state, &client, &form).await {
        Ok(session) => no_store(StatusCode::OK).json(TokenResponse {
            access_token: &session.access.token,
            token_type: "Bearer",
            expires_in: session.access.expires_in,
            refresh_token: session.refresh.expose(),
            refresh_expires_in: session.refresh_expires_in,
        }),
        Err(Failure::OAuth(error)) => error.response(),
        Err(Failure::App(error)) => oauth_failure(error),
    }
}

enum Failure {
    OAuth(OAuthError),
    App(AppError),
}

impl From<AppError> for Failure {
    fn from(error: AppError) -> Self {
        Self::App(error)
    }
}

fn required<'a>(form: &'a OAuthForm, name: &str) -> Result<&'a str, Failure> {
    form.get(name).ok_or_else(|| {
        Failure::OAuth(OAuthError::bad_request(
            "invalid_request",
            format!("{name} is required"),
        ))
    })
}

async fn grant(
    state: &AppState,
    client: &Client,
    form: &OAuthForm,
) -> Result<IssuedSession, Failure> {
    // FastAPI's `OAuth2PasswordRequestForm` clients send no grant_type at all.
    let implied_password = form.get("username").is_some() && form.get("password").is_some();
    match form.get("grant_type") {
        Some("password") => {}
        None if implied_password => {}
        Some("refresh_token") => {
            let token = required(form, "refresh_token")?;
            return Ok(sessions::refresh(state, client, token).await?);
        }
        None => {
            return Err(Failure::OAuth(OAuthError::bad_request(
                "invalid_request",
                "grant_type is required",
            )));
        }
        // The value is not echoed: RFC 6749 §5.2 allows only printable ASCII but `"` and `\`.
        Some(_) => {
            return Err(Failure::OAuth(OAuthError::bad_request(
                "unsupported_grant_type",
                "the grant_type is not supported: use password or refresh_token",
            )));
        }
    }
    let (email, password) = (required(form, "username")?, required(form, "password")?);
    Ok(accounts::sign_in(state, client, email, password).await?)
}

/// `POST /auth/revoke` (RFC 7009): `token`, and a `token_type_hint` that is not needed. 200
/// whatever the token was (§2.2): revoking an unknown or already revoked token is a success.
#[utoipa::path(
    post,
    path = "/auth/revoke",
    tag = "oauth2",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "`invalid_request`", body = OAuthErrorBody<'static>),
        (status = 403, description = "`csrf_failed`: posted by another site's page", body = ErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
        (status = 503, description = "Database unavailable", body = ErrorBody<'static>),
    )
)]
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Result<OAuthForm, AppError>,
) -> HttpResponse {
    if let Some(refusal) = from_another_site(&req) {
        return refusal;
    }
    let form = match form {
        Ok(form) => form,
        Err(error) => return oauth_failure(error),
    };
    let Some(token) = form.get("token") else {
        return OAuthError::bad_request("invalid_request", "token is required").response();
    };
    match sessions::revoke_token(&state, &Client::of_request(&req), token).await {
        Ok(()) => no_store(StatusCode::OK).finish(),
        Err(error) => oauth_failure(error),
    }
}

/// RFC 7662 §2.2's answer: every field for a live access token, `{"active": false}` for
/// anything else.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Introspection<'a> {
    /// A live access token of this server.
    Live(LiveToken<'a>),
    /// Anything else.
    Inactive(InactiveToken),
}

/// `{"active": false}`, and nothing more.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InactiveToken {
    /// `false`.
    active: bool,
}

/// The claims of a live token, as RFC 7662 names them.
#[derive(Serialize, ToSchema)]
pub struct LiveToken<'a> {
    /// `true`.
    active: bool,
    /// The user's id.
    sub: &'a str,
    /// The user's email.
    username: &'a str,
    /// Expiry, in Unix seconds.
    exp: i64,
    /// Issue time, in Unix seconds.
    iat: i64,
    /// Not before, in Unix seconds.
    nbf: i64,
    /// The token's id.
    jti: String,
    /// The session's id.
    sid: String,
    /// `DOORWARD_ISSUER`.
    iss: &'a str,
    /// `DOORWARD_AUDIENCE`.
    #[schema(value_type = String)]
    aud: &'a crate::tokens::jwt::Audience,
    /// Always `Bearer`.
    token_type: &'static str,
    /// `user` or `admin`.
    role: crate::domain::Role,
}

/// Introspection (RFC 7662), for the client of `DOORWARD_INTROSPECTION_CLIENT_ID`.
///
/// `POST /auth/introspect` (RFC 7662): for the client of `DOORWARD_INTROSPECTION_CLIENT_ID`,
/// by HTTP Basic. The answer comes from memory, revocation included, as `/auth/verify`'s does.
#[utoipa::path(
    post,
    path = "/auth/introspect",
    tag = "oauth2",
    security(("introspection_client" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token's claims, or `{\"active\": false}`", body = Introspection<'static>),
        (status = 400, description = "`invalid_request`", body = OAuthErrorBody<'static>),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody<'static>),
        (status = 413, description = "Over 64 KiB", body = ErrorBody<'static>),
    )
)]
async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    settings: web::Data<OAuth>,
    form: Result<OAuthForm, AppError>,
) -> HttpResponse {
    if !is_introspection_client(&req, settings.introspection_client.as_ref()) {
        return OAuthError {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_client",
            description: "introspection needs the client credentials, by HTTP Basic".into(),
        }
        .response();
    }
    let form = match form {
        Ok(form) => form,
        Err(error) => return oauth_failure(error),
    };
    let Some(token) = form.get("token") else {
        return OAuthError::bad_request("invalid_request", "token is required").response();
    };
    let Ok(claims) = state.verify_access_token(token) else {
        return no_store(StatusCode::OK)
            .json(Introspection::Inactive(InactiveToken { active: false }));
    };
    no_store(StatusCode::OK).json(Introspection::Live(LiveToken {
        active: true,
        sub: &claims.sub,
        username: &claims.email,
        exp: claims.exp,
        iat: claims.iat,
        nbf: claims.nbf,
        jti: claims.jti.to_string(),
        sid: claims.sid.to_string(),
        iss: &claims.iss,
        aud: &claims.aud,
        token_type: "Bearer",
        role: claims.role,
    }))
}

/// Whether the request carries the introspection client's id and secret by HTTP Basic (RFC
/// 7617; RFC 6749 §2.3.1 form-encodes both before). The secret is compared in constant time.
fn is_introspection_client(req: &HttpRequest, client: Option<&IntrospectionClient>) -> bool {
    use actix_web_httpauth::headers::authorization::{Authorization, Basic};
    let Some(client) = client else {
        return false;
    };
    let Ok(basic) = <Authorization<Basic> as header::Header>::parse(req) else {
        return false;
    };
    let basic = basic.into_scheme();
    let Some(password) = basic.password() else {
        return false;
    };
    // RFC 6749 §2.3.1 form-encodes both before Basic; many clients (curl -u, Go's
    // SetBasicAuth, gateways) send them raw. Either passes; both are compared in constant time.
    let decoded = |raw: &str| {
        percent_encoding::percent_decode_str(&raw.replace('+', " "))
            .decode_utf8()
            .map(|text| text.into_owned())
            .unwrap_or_default()
    };
    let matches = |id: &str, secret: &str| {
        id.as_bytes().ct_eq(client.id.as_bytes()) & secret.as_bytes().ct_eq(client.secret.expose())
    };
    let raw = matches(basic.user_id(), password);
    let encoded = matches(&decoded(basic.user_id()), &decoded(password));
    bool::from(raw | encoded)
}

/// The public keys tokens are signed with (RFC 7517).
///
/// `GET /.well-known/jwks.json` (RFC 7517): the public keys tokens are signed with, the next
/// and the previous key included. An HS256 key is secret, so with `JWT_ALG=HS256` the set is
/// empty.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "oauth2",
    responses((status = 200, description = "The key set; `Cache-Control: public, max-age=300`", body = KeySet)),
)]
async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, JWKS_CACHE_CONTROL))
        .json(state.jwt.jwks())
}

/// How long clients may keep the key set and the metadata: a new key is published at least
/// this long before it signs (README, "Rotating keys").
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// The `keys` of RFC 7517 §5, each a public JWK with `kid`, `use` and `alg`.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "a schema only: jsonwebtoken's `JwkSet` is what is sent"
)]
pub struct KeySet {
    /// Empty with `JWT_ALG=HS256`, whose key is secret.
    keys: Vec<serde_json::Value>,
}

/// RFC 8414 §2's metadata, as far as doorward has it.
#[derive(Serialize, ToSchema)]
pub struct Metadata {
    /// The issuer: the public URL with the base path.
    issuer: String,
    /// `POST /auth/token`.
    token_endpoint: String,
    /// `POST /auth/revoke`.
    revocation_endpoint: String,
    /// `POST /auth/introspect`.
    introspection_endpoint: String,
    /// `GET /.well-known/jwks.json`.
    jwks_uri: String,
    /// `password` and `refresh_token`.
    grant_types_supported: [&'static str; 2],
    /// None: there is no authorization endpoint.
    response_types_supported: [&'static str; 0],
    /// `none`: clients are public.
    token_endpoint_auth_methods_supported: [&'static str; 1],
    /// `none`.
    revocation_endpoint_auth_methods_supported: [&'static str; 1],
    /// `client_secret_basic`.
    introspection_endpoint_auth_methods_supported: [&'static str; 1],
    /// Not an RFC 8414 name (it has none for access tokens): the one `alg` they carry.
    access_token_signing_alg_values_supported: [&'static str; 1],
}

/// The authorization server's metadata (RFC 8414).
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "oauth2",
    responses((status = 200, description = "The metadata", body = Metadata)),
)]
async fn metadata(state: web::Data<AppState>, settings: web::Data<OAuth>) -> HttpResponse {
    let issuer = settings.issuer_url.as_str().trim_end_matches('/');
    let at = |path: &str| format!("{issuer}{path}");
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, JWKS_CACHE_CONTROL))
        .json(Metadata {
            issuer: issuer.to_owned(),
            token_endpoint: at("/auth/token"),
            revocation_endpoint: at("/auth/revoke"),
            introspection_endpoint: at("/auth/introspect"),
            jwks_uri: at("/.well-known/jwks.json"),
            grant_types_supported: ["password", "refresh_token"],
            response_types_supported: [],
            token_endpoint_auth_methods_supported: ["none"],
            revocation_endpoint_auth_methods_supported: ["none"],
            introspection_endpoint_auth_methods_supported: ["client_secret_basic"],
            access_token_signing_alg_values_supported: [state.jwt.algorithm()],
        })
}
