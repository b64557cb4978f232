//! [`Doorward`]: the whole server as a part of another actix-web app.
//!
//! [`Doorward::start`] opens the database (migrating it), loads the revocations and starts
//! following the revocation log; [`Doorward::routes`] registers doorward's routes and pages with
//! their middleware (the CSRF rule, the page session, CORS, the security headers) on a scope
//! that claims only doorward's own paths, so the app's routes sit beside them in any order.
//! The doorward binary is this plus a listener ([`crate::startup`]).

use crate::mail::Mailer;
use crate::mail_links::MailLinks;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::cookie::Key;
use actix_web::guard::{self, GuardContext};
use actix_web::http::{Method, header};
use actix_web::middleware::DefaultHeaders;
use actix_web::web;
use url::Url;

use crate::checks::{self, RequestChecks};
use crate::config::{Config, ConfigError, DatabaseTarget, Signing};
use crate::csrf::AllowedOrigins;
use crate::db::{Db, SetupError};
use crate::denylist::Denylist;
use crate::keyfile;
use crate::metrics::Metrics;
use crate::page_session;
use crate::passwords::PasswordHasher;
use crate::revocation_sync::{self, LogPosition};
use crate::routes::operations::{self, Readiness};
use crate::routes::{self, forward_auth::ForwardAuth, oauth::OAuth, pages};
use crate::state::{AppState, SessionSettings};
use crate::throttle::Throttle;
use crate::tokens::jwt::JwtKeys;
use crate::tokens::keys::KeySet;
use crate::tokens::verified::VerifiedTokens;
use crate::users::UserCache;

/// Why the server could not start; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is wrong.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated.
    #[error("{0}")]
    Database(#[from] SetupError),
    /// The listener could not be bound.
    #[error("DOORWARD_BIND: cannot listen on {address}: {source}")]
    Bind {
        /// `DOORWARD_BIND`.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Something else went wrong while starting.
    #[error("{0}")]
    Other(String),
}

/// The paths doorward's scope answers (`/api/me` is registered on its own, see
/// [`routes::hot`]); everything else is the app's.
const EXACT_PATHS: &[&str] = &[
    "/login",
    "/register",
    "/account",
    "/logout",
    "/ws",
    "/static/app.css",
    "/.well-known/oauth-authorization-server",
    "/.well-known/jwks.json",
    "/openapi.json",
    "/api/sessions",
    "/api/password",
    "/api/audit",
    "/account/sessions/end",
    "/account/sessions/end-others",
    "/account/password",
    "/forgot-password",
    "/reset-password",
    "/verify-email",
];

/// True for a path of doorward's under `base`: `/auth/…`, `/api/sessions/…` or one of
/// [`EXACT_PATHS`].
fn is_doorward_path(base: &str, ctx: &GuardContext<'_>) -> bool {
    let Some(path) = ctx.head().uri.path().strip_prefix(base) else {
        return false;
    };
    path.starts_with("/auth/") || path.starts_with("/api/sessions/") || EXACT_PATHS.contains(&path)
}

/// A running doorward: state loaded, revocation log followed. The log is followed for as long
/// as this, or a server running its routes, holds the state.
#[derive(Clone)]
pub struct Doorward {
    state: web::Data<AppState>,
    origins: Arc<AllowedOrigins>,
    cors_origins: Arc<Vec<String>>,
    session_key: Key,
    forward_auth: ForwardAuth,
    oauth: OAuth,
    public_url: Url,
    max_header_bytes: usize,
    readiness: Readiness,
}

impl Doorward {
    /// Starts doorward inside an app: `config.public_url` must be set (the origin browsers see),
    /// since doorward does not bind the listener and cannot guess it. Call it from within the
    /// actix-web (tokio) runtime.
    pub async fn start(config: Config) -> Result<Self, StartupError> {
        let public_url = config.public_url.clone().ok_or(ConfigError {
            setting: "DOORWARD_PUBLIC_URL",
            problem: "required when doorward is embedded in an app".into(),
        })?;
        Self::start_at(config, public_url).await
    }

    /// As [`Self::start`], with the public origin given (the binary knows it once bound).
    pub(crate) async fn start_at(config: Config, public_url: Url) -> Result<Self, StartupError> {
        let secret = match (&config.jwt_secret, &config.database) {
            (Some(secret), _) => secret.clone(),
            (None, DatabaseTarget::Sqlite(path)) => {
                keyfile::load_or_create(&keyfile::path_beside(path))?
            }
            (None, DatabaseTarget::Postgres(_)) => {
                return Err(StartupError::Other(
                    "JWT_SECRET: required with PostgreSQL".into(),
                ));
            }
        };
        let target = config.database.clone();
        let cost = config.bcrypt_cost;
        let share = config.throttling.hash_jobs_per_ip;
        let (db, hasher) = web::block(move || {
            let db = Db::connect(&target)?;
            let hasher = PasswordHasher::start(cost, share)
                .map_err(|e| StartupError::Other(format!("BCRYPT_COST: {e}")))?;
            Ok::<_, StartupError>((db, hasher))
        })
        .await
        .map_err(|e| StartupError::Other(e.to_string()))??;

        let jwt = match &config.signing {
            Signing::Hs256 => {
                JwtKeys::new(&secret, &config.issuer, &config.audience, config.access_ttl)
            }
            Signing::Asymmetric {
                alg,
                private_key,
                public_keys,
            } => {
                let keys = KeySet::load(*alg, private_key, public_keys)
                    .map_err(|e| StartupError::Other(e.to_string()))?;
                log::info!(
                    "signing with {alg:?} key {}; {} key(s) published",
                    keys.signing_kid,
                    keys.jwks.keys.len()
                );
                JwtKeys::asymmetric(
                    *alg,
                    keys,
                    &config.issuer,
                    &config.audience,
                    config.access_ttl,
                )
            }
        };
        revocation_sync::check_clock(&db).await;
        let loaded_at = std::time::Instant::now();
        let (revocations, loaded_to) = revocation_sync::read_after(&db, LogPosition::default())
            .await
            .map_err(|e| StartupError::Other(format!("cannot load the denylist: {e}")))?;
        let state = web::Data::new(AppState {
            db,
            hasher,
            jwt,
            verified: VerifiedTokens::new(config.token_cache_size),
            denylist: Denylist::new(),
            metrics: Arc::new(Metrics::new()),
            users: UserCache::default(),
            settings: SessionSettings::from_config(&config),
            redirect_hosts: config.redirect_hosts.clone(),
            base_path: config.base_path.clone(),
            body_timeout: config.limits.body_timeout,
            trusted_proxies: config.trusted_proxies.clone(),
            throttle: Throttle::new(config.throttling),
            links: MailLinks {
                mailer: Mailer::new(&config.mail)
                    .map_err(|e| StartupError::Other(format!("mail: {e}")))?,
                base_url: issuer_url(&public_url, &config.base_path)?
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
                require_verified_email: config.mail.require_verified_email,
            },
        });
        revocation_sync::apply(&state, &revocations);
        state.denylist.mark_synced(loaded_at);
        log::info!("denylist loaded: {} entries", state.denylist.len());
        // The follower continues from the load's own position, so nothing revoked between the
        // load and the first sync is skipped. On PostgreSQL a listener wakes it at each commit
        // to the log; the interval stays as the backstop.
        let wake = Arc::new(tokio::sync::Notify::new());
        let weak_state = Arc::downgrade(&state.clone().into_inner());
        if let DatabaseTarget::Postgres(url) = &config.database {
            tokio::spawn(revocation_sync::listen(
                weak_state.clone(),
                url.clone(),
                Arc::clone(&wake),
            ));
        }
        tokio::spawn(revocation_sync::follow(
            weak_state,
            revocation_sync::Schedule {
                every: config.sync_interval,
                purge_every: config.purge_interval,
                retention: revocation_sync::Retention::from_config(&config),
                wake,
            },
            loaded_to,
        ));

        let origins = Arc::new(AllowedOrigins::new(&public_url, &config.cors_origins));
        Ok(Self {
            session_key: page_session::session_key(secret.expose()).map_err(StartupError::Other)?,
            forward_auth: ForwardAuth {
                redirects: config.forward_auth_redirects,
                public_url: public_url.clone(),
                origins: Arc::clone(&origins),
            },
            oauth: OAuth {
                issuer_url: issuer_url(&public_url, &config.base_path)?,
                introspection_client: config.introspection_client.clone(),
            },
            cors_origins: Arc::new(config.cors_origins.clone()),
            origins,
            public_url,
            state,
            max_header_bytes: config.limits.max_header_bytes,
            readiness: Readiness::for_sync_interval(config.sync_interval),
        })
    }

    /// The origin browsers use.
    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// Registers doorward's routes and pages (`/auth/…`, `/login`, `/register`, `/account`,
    /// `/logout`, `/ws`, `/api/me`, `/static/app.css`, each under `DOORWARD_BASE_PATH` when it
    /// is set), and what [`crate::AuthUser`] needs on the app's own routes:
    /// `App::new().configure(doorward.routes())`.
    pub fn routes(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
        let doorward = self.clone();
        move |cfg: &mut web::ServiceConfig| {
            let base = doorward.state.base_path.clone();
            let checks = doorward.checks();
            cfg.app_data(doorward.state.clone())
                .app_data(web::Data::from(Arc::clone(&doorward.origins)));
            let hot = routes::hot(&doorward.state.base_path, doorward.forward_auth.clone());
            let scope = web::scope(&doorward.state.base_path)
                .guard(guard::fn_guard(move |ctx| is_doorward_path(&base, ctx)))
                .wrap(checks.clone())
                .configure(routes::configure(
                    doorward.oauth.clone(),
                    doorward.session_key.clone(),
                ));
            // Without listed origins there is nothing for CORS to answer, and no layer for it
            // (actix's `Condition` would box every request's future). The hot routes come
            // first, each with the scope's layers.
            let origins = &doorward.cors_origins;
            let one_route = |path: String| RequestChecks {
                route: Some(path.into()),
                ..checks.clone()
            };
            if origins.is_empty() {
                for (path, resource) in hot {
                    cfg.service(resource.wrap(one_route(path)));
                }
                cfg.service(scope);
            } else {
                for (path, resource) in hot {
                    cfg.service(resource.wrap(one_route(path)).wrap(cors(origins)));
                }
                cfg.service(scope.wrap(cors(origins)));
            }
        }
    }

    /// Registers `GET /healthz` (200 while the process answers) and `GET /readyz` (200 when
    /// the database answers and the denylist is current, else 503), under the base path.
    pub fn health_routes(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
        let doorward = self.clone();
        move |cfg: &mut web::ServiceConfig| {
            let checks = doorward.checks();
            let resources =
                operations::health_resources(&doorward.state.base_path, doorward.readiness.clone());
            for resource in resources {
                cfg.service(
                    resource
                        .app_data(doorward.state.clone())
                        .wrap(checks.clone()),
                );
            }
        }
    }

    /// Registers `GET /metrics` (Prometheus), under the base path: beside the other routes, or
    /// on an app of its own bound to an address only the monitoring can reach.
    pub fn metrics_route(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
        let doorward = self.clone();
        move |cfg: &mut web::ServiceConfig| {
            cfg.service(
                operations::metrics_resource(&doorward.state.base_path)
                    .app_data(doorward.state.clone())
                    .wrap(doorward.checks()),
            );
        }
    }

    /// The layer in front of each of doorward's routes.
    fn checks(&self) -> RequestChecks {
        RequestChecks {
            origins: Arc::clone(&self.origins),
            max_header_bytes: self.max_header_bytes,
            is_https: self.public_url.scheme() == "https",
            metrics: Arc::clone(&self.state.metrics),
            route: None,
        }
    }

    /// Registers doorward's start page at `/` (under the base path: `/id/`), for an app that
    /// has none of its own.
    pub fn start_page(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
        let at = self.state.path("/");
        move |cfg: &mut web::ServiceConfig| pages::configure_start_page(cfg, &at)
    }

    /// The security headers of doorward's answers, for the routes outside [`Self::routes`]
    /// (which sets them itself).
    pub(crate) fn security_headers(&self) -> DefaultHeaders {
        checks::security_headers(self.public_url.scheme() == "https")
    }
}

/// The public URL with the base path: the OAuth2 metadata's `issuer`.
fn issuer_url(public_url: &Url, base_path: &str) -> Result<Url, StartupError> {
    public_url
        .join(&format!("{base_path}/"))
        .map_err(|e| StartupError::Other(format!("DOORWARD_BASE_PATH: {e}")))
}

/// CORS for the listed origins only, with credentials (contract §3). Other origins get no CORS
/// headers; their requests are not blocked here, since same-origin requests carry `Origin` too.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([Method::GET, Method::POST, Method::DELETE])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .supports_credentials()
        .block_on_origin_mismatch(false)
        .max_age(600)
}
