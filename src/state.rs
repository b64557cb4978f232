//! The state every handler shares, built once at startup. It sits below the routes, the
//! extractors and the flows, and imports none of them.

use crate::mail_links::MailLinks;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::config::{Config, RedirectHosts};
use crate::db::Db;
use crate::denylist::Denylist;
use crate::metrics::Metrics;
use crate::passwords::PasswordHasher;
use crate::throttle::Throttle;
use crate::tokens::jwt::{AccessClaims, JwtKeys, LEEWAY_SECS};
use crate::tokens::verified::VerifiedTokens;
use crate::users::UserCache;

/// The lifetimes sign-in, rotation and revocation need (contract §1), in Unix milliseconds,
/// derived once from [`Config`].
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// `REFRESH_TOKEN_TTL`.
    pub refresh_ttl_ms: i64,
    /// `SESSION_MAX_AGE`.
    pub session_max_age_ms: i64,
    /// `REFRESH_REUSE_GRACE`.
    pub reuse_grace_ms: i64,
    /// How long a revoked session must be remembered: the longest an access token issued in it
    /// can still verify (`ACCESS_TOKEN_TTL` plus the leeway).
    pub family_memory_ms: i64,
}

impl SessionSettings {
    /// The settings' lifetimes, in milliseconds.
    pub fn from_config(config: &Config) -> Self {
        Self {
            refresh_ttl_ms: millis(config.refresh_ttl),
            session_max_age_ms: millis(config.session_max_age),
            reuse_grace_ms: millis(config.reuse_grace),
            family_memory_ms: millis(config.access_ttl)
                .saturating_add(millis(Duration::from_secs(LEEWAY_SECS))),
        }
    }
}

/// A duration in whole milliseconds, saturating (settings are bounded far below the limit).
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The time now, Unix milliseconds: the unit of every stored time.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Everything the handlers share.
pub struct AppState {
    /// The connection pool.
    pub db: Db,
    /// bcrypt on its own threads.
    pub hasher: PasswordHasher,
    /// Access-token keys and validation.
    pub jwt: JwtKeys,
    /// Access tokens verified before (`DOORWARD_TOKEN_CACHE_SIZE`).
    pub verified: VerifiedTokens,
    /// Revocations, in memory.
    pub denylist: Denylist,
    /// Users by id, for `GET /api/me`.
    pub users: UserCache,
    /// Token lifetimes.
    pub settings: SessionSettings,
    /// Where else a sign-in's `next` may lead (`DOORWARD_REDIRECT_HOSTS`).
    pub redirect_hosts: RedirectHosts,
    /// Where doorward is mounted (`DOORWARD_BASE_PATH`): `""` or like `/id`.
    pub base_path: String,
    /// How long a request body may take to arrive (`DOORWARD_BODY_TIMEOUT`).
    pub body_timeout: std::time::Duration,
    /// `DOORWARD_TRUSTED_PROXIES`: the peers whose forwarded headers are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How often a client may sign in, register and refresh.
    pub throttle: Throttle,
    /// The verification and reset links, and the mail they go by.
    pub links: MailLinks,
    /// What `GET /metrics` reports.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// The path of one of doorward's own routes, under the base path: `path("/login")`.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.base_path)
    }
}

impl AppState {
    /// The whole in-memory check of an access token: signature and claims, then revocation.
    /// The error is the `error_description` of the 401.
    /// A token seen before skips the signature and claims check, never the clock or the
    /// revocation check ([`VerifiedTokens`]).
    pub fn verify_access_token(&self, token: &str) -> Result<Arc<AccessClaims>, &'static str> {
        let claims = match self.remembered_token(token.as_bytes()) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.jwt.verify(token)?);
                self.verified.insert(token, Arc::clone(&claims));
                claims
            }
        };
        self.unless_revoked(claims)
    }

    /// The claims of a token verified before, by its exact bytes, if its times still hold; the
    /// revocation check is still to do ([`Self::unless_revoked`]).
    pub fn remembered_token(&self, token: &[u8]) -> Option<Arc<AccessClaims>> {
        self.verified.get(token, Utc::now().timestamp())
    }

    /// `claims`, unless the denylist refuses them.
    pub fn unless_revoked(
        &self,
        claims: Arc<AccessClaims>,
    ) -> Result<Arc<AccessClaims>, &'static str> {
        match self.denylist.refusal(&claims) {
            Some(reason) => Err(reason),
            None => Ok(claims),
        }
    }
}
