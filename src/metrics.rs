//! What `GET /metrics` reports, in the OpenMetrics text format (prometheus-client): counters
//! and histograms updated where things happen, and gauges sampled from the state when scraped.
//!
//! Labels are bounded by construction: a route is its pattern (`/api/sessions/{id}`, never the
//! path), a path no route matched is `unmatched`, and outcomes are fixed words. No label ever
//! carries an email, an address or a token.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::AppError;

/// The series one answer is counted in: handles into the registry's families.
struct AnswerSeries {
    requests: Counter,
    latency: Histogram,
    /// For a 429.
    throttled: Option<Counter>,
}

/// Where one layer of [`crate::checks::RequestChecks`] counts its answers, kept by that layer
/// (one a worker, so no lock): each (route, method, status) is looked up in the registry the
/// first time it is seen, and after that counted with no lookup there and no allocation.
pub struct AnswerCounters {
    metrics: Arc<Metrics>,
    seen: RefCell<Seen>,
}

/// The series a layer has seen so far.
enum Seen {
    /// A layer in front of one route (the hot ones): its pattern, and a handful of
    /// (method, status) pairs, scanned in a line faster than hashed.
    OneRoute {
        route: Arc<str>,
        series: Vec<((&'static str, u16), AnswerSeries)>,
    },
    /// The scope's layer: each request's pattern read from the router.
    Patterns(HashMap<(String, &'static str, u16), AnswerSeries>),
}

impl AnswerCounters {
    /// Counters into `metrics` for the layer in front of `route` (`None`: of several routes).
    pub fn new(metrics: Arc<Metrics>, route: Option<Arc<str>>) -> Self {
        let seen = match route {
            Some(route) => Seen::OneRoute {
                route,
                series: Vec::new(),
            },
            None => Seen::Patterns(HashMap::new()),
        };
        Self {
            metrics,
            seen: RefCell::new(seen),
        }
    }

    /// Counts one answered request and its time; a 429 counts as throttled too.
    pub fn observe(&self, req: &HttpRequest, status: u16, took: Duration) {
        let method = method_label(req.method());
        let mut seen = self.seen.borrow_mut();
        let series = match &mut *seen {
            Seen::OneRoute { route, series } => {
                let key = (method, status);
                match series.iter().position(|(seen, _)| *seen == key) {
                    Some(at) => &series[at].1,
                    None => {
                        let new = self.metrics.series(route.to_string(), method, status);
                        series.push((key, new));
                        &series[series.len() - 1].1
                    }
                }
            }
            Seen::Patterns(series) => {
                let pattern = req
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".to_owned());
                series
                    .entry((pattern, method, status))
                    .or_insert_with_key(|(route, ..)| {
                        self.metrics.series(route.clone(), method, status)
                    })
            }
        };
        series.requests.inc();
        series.latency.observe(took.as_secs_f64());
        if let Some(throttled) = &series.throttled {
            throttled.inc();
        }
    }
}

/// A method as a label: the standard ones by name, any other `other`, so that made-up methods
/// cannot make new series.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Request latency buckets, in seconds: from a cached token check to a slow bcrypt queue.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// How a password sign-in ended, as `doorward_sign_ins_total{outcome}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    /// Signed in.
    Success,
    /// Wrong password, unknown or disabled account.
    InvalidCredentials,
    /// Refused by a rate limit or the failed-attempt lockout, before any bcrypt.
    Throttled,
    /// `DOORWARD_REQUIRE_VERIFIED_EMAIL` and the address is not verified.
    EmailNotVerified,
    /// The database or the bcrypt pool could not answer.
    Unavailable,
}

impl SignInOutcome {
    /// The outcome of a password check.
    pub fn of<T>(checked: &Result<T, AppError>) -> Self {
        match checked {
            Ok(_) => Self::Success,
            Err(AppError::InvalidCredentials) => Self::InvalidCredentials,
            Err(AppError::EmailNotVerified) => Self::EmailNotVerified,
            Err(AppError::Throttled { .. } | AppError::TooManyConnections) => Self::Throttled,
            Err(_) => Self::Unavailable,
        }
    }

    /// As `/metrics` labels it, and the audit log's `detail` of a failed sign-in.
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Throttled => "throttled",
            Self::EmailNotVerified => "email_not_verified",
            Self::Unavailable => "unavailable",
        }
    }
}

/// What the state looks like when scraped.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Entries in the in-memory denylist.
    pub denylist_entries: usize,
    /// Password jobs queued or running.
    pub bcrypt_jobs: usize,
    /// Open database connections.
    pub pool_connections: u32,
    /// Of those, idle.
    pub pool_idle: u32,
    /// The pool's size limit.
    pub pool_max: u32,
    /// Since the revocation log was last read.
    pub sync_lag: Duration,
}

/// Every metric doorward keeps.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    throttled: Family<RouteLabels, Counter>,
    sign_ins: Family<OutcomeLabels, Counter>,
    refresh_reuse: Counter,
    denylist_entries: Gauge,
    bcrypt_jobs: Gauge,
    pool_connections: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
    sync_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, under the `doorward_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("doorward");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(LATENCY_BUCKETS)) as fn() -> Histogram,
        );
        let throttled = Family::<RouteLabels, Counter>::default();
        let sign_ins = Family::<OutcomeLabels, Counter>::default();
        let refresh_reuse = Counter::default();
        let (denylist_entries, bcrypt_jobs) = (Gauge::default(), Gauge::default());
        let (pool_connections, pool_idle, pool_max) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        let sync_lag = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "http_requests",
            "Requests answered by doorward's routes, by method, route pattern and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route pattern and status",
            latency.clone(),
        );
        registry.register(
            "throttled_requests",
            "Requests refused with 429 (rate limits, lockouts, connection caps), by route",
            throttled.clone(),
        );
        registry.register(
            "sign_ins",
            "Password sign-ins (login, cookie login, pages, OAuth2 password grant) by outcome",
            sign_ins.clone(),
        );
        registry.register(
            "refresh_reuse_detected",
            "Refresh tokens presented again after rotation: their session was revoked",
            refresh_reuse.clone(),
        );
        registry.register(
            "denylist_entries",
            "Revocations held in memory (jti, sessions, cut-offs)",
            denylist_entries.clone(),
        );
        registry.register(
            "bcrypt_jobs",
            "Password hashing jobs queued or running",
            bcrypt_jobs.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Open database connections",
            pool_connections.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections",
            pool_idle.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "The database pool's size limit",
            pool_max.clone(),
        );
        registry.register(
            "revocation_sync_lag_seconds",
            "Time since the revocation log was last read",
            sync_lag.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            throttled,
            sign_ins,
            refresh_reuse,
            denylist_entries,
            bcrypt_jobs,
            pool_connections,
            pool_idle,
            pool_max,
            sync_lag,
        }
    }

    /// The series of `route`'s answers with `method` and `status`, from the registry.
    fn series(&self, route: String, method: &'static str, status: u16) -> AnswerSeries {
        let latency = LatencyLabels {
            route: route.clone(),
            status,
        };
        AnswerSeries {
            latency: self.latency.get_or_create(&latency).clone(),
            throttled: (status == 429).then(|| {
                let labels = RouteLabels {
                    route: route.clone(),
                };
                self.throttled.get_or_create(&labels).clone()
            }),
            requests: self
                .requests
                .get_or_create(&RequestLabels {
                    method,
                    route,
                    status,
                })
                .clone(),
        }
    }

    /// Counts a password sign-in's outcome.
    pub fn sign_in(&self, outcome: SignInOutcome) {
        self.sign_ins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
    }

    /// Counts a refresh token reused after its rotation.
    pub fn refresh_reuse_detected(&self) {
        self.refresh_reuse.inc();
    }

    /// The text of every metric, with the gauges set from `sample`.
    pub fn encode(&self, sample: Sample) -> Result<String, std::fmt::Error> {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.denylist_entries.set(gauge(sample.denylist_entries));
        self.bcrypt_jobs.set(gauge(sample.bcrypt_jobs));
        self.pool_connections.set(sample.pool_connections.into());
        self.pool_idle.set(sample.pool_idle.into());
        self.pool_max.set(sample.pool_max.into());
        self.sync_lag.set(sample.sync_lag.as_secs_f64());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
