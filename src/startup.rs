//! Wiring: builds the shared [`AppState`], binds the listener (port 0 works), registers the
//! middleware and routes, and runs the denylist sync beside the server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::{Method, header};
use actix_web::middleware::{DefaultHeaders, Logger, from_fn};
use actix_web::{App, HttpServer, web};
use chrono::Utc;
use url::Url;

use crate::accounts::UserCache;
use crate::config::{Config, ConfigError, DatabaseTarget};
use crate::csrf::{self, AllowedOrigins};
use crate::db::{Db, SetupError, repo};
use crate::denylist::Denylist;
use crate::keyfile;
use crate::page_session;
use crate::passwords::PasswordHasher;
use crate::routes;
use crate::tokens::jwt::{AccessClaims, JwtKeys, LEEWAY_SECS};

/// How far back each sync looks past the previous one: longer than any write transaction can
/// wait (SQLite's busy timeout, the pool's checkout timeout), so no revocation committed late
/// is ever skipped. Merging is idempotent, so re-reading costs only the rows.
const SYNC_OVERLAP_MS: i64 = 30_000;

/// How often expired rows are deleted from the database.
const PURGE_EVERY_MS: i64 = 10 * 60 * 1000;

/// The lifetimes that rotation and sign-in need (contract §1).
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `ACCESS_TOKEN_TTL`.
    pub access_ttl: Duration,
    /// `REFRESH_TOKEN_TTL`.
    pub refresh_ttl: Duration,
    /// `SESSION_MAX_AGE`.
    pub session_max_age: Duration,
    /// `REFRESH_REUSE_GRACE`.
    pub reuse_grace: Duration,
}

/// Everything the handlers share, built once.
pub struct AppState {
    /// The connection pool.
    pub db: Db,
    /// bcrypt on its own threads.
    pub hasher: PasswordHasher,
    /// Access-token keys and validation.
    pub jwt: JwtKeys,
    /// Revocations, in memory.
    pub denylist: Denylist,
    /// Users by id, for `GET /api/me`.
    pub users: UserCache,
    /// Token lifetimes.
    pub settings: SessionSettings,
}

impl AppState {
    /// The whole in-memory check of an access token: signature and claims, then revocation.
    /// The error is the `error_description` of the 401.
    pub fn verify_access_token(&self, token: &str) -> Result<AccessClaims, &'static str> {
        let claims = self.jwt.verify(token)?;
        match self.denylist.refusal(&claims) {
            Some(reason) => Err(reason),
            None => Ok(claims),
        }
    }
}

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
    /// The time of the initial denylist load: the sync continues from there, so nothing
    /// revoked between the load and the first sync is skipped.
    loaded_at: i64,
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

        let leeway_ms = i64::try_from(LEEWAY_SECS * 1000).unwrap_or(i64::MAX);
        let family_memory_ms = millis(config.access_ttl).saturating_add(leeway_ms);
        let denylist = Denylist::new(family_memory_ms);
        let now = Utc::now().timestamp_millis();
        let since = now - family_memory_ms;
        let revocations = db
            .run(move |conn| repo::load_revocations_since(conn, since, now))
            .await
            .map_err(|e| StartupError::Other(format!("cannot load the denylist: {e}")))?;
        denylist.merge(revocations);
        log::info!("denylist loaded: {} entries", denylist.len());

        let state = web::Data::new(AppState {
            db,
            hasher,
            jwt: JwtKeys::new(&secret, &config.issuer, &config.audience, config.access_ttl),
            denylist,
            users: UserCache::default(),
            settings: SessionSettings {
                access_ttl: config.access_ttl,
                refresh_ttl: config.refresh_ttl,
                session_max_age: config.session_max_age,
                reuse_grace: config.reuse_grace,
            },
        });

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
                .configure(routes::configure)
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
            loaded_at: now,
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

    /// Serves until the process is told to stop, syncing the denylist meanwhile.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let sync = tokio::spawn(sync_denylist(
            self.state,
            self.sync_interval,
            self.loaded_at,
        ));
        let outcome = self.server.await;
        sync.abort();
        outcome
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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

/// Merges revocations made by other instances every `interval`, and purges what has expired.
async fn sync_denylist(state: web::Data<AppState>, interval: Duration, loaded_at: i64) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let family_memory_ms = millis(state.settings.access_ttl) + (LEEWAY_SECS as i64) * 1000;
    let mut synced_at = loaded_at;
    let mut purged_at = Utc::now().timestamp_millis();
    loop {
        ticker.tick().await;
        let now = Utc::now().timestamp_millis();
        let since = synced_at - SYNC_OVERLAP_MS;
        match state
            .db
            .run(move |conn| repo::load_revocations_since(conn, since, now))
            .await
        {
            Ok(found) => {
                state.denylist.merge(found);
                synced_at = now;
            }
            Err(e) => log::warn!("denylist sync skipped: {e}"),
        }
        state.denylist.purge(now);
        if now - purged_at >= PURGE_EVERY_MS {
            let horizon = now - family_memory_ms;
            match state
                .db
                .run(move |conn| repo::purge_expired(conn, now, horizon))
                .await
            {
                Ok(deleted) => log::info!("purged {deleted} expired rows"),
                Err(e) => log::warn!("purge skipped: {e}"),
            }
            purged_at = now;
        }
    }
}
