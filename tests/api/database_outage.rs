//! The database going away and coming back (contract §5). PostgreSQL only: an embedded SQLite
//! file cannot be "down" apart from the process that holds it.

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::Value;

use crate::helpers::{Backend, assert_error, spawn_app};

/// Renames the test's database away (or back), ending its sessions first so the rename can run.
pub(crate) fn rename_database(app_url: &str, from_suffix: &str, to_suffix: &str) {
    let server = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
    let name = app_url.rsplit('/').next().unwrap();
    let (from, to) = (format!("{name}{from_suffix}"), format!("{name}{to_suffix}"));
    let mut admin = PgConnection::establish(&server).unwrap();
    for _ in 0..100 {
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{from}' AND pid <> pg_backend_pid()"
        ))
        .execute(&mut admin)
        .unwrap();
        if diesel::sql_query(format!("ALTER DATABASE {from} RENAME TO {to}"))
            .execute(&mut admin)
            .is_ok()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("could not rename {from}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_503_then_heals_and_tokens_still_verify() {
    let app = spawn_app(Backend::Postgres).await;
    let (user, pair) = app.signed_up_user().await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let url = app.settings["DATABASE_URL"].clone();

    tokio::task::block_in_place(|| rename_database(&url, "", "_away"));

    let started = Instant::now();
    let login = app.login(&user).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(login.headers().contains_key("retry-after"));
    assert_error(login, 503, "unavailable").await;
    let refresh = app.refresh(pair["refresh_token"].as_str().unwrap()).await;
    assert_error(refresh, 503, "unavailable").await;
    // Verification goes on from memory (the user is cached since registration).
    let me = app.get_me(&access).await;
    assert_eq!(me.status(), 200);
    let logout = app.post_with_bearer("/auth/logout", &access, None).await;
    assert!(
        logout.headers().get_all("set-cookie").iter().count() >= 2,
        "cookies still cleared"
    );
    assert_error(logout, 503, "unavailable").await;

    tokio::task::block_in_place(|| rename_database(&url, "_away", ""));

    let mut healed = None;
    for _ in 0..20 {
        let response = app.login(&user).await;
        if response.status() == 200 {
            healed = Some(response.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let healed = healed.expect("login works again once the database is back");
    assert_eq!(
        app.get_me(healed["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    // The failed logout acknowledged nothing, so the old token still works until signed out.
    assert_eq!(app.get_me(&access).await.status(), 200);
    assert_eq!(
        app.post_with_bearer("/auth/logout", &access, None)
            .await
            .status(),
        204
    );
    assert_error(app.get_me(&access).await, 401, "invalid_token").await;
}
