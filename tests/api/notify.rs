//! PostgreSQL's `LISTEN/NOTIFY` carrying revocations between instances (issue 11): with the
//! periodic sync set to an hour, only the notification can bring a sign-out on one instance to
//! another, so these tests see it or fail. PostgreSQL only: SQLite has no notifications, and
//! its instances follow the log by the interval.

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestUser, spawn_app_with, str_of};

/// Two instances on one database whose periodic sync never runs within a test.
async fn two_instances() -> (TestApp, TestApp) {
    let settings = [
        ("DOORWARD_SYNC_INTERVAL", "1h"),
        ("DOORWARD_SIGN_IN_RATE_PER_IP", "off"),
        ("DOORWARD_REGISTER_RATE_PER_IP", "off"),
    ];
    let first = spawn_app_with(Backend::Postgres, &settings).await;
    let second = first.another_instance().await;
    (first, second)
}

/// Signs `user` in on `first`, checks `second` accepts the token, signs out on `first`, and
/// returns how long `second` took to refuse it (`None`: not within `limit`).
async fn propagation(
    first: &TestApp,
    second: &TestApp,
    user: &TestUser,
    limit: Duration,
) -> Option<Duration> {
    let login = first.login(user).await;
    assert_eq!(login.status(), 200);
    let pair: Value = login.json().await.unwrap();
    let access = str_of(&pair, "access_token");
    assert_eq!(second.get_me(access).await.status(), 200);
    let logout = first.post_with_bearer("/auth/logout", access, None).await;
    assert_eq!(logout.status(), 204);
    let signed_out = Instant::now();
    while signed_out.elapsed() < limit {
        if second.get_me(access).await.status() == 401 {
            return Some(signed_out.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// The p-th percentile of sorted durations, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: usize) -> f64 {
    let at = (sorted.len() * p / 100).min(sorted.len() - 1);
    sorted[at].as_secs_f64() * 1000.0
}

/// A sign-out on one instance is refused on the other within milliseconds, 200 times over;
/// the delays' distribution is printed (`--nocapture`) for docs/BENCHMARKS.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_reaches_another_instance_by_notification() {
    let (first, second) = two_instances().await;
    let (user, _) = first.signed_up_user().await;
    let mut delays = Vec::new();
    for _ in 0..200 {
        let delay = propagation(&first, &second, &user, Duration::from_secs(5)).await;
        delays.push(delay.expect("the sign-out reached the other instance (sync is 1 h)"));
    }
    delays.sort();
    eprintln!(
        "revocation propagation over LISTEN/NOTIFY, {} sign-outs: p50 {:.1} ms, p99 {:.1} ms, \
         max {:.1} ms",
        delays.len(),
        percentile_ms(&delays, 50),
        percentile_ms(&delays, 99),
        percentile_ms(&delays, 100),
    );
    assert!(percentile_ms(&delays, 99) < 1000.0);
}

/// Ends every listener's connection to this test's database, as a failover or an operator's
/// `pg_terminate_backend` would; returns how many there were.
fn terminate_listeners(database_url: &str) -> usize {
    let mut admin = PgConnection::establish(database_url).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Terminated {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let terminated: Terminated = diesel::sql_query(
        "SELECT count(pg_terminate_backend(pid)) AS count FROM pg_stat_activity \
         WHERE application_name = 'doorward-listener' AND datname = current_database()",
    )
    .get_result(&mut admin)
    .unwrap();
    usize::try_from(terminated.count).unwrap()
}

/// A listener whose connection is terminated reconnects by itself and catches up: a sign-out
/// committed while it was away (its notification lost) still reaches the other instance, and
/// the ones after it arrive in milliseconds again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_loses_its_connection_reconnects_and_catches_up() {
    let (first, second) = two_instances().await;
    let (user, _) = first.signed_up_user().await;
    let url = first.settings["DATABASE_URL"].clone();
    assert!(
        propagation(&first, &second, &user, Duration::from_secs(5))
            .await
            .is_some()
    );

    let terminated = tokio::task::block_in_place(|| terminate_listeners(&url));
    assert_eq!(terminated, 2, "one listener per instance");
    // Straight away, while the listeners are reconnecting.
    let caught_up = propagation(&first, &second, &user, Duration::from_secs(10)).await;
    assert!(
        caught_up.is_some(),
        "the sign-out made while away was missed"
    );

    for _ in 0..5 {
        let delay = propagation(&first, &second, &user, Duration::from_secs(5)).await;
        assert!(
            delay.is_some_and(|d| d < Duration::from_secs(1)),
            "{delay:?}"
        );
    }
    let reconnected = tokio::task::block_in_place(|| terminate_listeners(&url));
    assert_eq!(reconnected, 2, "both listeners came back");
}
