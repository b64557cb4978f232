//! How much a client may hold of the server: time to send its request head and its body, idle
//! keep-alive, header bytes, and connections per address (issue 10, slow and oversized clients).
//! Each has a setting with a documented default; all are checked at start.

use std::time::Duration;

use super::{ConfigError, parse_duration};

/// The limits on each client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// `DOORWARD_HEAD_TIMEOUT`: from accepting a connection (or the end of the previous
    /// request) to the end of the request head.
    pub head_timeout: Duration,
    /// `DOORWARD_BODY_TIMEOUT`: to read a whole request body, once the head is in.
    pub body_timeout: Duration,
    /// `DOORWARD_KEEP_ALIVE`: how long an idle connection stays open.
    pub keep_alive: Duration,
    /// `DOORWARD_MAX_HEADER_BYTES`: the sum of header names and values a request may carry.
    pub max_header_bytes: usize,
    /// `DOORWARD_MAX_CONNECTIONS_PER_IP`: open connections one peer address may hold.
    pub max_connections_per_ip: usize,
}

impl ClientLimits {
    /// Reads the five settings through `var`.
    pub(super) fn read(var: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let duration = |name: &'static str, default: &str| -> Result<Duration, ConfigError> {
            let raw = var(name).unwrap_or_else(|| default.to_owned());
            parse_duration(&raw)
                .filter(|d| (Duration::from_millis(100)..=Duration::from_secs(3600)).contains(d))
                .ok_or_else(|| ConfigError::new(name, format!("expected 100ms to 1h, got '{raw}'")))
        };
        let count =
            |name: &'static str, default: usize, max: usize| -> Result<usize, ConfigError> {
                match var(name) {
                    None => Ok(default),
                    Some(raw) => raw
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=max).contains(n))
                        .ok_or_else(|| {
                            ConfigError::new(name, format!("expected 1 to {max}, got '{raw}'"))
                        }),
                }
            };
        Ok(Self {
            head_timeout: duration("DOORWARD_HEAD_TIMEOUT", "5s")?,
            body_timeout: duration("DOORWARD_BODY_TIMEOUT", "10s")?,
            keep_alive: duration("DOORWARD_KEEP_ALIVE", "5s")?,
            max_header_bytes: count("DOORWARD_MAX_HEADER_BYTES", 16 * 1024, 1024 * 1024)?,
            max_connections_per_ip: count("DOORWARD_MAX_CONNECTIONS_PER_IP", 256, 100_000)?,
        })
    }
}

/// A rate, written `20/1m`: at most `count` in any `per`, with bursts of up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many.
    pub count: std::num::NonZeroU32,
    /// In how long.
    pub per: Duration,
}

impl Rate {
    /// `COUNT/DURATION` (1 to 1,000,000 per 1s to 1d), or `off` for no limit.
    fn parse(name: &'static str, raw: &str) -> Result<Option<Self>, ConfigError> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let parsed = raw.split_once('/').and_then(|(count, per)| {
            let count = count
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 1_000_000)?;
            let per = parse_duration(per)
                .filter(|d| (Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(d))?;
            Some(Self {
                count: std::num::NonZeroU32::new(count)?,
                per,
            })
        });
        parsed.map(Some).ok_or_else(|| {
            ConfigError::new(
                name,
                format!("expected COUNT/DURATION such as 20/1m, or off, got '{raw}'"),
            )
        })
    }
}

/// How often a client may try (issue 10, throttling). Per-address limits live in memory, per
/// instance; the per-account counts and the per-session refresh limit live in the database,
/// shared by every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttling {
    /// `DOORWARD_SIGN_IN_RATE_PER_IP`: password sign-ins from one address, whatever the route.
    pub sign_in_per_ip: Option<Rate>,
    /// `DOORWARD_REGISTER_RATE_PER_IP`: registrations from one address.
    pub register_per_ip: Option<Rate>,
    /// `DOORWARD_REFRESH_RATE_PER_IP`: refresh-token rotations from one address.
    pub refresh_per_ip: Option<Rate>,
    /// `DOORWARD_REFRESH_RATE_PER_SESSION`: rotations of one session (each stores a row).
    pub refresh_per_session: Option<Rate>,
    /// `DOORWARD_FAILED_SIGN_INS_PER_IP`: failed sign-ins on one account from one address per
    /// window.
    pub failed_sign_ins_per_ip: Option<u32>,
    /// `DOORWARD_FAILED_SIGN_INS_PER_ACCOUNT`: failed sign-ins on one account from every
    /// address together per window, except addresses the account has signed in from.
    pub failed_sign_ins_per_account: Option<u32>,
    /// `DOORWARD_FAILED_SIGN_IN_WINDOW`: how long failed sign-ins are counted.
    pub failed_sign_in_window: Duration,
    /// `DOORWARD_HASH_JOBS_PER_IP`: password checks one address may have queued or running.
    pub hash_jobs_per_ip: usize,
}

impl Throttling {
    /// Reads the eight settings through `var`.
    pub(super) fn read(var: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let rate = |name: &'static str, default: &str| {
            Rate::parse(name, &var(name).unwrap_or_else(|| default.to_owned()))
        };
        let failures = |name: &'static str, default: u32| -> Result<Option<u32>, ConfigError> {
            let raw = var(name).unwrap_or_else(|| default.to_string());
            if raw.trim().eq_ignore_ascii_case("off") {
                return Ok(None);
            }
            raw.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .map(Some)
                .ok_or_else(|| {
                    ConfigError::new(name, format!("expected 1 to 1000000, or off, got '{raw}'"))
                })
        };
        let window_raw = var("DOORWARD_FAILED_SIGN_IN_WINDOW").unwrap_or_else(|| "15m".to_owned());
        let failed_sign_in_window = parse_duration(&window_raw)
            .filter(|d| (Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(d))
            .ok_or_else(|| {
                ConfigError::new(
                    "DOORWARD_FAILED_SIGN_IN_WINDOW",
                    format!("expected 1s to 1d, got '{window_raw}'"),
                )
            })?;
        let jobs_raw = var("DOORWARD_HASH_JOBS_PER_IP").unwrap_or_else(|| "16".to_owned());
        let hash_jobs_per_ip = jobs_raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                ConfigError::new(
                    "DOORWARD_HASH_JOBS_PER_IP",
                    format!("expected 1 to 10000, got '{jobs_raw}'"),
                )
            })?;
        Ok(Self {
            sign_in_per_ip: rate("DOORWARD_SIGN_IN_RATE_PER_IP", "20/1m")?,
            register_per_ip: rate("DOORWARD_REGISTER_RATE_PER_IP", "20/10m")?,
            refresh_per_ip: rate("DOORWARD_REFRESH_RATE_PER_IP", "300/1m")?,
            refresh_per_session: rate("DOORWARD_REFRESH_RATE_PER_SESSION", "10/1m")?,
            failed_sign_ins_per_ip: failures("DOORWARD_FAILED_SIGN_INS_PER_IP", 5)?,
            failed_sign_ins_per_account: failures("DOORWARD_FAILED_SIGN_INS_PER_ACCOUNT", 50)?,
            failed_sign_in_window,
            hash_jobs_per_ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_count_per_duration_or_off() {
        let rate = Rate::parse("X", " 20/1m ").unwrap().unwrap();
        assert_eq!(rate.count.get(), 20);
        assert_eq!(rate.per, Duration::from_secs(60));
        assert_eq!(Rate::parse("X", "OFF").unwrap(), None);
        for bad in [
            "0/1m", "20", "20/", "/1m", "20/0s", "20/2d", "-1/1m", "20/1m/1s", "x/1m",
        ] {
            assert!(Rate::parse("X", bad).is_err(), "{bad}");
        }
    }
}
