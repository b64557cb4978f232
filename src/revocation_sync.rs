//! Following the revocation log: what every instance does beside serving, so a revocation
//! made anywhere (or a user changed by an operator) is honoured everywhere within
//! `DOORWARD_SYNC_INTERVAL`.
//!
//! The log is read by its database-assigned `seq` (see [`crate::db::repo::revocations`]): an
//! instance remembers the last entry it merged and asks only for later ones, so no clock, not
//! even its own, decides what it sees.

use std::sync::Weak;
use std::time::Duration;

use crate::db::models::{LogEntry, log_kind};
use crate::db::{Db, DbError, repo};
use crate::state::{AppState, millis, now_ms};

/// How far an instance's clock may differ from the database's before it is warned about:
/// token times and lifetimes are judged by each instance's clock.
const CLOCK_SKEW_WARNING_MS: i64 = 2_000;

/// Where an instance is in the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogPosition(i64);

/// Reads the log entries after `position` that still matter, and where the log then stands.
pub async fn read_after(
    db: &Db,
    position: LogPosition,
) -> Result<(Vec<LogEntry>, LogPosition), DbError> {
    let now = now_ms();
    let entries = db
        .run(move |conn| repo::read_log(conn, position.0, now))
        .await?;
    let next = entries.last().map_or(position, |e| LogPosition(e.seq));
    Ok((entries, next))
}

/// Applies entries to this instance's memory: revocations to the denylist, user changes to the
/// user cache.
pub fn apply(state: &AppState, entries: &[LogEntry]) {
    state.denylist.merge(entries);
    let changed = entries
        .iter()
        .filter(|e| e.kind == log_kind::USER)
        .map(|e| e.subject.as_str());
    state.users.forget(changed);
}

/// Warns when this instance's clock and the database's differ by more than two seconds.
pub async fn check_clock(db: &Db) {
    let before = now_ms();
    match db.run(repo::database_clock_ms).await {
        Ok(Some(database)) => {
            let local = (before + now_ms()) / 2;
            let skew = local - database;
            if skew.abs() > CLOCK_SKEW_WARNING_MS {
                log::warn!(
                    "this instance's clock is {skew} ms off the database's: token lifetimes and \
                     the reuse grace are judged by each instance's clock; run NTP"
                );
            }
        }
        Ok(None) => {}
        Err(e) => log::warn!("cannot read the database's clock: {e}"),
    }
}

/// Follows the log every `every`, forgets what expired from memory, and every `purge_every`
/// deletes expired rows from the database; ends once nothing else holds the state.
pub async fn follow(
    state: Weak<AppState>,
    every: Duration,
    purge_every: Duration,
    mut position: LogPosition,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut purge = tokio::time::interval(purge_every);
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    purge.tick().await;
    loop {
        let purging = tokio::select! {
            _ = ticker.tick() => false,
            _ = purge.tick() => true,
        };
        // Once the server and every `Doorward` are gone, so is the state: stop.
        let Some(state) = state.upgrade() else {
            return;
        };
        if purging {
            purge_expired(&state).await;
            continue;
        }
        match read_after(&state.db, position).await {
            Ok((entries, next)) => {
                apply(&state, &entries);
                position = next;
            }
            Err(e) => log::warn!("revocation sync skipped: {e}"),
        }
        state.denylist.purge(now_ms());
    }
}

/// Deletes expired rows, and sign-in attempt counts whose window ended, keeping for
/// `SESSION_MAX_AGE` the mark of an address an account signed in from.
async fn purge_expired(state: &AppState) {
    let now = now_ms();
    let horizon = now - state.settings.family_memory_ms;
    let attempts_stale = now - millis(state.throttle.failed_sign_in_window());
    let successes_forgotten = now - state.settings.session_max_age_ms;
    match state
        .db
        .run(move |conn| {
            Ok::<_, diesel::result::Error>(
                repo::purge_expired(conn, now, horizon)?
                    + repo::purge_attempts(conn, attempts_stale, successes_forgotten)?,
            )
        })
        .await
    {
        Ok(deleted) => log::info!("purged {deleted} expired rows"),
        Err(e) => log::warn!("purge skipped: {e}"),
    }
}
