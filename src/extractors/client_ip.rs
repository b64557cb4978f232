//! The client's address, as throttling sees it: the peer, or, when the peer is one of
//! `DOORWARD_TRUSTED_PROXIES`, the address that proxy forwarded for (`Forwarded`, else
//! `X-Forwarded-For`). Anyone else's forwarded headers are ignored, so a client cannot choose
//! the address it is throttled by.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv6Addr};

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpRequest, web};

use crate::db::models::SessionRow;
use crate::state::AppState;

/// The address a request is throttled by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(IpAddr);

impl ClientIp {
    /// The client of `req`, given the proxies whose forwarded headers are believed.
    pub fn of(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> Self {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::from([0, 0, 0, 0]), |peer| peer.ip());
        Self(client_address(peer, req.headers(), trusted_proxies))
    }

    /// The address itself, as a session records it.
    pub fn address(self) -> IpAddr {
        self.0
    }

    /// What limits are keyed on: the address, or for IPv6 its /64, since one host is commonly
    /// given a whole /64 and could otherwise take a new address for every attempt.
    pub fn key(self) -> IpAddr {
        match self.0 {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(Ipv6Addr::from(segments))
            }
        }
    }
}

impl FromRequest for ClientIp {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map_or(&[][..], |state| &state.trusted_proxies[..]);
        ready(Ok(Self::of(req, trusted)))
    }
}

/// Who is signing in: the address throttling counts, and the `User-Agent` the new session
/// records for "your sessions" (cut to [`SessionRow::USER_AGENT_CHARS`]).
#[derive(Debug, Clone)]
pub struct Client {
    /// As [`ClientIp`] finds it.
    pub ip: ClientIp,
    /// As sent; `None` when absent or not visible ASCII.
    pub user_agent: Option<String>,
}

impl Client {
    /// The client of `req`, given the proxies whose forwarded headers are believed.
    pub fn of(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> Self {
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| {
                ua.trim()
                    .chars()
                    .take(SessionRow::USER_AGENT_CHARS)
                    .collect()
            })
            .filter(|ua: &String| !ua.is_empty());
        Self {
            ip: ClientIp::of(req, trusted_proxies),
            user_agent,
        }
    }
}

impl Client {
    /// The client of `req`, with the proxies of the app's settings.
    pub fn of_request(req: &HttpRequest) -> Self {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map_or(&[][..], |state| &state.trusted_proxies[..]);
        Self::of(req, trusted)
    }
}

impl FromRequest for Client {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of_request(req)))
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Walks the forwarded chain from the nearest hop back while each hop is a trusted proxy; the
/// first hop that is not (or the farthest one given) is the client. A hop that is not an
/// address (`unknown`, an obfuscated name, garbage) ends the walk at the proxy that sent it.
pub(crate) fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let mut client = canonical(peer);
    if !trusted.contains(&client) {
        return client;
    }
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .collect();
    let hops: Vec<Option<IpAddr>> = if forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(parse_node)
            .collect()
    } else {
        forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value))
            })
            .collect()
    };
    for hop in hops.into_iter().rev() {
        let Some(hop) = hop else {
            return client;
        };
        client = canonical(hop);
        if !trusted.contains(&client) {
            return client;
        }
    }
    client
}

/// An address as forwarded headers write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `"[2001:db8::1]:4711"`, with optional quotes and spaces.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let node = raw.trim().trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        assert_eq!(client_address(ip("9.9.9.9"), &spoofed, &[]), ip("9.9.9.9"));
        let proxy = [ip("10.0.0.1")];
        assert_eq!(
            client_address(ip("9.9.9.9"), &spoofed, &proxy),
            ip("9.9.9.9")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &spoofed, &proxy),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        // The client put a fake address first; the proxies appended the real one.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 5.5.5.5, 10.0.0.2")]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &chain, &proxies),
            ip("5.5.5.5")
        );
        let all_trusted = headers(&[("x-forwarded-for", "10.0.0.2")]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &all_trusted, &proxies),
            ip("10.0.0.2")
        );
        let garbage = headers(&[("x-forwarded-for", "5.5.5.5, nonsense")]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &garbage, &proxies),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn forwarded_wins_and_reads_every_node_form() {
        let proxies = [ip("10.0.0.1")];
        for (value, expected) in [
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            (r#"for="[2001:db8:cafe::17]:4711""#, "2001:db8:cafe::17"),
            ("For=192.0.2.60:8080", "192.0.2.60"),
            ("for=198.51.100.1, for=192.0.2.43", "192.0.2.43"),
            (r#"for="2001:db8::1""#, "2001:db8::1"),
        ] {
            let map = headers(&[("forwarded", value), ("x-forwarded-for", "7.7.7.7")]);
            assert_eq!(
                client_address(ip("10.0.0.1"), &map, &proxies),
                ip(expected),
                "{value}"
            );
        }
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &unknown, &proxies),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a = ClientIp(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientIp(ip("2001:db8:1:2:bbbb::2"));
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), ClientIp(ip("2001:db8:1:3::1")).key());
        assert_eq!(canonical(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
    }
}
