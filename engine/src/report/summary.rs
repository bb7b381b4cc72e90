//! The run report and its versioned JSON summary (`summary.json`).
//!
//! [`RunReport`] is the input of every renderer. Its serde form holds the exact, mergeable data
//! (histograms included); [`RunReport::to_summary_json`] adds derived, human-friendly tables
//! next to it. The document is described in `docs/summary-schema.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::attempts::Distribution;
use super::text::{fmt_rfc3339, percent, round3};
use crate::metrics::{AssertionOutcome, Histogram, RequestStats, RunStats, SecondStats};

/// Version of the `summary.json` document. Additive changes (new fields) keep it; removing,
/// renaming or changing the meaning or unit of a field bumps it.
pub const SUMMARY_SCHEMA_VERSION: u32 = 1;

/// Everything known about one finished run (or one segment of a distributed run): the input of
/// every renderer, and the serde form of `summary.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunReport {
    /// [`SUMMARY_SCHEMA_VERSION`] when written by this version.
    pub schema_version: u32,
    /// Name of the simulation.
    pub simulation: String,
    /// Description of the simulation.
    pub description: Option<String>,
    /// Start of the run, milliseconds since the Unix epoch.
    pub started_at_unix_ms: u64,
    /// Wall time of the run in milliseconds.
    pub duration_ms: u64,
    /// `"2/3"` for a segment of a distributed run, `None` for the whole simulation.
    pub segment: Option<String>,
    /// The exact, mergeable statistics.
    pub stats: RunStats,
    /// Outcomes of the simulation's assertions, in declaration order.
    pub assertions: Vec<AssertionOutcome>,
    /// The scenarios and their users.
    pub scenarios: Vec<ScenarioInfo>,
    /// A distributed run's attempts and the report's amendments (`null` for a local run).
    /// Built by the masters from their store, so it is not part of the report a worker
    /// encodes for the wire (`engine::wire`, whose format it leaves as it was): the summary
    /// document writes and reads it explicitly.
    #[serde(skip)]
    pub distribution: Option<Distribution>,
}

/// One scenario of a run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ScenarioInfo {
    /// Name of the scenario.
    pub name: String,
    /// Users its injection profile plans (`None` when open-ended, e.g. a closed model bounded
    /// by time only).
    pub planned_users: Option<u64>,
    /// Users actually started.
    pub started_users: u64,
}

/// Derived statistics of one request name, one group, or all requests: one row of the
/// `requests`/`groups` tables of the summary and of the HTML report. Latencies are in
/// milliseconds and absent when nothing was recorded.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StatsRow {
    /// Responses (ok + ko).
    pub count: u64,
    /// Successful responses.
    pub ok: u64,
    /// Failed responses.
    pub ko: u64,
    /// `ko / count` in percent (0 when no responses).
    pub ko_percent: f64,
    /// Smallest response time.
    pub min_ms: Option<f64>,
    /// Median response time.
    pub p50_ms: Option<f64>,
    /// 75th percentile.
    pub p75_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// 99.9th percentile.
    pub p99_9_ms: Option<f64>,
    /// Largest response time.
    pub max_ms: Option<f64>,
    /// Mean response time.
    pub mean_ms: Option<f64>,
    /// Standard deviation of response times.
    pub stddev_ms: Option<f64>,
    /// Mean responses per second over the run's wall time (0 when the duration is unknown).
    pub req_per_sec: f64,
}

impl StatsRow {
    /// The row of `stats` for a run of `duration_secs` seconds.
    pub fn new(stats: &RequestStats, duration_secs: f64) -> Self {
        let count = stats.ok.saturating_add(stats.ko);
        let h = &stats.latency;
        let latency = |f: &dyn Fn(&Histogram) -> f64| (!h.is_empty()).then(|| round3(f(h)));
        StatsRow {
            count,
            ok: stats.ok,
            ko: stats.ko,
            ko_percent: round3(percent(stats.ko, count)),
            min_ms: latency(&|h| h.min()),
            p50_ms: latency(&|h| h.percentile_ms(50.0)),
            p75_ms: latency(&|h| h.percentile_ms(75.0)),
            p95_ms: latency(&|h| h.percentile_ms(95.0)),
            p99_ms: latency(&|h| h.percentile_ms(99.0)),
            p99_9_ms: latency(&|h| h.percentile_ms(99.9)),
            max_ms: latency(&|h| h.max()),
            mean_ms: latency(&|h| h.mean()),
            stddev_ms: latency(&|h| h.stddev()),
            req_per_sec: if duration_secs > 0.0 {
                round3(count as f64 / duration_secs)
            } else {
                0.0
            },
        }
    }
}

/// One second of the run, flattened for people and plotting tools: the `series` array of the
/// summary. Latencies are in milliseconds and absent when no response completed that second.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SeriesPoint {
    /// Seconds since the start of the run.
    pub second: u64,
    /// Requests sent during that second.
    pub requests: u64,
    /// Successful responses.
    pub ok: u64,
    /// Failed responses.
    pub ko: u64,
    /// Users started.
    pub users_started: u64,
    /// Users finished.
    pub users_finished: u64,
    /// Users active.
    pub active_users: u64,
    /// Median response time.
    pub p50_ms: Option<f64>,
    /// 75th percentile.
    pub p75_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Largest response time.
    pub max_ms: Option<f64>,
}

impl SeriesPoint {
    /// The flattened form of one second.
    pub fn new(s: &SecondStats) -> Self {
        let h = &s.latency;
        let p = |q: f64| (!h.is_empty()).then(|| round3(h.percentile_ms(q)));
        SeriesPoint {
            second: s.second,
            requests: s.requests,
            ok: s.ok,
            ko: s.ko,
            users_started: s.users_started,
            users_finished: s.users_finished,
            active_users: s.active_users,
            p50_ms: p(50.0),
            p75_ms: p(75.0),
            p95_ms: p(95.0),
            p99_ms: p(99.0),
            max_ms: (!h.is_empty()).then(|| round3(h.max())),
        }
    }
}

/// One distinct error message with its count: the `errors` array of the summary.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ErrorRow {
    /// The error message.
    pub message: String,
    /// How many times it occurred.
    pub count: u64,
    /// Its share of all errors, in percent.
    pub percent: f64,
}

impl RunReport {
    /// The wall time in seconds used for rates: `duration_ms`, or the length of the per-second
    /// series when the duration is unknown (0).
    pub fn duration_secs(&self) -> f64 {
        if self.duration_ms > 0 {
            self.duration_ms as f64 / 1000.0
        } else {
            self.stats.series.len() as f64
        }
    }

    /// Whether every assertion passed (true when there are none).
    pub fn passed(&self) -> bool {
        self.assertions.iter().all(|a| a.passed)
    }

    /// All requests together (histograms merged exactly).
    pub fn total(&self) -> RequestStats {
        self.stats.total()
    }

    /// The row of all requests together.
    pub fn all_row(&self) -> StatsRow {
        StatsRow::new(&self.total(), self.duration_secs())
    }

    /// One row per request name, by name.
    pub fn request_rows(&self) -> BTreeMap<String, StatsRow> {
        rows(&self.stats.requests, self.duration_secs())
    }

    /// One row per group, by name.
    pub fn group_rows(&self) -> BTreeMap<String, StatsRow> {
        rows(&self.stats.groups, self.duration_secs())
    }

    /// The distinct errors, most frequent first (ties by message).
    pub fn error_rows(&self) -> Vec<ErrorRow> {
        let total = self
            .stats
            .errors
            .values()
            .fold(0u64, |t, &c| t.saturating_add(c));
        let mut rows: Vec<ErrorRow> = self
            .stats
            .errors
            .iter()
            .map(|(message, &count)| ErrorRow {
                message: message.clone(),
                count,
                percent: round3(percent(count, total)),
            })
            .collect();
        rows.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.message.cmp(&b.message))
        });
        rows
    }

    /// The summary document (`summary.json`): every field of the report (the exact data under
    /// `stats`, so that summaries can be re-read with [`RunReport::from_summary_json`] and
    /// merged), plus derived fields: `passed`, `started_at` (RFC 3339), `requests` (`all` and
    /// `by_name` rows), `groups`, `errors` and the flattened per-second `series`. See
    /// `docs/summary-schema.md`.
    pub fn to_summary_json(&self) -> Value {
        let mut doc = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // Only if a histogram could not be encoded: keep everything else.
            _ => self.fallback_fields(),
        };
        let requests = json!({ "all": self.all_row(), "by_name": self.request_rows() });
        let series: Vec<SeriesPoint> = self.stats.series.iter().map(SeriesPoint::new).collect();
        let derived = [
            ("passed", Value::Bool(self.passed())),
            (
                "started_at",
                Value::String(fmt_rfc3339(self.started_at_unix_ms)),
            ),
            ("requests", requests),
            ("groups", to_value_or_null(&self.group_rows())),
            ("errors", to_value_or_null(&self.error_rows())),
            ("series", to_value_or_null(&series)),
            ("distribution", to_value_or_null(&self.distribution)),
        ];
        for (key, value) in derived {
            doc.insert(key.to_string(), value);
        }
        Value::Object(doc)
    }

    /// Reads back a summary document written by [`RunReport::to_summary_json`] (derived fields
    /// are ignored). Fails on a document of a newer, incompatible schema version.
    pub fn from_summary_json(doc: Value) -> Result<RunReport, serde_json::Error> {
        use serde::de::Error as _;
        match doc.get("schema_version").and_then(Value::as_u64) {
            None => Err(serde_json::Error::custom(
                "not a summary: no `schema_version`",
            )),
            Some(v) if v > u64::from(SUMMARY_SCHEMA_VERSION) => {
                Err(serde_json::Error::custom(format!(
                    "summary schema version {v} is newer than the supported version \
                     {SUMMARY_SCHEMA_VERSION}"
                )))
            }
            Some(_) => {
                let distribution = match doc.get("distribution") {
                    None | Some(Value::Null) => None,
                    Some(d) => Some(serde_json::from_value(d.clone())?),
                };
                let mut report: RunReport = serde_json::from_value(doc)?;
                report.distribution = distribution;
                Ok(report)
            }
        }
    }

    /// The report's own fields, field by field, with `null` for any that cannot be encoded.
    fn fallback_fields(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("schema_version".into(), Value::from(self.schema_version));
        map.insert("simulation".into(), Value::from(self.simulation.clone()));
        map.insert("description".into(), to_value_or_null(&self.description));
        map.insert(
            "started_at_unix_ms".into(),
            Value::from(self.started_at_unix_ms),
        );
        map.insert("duration_ms".into(), Value::from(self.duration_ms));
        map.insert("segment".into(), to_value_or_null(&self.segment));
        map.insert("stats".into(), to_value_or_null(&self.stats));
        map.insert("assertions".into(), to_value_or_null(&self.assertions));
        map.insert("scenarios".into(), to_value_or_null(&self.scenarios));
        map
    }
}

/// One row per entry of `stats`.
fn rows(stats: &BTreeMap<String, RequestStats>, secs: f64) -> BTreeMap<String, StatsRow> {
    stats
        .iter()
        .map(|(name, s)| (name.clone(), StatsRow::new(s, secs)))
        .collect()
}

/// `value` as JSON, or `null` if it cannot be encoded.
fn to_value_or_null<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
