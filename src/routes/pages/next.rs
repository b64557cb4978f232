//! `next`: where a sign-in goes afterwards, validated so it can only ever be a path here.

use url::form_urlencoded;

/// Where a sign-in goes when `next` is absent or refused.
const DEFAULT_NEXT: &str = "/account";

/// `next` as contract §4 accepts it: a same-origin path that starts with exactly one `/` and
/// holds no `\` and no control character (tabs and newlines included). Anything else is `None`.
pub fn safe_next(raw: Option<&str>) -> Option<&str> {
    let next = raw?;
    let one_slash = next.starts_with('/') && !next.starts_with("//");
    let clean = !next.chars().any(|c| c == '\\' || c.is_control());
    // A browser removes `.` and `..` segments: `/.//evil.example` would become `//evil.example`.
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let no_dot_segments = !path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    });
    (one_slash && clean && no_dot_segments).then_some(next)
}

/// The `Location` for a validated `next` (or `/account`): bytes a URI may not hold are
/// percent-encoded, and everything already valid (`/account?tab=1`, `%2F`) stays as it is.
pub fn next_location(next: Option<&str>) -> String {
    let path = next.unwrap_or(DEFAULT_NEXT);
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
            assert_eq!(safe_next(Some(good)), Some(good), "{good}");
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
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_next(None), None);
    }

    #[test]
    fn locations_are_percent_encoded_only_where_needed() {
        assert_eq!(next_location(None), "/account");
        assert_eq!(next_location(Some("/account?tab=1")), "/account?tab=1");
        assert_eq!(next_location(Some("/a b")), "/a%20b");
        assert_eq!(next_location(Some("/caf\u{e9}")), "/caf%C3%A9");
        assert_eq!(next_location(Some("/x%2Fy")), "/x%2Fy");
        assert_eq!(next_location(Some("/100%")), "/100%25");
        assert_eq!(next_location(Some("/<\"x\">")), "/%3C%22x%22%3E");
    }
}
