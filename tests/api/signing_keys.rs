//! `JWT_ALG` = EdDSA, RS256 and ES256 with key files: tokens verified offline from the JWKS by
//! PyJWT's `PyJWKClient` (a verifier nobody here wrote; `tests/jwks/verify.py`, in the venv
//! `tests/run.sh` makes), key rotation across restarts, and the header checks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    Backend, TestApp, assert_error, claims_of, run_test_python, spawn_app_with, str_of,
};

const ALGORITHMS: [&str; 3] = ["EdDSA", "RS256", "ES256"];

/// A new private key for `alg` in `dir`, made by the openssl command line.
fn generate_key(dir: &Path, alg: &str, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.pem"));
    let mut openssl = Command::new("openssl");
    openssl.arg("genpkey").arg("-out").arg(&path);
    match alg {
        "EdDSA" => openssl.args(["-algorithm", "ed25519"]),
        "RS256" => openssl.args(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
        _ => openssl.args(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    };
    let status = openssl
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl genpkey for {alg}");
    path
}

/// The public half of a key file, as SPKI PEM.
fn public_half(private: &Path) -> PathBuf {
    let path = private.with_extension("pub.pem");
    let status = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(private)
        .arg("-out")
        .arg(&path)
        .status()
        .expect("openssl runs");
    assert!(status.success());
    path
}

/// PyJWT's verdict on `token`, from the server's JWKS alone: the claims, or why not.
fn pyjwt_verify(app: &TestApp, alg: &str, token: &str) -> Result<Value, String> {
    let port = app.address.rsplit(':').next().unwrap();
    let jwks = app.url("/.well-known/jwks.json");
    let args = [jwks.as_str(), alg, "doorward", "doorward"];
    let output = run_test_python("jwks/verify.py", &args, token.as_bytes());
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() {
        Ok(serde_json::from_str(&text).unwrap_or_else(|_| panic!("port {port}: {text}")))
    } else {
        Err(text)
    }
}

async fn jwks_of(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=300")
    );
    response.json().await.unwrap()
}

fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    str_of(&header, "kid").to_owned()
}

/// For each algorithm: tokens verify offline from the JWKS (PyJWT); the JWKS holds public keys
/// only; a rotation signs nobody out; a retired key's tokens are refused everywhere.
async fn each_algorithm_verifies_from_the_jwks_and_rotates(backend: Backend) {
    for alg in ALGORITHMS {
        let keys = tempfile::tempdir().unwrap();
        let old = generate_key(keys.path(), alg, "old");
        let new = generate_key(keys.path(), alg, "new");
        let old_path = old.to_str().unwrap();
        let new_public = public_half(&new);
        let new_public = new_public.to_str().unwrap();

        // 1. The old key signs; the next one is published ahead of its first token.
        let app = spawn_app_with(
            backend,
            &[
                ("JWT_ALG", alg),
                ("JWT_PRIVATE_KEY_FILE", old_path),
                ("JWT_PUBLIC_KEY_FILES", new_public),
            ],
        )
        .await;
        let (user, pair) = app.signed_up_user().await;
        let before = str_of(&pair, "access_token").to_owned();
        let jwks = jwks_of(&app).await;
        let published = jwks["keys"].as_array().unwrap();
        assert_eq!(published.len(), 2, "{alg}: {jwks}");
        for key in published {
            assert_eq!(key["alg"], alg, "{key}");
            assert_eq!(key["use"], "sig");
            for private_member in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(
                    key.get(private_member).is_none(),
                    "{alg} publishes {private_member}"
                );
            }
        }
        let old_kid = kid_of(&before);
        assert!(published.iter().any(|k| k["kid"] == old_kid.as_str()));
        let claims = pyjwt_verify(&app, alg, &before).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims["sub"], pair["user"]["id"]);

        // 2. Rotation: the new key signs, the old one is still published and accepted.
        let new_path = new.to_str().unwrap();
        let app = app
            .restart_with(&[
                ("JWT_PRIVATE_KEY_FILE", new_path),
                ("JWT_PUBLIC_KEY_FILES", old_path),
            ])
            .await;
        let signed_in: Value = app.login(&user).await.json().await.unwrap();
        let after = str_of(&signed_in, "access_token").to_owned();
        assert_ne!(kid_of(&after), old_kid, "{alg}: the new key signs");
        for token in [&before, &after] {
            assert_eq!(app.get_me(token).await.status(), 200, "{alg}");
            pyjwt_verify(&app, alg, token).unwrap_or_else(|e| panic!("{alg}: {e}"));
        }

        // 3. The old key retired (its tokens have all expired in a real deployment): refused
        // by doorward, and by PyJWT, which no longer finds its kid.
        let app = app.restart_with(&[("JWT_PUBLIC_KEY_FILES", "")]).await;
        let refused = app.get_me(&before).await;
        let body = assert_error(refused, 401, "invalid_token").await;
        assert!(str_of(&body, "error_description").contains("kid"), "{body}");
        assert!(pyjwt_verify(&app, alg, &before).is_err(), "{alg}");
        assert_eq!(app.get_me(&after).await.status(), 200);
        assert_eq!(jwks_of(&app).await["keys"].as_array().unwrap().len(), 1);
    }
}

/// The header checks with asymmetric keys: only the configured `alg`, a `kid` required and
/// known, no `jku`/`jwk`/`x5u`/`x5c`/`crit`. Forgeries are built from a real token's claims.
async fn asymmetric_headers_are_checked_before_the_signature(backend: Backend) {
    let keys = tempfile::tempdir().unwrap();
    let key = generate_key(keys.path(), "EdDSA", "signing");
    let app = spawn_app_with(
        backend,
        &[
            ("JWT_ALG", "EdDSA"),
            ("JWT_PRIVATE_KEY_FILE", key.to_str().unwrap()),
        ],
    )
    .await;
    let (_, pair) = app.signed_up_user().await;
    let token = str_of(&pair, "access_token");
    let claims = claims_of(token);
    let kid = kid_of(token);
    let pem = std::fs::read(&key).unwrap();
    let signer = jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap();
    let forge =
        |header: jsonwebtoken::Header| jsonwebtoken::encode(&header, &claims, &signer).unwrap();
    let mut no_kid = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    no_kid.kid = None;
    let mut unknown_kid = no_kid.clone();
    unknown_kid.kid = Some("not-a-key-of-ours".into());
    let mut jku = no_kid.clone();
    jku.kid = Some(kid.clone());
    jku.jku = Some("https://evil.example/jwks.json".into());
    let mut x5u = no_kid.clone();
    x5u.kid = Some(kid.clone());
    x5u.x5u = Some("https://evil.example/cert.pem".into());
    for (forged, why) in [
        (forge(no_kid), "names no key"),
        (forge(unknown_kid), "is not known"),
        (forge(jku), "unsupported fields"),
        (forge(x5u), "unsupported fields"),
        // HS256 with the public key as the secret: the classic algorithm confusion.
        (
            crate::helpers::sign_claims(&claims, &pem),
            "algorithm is not accepted",
        ),
    ] {
        let body = assert_error(app.get_me(&forged).await, 401, "invalid_token").await;
        assert!(
            str_of(&body, "error_description").contains(why),
            "{why}: {body}"
        );
    }
    // The genuine header, re-signed with the same key, passes: the checks refuse no more.
    let mut genuine = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    genuine.kid = Some(kid);
    assert_eq!(app.get_me(&forge(genuine)).await.status(), 200);
    // And the metadata names the algorithm.
    let metadata: Value = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["access_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
}

/// Settings that cannot work stop the server at start with the setting's name.
async fn bad_key_settings_stop_the_server(backend: Backend) {
    let keys = tempfile::tempdir().unwrap();
    let ed = generate_key(keys.path(), "EdDSA", "ed");
    let ed = ed.to_str().unwrap();
    for (settings, setting) in [
        (vec![("JWT_ALG", "EdDSA")], "JWT_PRIVATE_KEY_FILE"),
        (vec![("JWT_ALG", "PS512")], "JWT_ALG"),
        (vec![("JWT_PRIVATE_KEY_FILE", ed)], "JWT_ALG"),
        (
            vec![
                ("JWT_ALG", "EdDSA"),
                ("JWT_PRIVATE_KEY_FILE", "/nonexistent.pem"),
            ],
            "JWT_PRIVATE_KEY_FILE",
        ),
        (
            vec![("JWT_ALG", "ES256"), ("JWT_PRIVATE_KEY_FILE", ed)],
            "JWT_PRIVATE_KEY_FILE",
        ),
    ] {
        let error = start_error(backend, &settings).await;
        assert!(error.contains(setting), "{settings:?}: {error}");
    }
}

/// Why a server with these settings does not start.
async fn start_error(backend: Backend, overrides: &[(&str, &str)]) -> String {
    let (settings, _dir, _database) = crate::helpers::test_settings(backend, overrides);
    match doorward::Config::from_lookup(|k| settings.get(k).cloned()) {
        Err(error) => error.to_string(),
        Ok(config) => match doorward::Application::build(config).await {
            Err(error) => error.to_string(),
            Ok(_) => panic!("{overrides:?} started"),
        },
    }
}

both_backends!(
    each_algorithm_verifies_from_the_jwks_and_rotates,
    asymmetric_headers_are_checked_before_the_signature,
    bad_key_settings_stop_the_server,
);
