//! Memory of the in-memory structures, measured on the real ones: the resident set grown by a
//! million denylisted `jti`s, and by a million remembered verified tokens (real, signed tokens
//! with their decoded claims). The idle server's resident set is measured by
//! `benches/memory.sh`, on the release binary.
//!
//! Run: `cargo bench --bench memory`. Reads `VmRSS` from `/proc/self/status` (Linux).

#![allow(clippy::expect_used)] // a benchmark stops at its first failure

use std::sync::Arc;
use std::time::Duration;

use doorward::Role;
use doorward::config::JwtSecret;
use doorward::internals::{Denylist, JwtKeys, Subject, VerifiedTokens};
use uuid::Uuid;

const MILLION: usize = 1_000_000;

/// The resident set, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("memory: measured only by `cargo bench --bench memory`");
        return;
    }
    let forget_at = chrono::Utc::now().timestamp_millis() + 3_600_000;
    let denylist = Denylist::new();
    let before = rss();
    for _ in 0..MILLION {
        denylist.revoke_jti(Uuid::new_v4(), forget_at);
    }
    let denylisted = rss().saturating_sub(before);
    assert_eq!(denylist.len(), MILLION);

    let secret = JwtSecret::parse("JWT_SECRET", "memory-bench-secret-0123456789abcdef".into())
        .expect("secret");
    let keys = JwtKeys::new(&secret, "doorward", "doorward", Duration::from_secs(900));
    let cache = VerifiedTokens::new(MILLION);
    let now = chrono::Utc::now().timestamp();
    let mut token_bytes = 0;
    let before = rss();
    for i in 0..MILLION {
        // Each token is issued and verified as a request's would be; what stays is the cache's
        // copy of the token, its decoded claims and the table (the token itself is dropped and
        // its memory reused by the next).
        let user_id = format!("{i:032x}");
        let subject = Subject {
            user_id: &user_id,
            email: "someone.with.an.address@example.com",
            role: Role::User,
            sid: Uuid::new_v4(),
            cutoff: 0,
        };
        let token = keys.issue(subject, now).expect("issue").token;
        token_bytes = token.len();
        let claims = Arc::new(keys.verify(&token).expect("verify"));
        cache.insert(&token, claims);
    }
    let cached = rss().saturating_sub(before);
    println!(
        "memory: {:.1} MB per million denylisted jti; {:.1} MB per million cached tokens \
         ({token_bytes}-byte tokens, with their claims)",
        mb(denylisted),
        mb(cached),
    );
}
