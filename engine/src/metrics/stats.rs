//! Result types of a run: per-request, per-group and per-second statistics, error counts and
//! samples. Every type is mergeable: results of workers, segments or heartbeat deltas combine
//! with `merge` into exactly the result of one run that saw everything (counts are summed,
//! histograms merged bucket by bucket).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;

/// At most this many distinct error messages are kept; the rest count under [`OTHER_ERRORS`].
pub const MAX_ERROR_MESSAGES: usize = 200;
/// The key counting the errors whose messages did not fit in [`MAX_ERROR_MESSAGES`].
pub const OTHER_ERRORS: &str = "other errors";
/// At most this many samples are kept per error message.
pub const MAX_SAMPLES_PER_ERROR: usize = 3;
/// At most this many samples are kept overall.
pub const MAX_ERROR_SAMPLES: usize = 50;

/// Statistics of one request name (or group, or all requests).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestStats {
    /// Successful executions.
    pub ok: u64,
    /// Failed executions.
    pub ko: u64,
    /// Latency of all executions, ok and ko.
    pub latency: Histogram,
}

impl RequestStats {
    /// Records one execution.
    pub fn record(&mut self, latency: Duration, ok: bool) {
        self.record_micros(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX), ok);
    }

    /// Records one execution with its latency in microseconds.
    pub fn record_micros(&mut self, micros: u64, ok: bool) {
        if ok {
            self.ok = self.ok.saturating_add(1);
        } else {
            self.ko = self.ko.saturating_add(1);
        }
        self.latency.record_micros(micros);
    }

    /// All executions (`ok + ko`).
    pub fn count(&self) -> u64 {
        self.ok.saturating_add(self.ko)
    }

    /// Failed executions in percent; `None` without executions.
    pub fn failed_percent(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.ko as f64 * 100.0 / n as f64)
    }

    /// Adds `other` (exact).
    pub fn merge(&mut self, other: &RequestStats) {
        self.ok = self.ok.saturating_add(other.ok);
        self.ko = self.ko.saturating_add(other.ko);
        self.latency.merge(&other.latency);
    }
}

/// What happened during one second of the run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SecondStats {
    /// Seconds since the schedule's t = 0.
    pub second: u64,
    /// Requests sent in this second (by intended send time: latency is measured from it).
    pub requests: u64,
    /// Successful responses completed in this second.
    pub ok: u64,
    /// Failed responses (or failures without a response) completed in this second.
    pub ko: u64,
    /// Virtual users started in this second.
    pub users_started: u64,
    /// Virtual users finished in this second.
    pub users_finished: u64,
    /// Active users: the largest sample of the gauge in this second. Merging *adds* the values
    /// of the same second, because merged results come from segments that run in parallel, so
    /// their active users add up. (A heartbeat delta carries only the increase of the maximum
    /// since the previous delta, so merging deltas still gives the maximum.)
    pub active_users: u64,
    /// Latency of all requests completed in this second (compact form).
    pub latency: Histogram,
}

impl SecondStats {
    /// An empty entry for `second`.
    pub fn new(second: u64) -> Self {
        SecondStats {
            second,
            latency: Histogram::new_compact(),
            ..SecondStats::default()
        }
    }

    /// Adds the counts of `other` (meant for the same second; `self.second` is kept).
    pub fn merge(&mut self, other: &SecondStats) {
        self.requests = self.requests.saturating_add(other.requests);
        self.ok = self.ok.saturating_add(other.ok);
        self.ko = self.ko.saturating_add(other.ko);
        self.users_started = self.users_started.saturating_add(other.users_started);
        self.users_finished = self.users_finished.saturating_add(other.users_finished);
        self.active_users = self.active_users.saturating_add(other.active_users);
        self.latency.merge(&other.latency);
    }

    /// Whether the entry holds nothing.
    pub fn is_empty(&self) -> bool {
        self.requests == 0
            && self.ok == 0
            && self.ko == 0
            && self.users_started == 0
            && self.users_finished == 0
            && self.active_users == 0
            && self.latency.is_empty()
    }
}

/// One failed request, shown in reports to explain an error.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorSample {
    /// Request name.
    pub request: String,
    /// Error message (the key of [`RunStats::errors`]).
    pub error: String,
    /// Method, URL, headers and (truncated) body sent.
    pub request_text: String,
    /// Status, headers and (truncated) body received; empty without a response.
    pub response_text: String,
}

/// Everything measured during a run (or a part of it), mergeable.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunStats {
    /// Per request name.
    pub requests: BTreeMap<String, RequestStats>,
    /// Per group name (nested groups: `"outer / inner"`): `ok`/`ko` count group executions,
    /// `latency` is the group's cumulative time.
    pub groups: BTreeMap<String, RequestStats>,
    /// Error message → count. At most [`MAX_ERROR_MESSAGES`] messages, the rest counted under
    /// [`OTHER_ERRORS`]; when merging overflows the cap, the most frequent messages are kept
    /// (ties: alphabetical). The total of all counts is always exact.
    pub errors: BTreeMap<String, u64>,
    /// A few failed requests: at most [`MAX_SAMPLES_PER_ERROR`] per message and
    /// [`MAX_ERROR_SAMPLES`] overall, sorted by error message.
    pub error_samples: Vec<ErrorSample>,
    /// Sorted by second, one entry per second that saw anything.
    pub series: Vec<SecondStats>,
    /// Virtual users started.
    pub users_started: u64,
    /// Virtual users finished.
    pub users_finished: u64,
    /// Requests recorded per scenario, in the plan's order (a request recorded without its
    /// scenario is in `requests` only).
    #[serde(default)]
    pub scenario_requests: Vec<u64>,
}

impl RunStats {
    /// Adds `other`: counts and histograms exactly; errors and samples within their caps.
    ///
    /// Commutative and associative for everything but which messages/samples survive a cap.
    pub fn merge(&mut self, other: &RunStats) {
        merge_map(&mut self.requests, &other.requests);
        merge_map(&mut self.groups, &other.groups);
        for (message, count) in &other.errors {
            let c = self.errors.entry(message.clone()).or_insert(0);
            *c = c.saturating_add(*count);
        }
        cap_errors(&mut self.errors);
        self.error_samples
            .extend(other.error_samples.iter().cloned());
        cap_samples(&mut self.error_samples);
        merge_series(&mut self.series, &other.series);
        self.users_started = self.users_started.saturating_add(other.users_started);
        self.users_finished = self.users_finished.saturating_add(other.users_finished);
        add_counts(&mut self.scenario_requests, &other.scenario_requests);
    }

    /// All requests merged (not groups).
    pub fn total(&self) -> RequestStats {
        let mut total = RequestStats::default();
        for stats in self.requests.values() {
            total.merge(stats);
        }
        total
    }

    /// Whether nothing at all was recorded.
    pub fn is_empty(&self) -> bool {
        self.requests
            .values()
            .all(|r| r.count() == 0 && r.latency.is_empty())
            && self
                .groups
                .values()
                .all(|g| g.count() == 0 && g.latency.is_empty())
            && self.errors.values().all(|&c| c == 0)
            && self.error_samples.is_empty()
            && self.series.iter().all(SecondStats::is_empty)
            && self.users_started == 0
            && self.users_finished == 0
            && self.scenario_requests.iter().all(|&n| n == 0)
    }

    /// Counts `count` errors with `message`, respecting the cap on distinct messages (a new
    /// message beyond the cap counts under [`OTHER_ERRORS`]).
    pub fn add_error(&mut self, message: &str, count: u64) {
        add_error(&mut self.errors, message, count);
    }

    /// Total of all error counts (including [`OTHER_ERRORS`]).
    pub fn error_count(&self) -> u64 {
        self.errors.values().fold(0u64, |t, &c| t.saturating_add(c))
    }

    /// Duration covered by the series (last second + 1); zero without series.
    pub fn series_duration(&self) -> Duration {
        self.series.last().map_or(Duration::ZERO, |s| {
            Duration::from_secs(s.second.saturating_add(1))
        })
    }
}

/// Adds `more` to `into`, element by element (`into` grows to `more`'s length).
pub fn add_counts(into: &mut Vec<u64>, more: &[u64]) {
    if into.len() < more.len() {
        into.resize(more.len(), 0);
    }
    for (i, n) in into.iter_mut().zip(more) {
        *i = i.saturating_add(*n);
    }
}

fn merge_map(into: &mut BTreeMap<String, RequestStats>, from: &BTreeMap<String, RequestStats>) {
    for (name, stats) in from {
        match into.get_mut(name) {
            Some(existing) => existing.merge(stats),
            None => {
                into.insert(name.clone(), stats.clone());
            }
        }
    }
}

/// Counts `count` errors under `message` in a capped error map (first come, first kept).
pub(crate) fn add_error(errors: &mut BTreeMap<String, u64>, message: &str, count: u64) {
    let distinct = errors.len() - usize::from(errors.contains_key(OTHER_ERRORS));
    let key =
        if errors.contains_key(message) || message == OTHER_ERRORS || distinct < MAX_ERROR_MESSAGES
        {
            message
        } else {
            OTHER_ERRORS
        };
    match errors.get_mut(key) {
        Some(c) => *c = c.saturating_add(count),
        None => {
            errors.insert(key.to_owned(), count);
        }
    }
}

/// Enforces the cap on distinct messages: keeps the most frequent (ties: alphabetical).
fn cap_errors(errors: &mut BTreeMap<String, u64>) {
    let distinct = errors.len() - usize::from(errors.contains_key(OTHER_ERRORS));
    if distinct <= MAX_ERROR_MESSAGES {
        return;
    }
    let mut ranked: Vec<(String, u64)> = std::mem::take(errors).into_iter().collect();
    let mut other = 0u64;
    ranked.retain(|(message, count)| {
        if message == OTHER_ERRORS {
            other = other.saturating_add(*count);
            false
        } else {
            true
        }
    });
    // Stable sort: equal counts keep the alphabetical order of the map.
    ranked.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    for (i, (message, count)) in ranked.into_iter().enumerate() {
        if i < MAX_ERROR_MESSAGES {
            errors.insert(message, count);
        } else {
            other = other.saturating_add(count);
        }
    }
    errors.insert(OTHER_ERRORS.to_owned(), other);
}

/// Enforces the sample caps deterministically: per message the first samples in sort order,
/// overall round-robin over messages (so that as many messages as possible keep a sample).
fn cap_samples(samples: &mut Vec<ErrorSample>) {
    samples.sort();
    let mut ranked: Vec<(usize, ErrorSample)> = Vec::with_capacity(samples.len());
    let mut rank = 0usize;
    for (i, sample) in std::mem::take(samples).into_iter().enumerate() {
        rank = match ranked.last() {
            Some((_, prev)) if i > 0 && prev.error == sample.error => rank + 1,
            _ => 0,
        };
        if rank < MAX_SAMPLES_PER_ERROR {
            ranked.push((rank, sample));
        }
    }
    if ranked.len() > MAX_ERROR_SAMPLES {
        // Order by rank, then message: first samples of every message go first.
        ranked.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        ranked.truncate(MAX_ERROR_SAMPLES);
        ranked.sort_by(|a, b| a.1.cmp(&b.1));
    }
    samples.extend(ranked.into_iter().map(|(_, s)| s));
}

/// Merges `from` into `into`, both sorted by second; entries of the same second are merged.
fn merge_series(into: &mut Vec<SecondStats>, from: &[SecondStats]) {
    if from.is_empty() {
        return;
    }
    let mine = std::mem::take(into);
    let mut out: Vec<SecondStats> = Vec::with_capacity(mine.len().max(from.len()));
    let push = |entry: SecondStats, out: &mut Vec<SecondStats>| match out.last_mut() {
        Some(last) if last.second == entry.second => last.merge(&entry),
        _ => out.push(entry),
    };
    let mut a = mine.into_iter().peekable();
    let mut b = from.iter().peekable();
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(x), Some(y)) => x.second <= y.second,
        };
        let entry = if take_a { a.next() } else { b.next().cloned() };
        if let Some(entry) = entry {
            push(entry, &mut out);
        }
    }
    if !out.is_sorted_by_key(|s| s.second) {
        // Unsorted input (not produced by this module): sort and merge duplicates.
        out.sort_by_key(|s| s.second);
        let sorted = std::mem::take(&mut out);
        for entry in sorted {
            push(entry, &mut out);
        }
    }
    *into = out;
}
