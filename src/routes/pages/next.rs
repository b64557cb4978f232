//! `next`: where a sign-in goes afterwards, validated so it can only ever be a path here, or
//! a URL on a host `DOORWARD_REDIRECT_HOSTS` lists.

use url::{Url, form_urlencoded};

use crate::config::RedirectHosts;

/// Where a sign-in goes when `next` is absent or refused, under the base path.
pub(super) const DEFAULT_NEXT: &str = "/account";

/// `next` as contract §4 accepts it: a same-origin path that starts with exactly one `/` and
/// holds no `\` and no control character (tabs and newlines included), or an absolute URL on a
/// listed host ([`RedirectHosts`]) under the same character rule. Anything else is `None`.
pub fn safe_next<'a>(raw: Option<&'a str>, hosts: &RedirectHosts) -> Option<&'a str> {
    let next = raw?;
    if next.chars().any(|c| c == '\\' || c.is_control()) {
        return None;
    }
    if !next.starts_with('/') {
        return Url::parse(next)
            .is_ok_and(|url| hosts.allows(&url))
            .then_some(next);
    }
    // A browser removes `.` and `..` segments: `/.//evil.example` would become `//evil.example`.
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let no_dot_segments = !path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    });
    (!next.starts_with("//") && no_dot_segments).then_some(next)
}

/// The `Location` for a validated `next` (or `default`): bytes a URI may not hold are
/// percent-encoded, and everything already valid (`/account?tab=1`, `%2F`) stays as it is.
pub fn next_location(next: Option<&str>, default: &str) -> String {
    let path = next.unwrap_or(default);
    // An absolute `next` was judged by how the URL parser reads it; the browser gets exactly
    // that reading.
    if !path.starts_with('/')
        && let Ok(url) = Url::parse(path)
    {
        return url.into();
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    for (i, &b) in bytes.iter().enumerate() {
        let keep = b.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/?#".contains(&b)
            || (b == b'%'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A link to `path` that carries `next` along in its query.
pub(super) fn link_with_next(path: &str, next: Option<&str>) -> String {
    match next {
        Some(next) => format!(
            "{path}?next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        ),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_accepts_only_same_origin_paths() {
        for good in [
            "/account",
            "/account?tab=1",
            "/a/b#c",
            "/caf\u{e9}",
            "/a.b/.c",
            "/x?y=/./",
        ] {
            assert_eq!(safe_next(Some(good), &none()), Some(good), "{good}");
        }
        for bad in [
            "",
            "account",
            "//evil.example",
            "/\\evil.example",
            "/a\tb",
            "/a\nb",
            "/a\u{7f}",
            "https://evil.example",
            "\u{0}/x",
            "/.//evil.example",
            "/..//evil.example",
            "/a/%2e%2E//evil.example",
            "/a/.",
        ] {
            assert_eq!(safe_next(Some(bad), &none()), None, "{bad:?}");
        }
        assert_eq!(safe_next(None, &none()), None);
    }

    fn none() -> RedirectHosts {
        RedirectHosts::default()
    }

    #[test]
    fn an_absolute_next_needs_a_listed_host() {
        let hosts = RedirectHosts::parse("app.example.com").unwrap();
        let good = "https://app.example.com/dash?tab=1";
        assert_eq!(safe_next(Some(good), &hosts), Some(good));
        assert_eq!(safe_next(Some(good), &none()), None);
        for bad in [
            "https://evil.example/",
            "https://app.example.com@evil.example/",
            "https://app.example.com\\@evil.example/",
            "https://app.example.com.evil.example/",
            "https://app.example.com/\tx",
            "javascript:alert(1)",
            "app.example.com/dash",
        ] {
            assert_eq!(safe_next(Some(bad), &hosts), None, "{bad:?}");
        }
        assert_eq!(
            next_location(Some("https://APP.example.com/a b"), DEFAULT_NEXT),
            "https://app.example.com/a%20b"
        );
    }

    #[test]
    fn locations_are_percent_encoded_only_where_needed() {
        assert_eq!(next_location(None, DEFAULT_NEXT), "/account");
        assert_eq!(
            next_location(Some("/account?tab=1"), DEFAULT_NEXT),
            "/account?tab=1"
        );
        assert_eq!(next_location(Some("/a b"), DEFAULT_NEXT), "/a%20b");
        assert_eq!(
            next_location(Some("/caf\u{e9}"), DEFAULT_NEXT),
            "/caf%C3%A9"
        );
        assert_eq!(next_location(Some("/x%2Fy"), DEFAULT_NEXT), "/x%2Fy");
        assert_eq!(next_location(Some("/100%"), DEFAULT_NEXT), "/100%25");
        assert_eq!(
            next_location(Some("/<\"x\">"), DEFAULT_NEXT),
            "/%3C%22x%22%3E"
        );
    }
}
