//! The parsers of the settings whose values are more than a number or a duration.

use std::time::Duration;

use url::Url;

use super::ConfigError;

/// A listen address `host:port`, for `setting`.
pub(super) fn parse_bind(setting: &'static str, raw: String) -> Result<String, ConfigError> {
    if std::net::ToSocketAddrs::to_socket_addrs(raw.as_str()).is_err() {
        return Err(ConfigError::new(
            setting,
            format!("expected host:port such as 127.0.0.1:8080, got '{raw}'"),
        ));
    }
    Ok(raw)
}

/// `/` alone is the root; otherwise segments of unreserved characters, none `.` or `..`.
pub(super) fn parse_base_path(raw: &str) -> Result<String, ConfigError> {
    let raw = raw.trim();
    if raw == "/" {
        return Ok(String::new());
    }
    let segments: Vec<&str> = raw.strip_prefix('/').unwrap_or("").split('/').collect();
    let valid = raw.starts_with('/')
        && segments.iter().all(|segment| {
            !segment.is_empty()
                && *segment != "."
                && *segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        });
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(ConfigError::new(
            "DOORWARD_BASE_PATH",
            format!("expected a path like /id (letters, digits, - . _ ~), got '{raw}'"),
        ))
    }
}

/// Parses `500ms`, `30s`, `15m`, `12h`, `14d`.
pub(crate) fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = raw.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(millis_per_unit).map(Duration::from_millis)
}

/// Hosts on which browsers treat plain `http://` as a secure context.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

pub(super) fn parse_public_url(raw: &str) -> Result<Url, ConfigError> {
    const NAME: &str = "DOORWARD_PUBLIC_URL";
    let url = Url::parse(raw.trim())
        .map_err(|e| ConfigError::new(NAME, format!("not a URL ({e}): '{raw}'")))?;
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(host) => {}
        "http" => {
            return Err(ConfigError::new(
                NAME,
                format!(
                    "http:// is allowed only on localhost, 127.0.0.1 or [::1] (Secure cookies would silently fail), got '{raw}'"
                ),
            ));
        }
        other => {
            return Err(ConfigError::new(
                NAME,
                format!("expected an http:// or https:// URL, got scheme '{other}'"),
            ));
        }
    }
    if host.is_empty() {
        return Err(ConfigError::new(NAME, format!("no host in '{raw}'")));
    }
    Ok(url)
}

pub(super) fn parse_proxies(raw: &str) -> Result<Vec<std::net::IpAddr>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|ip| {
            ip.parse().map_err(|_| {
                ConfigError::new(
                    "DOORWARD_TRUSTED_PROXIES",
                    format!("expected IP addresses such as 127.0.0.1, got '{ip}'"),
                )
            })
        })
        .collect()
}

pub(super) fn parse_cors_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    const NAME: &str = "DOORWARD_CORS_ORIGINS";
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|origin| {
            if origin.contains('*') {
                return Err(ConfigError::new(
                    NAME,
                    "a wildcard is refused: list exact origins",
                ));
            }
            let url = Url::parse(origin).map_err(|e| {
                ConfigError::new(NAME, format!("'{origin}' is not an origin ({e})"))
            })?;
            if url.scheme() == "http" && !is_loopback_host(url.host_str().unwrap_or_default()) {
                return Err(ConfigError::new(
                    NAME,
                    format!("'{origin}': http:// is allowed only on localhost, 127.0.0.1 or [::1]"),
                ));
            }
            let serialized = url.origin().ascii_serialization();
            let is_bare_origin = matches!(url.scheme(), "http" | "https")
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && origin.trim_end_matches('/') == serialized;
            if !is_bare_origin {
                return Err(ConfigError::new(
                    NAME,
                    format!("'{origin}' is not an exact origin like https://app.example.com"),
                ));
            }
            Ok(serialized)
        })
        .collect()
}
