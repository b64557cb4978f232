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
