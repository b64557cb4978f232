//! [`ConfigBuilder`]: the settings of an embedding app, built in code.
//!
//! Each method sets the setting of contract §1 that it is named after, and
//! [`ConfigBuilder::build`] checks them with exactly the rules the environment is checked by
//! ([`Config::from_lookup`]). Nothing is read from the environment.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::{Config, ConfigError};

/// Settings built in code; unset ones take their documented defaults.
#[derive(Default, Clone)]
pub struct ConfigBuilder {
    settings: HashMap<&'static str, String>,
}

impl std::fmt::Debug for ConfigBuilder {
    /// Names only: the values include the signing secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.settings.keys()).finish()
    }
}

fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

impl ConfigBuilder {
    fn set(mut self, name: &'static str, value: String) -> Self {
        self.settings.insert(name, value);
        self
    }

    /// `DATABASE_URL`: `sqlite://<path>` or `postgres://…`.
    pub fn database_url(self, url: impl Into<String>) -> Self {
        self.set("DATABASE_URL", url.into())
    }

    /// `JWT_SECRET`: at least 32 bytes; optional on SQLite (a key file is made beside it).
    pub fn jwt_secret(self, secret: impl Into<String>) -> Self {
        self.set("JWT_SECRET", secret.into())
    }

    /// `DOORWARD_PUBLIC_URL`: the origin browsers see; an embedded doorward requires it.
    pub fn public_url(self, url: impl Into<String>) -> Self {
        self.set("DOORWARD_PUBLIC_URL", url.into())
    }

    /// `DOORWARD_BASE_PATH`: mounts doorward's routes and pages under a prefix such as `/id`.
    pub fn base_path(self, path: impl Into<String>) -> Self {
        self.set("DOORWARD_BASE_PATH", path.into())
    }

    /// `DOORWARD_CORS_ORIGINS`: other origins whose browser apps may call with credentials.
    pub fn cors_origins<S: Into<String>>(self, origins: impl IntoIterator<Item = S>) -> Self {
        let list: Vec<String> = origins.into_iter().map(Into::into).collect();
        self.set("DOORWARD_CORS_ORIGINS", list.join(","))
    }

    /// `DOORWARD_TRUSTED_PROXIES`: the peers whose forwarded headers are believed.
    pub fn trusted_proxies(self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        let list: Vec<String> = proxies.into_iter().map(|ip| ip.to_string()).collect();
        self.set("DOORWARD_TRUSTED_PROXIES", list.join(","))
    }

    /// `ACCESS_TOKEN_TTL`.
    pub fn access_token_ttl(self, ttl: Duration) -> Self {
        self.set("ACCESS_TOKEN_TTL", millis(ttl))
    }

    /// `REFRESH_TOKEN_TTL`.
    pub fn refresh_token_ttl(self, ttl: Duration) -> Self {
        self.set("REFRESH_TOKEN_TTL", millis(ttl))
    }

    /// `DOORWARD_SYNC_INTERVAL`: how soon another instance's revocations are seen.
    pub fn sync_interval(self, every: Duration) -> Self {
        self.set("DOORWARD_SYNC_INTERVAL", millis(every))
    }

    /// `BCRYPT_COST`.
    pub fn bcrypt_cost(self, cost: u32) -> Self {
        self.set("BCRYPT_COST", cost.to_string())
    }

    /// Any other setting of contract §1, by its name (e.g. `"REFRESH_REUSE_GRACE"`, `"5s"`).
    pub fn setting(mut self, name: &str, value: impl Into<String>) -> Self {
        if let Some(known) = super::SETTING_NAMES.iter().find(|known| **known == name) {
            self.settings.insert(known, value.into());
        } else {
            self.settings.insert(UNKNOWN, name.to_owned());
        }
        self
    }

    /// Checks every setting; the first wrong one is named in the error.
    pub fn build(self) -> Result<Config, ConfigError> {
        if let Some(name) = self.settings.get(UNKNOWN) {
            return Err(ConfigError::unknown(name));
        }
        Config::from_lookup(|name| self.settings.get(name).cloned())
    }
}

/// Where an unknown setting's name waits for [`ConfigBuilder::build`] to refuse it.
const UNKNOWN: &str = "";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_reads_no_environment_and_checks_like_it() {
        let config = Config::builder()
            .database_url("sqlite://tasks.db")
            .public_url("https://app.example.com")
            .access_token_ttl(Duration::from_secs(120))
            .setting("REFRESH_REUSE_GRACE", "5s")
            .build()
            .unwrap();
        assert_eq!(config.access_ttl, Duration::from_secs(120));
        assert_eq!(config.reuse_grace, Duration::from_secs(5));
        let bad = Config::builder().bcrypt_cost(99).build().unwrap_err();
        assert!(bad.to_string().starts_with("BCRYPT_COST"), "{bad}");
        let unknown = Config::builder().setting("NOPE", "1").build().unwrap_err();
        assert!(unknown.to_string().contains("NOPE"), "{unknown}");
    }
}
