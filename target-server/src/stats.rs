//! What the target has received: live counters ([`Stats`]) and their
//! serialisable copy ([`StatsSnapshot`], also served by `GET /stats`).
//!
//! Totals, routes, standard methods and status codes are plain atomics; exact
//! paths, unusual methods and attribution values live in sharded, capped maps
//! (see the `counters` module). A snapshot reads every counter once without
//! stopping the server, so a snapshot taken *during* load is not an atomic
//! cut (e.g. `total` may differ slightly from the sum of `by_route`); once the
//! load has finished, all counts are exact. The same holds for [`Stats::reset`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::counters::{AttributionMap, CounterMap, PER_SECOND_BUDGET};
use crate::routes::Route;

pub use crate::counters::{MAX_KEY_LEN, OTHER_KEY};

/// Distinct exact paths counted before further new paths go to [`OTHER_KEY`].
pub const MAX_DISTINCT_PATHS: usize = 10_000;

/// Distinct attribution values tracked before further new values go to
/// [`OTHER_KEY`].
pub const MAX_DISTINCT_ATTRIBUTIONS: usize = 10_000;

/// Distinct non-standard methods counted before going to [`OTHER_KEY`].
const MAX_DISTINCT_METHODS: usize = 1_000;

/// Methods with a dedicated atomic counter.
const KNOWN_METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// One more than the largest status code hyper can represent.
const STATUS_SLOTS: usize = 1000;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Arrivals carrying one value of the [`ATTRIBUTION_HEADER`](crate::ATTRIBUTION_HEADER).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(default)]
pub struct AttributionStats {
    /// Number of requests that carried this value.
    pub count: u64,
    /// Earliest arrival, Unix milliseconds.
    pub first_unix_ms: u64,
    /// Latest arrival, Unix milliseconds.
    pub last_unix_ms: u64,
    /// Arrivals per Unix second (second → count).
    pub per_second: BTreeMap<u64, u64>,
    /// Arrivals not bucketed in `per_second` because the global bucket budget
    /// was used up (normally 0).
    pub per_second_dropped: u64,
}

/// A copy of [`Stats`] at one moment; the JSON body of `GET /stats`.
///
/// Maps only hold non-zero counts.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(default)]
pub struct StatsSnapshot {
    /// Requests received (admin and stats endpoints excluded).
    pub total: u64,
    /// Per exact path (without the query), at most [`MAX_DISTINCT_PATHS`]
    /// distinct paths plus the fixed routes' paths; the rest under [`OTHER_KEY`].
    pub by_path: BTreeMap<String, u64>,
    /// Per route label, e.g. `/`, `/items/{id}`, `(unmatched)` (see [`Route`]).
    pub by_route: BTreeMap<String, u64>,
    /// Per status code of produced responses.
    pub by_status: BTreeMap<u16, u64>,
    /// Per request method.
    pub by_method: BTreeMap<String, u64>,
    /// Per value of the attribution header, at most
    /// [`MAX_DISTINCT_ATTRIBUTIONS`] values; the rest under [`OTHER_KEY`].
    pub by_attribution: BTreeMap<String, AttributionStats>,
    /// Requests being handled right now (a gauge; not zeroed by reset).
    pub in_flight: u64,
    /// When counting started (target start or last reset), Unix milliseconds.
    pub since_unix_ms: u64,
    /// When this snapshot was taken, Unix milliseconds.
    pub taken_at_unix_ms: u64,
}

impl StatsSnapshot {
    /// Count for an exact path (0 if never seen).
    pub fn path(&self, path: &str) -> u64 {
        self.by_path.get(path).copied().unwrap_or(0)
    }

    /// Count for a route label such as `/items/{id}` (0 if never seen).
    pub fn route(&self, label: &str) -> u64 {
        self.by_route.get(label).copied().unwrap_or(0)
    }

    /// Count for a status code (0 if never produced).
    pub fn status(&self, code: u16) -> u64 {
        self.by_status.get(&code).copied().unwrap_or(0)
    }

    /// Count for a method such as `GET` (0 if never seen).
    pub fn method(&self, method: &str) -> u64 {
        self.by_method.get(method).copied().unwrap_or(0)
    }

    /// Stats for an attribution value, if any request carried it.
    pub fn attribution(&self, value: &str) -> Option<&AttributionStats> {
        self.by_attribution.get(value)
    }
}

/// Live request counters of a running target; cheap to update concurrently.
///
/// Obtain it from [`Target::stats`](crate::Target::stats) or
/// [`TargetHandle::stats`](crate::TargetHandle::stats).
pub struct Stats {
    total: AtomicU64,
    in_flight: AtomicU64,
    since_ms: AtomicU64,
    routes: [AtomicU64; Route::ALL.len()],
    methods: [AtomicU64; KNOWN_METHODS.len()],
    other_methods: CounterMap,
    statuses: Box<[AtomicU64]>,
    paths: CounterMap,
    attributions: AttributionMap,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats")
            .field("total", &self.total.load(Relaxed))
            .field("in_flight", &self.in_flight.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Empty counters, counting from now.
    pub fn new() -> Self {
        Self {
            total: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            since_ms: AtomicU64::new(unix_ms()),
            routes: std::array::from_fn(|_| AtomicU64::new(0)),
            methods: std::array::from_fn(|_| AtomicU64::new(0)),
            other_methods: CounterMap::new(MAX_DISTINCT_METHODS),
            statuses: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            paths: CounterMap::new(MAX_DISTINCT_PATHS),
            attributions: AttributionMap::new(MAX_DISTINCT_ATTRIBUTIONS, PER_SECOND_BUDGET),
        }
    }

    /// Counts one received request. `path` excludes the query; `route` must be
    /// what the router matched for `path`.
    pub(crate) fn record_request(
        &self,
        method: &Method,
        path: &str,
        route: Route,
        attribution: Option<&HeaderValue>,
    ) {
        self.total.fetch_add(1, Relaxed);
        self.routes[route.index()].fetch_add(1, Relaxed);
        // Fixed routes match exactly one path, so their route counter doubles
        // as the path counter (see `snapshot`): no map lookup on the hot path.
        if route.fixed_path().is_none() {
            self.paths.incr(path);
        }
        let method = method.as_str();
        match KNOWN_METHODS.iter().position(|m| *m == method) {
            Some(i) => self.methods[i].fetch_add(1, Relaxed),
            None => {
                self.other_methods.incr(method);
                0
            }
        };
        if let Some(value) = attribution {
            let now = unix_ms();
            match value.to_str() {
                Ok(text) => self.attributions.record(text, now),
                Err(_) => self
                    .attributions
                    .record(&String::from_utf8_lossy(value.as_bytes()), now),
            }
        }
    }

    /// Counts one produced response status.
    pub(crate) fn record_status(&self, status: StatusCode) {
        if let Some(slot) = self.statuses.get(usize::from(status.as_u16())) {
            slot.fetch_add(1, Relaxed);
        }
    }

    /// Marks a request as in flight until the returned guard is dropped.
    pub(crate) fn in_flight_guard(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(&self.in_flight)
    }

    /// Copies all counters. Takes each map shard's lock briefly, one at a time.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut by_route = BTreeMap::new();
        let mut by_path = BTreeMap::new();
        for route in Route::ALL {
            let count = self.routes[route.index()].load(Relaxed);
            if count == 0 {
                continue;
            }
            by_route.insert(route.label().to_owned(), count);
            if let Some(path) = route.fixed_path() {
                by_path.insert(path.to_owned(), count);
            }
        }
        self.paths.snapshot_into(&mut by_path);

        let mut by_method = BTreeMap::new();
        for (name, counter) in KNOWN_METHODS.iter().zip(self.methods.iter()) {
            let count = counter.load(Relaxed);
            if count > 0 {
                by_method.insert((*name).to_owned(), count);
            }
        }
        self.other_methods.snapshot_into(&mut by_method);

        let mut by_status = BTreeMap::new();
        for (code, counter) in (0u16..).zip(self.statuses.iter()) {
            let count = counter.load(Relaxed);
            if count > 0 {
                by_status.insert(code, count);
            }
        }

        let mut by_attribution = BTreeMap::new();
        self.attributions.snapshot_into(&mut by_attribution);

        StatsSnapshot {
            total: self.total.load(Relaxed),
            by_path,
            by_route,
            by_status,
            by_method,
            by_attribution,
            in_flight: self.in_flight.load(Relaxed),
            since_unix_ms: self.since_ms.load(Relaxed),
            taken_at_unix_ms: unix_ms(),
        }
    }

    /// Zeroes every counter (except the in-flight gauge) and restarts the
    /// `since_unix_ms` clock.
    pub fn reset(&self) {
        self.total.store(0, Relaxed);
        for counter in self.routes.iter().chain(&self.methods) {
            counter.store(0, Relaxed);
        }
        for counter in self.statuses.iter() {
            counter.store(0, Relaxed);
        }
        self.other_methods.reset();
        self.paths.reset();
        self.attributions.reset();
        self.since_ms.store(unix_ms(), Relaxed);
    }
}

/// Decrements the in-flight gauge when dropped (also when a request is
/// abandoned because the client went away).
pub(crate) struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_snapshots() {
        let stats = Stats::new();
        let attr = HeaderValue::from_static("task-1");
        stats.record_request(&Method::GET, "/", Route::Root, None);
        stats.record_request(&Method::GET, "/items/7", Route::Item, Some(&attr));
        let odd = Method::from_bytes(b"PURGE").expect("valid method");
        stats.record_request(&odd, "/nope", Route::Unmatched, None);
        stats.record_status(StatusCode::OK);
        stats.record_status(StatusCode::NOT_FOUND);

        let snap = stats.snapshot();
        assert_eq!(snap.total, 3);
        assert_eq!(snap.path("/"), 1);
        assert_eq!(snap.path("/items/7"), 1);
        assert_eq!(snap.path("/nope"), 1);
        assert_eq!(snap.route("/items/{id}"), 1);
        assert_eq!(snap.route("(unmatched)"), 1);
        assert_eq!(snap.method("GET"), 2);
        assert_eq!(snap.method("PURGE"), 1);
        assert_eq!(snap.status(200), 1);
        assert_eq!(snap.status(404), 1);
        assert_eq!(snap.attribution("task-1").map(|a| a.count), Some(1));

        let json = serde_json::to_string(&snap).expect("serialise");
        let back: StatsSnapshot = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, snap);

        stats.reset();
        let snap = stats.snapshot();
        assert_eq!(snap.total, 0);
        assert!(snap.by_path.is_empty() && snap.by_route.is_empty());
        assert!(snap.by_status.is_empty() && snap.by_method.is_empty());
        assert!(snap.by_attribution.is_empty());
    }

    #[test]
    fn in_flight_guard_counts() {
        let stats = Stats::new();
        let guard = stats.in_flight_guard();
        assert_eq!(stats.snapshot().in_flight, 1);
        drop(guard);
        assert_eq!(stats.snapshot().in_flight, 0);
    }
}
