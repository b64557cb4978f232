//! Parsed request values: once a handler holds an [`Email`], [`Password`] or [`DisplayName`],
//! it is valid by contract §3's rules, so nothing past the parsing trusts raw input.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Control (Cc) and format (Cf: zero-width joiners and spaces, bidi controls, soft hyphens)
/// characters: invisible or reordering, so two strings that show alike could differ.
fn is_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control | GeneralCategory::Format
    )
}

/// A trimmed, Unicode-lower-cased email address of at most 254 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The longest address, in bytes (RFC 5321's path limit less the brackets).
    pub const MAX_BYTES: usize = 254;

    /// Trims, checks and canonicalizes; the error is the problem, for `fields.email`.
    ///
    /// The canonical form is NFKC, lower-cased: fullwidth letters, compatibility forms and
    /// decomposed accents become the one address they look like, so they cannot make a second
    /// account of it. Control and format characters (zero-width, bidi controls) are refused.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("is required");
        }
        if trimmed.chars().any(is_invisible) {
            return Err("must not contain control characters");
        }
        let canonical: String = trimmed.nfkc().collect::<String>().to_lowercase();
        if canonical.chars().any(is_invisible) {
            return Err("must not contain control characters");
        }
        if canonical.len() > Self::MAX_BYTES {
            return Err("must be at most 254 bytes");
        }
        let Some((local, domain)) = canonical.rsplit_once('@') else {
            return Err("must be an email address");
        };
        let domain_ok = !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty()
            || local.contains('@')
            || !domain_ok
            || canonical.chars().any(char::is_whitespace)
        {
            return Err("must be an email address");
        }
        Ok(Self(canonical))
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A password as typed: never printed, never longer than bcrypt can hash whole.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// The fewest characters a new password may have.
    pub const MIN_CHARS: usize = 8;
    /// bcrypt reads at most 72 bytes; a longer password is refused, never truncated.
    pub const MAX_BYTES: usize = 72;

    /// Checks a new password against every rule of contract §3.
    pub fn parse_new(raw: &str) -> Result<Self, Vec<&'static str>> {
        let mut problems = Vec::new();
        if raw.chars().count() < Self::MIN_CHARS {
            problems.push("must be at least 8 characters");
        }
        if raw.len() > Self::MAX_BYTES {
            problems.push("must be at most 72 bytes");
        }
        if raw.contains('\0') {
            problems.push("must not contain NUL characters");
        }
        if is_common(raw) {
            problems.push("is too common: choose one that is harder to guess");
        }
        if problems.is_empty() {
            Ok(Self(SecretString::from(raw.to_owned())))
        } else {
            Err(problems)
        }
    }

    /// Wraps a password presented at sign-in; `None` when it could never match a stored hash.
    pub fn parse_presented(raw: &str) -> Option<Self> {
        (raw.len() <= Self::MAX_BYTES && !raw.contains('\0') && !raw.is_empty())
            .then(|| Self(SecretString::from(raw.to_owned())))
    }

    /// The plaintext, for bcrypt only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// True for the ~100,000 most common passwords (the `passwords` crate's list), in any case.
fn is_common(raw: &str) -> bool {
    passwords::analyzer::is_common_password(raw)
        || passwords::analyzer::is_common_password(raw.to_lowercase())
}

/// An optional display name: at most 100 characters, composed (NFC), no control or format
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// The most characters a name may have.
    pub const MAX_CHARS: usize = 100;

    /// Trims, checks and composes (NFC); an empty name is no name. Control and format
    /// characters are refused: a bidi override would make a name display as something else.
    pub fn parse(raw: &str) -> Result<Option<Self>, &'static str> {
        let trimmed = raw.trim();
        if trimmed.chars().any(is_invisible) {
            return Err("must not contain control characters");
        }
        let composed: String = trimmed.nfc().collect();
        if composed.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 100 characters");
        }
        Ok((!composed.is_empty()).then_some(Self(composed)))
    }
}

impl AsRef<str> for DisplayName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// What a user may do; carried in the access token's `role` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every registered account.
    User,
    /// Granted in the database by an operator.
    Admin,
}

impl Role {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// True when this role may do what `required` may: an admin may do what a user may.
    pub fn includes(self, required: Role) -> bool {
        self == required || self == Self::Admin
    }

    /// Reads the stored name; anything unknown is the least privileged role.
    pub fn from_stored(raw: &str) -> Self {
        if raw == "admin" {
            Self::Admin
        } else {
            Self::User
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased_in_unicode() {
        assert_eq!(Email::parse(" A@X.io ").unwrap().as_ref(), "a@x.io");
        assert_eq!(
            Email::parse("ÉMILE@Exemple.FR").unwrap().as_ref(),
            "émile@exemple.fr"
        );
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "",
            "   ",
            "plain",
            "@x.io",
            "a@",
            "a@x",
            "a@.io",
            "a@x.",
            "a b@x.io",
            "a@x..io",
            "a\u{0}@x.io",
            "a\n@x.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@x.io", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err("must be at most 254 bytes"));
        let exact = format!("{}@x.io", "a".repeat(249));
        assert!(Email::parse(&exact).is_ok());
    }

    #[test]
    fn passwords_are_bounded_by_characters_and_bytes() {
        assert!(Password::parse_new("correct horse battery").is_ok());
        assert!(Password::parse_new("short1!").is_err());
        let at_limit = "é".repeat(36);
        assert_eq!(at_limit.len(), 72);
        assert!(Password::parse_new(&at_limit).is_ok());
        let over = format!("{at_limit}x");
        assert_eq!(
            Password::parse_new(&over).unwrap_err(),
            vec!["must be at most 72 bytes"]
        );
        assert!(Password::parse_presented(&over).is_none());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        assert!(Password::parse_new("password").is_err());
        assert!(Password::parse_new("PASSWORD123").is_err());
        assert!(Password::parse_new("qwertyuiop").is_err());
    }

    #[test]
    fn passwords_never_print() {
        let p = Password::parse_new("correct horse battery").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }

    #[test]
    fn names_are_optional_and_bounded() {
        assert_eq!(DisplayName::parse("  ").unwrap(), None);
        assert_eq!(
            DisplayName::parse(" Ada ").unwrap().unwrap().as_ref(),
            "Ada"
        );
        assert!(DisplayName::parse(&"n".repeat(100)).unwrap().is_some());
        assert!(DisplayName::parse(&"n".repeat(101)).is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
    }
}
