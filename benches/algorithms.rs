//! What a full verify costs for each `JWT_ALG`, side by side in one run: the verified-token
//! cache's miss path, which a token takes once (its first request on each instance), and what
//! a resource server verifying on its own pays per token. Also the cost of signing one.
//!
//! Run: `cargo bench --bench algorithms` (needs the `openssl` command line for the keys).
//! Prints microseconds per verify and per issue, and each verify's ratio to HS256's.

#![allow(clippy::expect_used)] // a benchmark stops at its first failure

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use doorward::Role;
use doorward::config::JwtSecret;
use doorward::internals::{JwtKeys, KeySet, Subject};
use jsonwebtoken::Algorithm;
use uuid::Uuid;

const TTL: Duration = Duration::from_secs(900);

fn per_op(iterations: u32, mut op: impl FnMut()) -> Duration {
    for _ in 0..iterations / 10 {
        op(); // warm-up
    }
    let start = Instant::now();
    for _ in 0..iterations {
        op();
    }
    start.elapsed() / iterations
}

fn key_file(dir: &Path, alg: Algorithm) -> std::path::PathBuf {
    let path = dir.join(format!("{alg:?}.pem"));
    let args: &[&str] = match alg {
        Algorithm::EdDSA => &["-algorithm", "ed25519"],
        Algorithm::RS256 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        _ => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    };
    let status = Command::new("openssl")
        .arg("genpkey")
        .args(args)
        .arg("-out")
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl genpkey");
    assert!(status.success());
    path
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("algorithms: measured only by `cargo bench --bench algorithms`");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = JwtSecret::parse("JWT_SECRET", "0123456789abcdef".repeat(3)).expect("secret");
    let mut rows = vec![("HS256", JwtKeys::new(&secret, "doorward", "doorward", TTL))];
    for (name, alg) in [
        ("EdDSA (Ed25519)", Algorithm::EdDSA),
        ("RS256 (2048-bit)", Algorithm::RS256),
        ("ES256 (P-256)", Algorithm::ES256),
    ] {
        let keys = KeySet::load(alg, &key_file(dir.path(), alg), &[]).expect("keys");
        rows.push((
            name,
            JwtKeys::asymmetric(alg, keys, "doorward", "doorward", TTL),
        ));
    }
    let subject = Subject {
        user_id: "2b1c6c3e-8a55-4b8e-9d43-3d7f1a1b2c3d",
        email: "ada@example.com",
        role: Role::User,
        sid: Uuid::new_v4(),
        cutoff: 0,
    };
    let now = chrono::Utc::now().timestamp();
    println!("| JWT_ALG | verify, µs | × HS256 | issue, µs |");
    println!("|---|---:|---:|---:|");
    let mut hs256 = None;
    for (name, keys) in &rows {
        let token = keys.issue(subject, now).expect("token").token;
        let verify = per_op(2_000, || {
            black_box(keys.verify(black_box(&token)).expect("verifies"));
        });
        let issue = per_op(500, || {
            black_box(keys.issue(subject, now).expect("token"));
        });
        let base = *hs256.get_or_insert(verify);
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            verify.as_secs_f64() * 1e6,
            verify.as_secs_f64() / base.as_secs_f64(),
            issue.as_secs_f64() * 1e6,
        );
    }
}
