//! The [`Recorder`]: what the runtime calls on the hot path, from many tokio worker threads.
//!
//! Design, for low contention and bounded memory:
//!
//! * each thread is assigned a shard (round-robin, on first use); a shard is a mutex around a
//!   small buffer of raw events plus running totals for the console. Recording is a push into
//!   the thread's own shard: the mutex is practically never contended;
//! * a full buffer (or any read: [`Recorder::snapshot`], [`Recorder::take_delta`],
//!   [`Recorder::live`]) is applied in one batch to the shared aggregate, so the shared lock is
//!   taken once every [`FLUSH_AT`] events, and there is one histogram per name, not one per
//!   name and thread;
//! * the shared aggregate is split in *emitted* (the merge of every delta taken so far) and
//!   *pending* (recorded since the last delta). [`Recorder::take_delta`] moves pending into the
//!   delta it returns and merges it into emitted; [`Recorder::snapshot`] is emitted merged with a
//!   copy of pending. So merging all deltas gives the snapshot, and both can be used at once;
//! * error samples have their own small lock and a lock-free "budget exhausted" flag.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::aggregate::{Event, Names, State};
use super::histogram::Histogram;
use super::stats::{ErrorSample, RunStats, MAX_ERROR_SAMPLES, MAX_SAMPLES_PER_ERROR};

/// Events buffered per shard before they are applied to the shared aggregate.
const FLUSH_AT: usize = 256;
/// Seconds covered by [`LiveStats::recent_p95`].
const RECENT_SECONDS: u64 = 5;

/// Index of a request name given to [`Recorder::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u32);

/// Index of a group name given to [`Recorder::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u32);

/// Cheap figures for the console line, see [`Recorder::live`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LiveStats {
    /// Time since the schedule's t = 0.
    pub elapsed: Duration,
    /// Requests completed so far.
    pub requests: u64,
    /// Of which successful.
    pub ok: u64,
    /// Of which failed.
    pub ko: u64,
    /// Users started minus users finished, now.
    pub active_users: u64,
    /// The last complete second (`None` during the first second).
    pub last_second: Option<u64>,
    /// Requests completed during the last complete second.
    pub last_second_requests: u64,
    /// Failed requests during the last complete second.
    pub last_second_ko: u64,
    /// 95th percentile of the last complete second (`None` without requests).
    pub last_second_p95: Option<Duration>,
    /// 95th percentile over the last five complete seconds (`None` without requests).
    pub recent_p95: Option<Duration>,
}

/// Records requests, groups, errors and users; `Clone + Send + Sync` (shared state inside).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    start: Instant,
    request_names: Vec<String>,
    group_names: Vec<String>,
    shards: Box<[Shard]>,
    state: Mutex<State>,
    samples: Mutex<Samples>,
    samples_full: AtomicBool,
    users_started: AtomicU64,
    users_finished: AtomicU64,
}

/// One shard, aligned to its own cache lines.
#[repr(align(128))]
struct Shard(Mutex<ShardData>);

#[derive(Default)]
struct ShardData {
    events: Vec<Event>,
    requests: u64,
    ok: u64,
    ko: u64,
}

#[derive(Default)]
struct Samples {
    per_error: HashMap<String, usize>,
    total: usize,
    pending: Vec<ErrorSample>,
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD_INDEX: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Recorder {
    /// A recorder for these request and group names (ids are indexes into them); `start` is the
    /// schedule's t = 0 (in the past for a resumed run).
    pub fn new(request_names: Vec<String>, group_names: Vec<String>, start: Instant) -> Recorder {
        let shards = std::thread::available_parallelism()
            .map_or(4, |n| n.get().saturating_mul(2))
            .clamp(2, 128);
        let state = Mutex::new(State::new(request_names.len(), group_names.len()));
        Recorder {
            inner: Arc::new(Inner {
                start,
                request_names,
                group_names,
                shards: (0..shards)
                    .map(|_| Shard(Mutex::new(ShardData::default())))
                    .collect(),
                state,
                samples: Mutex::new(Samples::default()),
                samples_full: AtomicBool::new(false),
                users_started: AtomicU64::new(0),
                users_finished: AtomicU64::new(0),
            }),
        }
    }

    /// The schedule's t = 0.
    pub fn start(&self) -> Instant {
        self.inner.start
    }

    /// The request names, indexed by [`RequestId`].
    pub fn request_names(&self) -> &[String] {
        &self.inner.request_names
    }

    /// The group names, indexed by [`GroupId`].
    pub fn group_names(&self) -> &[String] {
        &self.inner.group_names
    }

    /// Seconds since t = 0 at `at` (0 before t = 0).
    pub fn second_of(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.inner.start).as_secs()
    }

    /// Records a completed request: `end` is when it completed (its response counts in second
    /// `(end - start).as_secs()`; the request itself counts as sent in the second of
    /// `end - latency`, its intended send time), `error` the failure message of a failed request (ignored when
    /// `ok`; a failed request without a message counts under [`UNKNOWN_ERROR`](super::UNKNOWN_ERROR)).
    pub fn record_request(
        &self,
        id: RequestId,
        end: Instant,
        latency: Duration,
        ok: bool,
        error: Option<&str>,
    ) {
        self.record(None, id, end, latency, ok, error);
    }

    /// Records a completed request of a user of scenario `scenario` (its index in the plan):
    /// counted in [`RunStats::scenario_requests`] too.
    pub fn record_scenario_request(
        &self,
        scenario: usize,
        id: RequestId,
        end: Instant,
        latency: Duration,
        ok: bool,
        error: Option<&str>,
    ) {
        let scenario = u32::try_from(scenario).ok();
        self.record(scenario, id, end, latency, ok, error);
    }

    fn record(
        &self,
        scenario: Option<u32>,
        id: RequestId,
        end: Instant,
        latency: Duration,
        ok: bool,
        error: Option<&str>,
    ) {
        let error = if ok { None } else { error.map(Box::from) };
        let sent = end.checked_sub(latency).unwrap_or(end);
        self.push(Event::Request {
            id: id.0,
            scenario,
            second: self.second_of(end),
            sent_second: self.second_of(sent),
            micros: micros(latency),
            ok,
            error,
        });
    }

    /// Records a completed group execution and its cumulative time (`end` is accepted for
    /// symmetry with requests; groups have no per-second figures).
    pub fn record_group(&self, id: GroupId, end: Instant, duration: Duration, ok: bool) {
        let _ = end;
        self.push(Event::Group {
            id: id.0,
            micros: micros(duration),
            ok,
        });
    }

    /// Whether a sample for `error` would be kept (at most [`MAX_SAMPLES_PER_ERROR`] per message
    /// and [`MAX_ERROR_SAMPLES`] in total): lets the caller skip building the texts.
    pub fn wants_sample(&self, error: &str) -> bool {
        if self.inner.samples_full.load(Ordering::Relaxed) {
            return false;
        }
        let samples = self.inner.samples.lock();
        samples.total < MAX_ERROR_SAMPLES
            && samples
                .per_error
                .get(error)
                .is_none_or(|&n| n < MAX_SAMPLES_PER_ERROR)
    }

    /// Keeps a sample of a failed request if the budget allows (see [`Recorder::wants_sample`]);
    /// `sample.error` should be the message given to [`Recorder::record_request`].
    pub fn record_error_sample(&self, sample: ErrorSample) {
        if self.inner.samples_full.load(Ordering::Relaxed) {
            return;
        }
        let mut samples = self.inner.samples.lock();
        if samples.total >= MAX_ERROR_SAMPLES {
            return;
        }
        let kept = match samples.per_error.get_mut(&sample.error) {
            Some(n) if *n >= MAX_SAMPLES_PER_ERROR => false,
            Some(n) => {
                *n += 1;
                true
            }
            None => {
                samples.per_error.insert(sample.error.clone(), 1);
                true
            }
        };
        if kept {
            samples.total += 1;
            samples.pending.push(sample);
            if samples.total >= MAX_ERROR_SAMPLES {
                self.inner.samples_full.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Counts an error of a virtual user that is not a request's failure (an expression that
    /// cannot be evaluated, an empty feeder, …): it appears in [`RunStats::errors`] only.
    pub fn record_user_error(&self, message: &str) {
        self.push(Event::UserError {
            message: Box::from(message),
        });
    }

    /// A virtual user started at `at`.
    pub fn user_started(&self, at: Instant) {
        self.inner.users_started.fetch_add(1, Ordering::Relaxed);
        self.push(Event::UserStarted {
            second: self.second_of(at),
        });
    }

    /// A virtual user finished at `at`.
    pub fn user_finished(&self, at: Instant) {
        self.inner.users_finished.fetch_add(1, Ordering::Relaxed);
        self.push(Event::UserFinished {
            second: self.second_of(at),
        });
    }

    /// The live gauge: users started minus users finished.
    pub fn active_users(&self) -> u64 {
        let finished = self.inner.users_finished.load(Ordering::Relaxed);
        let started = self.inner.users_started.load(Ordering::Relaxed);
        started.saturating_sub(finished)
    }

    /// Stores the gauge into the second of `at` (keeping the maximum of the samples of that
    /// second); the runtime calls it once per second.
    pub fn sample_active_users(&self, at: Instant) {
        let gauge = self.active_users();
        let second = self.second_of(at);
        self.inner.state.lock().sample_active(second, gauge);
    }

    /// Everything recorded since start (cumulative).
    pub fn snapshot(&self) -> RunStats {
        self.flush_all();
        let mut state = self.inner.state.lock();
        let mut samples = self.inner.samples.lock();
        state.snapshot(&self.names(), &mut samples.pending)
    }

    /// Everything recorded since the previous call (the first call: since start). Merging all
    /// deltas, in order, gives [`Recorder::snapshot`].
    pub fn take_delta(&self) -> RunStats {
        self.flush_all();
        let mut state = self.inner.state.lock();
        let mut samples = self.inner.samples.lock();
        state.take_delta(&self.names(), &mut samples.pending)
    }

    /// Figures for the console line, now.
    pub fn live(&self) -> LiveStats {
        self.live_at(Instant::now())
    }

    /// Figures for the console line, as of `now`.
    pub fn live_at(&self, now: Instant) -> LiveStats {
        let (requests, ok, ko) = self.flush_all();
        let elapsed = now.saturating_duration_since(self.inner.start);
        let mut live = LiveStats {
            elapsed,
            requests,
            ok,
            ko,
            active_users: self.active_users(),
            ..LiveStats::default()
        };
        let Some(last) = elapsed.as_secs().checked_sub(1) else {
            return live;
        };
        live.last_second = Some(last);
        let state = self.inner.state.lock();
        let mut recent = Histogram::new_compact();
        for second in last.saturating_sub(RECENT_SECONDS - 1)..=last {
            let merged = state.second(second);
            recent.merge(&merged.latency);
            if second == last {
                live.last_second_requests = merged.requests;
                live.last_second_ko = merged.ko;
                live.last_second_p95 =
                    (!merged.latency.is_empty()).then(|| merged.latency.percentile(95.0));
            }
        }
        live.recent_p95 = (!recent.is_empty()).then(|| recent.percentile(95.0));
        live
    }

    fn push(&self, event: Event) {
        let shards = &self.inner.shards;
        let index = SHARD_INDEX.try_with(|i| *i).unwrap_or(0) % shards.len().max(1);
        let Some(shard) = shards.get(index) else {
            return;
        };
        let batch = {
            let mut data = shard.0.lock();
            if let Event::Request { ok, .. } = &event {
                data.requests = data.requests.saturating_add(1);
                if *ok {
                    data.ok = data.ok.saturating_add(1);
                } else {
                    data.ko = data.ko.saturating_add(1);
                }
            }
            data.events.push(event);
            (data.events.len() >= FLUSH_AT)
                .then(|| std::mem::replace(&mut data.events, Vec::with_capacity(FLUSH_AT)))
        };
        if let Some(batch) = batch {
            self.apply(batch);
        }
    }

    fn apply(&self, batch: Vec<Event>) {
        let mut state = self.inner.state.lock();
        for event in batch {
            state.apply(event);
        }
    }

    fn names(&self) -> Names<'_> {
        Names {
            requests: &self.inner.request_names,
            groups: &self.inner.group_names,
        }
    }

    /// Applies every shard's buffer; returns the running totals (requests, ok, ko).
    fn flush_all(&self) -> (u64, u64, u64) {
        let mut totals = (0u64, 0u64, 0u64);
        for shard in self.inner.shards.iter() {
            let batch = {
                let mut data = shard.0.lock();
                totals.0 = totals.0.saturating_add(data.requests);
                totals.1 = totals.1.saturating_add(data.ok);
                totals.2 = totals.2.saturating_add(data.ko);
                std::mem::take(&mut data.events)
            };
            if !batch.is_empty() {
                self.apply(batch);
            }
        }
        totals
    }
}
