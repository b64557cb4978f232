//! Following the revocation log: what every instance does beside serving, so a revocation
//! made anywhere (or a user changed by an operator) is honoured everywhere: within
//! milliseconds on PostgreSQL, where `LISTEN/NOTIFY` wakes the follower at each commit to the
//! log ([`listen`]), and within `DOORWARD_SYNC_INTERVAL` in any case (the backstop, and the
//! only path on SQLite, whose instances share one file and one machine).
//!
//! The log is read by its database-assigned `seq` (see [`crate::db::repo::revocations`]): an
//! instance remembers the last entry it merged and asks only for later ones, so no clock, not
//! even its own, decides what it sees. A notification carries nothing but "read the log now":
//! one lost while the listener reconnects costs only delay, and the listener asks for a read
//! at every (re)connection, which catches up on everything committed meanwhile.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;

use crate::config::Config;
use crate::db::models::{LogEntry, log_kind};
use crate::db::{Db, DbError, repo};
use crate::state::{AppState, SessionSettings, millis, now_ms};

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

/// When the follower reads the log.
pub struct Schedule {
    /// `DOORWARD_SYNC_INTERVAL`.
    pub every: Duration,
    /// `DOORWARD_PURGE_INTERVAL`.
    pub purge_every: Duration,
    /// What the purge keeps.
    pub retention: Retention,
    /// Woken by [`listen`] for a read now.
    pub wake: Arc<Notify>,
}

/// Follows the log every `every` and whenever woken, forgets what expired from memory, and
/// every `purge_every` deletes expired rows from the database; ends once nothing else holds
/// the state.
pub async fn follow(state: Weak<AppState>, schedule: Schedule, mut position: LogPosition) {
    let mut ticker = tokio::time::interval(schedule.every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut purge_ticker = tokio::time::interval(schedule.purge_every);
    purge_ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    purge_ticker.tick().await;
    loop {
        let purging = tokio::select! {
            _ = ticker.tick() => false,
            () = schedule.wake.notified() => false,
            _ = purge_ticker.tick() => true,
        };
        // Once the server and every `Doorward` are gone, so is the state: stop.
        let Some(state) = state.upgrade() else {
            return;
        };
        if purging {
            match purge(&state.db, schedule.retention).await {
                Ok(deleted) => log::info!("purged {deleted} expired rows"),
                Err(e) => log::warn!("purge skipped: {e}"),
            }
            continue;
        }
        let reading_at = std::time::Instant::now();
        match read_after(&state.db, position).await {
            Ok((entries, next)) => {
                apply(&state, &entries);
                state.denylist.mark_synced(reading_at);
                position = next;
            }
            Err(e) => log::warn!("revocation sync skipped: {e}"),
        }
        state.denylist.purge(now_ms());
    }
}

/// Subscribes to the channel the log's trigger notifies (migration `revocation_notify`).
const LISTEN: &str = "LISTEN doorward_revocations";

/// PostgreSQL: listens on the log's channel on a connection of its own (`application_name`
/// `doorward-listener`) and wakes the follower at each notification and at every
/// (re)connection. A lost connection is retried after 100 ms, doubling to at most 5 s; ends
/// once nothing else holds the state.
pub async fn listen(state: Weak<AppState>, url: SecretString, wake: Arc<Notify>) {
    const FIRST_PAUSE: Duration = Duration::from_millis(100);
    let mut pause = FIRST_PAUSE;
    while state.strong_count() > 0 {
        let mut listened = false;
        let ended = listen_once(&state, &url, &wake, &mut listened).await;
        // A connection that listened ends an outage: the next one starts from the first pause.
        if listened {
            pause = FIRST_PAUSE;
        }
        match ended {
            Ok(()) => {}
            // Warned once per outage; the periodic sync goes on meanwhile.
            Err(e) if pause == FIRST_PAUSE => {
                log::warn!("revocation listener: {e}; retrying, with the periodic sync meanwhile");
            }
            Err(e) => log::debug!("revocation listener: {e}"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// One connection's life: `Ok` when the server closed it or the state went away; `listened`
/// is set once the `LISTEN` took.
async fn listen_once(
    state: &Weak<AppState>,
    url: &SecretString,
    wake: &Notify,
    listened: &mut bool,
) -> Result<(), tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.expose_secret().parse()?;
    config.application_name("doorward-listener");
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let subscribe = client.batch_execute(LISTEN);
    tokio::pin!(subscribe);
    let mut alive = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            subscribed = &mut subscribe, if !*listened => {
                subscribed?;
                *listened = true;
                // Whatever was committed while no one listened.
                wake.notify_one();
            }
            message = messages.next() => match message {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => wake.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            _ = alive.tick() => {
                if state.strong_count() == 0 {
                    return Ok(());
                }
            }
        }
    }
}

/// How long rows that can no longer matter are kept, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// A revoked session is remembered as long as its access tokens can verify.
    pub family_memory_ms: i64,
    /// `DOORWARD_FAILED_SIGN_IN_WINDOW`: failed sign-in counts older than this are dropped.
    pub attempt_window_ms: i64,
    /// `SESSION_MAX_AGE`: how long the mark of an address an account signed in from is kept.
    pub session_max_age_ms: i64,
    /// `DOORWARD_AUDIT_RETENTION`: how long audit events are kept.
    pub audit_ms: i64,
}

impl Retention {
    /// The settings' retention.
    pub fn from_config(config: &Config) -> Self {
        let sessions = SessionSettings::from_config(config);
        Self {
            family_memory_ms: sessions.family_memory_ms,
            attempt_window_ms: millis(config.throttling.failed_sign_in_window),
            session_max_age_ms: sessions.session_max_age_ms,
            audit_ms: millis(config.audit_retention),
        }
    }
}

/// Deletes expired rows, sign-in attempt counts whose window ended and audit events past their
/// retention: what the follower does every `DOORWARD_PURGE_INTERVAL`, and `doorward purge` at
/// once. The rows deleted.
pub async fn purge(db: &Db, retention: Retention) -> Result<usize, DbError> {
    let now = now_ms();
    let horizon = now - retention.family_memory_ms;
    let attempts_stale = now - retention.attempt_window_ms;
    let successes_forgotten = now - retention.session_max_age_ms;
    let audit_forgotten = now - retention.audit_ms;
    db.run(move |conn| {
        Ok::<_, diesel::result::Error>(
            repo::purge_expired(conn, now, horizon)?
                + repo::purge_attempts(conn, attempts_stale, successes_forgotten)?
                + repo::purge_audit_events(conn, audit_forgotten)?,
        )
    })
    .await
}
