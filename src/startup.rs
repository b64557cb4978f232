//! Wiring: builds the shared [`AppState`], binds the listener (port 0 works), registers the
//! middleware and routes, and follows the revocation log beside the server
//! ([`crate::revocation_sync`]).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::{Method, header};
use actix_web::middleware::{DefaultHeaders, Logger, from_fn};
use actix_web::{App, HttpServer, web};
use url::Url;

use crate::config::{Config, ConfigError, DatabaseTarget};
use crate::csrf::{self, AllowedOrigins};
use crate::db::{Db, SetupError};
use crate::denylist::Denylist;
use crate::keyfile;
use crate::page_session;
use crate::passwords::PasswordHasher;
use crate::revocation_sync::{self, LogPosition};
use crate::routes;
use crate::routes::forward_auth::ForwardAuth;
use crate::state::{AppState, SessionSettings};
use crate::tokens::jwt::JwtKeys;
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

/// A bound, built server, not yet running.
pub struct Application {
    port: u16,
    public_url: Url,
    server: Server,
    state: web::Data<AppState>,
    sync_interval: Duration,
    purge_interval: Duration,
    /// Where the initial load stopped in the revocation log: the sync continues from there,
    /// so nothing revoked between the load and the first sync is skipped.
    loaded_to: LogPosition,
}

impl Application {
    /// Opens the database, loads the denylist, binds the listener and builds the server.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
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
        let (db, hasher) = web::block(move || {
            let db = Db::connect(&target)?;
            let hasher = PasswordHasher::start(cost)
                .map_err(|e| StartupError::Other(format!("BCRYPT_COST: {e}")))?;
            Ok::<_, StartupError>((db, hasher))
        })
        .await
        .map_err(|e| StartupError::Other(e.to_string()))??;

        revocation_sync::check_clock(&db).await;
        let (revocations, loaded_to) = revocation_sync::read_after(&db, LogPosition::default())
            .await
            .map_err(|e| StartupError::Other(format!("cannot load the denylist: {e}")))?;
        let state = web::Data::new(AppState {
            db,
            hasher,
            jwt: JwtKeys::new(&secret, &config.issuer, &config.audience, config.access_ttl),
            denylist: Denylist::new(),
            users: UserCache::default(),
            settings: SessionSettings::from_config(&config),
        });
        revocation_sync::apply(&state, &revocations);
        log::info!("denylist loaded: {} entries", state.denylist.len());

        let listener = TcpListener::bind(&config.bind).map_err(|source| StartupError::Bind {
            address: config.bind.clone(),
            source,
        })?;
        let address = listener.local_addr().map_err(|source| StartupError::Bind {
            address: config.bind.clone(),
            source,
        })?;
        let port = address.port();
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://localhost:{port}"))
                .map_err(|e| StartupError::Other(e.to_string()))?,
        };
        let allowed = Arc::new(AllowedOrigins::new(&public_url, &config.cors_origins));
        let origins = web::Data::from(Arc::clone(&allowed));
        let cors_origins = Arc::new(config.cors_origins.clone());
        let session_key =
            page_session::session_key(secret.expose()).map_err(StartupError::Other)?;

        let is_https = public_url.scheme() == "https";
        let routes = routes::configure(ForwardAuth {
            trusted_proxies: config.trusted_proxies.clone(),
            redirects: config.forward_auth_redirects,
            public_url: public_url.clone(),
            origins: Arc::clone(&allowed),
        });
        let server_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn({
                    let allowed = Arc::clone(&allowed);
                    move |req, next| csrf::guard(Arc::clone(&allowed), req, next)
                }))
                .wrap(page_session::middleware(session_key.clone()))
                .wrap(cors(&cors_origins))
                .wrap(security_headers(is_https))
                .wrap(request_logger())
                .app_data(server_state.clone())
                .app_data(origins.clone())
                .configure(routes.clone())
        })
        .workers(config.workers)
        .shutdown_timeout(5)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            address: config.bind.clone(),
            source,
        })?
        .run();

        Ok(Self {
            port,
            public_url,
            server,
            state,
            sync_interval: config.sync_interval,
            purge_interval: config.purge_interval,
            loaded_to,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server (tests restart it on the same database).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The origin browsers use.
    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// Serves until the process is told to stop, following the revocation log meanwhile.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let sync = tokio::spawn(revocation_sync::follow(
            self.state,
            self.sync_interval,
            self.purge_interval,
            self.loaded_to,
        ));
        let outcome = self.server.await;
        sync.abort();
        outcome
    }
}

/// CORS for the listed origins only, with credentials (contract §3). Other origins get no CORS
/// headers; their requests are not blocked here, since same-origin requests carry `Origin` too.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([Method::GET, Method::POST])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .supports_credentials()
        .block_on_origin_mismatch(false)
        .max_age(600)
}

/// Headers every answer carries, JSON included: `nosniff`, and HSTS when the public URL is
/// https (a browser that once reached doorward over TLS never falls back to plain http).
fn security_headers(is_https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if is_https {
        headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"))
    } else {
        headers
    }
}

/// One line per request, without the query string, which might carry something secret.
fn request_logger() -> Logger {
    Logger::new(r#"%a "%{method}xi %U" %s %b %Dms"#)
        .custom_request_replace("method", |req| req.method().to_string())
}
