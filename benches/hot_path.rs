//! The hot path, measured side by side in one run: verifying an access token and checking the
//! in-memory denylist (what every protected request costs), against the same verification plus
//! one indexed denylist lookup in SQLite (what a denylist kept only in the database would cost).
//!
//! Run: `cargo bench --bench hot_path`. Prints nanoseconds per check and the ratio. With
//! `BENCH_POSTGRES_URL=postgres://…/db` it also measures a lookup in PostgreSQL over loopback.

#![allow(clippy::expect_used)] // a benchmark stops at its first failure

use std::hint::black_box;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use doorward::Role;
use doorward::config::{DatabaseTarget, JwtSecret};
use doorward::internals::Db;
use doorward::internals::Denylist;
use doorward::internals::schema::revocation_log;
use doorward::internals::{JwtKeys, Subject};
use uuid::Uuid;

const DENYLISTED: usize = 10_000;

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

fn main() {
    // `cargo test --all-targets` runs benches too, unoptimized and without `--bench`: skip the
    // measuring there, since debug-build timings mean nothing.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("hot_path: measured only by `cargo bench --bench hot_path`");
        return;
    }
    let secret = JwtSecret::parse("JWT_SECRET", "0123456789abcdef".repeat(3)).expect("secret");
    let keys = JwtKeys::new(&secret, "doorward", "doorward", Duration::from_secs(900));
    let now = chrono::Utc::now().timestamp();
    let token = keys
        .issue(
            Subject {
                user_id: "2b1c6c3e-8a55-4b8e-9d43-3d7f1a1b2c3d",
                email: "ada@example.com",
                role: Role::User,
                sid: Uuid::new_v4(),
                cutoff: 0,
            },
            now,
        )
        .expect("token")
        .token;

    let denylist = Denylist::new();
    for _ in 0..DENYLISTED {
        denylist.revoke_jti(Uuid::new_v4(), i64::MAX);
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.db");
    Db::connect(&DatabaseTarget::Sqlite(path.clone())).expect("migrated database");
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).expect("connection");
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        // The alternative design, a lookup per check, would index the subject.
        diesel::sql_query("CREATE INDEX bench_subject ON revocation_log (subject)")
            .execute(conn)?;
        for _ in 0..DENYLISTED {
            diesel::insert_into(revocation_log::table)
                .values((
                    revocation_log::kind.eq("jti"),
                    revocation_log::subject.eq(Uuid::new_v4().to_string()),
                    revocation_log::forget_at.eq(i64::MAX),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
    .expect("seed");

    let in_memory = per_op(200_000, || {
        let claims = keys.verify(black_box(&token)).expect("valid");
        black_box(denylist.refusal(&claims));
    });
    let with_database = per_op(20_000, || {
        let claims = keys.verify(black_box(&token)).expect("valid");
        let hits: i64 = revocation_log::table
            .filter(revocation_log::subject.eq(claims.jti.to_string()))
            .count()
            .get_result(&mut conn)
            .expect("query");
        black_box(hits);
    });
    let verify_only = per_op(200_000, || {
        black_box(keys.verify(black_box(&token)).expect("valid"));
    });

    let with_postgres = std::env::var("BENCH_POSTGRES_URL").ok().map(|url| {
        Db::connect(&DatabaseTarget::Postgres(url.clone().into())).expect("migrated database");
        let mut pg = PgConnection::establish(&url).expect("connection");
        per_op(5_000, || {
            let claims = keys.verify(black_box(&token)).expect("valid");
            let hits: i64 = revocation_log::table
                .filter(revocation_log::subject.eq(claims.jti.to_string()))
                .count()
                .get_result(&mut pg)
                .expect("query");
            black_box(hits);
        })
    });

    let row = |what: &str, per_check: Duration| {
        println!("{what:<38}{:>9} ns/check", per_check.as_nanos())
    };
    row("verify only", verify_only);
    row("verify + in-memory denylist", in_memory);
    row("verify + SQLite denylist lookup", with_database);
    println!(
        "in-memory denylist check is {:.1}x faster than an SQLite lookup (same run, {DENYLISTED} entries)",
        with_database.as_secs_f64() / in_memory.as_secs_f64()
    );
    if let Some(pg) = with_postgres {
        row("verify + PostgreSQL denylist lookup", pg);
        println!(
            "in-memory denylist check is {:.1}x faster than a PostgreSQL lookup over loopback",
            pg.as_secs_f64() / in_memory.as_secs_f64()
        );
    }
}
