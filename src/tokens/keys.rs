//! Asymmetric signing keys (`JWT_ALG` = `EdDSA`, `RS256` or `ES256`), loaded from PEM files.
//!
//! Files, not the database: a key pair is a secret that operators already know how to hand to
//! every instance (a Kubernetes secret, a mounted volume, a vault agent), and a private key
//! that never enters the database cannot leak from a backup or a read replica. Every
//! instance is given the same files.
//!
//! - `JWT_PRIVATE_KEY_FILE`: the key that signs (PKCS#8 PEM; RSA also as PKCS#1).
//! - `JWT_PUBLIC_KEY_FILES`: other keys to publish and accept, comma-separated (public keys as
//!   SPKI PEM, or private key files, whose public half is used): the next key, published
//!   before it signs, and the previous one, until the last token it signed has expired.
//!
//! Each key's `kid` is its RFC 7638 thumbprint, so it names the key itself and cannot be
//! mixed up between instances. The JWKS ([`KeySet::jwks`]) lists the public halves of all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

/// The keys of an asymmetric `JWT_ALG`: one that signs, and every key whose tokens are
/// accepted, by `kid`.
pub struct KeySet {
    /// The signing key's `kid`.
    pub signing_kid: String,
    /// The signing key.
    pub signing: EncodingKey,
    /// Every accepted key by `kid`, the signing key's included.
    pub verifying: HashMap<String, DecodingKey>,
    /// The public halves, as `/.well-known/jwks.json` serves them.
    pub jwks: JwkSet,
}

/// Why the key files cannot be used; printed at start as one line.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {path}: {problem}")]
pub struct KeyFileError {
    setting: &'static str,
    path: String,
    problem: String,
}

impl KeySet {
    /// Reads the signing key and the other published keys for `alg`.
    pub fn load(
        alg: Algorithm,
        private_key: &Path,
        public_keys: &[PathBuf],
    ) -> Result<Self, KeyFileError> {
        let signing_pem = read("JWT_PRIVATE_KEY_FILE", private_key)?;
        let signing = encoding_key(alg, &signing_pem).map_err(|problem| KeyFileError {
            setting: "JWT_PRIVATE_KEY_FILE",
            path: private_key.display().to_string(),
            problem,
        })?;
        let signing_jwk = public_jwk(alg, &signing, private_key, "JWT_PRIVATE_KEY_FILE")?;
        let mut jwks = vec![signing_jwk];
        for path in public_keys {
            let pem = read("JWT_PUBLIC_KEY_FILES", path)?;
            let problem = |problem| KeyFileError {
                setting: "JWT_PUBLIC_KEY_FILES",
                path: path.display().to_string(),
                problem,
            };
            // The PEM label tells a private key file (its public half is published) from a
            // public one.
            let is_private = pem.windows(16).any(|w| w == b"PRIVATE KEY-----");
            let jwk = if is_private {
                let key = encoding_key(alg, &pem).map_err(problem)?;
                public_jwk(alg, &key, path, "JWT_PUBLIC_KEY_FILES")?
            } else {
                public_key_jwk(alg, &pem).map_err(problem)?
            };
            if !jwks
                .iter()
                .any(|known| known.common.key_id == jwk.common.key_id)
            {
                jwks.push(jwk);
            }
        }
        let mut verifying = HashMap::new();
        for jwk in &jwks {
            let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyFileError {
                setting: "JWT_PUBLIC_KEY_FILES",
                path: jwk.common.key_id.clone().unwrap_or_default(),
                problem: e.to_string(),
            })?;
            verifying.insert(jwk.common.key_id.clone().unwrap_or_default(), key);
        }
        Ok(Self {
            signing_kid: jwks[0].common.key_id.clone().unwrap_or_default(),
            signing,
            verifying,
            jwks: JwkSet { keys: jwks },
        })
    }
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, KeyFileError> {
    std::fs::read(path).map_err(|e| KeyFileError {
        setting,
        path: path.display().to_string(),
        problem: e.to_string(),
    })
}

fn encoding_key(alg: Algorithm, pem: &[u8]) -> Result<EncodingKey, String> {
    let key = match alg {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
        other => return Err(format!("{other:?} does not take a key file")),
    };
    key.map_err(|e| format!("not a {alg:?} private key in PEM: {e}"))
}

/// The public half of a private key, as a JWK with its `kid`, `alg` and `use`.
fn public_jwk(
    alg: Algorithm,
    key: &EncodingKey,
    path: &Path,
    setting: &'static str,
) -> Result<Jwk, KeyFileError> {
    let jwk = Jwk::from_encoding_key(key, alg).map_err(|e| KeyFileError {
        setting,
        path: path.display().to_string(),
        problem: format!("cannot derive the public key: {e}"),
    })?;
    named(jwk, alg).map_err(|problem| KeyFileError {
        setting,
        path: path.display().to_string(),
        problem,
    })
}

/// A public key file (SPKI PEM) as a JWK.
fn public_key_jwk(alg: Algorithm, pem: &[u8]) -> Result<Jwk, String> {
    let key = match alg {
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        Algorithm::RS256 => DecodingKey::from_rsa_pem(pem),
        Algorithm::ES256 => DecodingKey::from_ec_pem(pem),
        other => return Err(format!("{other:?} does not take a key file")),
    }
    .map_err(|e| format!("not a {alg:?} public or private key in PEM: {e}"))?;
    let jwk = Jwk::from_decoding_key(&key, Some(alg)).map_err(|e| e.to_string())?;
    named(jwk, alg)
}

/// Sets `kid` (the RFC 7638 thumbprint; for Ed25519, which jsonwebtoken cannot thumbprint,
/// RFC 8037 §2's members `crv`, `kty`, `x` hashed the same way), `alg` and `use`.
fn named(mut jwk: Jwk, alg: Algorithm) -> Result<Jwk, String> {
    let kid = match &jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(okp) => {
            use base64::Engine;
            use sha2::Digest;
            let members = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, okp.x);
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(members.as_bytes()))
        }
        _ => jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| format!("cannot compute the key's thumbprint: {e}"))?,
    };
    jwk.common.key_id = Some(kid);
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(match alg {
        Algorithm::EdDSA => KeyAlgorithm::EdDSA,
        Algorithm::RS256 => KeyAlgorithm::RS256,
        _ => KeyAlgorithm::ES256,
    });
    Ok(jwk)
}
