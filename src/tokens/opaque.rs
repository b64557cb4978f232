//! Opaque tokens (refresh tokens, WebSocket tickets): random strings handed to clients, stored
//! only as hashes.
//!
//! The token is 256 bits from the operating system's CSPRNG; the database keeps its SHA-256, so
//! a leaked table cannot be replayed. Rotation, reuse detection and families are storage rules
//! and live in `db::repo::rotate_refresh_token`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The longest opaque token looked up; anything longer is refused without a query.
const MAX_PRESENTED_BYTES: usize = 256;

/// An opaque token as the client sees it. Never logged.
pub struct OpaqueToken(SecretString);

impl OpaqueToken {
    /// 32 random bytes, base64url without padding (43 characters).
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// The token to hand to the client.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The hash to store.
    pub fn hash(&self) -> OpaqueTokenHash {
        OpaqueTokenHash::of(self.expose())
    }
}

impl std::fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueToken")
    }
}

/// The SHA-256 of a refresh token, base64url: the only form the database sees.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueTokenHash(String);

impl OpaqueTokenHash {
    fn of(token: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())))
    }

    /// Hashes a token a client presented; `None` for anything that cannot be one of ours.
    pub fn of_presented(token: &str) -> Option<Self> {
        (!token.is_empty() && token.len() <= MAX_PRESENTED_BYTES).then(|| Self::of(token))
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OpaqueTokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueTokenHash")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = OpaqueToken::generate().unwrap();
        let b = OpaqueToken::generate().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash(), OpaqueTokenHash::of_presented(a.expose()).unwrap());
        assert_ne!(a.hash().as_str(), a.expose());
        assert_eq!(
            format!("{a:?} {:?}", a.hash()),
            "OpaqueToken OpaqueTokenHash"
        );
        assert!(OpaqueTokenHash::of_presented("").is_none());
        assert!(OpaqueTokenHash::of_presented(&"x".repeat(257)).is_none());
    }
}
