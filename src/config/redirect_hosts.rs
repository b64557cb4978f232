//! `DOORWARD_REDIRECT_HOSTS`: the other hosts a sign-in may send the browser back to.
//!
//! A `next` is a path on doorward's own origin, or, only for a host listed here, an absolute
//! `https` URL (`http` only on a loopback host). Entries are exact: `app.example.com` matches
//! that host on its scheme's default port, `localhost:3000` that host and port; no wildcards,
//! so a listed name never covers a subdomain someone else may control.

use url::{Host, Url};

use super::ConfigError;

const NAME: &str = "DOORWARD_REDIRECT_HOSTS";

/// The listed hosts, lower-cased, each with its port when one was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedirectHosts(Vec<(String, Option<u16>)>);

impl RedirectHosts {
    /// Parses a comma-separated list of `host` or `host:port`.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let mut hosts = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let url = Url::parse(&format!("http://{entry}"))
                .ok()
                .filter(|url| {
                    url.path() == "/"
                        && url.query().is_none()
                        && url.fragment().is_none()
                        && url.username().is_empty()
                        && url.password().is_none()
                        && !entry.contains(['/', '*', '@', '?', '#'])
                })
                .ok_or_else(|| {
                    ConfigError::new(NAME, format!("expected host or host:port, got '{entry}'"))
                })?;
            let host = url.host_str().unwrap_or_default().to_owned();
            hosts.push((host, url.port()));
        }
        Ok(Self(hosts))
    }

    /// True when `url` is an `https` URL (or `http` on a loopback host, for development),
    /// without credentials, on a listed host and port.
    pub fn allows(&self, url: &Url) -> bool {
        let loopback = url.host_str().is_some_and(crate::config::is_loopback_host);
        let web = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        let plain = url.username().is_empty() && url.password().is_none();
        let host = match url.host() {
            Some(Host::Domain(name)) => name.to_owned(),
            Some(host) => host.to_string(),
            None => return false,
        };
        web && plain
            && self
                .0
                .iter()
                .any(|(listed, port)| *listed == host && *port == url.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> Url {
        Url::parse(raw).unwrap()
    }

    #[test]
    fn only_exact_hosts_and_ports_are_allowed() {
        let hosts = RedirectHosts::parse("App.Example.com, localhost:3000").unwrap();
        assert!(hosts.allows(&url("https://app.example.com/dash?x=1")));
        assert!(hosts.allows(&url("http://localhost:3000/")));
        for refused in [
            "https://evil.example/",
            "https://sub.app.example.com/",
            "https://app.example.com.evil.example/",
            "https://app.example.com:8443/",
            "http://localhost/",
            "http://app.example.com/",
            "https://user@app.example.com/",
            "javascript://app.example.com/%0aalert(1)",
            "ftp://app.example.com/",
        ] {
            assert!(!hosts.allows(&url(refused)), "{refused}");
        }
    }

    #[test]
    fn a_bad_entry_names_the_setting() {
        for bad in [
            "*.example.com",
            "https://app.example.com",
            "app.example.com/x",
            "a@b",
        ] {
            let err = RedirectHosts::parse(bad).unwrap_err();
            assert_eq!(err.setting, NAME, "{bad}");
        }
        assert_eq!(RedirectHosts::parse(" ").unwrap(), RedirectHosts::default());
    }
}
