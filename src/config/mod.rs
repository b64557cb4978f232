//! Settings: read once at start from the environment (contract §1), parsed into typed values.
//!
//! Every problem names its setting in one line, so a bad deployment stops at once with a message
//! an operator can act on. Nothing here touches the network or the database; resolving the JWT
//! secret of an SQLite deployment (the `doorward.key` file) lives in `keyfile`.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

mod builder;
mod limits;
mod mail;
mod parse;
mod redirect_hosts;

pub use builder::ConfigBuilder;
pub use limits::{ClientLimits, Rate, Throttling};
pub use mail::{MailSettings, MailTransport};
pub use redirect_hosts::RedirectHosts;

pub(crate) use parse::{is_loopback_host, parse_duration};
use parse::{parse_base_path, parse_bind, parse_cors_origins, parse_proxies, parse_public_url};

/// One bad setting: its name and what is wrong with it, printed on one line.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub setting: &'static str,
    /// What is wrong, for people.
    pub problem: String,
}

impl ConfigError {
    /// A name [`ConfigBuilder::setting`] was given that is no setting.
    fn unknown(name: &str) -> Self {
        Self::new(
            "ConfigBuilder::setting",
            format!("'{name}' is not a setting"),
        )
    }

    fn new(setting: &'static str, problem: impl Into<String>) -> Self {
        Self {
            setting,
            problem: problem.into(),
        }
    }
}

/// Every setting's name, as the environment and [`ConfigBuilder::setting`] give it.
const SETTING_NAMES: &[&str] = &[
    "DATABASE_URL",
    "DOORWARD_BIND",
    "DOORWARD_METRICS_BIND",
    "DOORWARD_PUBLIC_URL",
    "DOORWARD_CORS_ORIGINS",
    "JWT_SECRET",
    "DOORWARD_ISSUER",
    "DOORWARD_AUDIENCE",
    "ACCESS_TOKEN_TTL",
    "REFRESH_TOKEN_TTL",
    "SESSION_MAX_AGE",
    "REFRESH_REUSE_GRACE",
    "DOORWARD_SYNC_INTERVAL",
    "DOORWARD_PURGE_INTERVAL",
    "DOORWARD_AUDIT_RETENTION",
    "DOORWARD_TRUSTED_PROXIES",
    "DOORWARD_FORWARD_AUTH_REDIRECT",
    "DOORWARD_REDIRECT_HOSTS",
    "DOORWARD_BASE_PATH",
    "BCRYPT_COST",
    "DOORWARD_WORKERS",
    "DOORWARD_HEAD_TIMEOUT",
    "DOORWARD_BODY_TIMEOUT",
    "DOORWARD_KEEP_ALIVE",
    "DOORWARD_MAX_HEADER_BYTES",
    "DOORWARD_MAX_CONNECTIONS_PER_IP",
    "DOORWARD_SIGN_IN_RATE_PER_IP",
    "DOORWARD_REGISTER_RATE_PER_IP",
    "DOORWARD_REFRESH_RATE_PER_IP",
    "DOORWARD_REFRESH_RATE_PER_SESSION",
    "DOORWARD_FAILED_SIGN_INS_PER_IP",
    "DOORWARD_FAILED_SIGN_INS_PER_ACCOUNT",
    "DOORWARD_FAILED_SIGN_IN_WINDOW",
    "DOORWARD_HASH_JOBS_PER_IP",
    "DOORWARD_TOKEN_CACHE_SIZE",
    "JWT_ALG",
    "JWT_PRIVATE_KEY_FILE",
    "JWT_PUBLIC_KEY_FILES",
    "DOORWARD_INTROSPECTION_CLIENT_ID",
    "DOORWARD_INTROSPECTION_CLIENT_SECRET",
    "DOORWARD_SMTP_URL",
    "DOORWARD_MAIL_OUTBOX",
    "DOORWARD_MAIL_FROM",
    "DOORWARD_REQUIRE_VERIFIED_EMAIL",
];

/// Where the data lives: the embedded SQLite file or a PostgreSQL server.
#[derive(Clone)]
pub enum DatabaseTarget {
    /// An SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL; secret because it may hold a password.
    Postgres(SecretString),
}

impl std::fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            Self::Postgres(_) => f.write_str("Postgres(***)"),
        }
    }
}

impl DatabaseTarget {
    /// Chooses the backend from the URL scheme; a bare path is an SQLite file.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(SecretString::from(raw.to_owned())));
        }
        let path = raw.strip_prefix("sqlite://").unwrap_or(raw);
        if path.is_empty() {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "expected postgres://… or sqlite://PATH, got an empty path",
            ));
        }
        if path.contains("://") {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "unknown scheme: expected postgres://, postgresql:// or sqlite://",
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

/// The HS256 key: at least 32 bytes, never printed.
#[derive(Clone)]
pub struct JwtSecret(SecretString);

impl JwtSecret {
    /// The fewest bytes a key may have (HS256 wants at least its output size).
    pub const MIN_BYTES: usize = 32;
    /// The fewest distinct bytes a key may have: a random hex key of 32 characters has about 15.
    pub const MIN_DISTINCT_BYTES: usize = 8;

    /// Accepts a key of at least [`Self::MIN_BYTES`] bytes.
    pub fn parse(setting: &'static str, raw: String) -> Result<Self, ConfigError> {
        if raw.len() < Self::MIN_BYTES {
            return Err(ConfigError::new(
                setting,
                format!(
                    "must be at least {} bytes, got {}",
                    Self::MIN_BYTES,
                    raw.len()
                ),
            ));
        }
        // A key of one repeated character (or a few) has the length but not the randomness.
        let mut seen = [false; 256];
        raw.bytes().for_each(|b| seen[usize::from(b)] = true);
        if seen.iter().filter(|&&s| s).count() < Self::MIN_DISTINCT_BYTES {
            return Err(ConfigError::new(
                setting,
                format!(
                    "has fewer than {} distinct characters: use a random key, e.g. `openssl rand -hex 32`",
                    Self::MIN_DISTINCT_BYTES
                ),
            ));
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// The key bytes, for signing and key derivation only.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(***)")
    }
}

/// How access tokens are signed: `JWT_ALG`, and the key files of the asymmetric algorithms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// HS256 with `JWT_SECRET` (the default).
    Hs256,
    /// EdDSA (Ed25519), RS256 or ES256 with `JWT_PRIVATE_KEY_FILE`, publishing and accepting
    /// `JWT_PUBLIC_KEY_FILES` too.
    Asymmetric {
        /// The algorithm.
        alg: jsonwebtoken::Algorithm,
        /// The signing key's PEM file.
        private_key: PathBuf,
        /// Other keys to publish and accept (the next one, the previous one).
        public_keys: Vec<PathBuf>,
    },
}

impl Signing {
    fn read(var: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let alg = match var("JWT_ALG").as_deref().map(str::trim) {
            None | Some("HS256") => None,
            Some("EdDSA") => Some(jsonwebtoken::Algorithm::EdDSA),
            Some("RS256") => Some(jsonwebtoken::Algorithm::RS256),
            Some("ES256") => Some(jsonwebtoken::Algorithm::ES256),
            Some(other) => {
                return Err(ConfigError::new(
                    "JWT_ALG",
                    format!("expected HS256, EdDSA, RS256 or ES256, got '{other}'"),
                ));
            }
        };
        let private_key = var("JWT_PRIVATE_KEY_FILE").map(PathBuf::from);
        let public_keys: Vec<PathBuf> = var("JWT_PUBLIC_KEY_FILES")
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        match (alg, private_key) {
            (None, None) if public_keys.is_empty() => Ok(Self::Hs256),
            (None, _) => Err(ConfigError::new(
                "JWT_ALG",
                "key files need JWT_ALG=EdDSA, RS256 or ES256 (HS256 signs with JWT_SECRET)",
            )),
            (Some(_), None) => Err(ConfigError::new(
                "JWT_PRIVATE_KEY_FILE",
                "required with an asymmetric JWT_ALG",
            )),
            (Some(alg), Some(private_key)) => Ok(Self::Asymmetric {
                alg,
                private_key,
                public_keys,
            }),
        }
    }
}

/// The client allowed to call `POST /auth/introspect` (RFC 7662 §2.1), by HTTP Basic.
#[derive(Debug, Clone)]
pub struct IntrospectionClient {
    /// `DOORWARD_INTROSPECTION_CLIENT_ID`.
    pub id: String,
    /// `DOORWARD_INTROSPECTION_CLIENT_SECRET`: as long and as random as a `JWT_SECRET`.
    pub secret: JwtSecret,
}

impl IntrospectionClient {
    fn read(var: &impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        const ID: &str = "DOORWARD_INTROSPECTION_CLIENT_ID";
        const SECRET: &str = "DOORWARD_INTROSPECTION_CLIENT_SECRET";
        match (var(ID), var(SECRET)) {
            (None, None) => Ok(None),
            (Some(id), Some(secret)) => {
                if id.contains(':') || id.chars().any(char::is_control) {
                    return Err(ConfigError::new(
                        ID,
                        "must not hold ':' or control characters",
                    ));
                }
                Ok(Some(Self {
                    id,
                    secret: JwtSecret::parse(SECRET, secret)?,
                }))
            }
            (Some(_), None) => Err(ConfigError::new(SECRET, format!("required with {ID}"))),
            (None, Some(_)) => Err(ConfigError::new(ID, format!("required with {SECRET}"))),
        }
    }
}

/// Every setting of contract §1, parsed.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`.
    pub database: DatabaseTarget,
    /// `DOORWARD_BIND`.
    pub bind: String,
    /// `DOORWARD_METRICS_BIND`: where `/metrics` is served instead of `DOORWARD_BIND`.
    pub metrics_bind: Option<String>,
    /// `DOORWARD_PUBLIC_URL`; `None` means `http://localhost:<bound port>`.
    pub public_url: Option<Url>,
    /// `DOORWARD_CORS_ORIGINS`, as ASCII-serialized origins.
    pub cors_origins: Vec<String>,
    /// `JWT_SECRET`; `None` on SQLite means "use or create `doorward.key`".
    pub jwt_secret: Option<JwtSecret>,
    /// `DOORWARD_ISSUER`.
    pub issuer: String,
    /// `DOORWARD_AUDIENCE`.
    pub audience: String,
    /// `ACCESS_TOKEN_TTL`.
    pub access_ttl: Duration,
    /// `REFRESH_TOKEN_TTL`.
    pub refresh_ttl: Duration,
    /// `SESSION_MAX_AGE`.
    pub session_max_age: Duration,
    /// `REFRESH_REUSE_GRACE`.
    pub reuse_grace: Duration,
    /// `DOORWARD_SYNC_INTERVAL`.
    pub sync_interval: Duration,
    /// `DOORWARD_PURGE_INTERVAL`: how often expired rows are deleted.
    pub purge_interval: Duration,
    /// `DOORWARD_AUDIT_RETENTION`: how long audit events are kept.
    pub audit_retention: Duration,
    /// `DOORWARD_TRUSTED_PROXIES`: the peers whose forwarded headers `/auth/verify` believes.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `DOORWARD_FORWARD_AUTH_REDIRECT`: answer a denied browser navigation with 302 instead of
    /// 401 + `Location` (for Traefik and Caddy, which pass the answer through).
    pub forward_auth_redirects: bool,
    /// `DOORWARD_REDIRECT_HOSTS`: hosts an absolute `next` may lead to.
    pub redirect_hosts: RedirectHosts,
    /// `DOORWARD_BASE_PATH`: where doorward's routes and pages are mounted, `""` for the root,
    /// else like `/id` (no trailing slash).
    pub base_path: String,
    /// `BCRYPT_COST`.
    pub bcrypt_cost: u32,
    /// `DOORWARD_WORKERS`: HTTP worker threads (default: one per core).
    pub workers: usize,
    /// `DOORWARD_TOKEN_CACHE_SIZE`: how many verified access tokens are remembered (0: none).
    pub token_cache_size: usize,
    /// Timeouts and sizes that bound what one client may hold.
    pub limits: ClientLimits,
    /// How often a client may sign in, register and refresh.
    pub throttling: Throttling,
    /// Who may introspect tokens; `None`: nobody.
    pub introspection_client: Option<IntrospectionClient>,
    /// Where verification and reset mail goes.
    pub mail: MailSettings,
    /// `JWT_ALG` and its keys.
    pub signing: Signing,
}

/// The longest lifetime any setting may have: ten years keeps every time sum far from overflow.
const MAX_LIFETIME: Duration = Duration::from_secs(3650 * 86_400);

/// Verified tokens remembered by default: about 14 MB when full (`cargo bench --bench memory`:
/// ~830 bytes a token, with its claims).
const DEFAULT_TOKEN_CACHE_SIZE: usize = 16_384;

/// The most `DOORWARD_TOKEN_CACHE_SIZE` may be: about 8 GB when full.
const MAX_TOKEN_CACHE_SIZE: usize = 10_000_000;

/// The longest reuse grace the contract allows.
const MAX_REUSE_GRACE: Duration = Duration::from_secs(60);

impl Config {
    /// Reads the settings through `get`, so tests can pass their own environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            // Every name read here must be one `ConfigBuilder::setting` accepts: a debug build
            // (every test of this module) stops on a setting missing from the list.
            debug_assert!(
                SETTING_NAMES.contains(&name),
                "{name} is not in SETTING_NAMES"
            );
            get(name).filter(|v| !v.trim().is_empty())
        };
        let duration = |name: &'static str, default: &str| -> Result<Duration, ConfigError> {
            let raw = var(name).unwrap_or_else(|| default.to_owned());
            parse_duration(&raw).ok_or_else(|| {
                ConfigError::new(
                    name,
                    format!("expected e.g. 500ms, 15m or 14d, got '{raw}'"),
                )
            })
        };

        let database = DatabaseTarget::parse(
            &var("DATABASE_URL").unwrap_or_else(|| "sqlite://doorward.db".to_owned()),
        )?;
        let bind = parse_bind(
            "DOORWARD_BIND",
            var("DOORWARD_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
        )?;
        let metrics_bind = var("DOORWARD_METRICS_BIND")
            .map(|raw| parse_bind("DOORWARD_METRICS_BIND", raw))
            .transpose()?;
        let public_url = var("DOORWARD_PUBLIC_URL")
            .map(|raw| parse_public_url(&raw))
            .transpose()?;
        let cors_origins = var("DOORWARD_CORS_ORIGINS")
            .map(|raw| parse_cors_origins(&raw))
            .transpose()?
            .unwrap_or_default();
        let jwt_secret = var("JWT_SECRET")
            .map(|raw| JwtSecret::parse("JWT_SECRET", raw))
            .transpose()?;
        if jwt_secret.is_none() && matches!(database, DatabaseTarget::Postgres(_)) {
            return Err(ConfigError::new(
                "JWT_SECRET",
                "required with PostgreSQL, since every instance must share it",
            ));
        }
        let issuer = var("DOORWARD_ISSUER").unwrap_or_else(|| "doorward".to_owned());
        let audience = var("DOORWARD_AUDIENCE").unwrap_or_else(|| "doorward".to_owned());

        let access_ttl = duration("ACCESS_TOKEN_TTL", "15m")?;
        let refresh_ttl = duration("REFRESH_TOKEN_TTL", "14d")?;
        let session_max_age = duration("SESSION_MAX_AGE", "90d")?;
        let reuse_grace = duration("REFRESH_REUSE_GRACE", "10s")?;
        let sync_interval = duration("DOORWARD_SYNC_INTERVAL", "1s")?;
        let purge_interval = duration("DOORWARD_PURGE_INTERVAL", "10m")?;
        let audit_retention = duration("DOORWARD_AUDIT_RETENTION", "90d")?;
        for (name, value) in [
            ("ACCESS_TOKEN_TTL", access_ttl),
            ("REFRESH_TOKEN_TTL", refresh_ttl),
            ("SESSION_MAX_AGE", session_max_age),
            ("DOORWARD_SYNC_INTERVAL", sync_interval),
            ("DOORWARD_PURGE_INTERVAL", purge_interval),
            ("DOORWARD_AUDIT_RETENTION", audit_retention),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(name, "must be longer than zero"));
            }
            if value > MAX_LIFETIME {
                return Err(ConfigError::new(name, "must be at most 3650d"));
            }
        }
        if access_ttl < Duration::from_secs(1) || refresh_ttl < Duration::from_secs(1) {
            let name = if access_ttl < Duration::from_secs(1) {
                "ACCESS_TOKEN_TTL"
            } else {
                "REFRESH_TOKEN_TTL"
            };
            return Err(ConfigError::new(name, "must be at least 1s"));
        }
        if reuse_grace > MAX_REUSE_GRACE {
            return Err(ConfigError::new(
                "REFRESH_REUSE_GRACE",
                format!("at most 60s, got {}s", reuse_grace.as_secs_f64()),
            ));
        }

        let trusted_proxies = var("DOORWARD_TRUSTED_PROXIES")
            .map(|raw| parse_proxies(&raw))
            .transpose()?
            .unwrap_or_default();
        let forward_auth_redirects = match var("DOORWARD_FORWARD_AUTH_REDIRECT").as_deref() {
            None | Some("401") => false,
            Some("302") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "DOORWARD_FORWARD_AUTH_REDIRECT",
                    format!("expected 401 or 302, got '{other}'"),
                ));
            }
        };

        let redirect_hosts = var("DOORWARD_REDIRECT_HOSTS")
            .map(|raw| RedirectHosts::parse(&raw))
            .transpose()?
            .unwrap_or_default();

        let base_path = var("DOORWARD_BASE_PATH")
            .map(|raw| parse_base_path(&raw))
            .transpose()?
            .unwrap_or_default();

        let bcrypt_cost = match var("BCRYPT_COST") {
            None => 12,
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|c| (4..=31).contains(c))
                .ok_or_else(|| {
                    ConfigError::new("BCRYPT_COST", format!("expected 4 to 31, got '{raw}'"))
                })?,
        };
        let workers = match var("DOORWARD_WORKERS") {
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=256).contains(n))
                .ok_or_else(|| {
                    ConfigError::new(
                        "DOORWARD_WORKERS",
                        format!("expected 1 to 256, got '{raw}'"),
                    )
                })?,
        };

        let token_cache_size = match var("DOORWARD_TOKEN_CACHE_SIZE") {
            None => DEFAULT_TOKEN_CACHE_SIZE,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_TOKEN_CACHE_SIZE)
                .ok_or_else(|| {
                    ConfigError::new(
                        "DOORWARD_TOKEN_CACHE_SIZE",
                        format!("expected 0 to {MAX_TOKEN_CACHE_SIZE}, got '{raw}'"),
                    )
                })?,
        };
        let limits = ClientLimits::read(&var)?;
        let throttling = Throttling::read(&var)?;
        let introspection_client = IntrospectionClient::read(&var)?;
        let mail = MailSettings::read(&var)?;
        let signing = Signing::read(&var)?;

        Ok(Self {
            database,
            bind,
            metrics_bind,
            public_url,
            cors_origins,
            jwt_secret,
            issuer,
            audience,
            access_ttl,
            refresh_ttl,
            session_max_age,
            reuse_grace,
            sync_interval,
            purge_interval,
            audit_retention,
            trusted_proxies,
            forward_auth_redirects,
            redirect_hosts,
            base_path,
            bcrypt_cost,
            workers,
            token_cache_size,
            limits,
            throttling,
            introspection_client,
            mail,
            signing,
        })
    }

    /// Settings built in code, with no environment read.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Reads the process environment (and `.env`, loaded by `main`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_base_path_is_a_clean_absolute_path() {
        assert_eq!(config(&[]).unwrap().base_path, "");
        assert_eq!(
            config(&[("DOORWARD_BASE_PATH", "/")]).unwrap().base_path,
            ""
        );
        let base = config(&[("DOORWARD_BASE_PATH", "/auth-server/v1")]).unwrap();
        assert_eq!(base.base_path, "/auth-server/v1");
        for bad in ["id", "/id/", "//id", "/id/../x", "/i d", "/id?x", "/%2e"] {
            let err = config(&[("DOORWARD_BASE_PATH", bad)]).unwrap_err();
            assert_eq!(err.setting, "DOORWARD_BASE_PATH", "{bad}");
        }
    }

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = config(&[]).unwrap();
        assert!(
            matches!(c.database, DatabaseTarget::Sqlite(ref p) if p == &PathBuf::from("doorward.db"))
        );
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.access_ttl, Duration::from_secs(900));
        assert_eq!(c.refresh_ttl, Duration::from_secs(14 * 86_400));
        assert_eq!(c.session_max_age, Duration::from_secs(90 * 86_400));
        assert_eq!(c.reuse_grace, Duration::from_secs(10));
        assert_eq!(c.sync_interval, Duration::from_secs(1));
        assert_eq!(c.bcrypt_cost, 12);
        assert_eq!(c.issuer, "doorward");
        assert!(c.cors_origins.is_empty());
    }

    #[test]
    fn durations_take_every_unit() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_duration("14d"),
            Some(Duration::from_secs(14 * 86_400))
        );
        for bad in [
            "15",
            "m",
            "15 minutes",
            "-1s",
            "1.5s",
            "99999999999999999999d",
            "",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_bad_setting_is_named_in_one_line() {
        let err = config(&[("ACCESS_TOKEN_TTL", "15 minutes")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ACCESS_TOKEN_TTL: expected e.g. 500ms, 15m or 14d, got '15 minutes'"
        );
        assert_eq!(
            config(&[("BCRYPT_COST", "3")]).unwrap_err().setting,
            "BCRYPT_COST"
        );
        assert_eq!(
            config(&[("DOORWARD_TRUSTED_PROXIES", "10.0.0.0/8")])
                .unwrap_err()
                .setting,
            "DOORWARD_TRUSTED_PROXIES"
        );
        assert_eq!(
            config(&[("DOORWARD_FORWARD_AUTH_REDIRECT", "303")])
                .unwrap_err()
                .setting,
            "DOORWARD_FORWARD_AUTH_REDIRECT"
        );
        let proxies = config(&[("DOORWARD_TRUSTED_PROXIES", "127.0.0.1, ::1")]).unwrap();
        assert_eq!(proxies.trusted_proxies.len(), 2);
        assert_eq!(
            config(&[("BCRYPT_COST", "32")]).unwrap_err().setting,
            "BCRYPT_COST"
        );
        assert_eq!(
            config(&[("REFRESH_REUSE_GRACE", "61s")])
                .unwrap_err()
                .setting,
            "REFRESH_REUSE_GRACE"
        );
        assert_eq!(
            config(&[("JWT_SECRET", "short")]).unwrap_err().setting,
            "JWT_SECRET"
        );
        assert!(
            !config(&[("JWT_SECRET", "short")])
                .unwrap_err()
                .to_string()
                .contains("short")
        );
    }

    #[test]
    fn a_bad_bind_address_names_its_setting() {
        assert_eq!(
            config(&[("DOORWARD_BIND", "nowhere")]).unwrap_err().setting,
            "DOORWARD_BIND"
        );
        assert!(config(&[("DOORWARD_BIND", "0.0.0.0:0")]).is_ok());
    }

    #[test]
    fn a_low_entropy_secret_is_refused() {
        let err = config(&[("JWT_SECRET", &"a".repeat(40))]).unwrap_err();
        assert_eq!(err.setting, "JWT_SECRET");
        assert!(config(&[("JWT_SECRET", &"abcd".repeat(10))]).is_err());
        assert!(config(&[("JWT_SECRET", "0123456789abcdef0123456789abcdef")]).is_ok());
    }

    #[test]
    fn lifetimes_are_bounded() {
        assert!(config(&[("SESSION_MAX_AGE", "3650d")]).is_ok());
        let err = config(&[("SESSION_MAX_AGE", "3651d")]).unwrap_err();
        assert_eq!(err.setting, "SESSION_MAX_AGE");
    }

    #[test]
    fn postgres_requires_a_shared_secret() {
        let err = config(&[("DATABASE_URL", "postgres://u:p@localhost/db")]).unwrap_err();
        assert_eq!(err.setting, "JWT_SECRET");
        let ok = config(&[
            ("DATABASE_URL", "postgresql://localhost/db"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ])
        .unwrap();
        assert!(matches!(ok.database, DatabaseTarget::Postgres(_)));
        assert!(!format!("{ok:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn public_url_must_be_secure_off_loopback() {
        assert!(config(&[("DOORWARD_PUBLIC_URL", "http://example.com")]).is_err());
        assert!(config(&[("DOORWARD_PUBLIC_URL", "https://example.com")]).is_ok());
        assert!(config(&[("DOORWARD_PUBLIC_URL", "http://127.0.0.1:9000")]).is_ok());
        assert!(config(&[("DOORWARD_PUBLIC_URL", "http://[::1]:9000")]).is_ok());
        assert!(config(&[("DOORWARD_PUBLIC_URL", "ftp://localhost")]).is_err());
    }

    #[test]
    fn cors_origins_are_exact() {
        let c = config(&[(
            "DOORWARD_CORS_ORIGINS",
            "https://app.example.com, http://localhost:3000",
        )])
        .unwrap();
        assert_eq!(
            c.cors_origins,
            vec!["https://app.example.com", "http://localhost:3000"]
        );
        assert!(config(&[("DOORWARD_CORS_ORIGINS", "*")]).is_err());
        assert_eq!(
            config(&[("DOORWARD_CORS_ORIGINS", "http://app.example.com")])
                .unwrap_err()
                .setting,
            "DOORWARD_CORS_ORIGINS"
        );
        assert!(config(&[("DOORWARD_CORS_ORIGINS", "https://*.example.com")]).is_err());
        assert!(config(&[("DOORWARD_CORS_ORIGINS", "https://a.example.com/path")]).is_err());
    }
}
