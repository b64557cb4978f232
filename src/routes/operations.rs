//! For operators and orchestrators: `GET /healthz` (the process answers), `GET /readyz` (the
//! database answers and the denylist is current: send traffic here) and `GET /metrics`
//! (Prometheus). None of them needs a credential; `/metrics` can be served on an address of its
//! own (`DOORWARD_METRICS_BIND`) rather than beside the API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, Resource, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;
use crate::metrics::{CONTENT_TYPE, Sample};
use crate::routes::respond::no_store;
use crate::state::{AppState, millis};

/// When `/readyz` calls the denylist stale, and its last database ping.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// The longest since the revocation log was last read in full: three sync intervals, and
    /// at least five seconds, so one slow read is no outage.
    pub stale_after: Duration,
    /// The last ping, shared by every worker: `/readyz` needs no credential, so however many
    /// ask, one ping is in flight at a time, and one answers for [`PING_MEMORY`].
    last_ping: Arc<LastPing>,
}

/// How long one database ping answers `/readyz` for.
const PING_MEMORY: Duration = Duration::from_secs(1);

/// The last ping's answer and when it began (monotonic: a wall clock stepped back cannot
/// stretch it), and whether one is in flight.
#[derive(Debug, Default)]
struct LastPing {
    answer: Mutex<Option<(Instant, bool)>>,
    in_flight: AtomicBool,
}

impl LastPing {
    fn answer(&self) -> Option<(Instant, bool)> {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, began: Instant, answered: bool) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = Some((began, answered));
    }
}

/// Marks the ping in flight until dropped, even when the request asking is dropped first.
struct InFlight<'a>(&'a AtomicBool);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Readiness {
    /// The rule for `DOORWARD_SYNC_INTERVAL`.
    pub fn for_sync_interval(every: Duration) -> Self {
        Self {
            stale_after: every.saturating_mul(3).max(Duration::from_secs(5)),
            last_ping: Arc::default(),
        }
    }

    /// Whether the database answers: the last ping's answer while it is under
    /// [`PING_MEMORY`] old or another ping is in flight (none yet: not ready), else a new ping.
    async fn database_answers(&self, state: &AppState) -> bool {
        let last = &self.last_ping;
        let known = last.answer();
        if let Some((began, answered)) = known
            && began.elapsed() < PING_MEMORY
        {
            return answered;
        }
        if last.in_flight.swap(true, Ordering::AcqRel) {
            return known.is_some_and(|(_, answered)| answered);
        }
        let _in_flight = InFlight(&last.in_flight);
        let began = Instant::now();
        let answered = match state.db.ping().await {
            Ok(()) => true,
            Err(e) => {
                log::debug!("not ready: {}", crate::error::error_chain(&e));
                false
            }
        };
        last.remember(began, answered);
        answered
    }
}

/// `GET {base}/healthz` and `GET {base}/readyz`.
pub fn health_resources(base_path: &str, readiness: Readiness) -> [Resource; 2] {
    [
        web::resource(format!("{base_path}/healthz")).route(web::get().to(healthz)),
        web::resource(format!("{base_path}/readyz"))
            .app_data(web::Data::new(readiness))
            .route(web::get().to(readyz)),
    ]
}

/// `GET {base}/metrics`.
pub fn metrics_resource(base_path: &str) -> Resource {
    web::resource(format!("{base_path}/metrics")).route(web::get().to(metrics))
}

/// `/healthz`'s answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// 200 whenever the process can answer at all; it asks nothing of the database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process answers", body = Health)),
)]
pub async fn healthz() -> HttpResponse {
    no_store(StatusCode::OK).json(Health { status: "ok" })
}

/// `/readyz`'s answer.
#[derive(Serialize, ToSchema)]
pub struct ReadyReport {
    /// `ready` or `unavailable`.
    status: &'static str,
    /// `ok` or `unreachable`.
    database: &'static str,
    denylist: DenylistReport,
}

/// The denylist, as `/readyz` sees it.
#[derive(Serialize, ToSchema)]
pub struct DenylistReport {
    /// Revocations held in memory.
    entries: usize,
    /// Since the revocation log was last read in full, ms.
    synced_ms_ago: Option<i64>,
    /// Whether that is recent enough to trust.
    current: bool,
}

/// 200 when the database answers `SELECT 1` and the revocation log was read recently; else 503
/// with `Retry-After`, and the body says which.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic", body = ReadyReport),
        (status = 503, description = "The database does not answer, or the denylist is stale; see `Retry-After`", body = ReadyReport),
    ),
)]
pub async fn readyz(state: web::Data<AppState>, readiness: web::Data<Readiness>) -> HttpResponse {
    let database_answers = readiness.database_answers(&state).await;
    let synced_ago = state.denylist.synced_ago();
    let current = synced_ago.is_some_and(|ago| ago <= readiness.stale_after);
    let ready = database_answers && current;
    let mut answer = no_store(if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    });
    if !ready {
        answer.insert_header((header::RETRY_AFTER, "1"));
    }
    answer.json(ReadyReport {
        status: if ready { "ready" } else { "unavailable" },
        database: if database_answers {
            "ok"
        } else {
            "unreachable"
        },
        denylist: DenylistReport {
            entries: state.denylist.len(),
            synced_ms_ago: synced_ago.map(millis),
            current,
        },
    })
}

/// Every metric, in the OpenMetrics text format, with the gauges read now.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus metrics (OpenMetrics text); on `DOORWARD_METRICS_BIND` instead when that is set", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
    ),
)]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let (pool_connections, pool_idle, pool_max) = state.db.pool_state();
    let sample = Sample {
        denylist_entries: state.denylist.len(),
        bcrypt_jobs: state.hasher.jobs_in_flight(),
        pool_connections,
        pool_idle,
        pool_max,
        sync_lag: state.denylist.synced_ago().unwrap_or_default(),
    };
    let text = state.metrics.encode(sample).map_err(AppError::internal)?;
    Ok(no_store(StatusCode::OK)
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .body(text))
}
