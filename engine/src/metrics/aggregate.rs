//! The shared aggregate behind the [`Recorder`](super::Recorder): raw events applied into
//! per-name and per-second statistics, split into *emitted* (everything already returned by
//! deltas) and *pending* (since the last delta), so that snapshots and deltas coexist.

use std::collections::BTreeMap;

use super::stats::{add_error, ErrorSample, RequestStats, RunStats, SecondStats};

/// The error message counted for a failed request recorded without one.
pub const UNKNOWN_ERROR: &str = "request failed";

/// One raw recorded event, buffered in a shard until applied.
pub(super) enum Event {
    Request {
        id: u32,
        /// Index of the user's scenario, when known.
        scenario: Option<u32>,
        /// Second in which the response completed.
        second: u64,
        /// Second in which the request was (intended to be) sent.
        sent_second: u64,
        micros: u64,
        ok: bool,
        error: Option<Box<str>>,
    },
    Group {
        id: u32,
        micros: u64,
        ok: bool,
    },
    UserError {
        message: Box<str>,
    },
    UserStarted {
        second: u64,
    },
    UserFinished {
        second: u64,
    },
}

/// The shared aggregate: emitted (merge of all deltas) and pending (since the last delta).
#[derive(Default)]
pub(super) struct State {
    pending: Pending,
    emitted: RunStats,
    /// Active-user samples per second: the maximum, and what deltas already carried.
    active: BTreeMap<u64, Active>,
}

#[derive(Default, Clone, Copy)]
struct Active {
    max: u64,
    emitted: u64,
}

/// Everything recorded since the last delta.
#[derive(Default)]
struct Pending {
    /// By request id (one slot per name given to `new`).
    requests: Vec<RequestStats>,
    /// By group id.
    groups: Vec<RequestStats>,
    /// Ids outside the names given to `new` (a caller bug; still counted).
    unknown_requests: BTreeMap<u32, RequestStats>,
    unknown_groups: BTreeMap<u32, RequestStats>,
    errors: BTreeMap<String, u64>,
    seconds: BTreeMap<u64, SecondStats>,
    users_started: u64,
    users_finished: u64,
    scenario_requests: Vec<u64>,
}

fn slot<'a>(
    known: &'a mut [RequestStats],
    unknown: &'a mut BTreeMap<u32, RequestStats>,
    id: u32,
) -> &'a mut RequestStats {
    match usize::try_from(id).ok().and_then(|i| known.get_mut(i)) {
        Some(stats) => stats,
        None => unknown.entry(id).or_default(),
    }
}

impl Pending {
    fn second(&mut self, second: u64) -> &mut SecondStats {
        self.seconds
            .entry(second)
            .or_insert_with(|| SecondStats::new(second))
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Request {
                id,
                scenario,
                second,
                sent_second,
                micros,
                ok,
                error,
            } => {
                slot(&mut self.requests, &mut self.unknown_requests, id).record_micros(micros, ok);
                if let Some(i) = scenario.and_then(|s| usize::try_from(s).ok()) {
                    if self.scenario_requests.len() <= i {
                        self.scenario_requests.resize(i + 1, 0);
                    }
                    self.scenario_requests[i] = self.scenario_requests[i].saturating_add(1);
                }
                if !ok {
                    add_error(
                        &mut self.errors,
                        error.as_deref().unwrap_or(UNKNOWN_ERROR),
                        1,
                    );
                }
                let sent = self.second(sent_second);
                sent.requests = sent.requests.saturating_add(1);
                let s = self.second(second);
                if ok {
                    s.ok = s.ok.saturating_add(1);
                } else {
                    s.ko = s.ko.saturating_add(1);
                }
                s.latency.record_micros(micros);
            }
            Event::Group { id, micros, ok } => {
                slot(&mut self.groups, &mut self.unknown_groups, id).record_micros(micros, ok);
            }
            Event::UserError { message } => add_error(&mut self.errors, &message, 1),
            Event::UserStarted { second } => {
                self.users_started = self.users_started.saturating_add(1);
                let s = self.second(second);
                s.users_started = s.users_started.saturating_add(1);
            }
            Event::UserFinished { second } => {
                self.users_finished = self.users_finished.saturating_add(1);
                let s = self.second(second);
                s.users_finished = s.users_finished.saturating_add(1);
            }
        }
    }
}

/// Takes (`take`) or copies a value.
fn grab<T: Clone + Default>(value: &mut T, take: bool) -> T {
    if take {
        std::mem::take(value)
    } else {
        value.clone()
    }
}

/// Adds `stats` under `name` (names may repeat across ids).
fn add_named(map: &mut BTreeMap<String, RequestStats>, name: String, stats: RequestStats) {
    if stats.count() == 0 && stats.latency.is_empty() {
        return;
    }
    match map.get_mut(&name) {
        Some(existing) => existing.merge(&stats),
        None => {
            map.insert(name, stats);
        }
    }
}

/// The request and group names of a recorder, indexed by id.
pub(super) struct Names<'a> {
    pub(super) requests: &'a [String],
    pub(super) groups: &'a [String],
}

fn name(names: &[String], id: u32, kind: &str) -> String {
    usize::try_from(id)
        .ok()
        .and_then(|i| names.get(i))
        .cloned()
        .unwrap_or_else(|| format!("{kind} #{id}"))
}

impl State {
    /// An empty aggregate with one slot per request and group name.
    pub(super) fn new(requests: usize, groups: usize) -> State {
        State {
            pending: Pending {
                requests: vec![RequestStats::default(); requests],
                groups: vec![RequestStats::default(); groups],
                ..Pending::default()
            },
            ..State::default()
        }
    }

    /// Applies one event to the pending part.
    pub(super) fn apply(&mut self, event: Event) {
        self.pending.apply(event);
    }

    /// Keeps the largest active-users sample of `second`.
    pub(super) fn sample_active(&mut self, second: u64, gauge: u64) {
        let active = self.active.entry(second).or_default();
        active.max = active.max.max(gauge);
    }

    /// Everything: emitted merged with a copy of pending (and of the pending `samples`).
    pub(super) fn snapshot(
        &mut self,
        names: &Names<'_>,
        samples: &mut Vec<ErrorSample>,
    ) -> RunStats {
        let pending = self.pending_stats(names, samples, false);
        let mut out = self.emitted.clone();
        out.merge(&pending);
        out
    }

    /// Pending (and the pending `samples`), moved out and merged into emitted.
    pub(super) fn take_delta(
        &mut self,
        names: &Names<'_>,
        samples: &mut Vec<ErrorSample>,
    ) -> RunStats {
        let delta = self.pending_stats(names, samples, true);
        self.emitted.merge(&delta);
        delta
    }

    /// What is known of `second`, emitted and pending together.
    pub(super) fn second(&self, second: u64) -> SecondStats {
        let mut merged = SecondStats::new(second);
        if let Ok(i) = self
            .emitted
            .series
            .binary_search_by_key(&second, |s| s.second)
        {
            merged.merge(&self.emitted.series[i]);
        }
        if let Some(s) = self.pending.seconds.get(&second) {
            merged.merge(s);
        }
        merged
    }

    /// Pending data as a `RunStats`: moved out and marked emitted (`take`) or copied.
    fn pending_stats(
        &mut self,
        names: &Names<'_>,
        samples: &mut Vec<ErrorSample>,
        take: bool,
    ) -> RunStats {
        let mut out = RunStats::default();
        let pending = &mut self.pending;
        for (i, stats) in pending.requests.iter_mut().enumerate() {
            let name = name(
                names.requests,
                u32::try_from(i).unwrap_or(u32::MAX),
                "request",
            );
            add_named(&mut out.requests, name, grab(stats, take));
        }
        for (&id, stats) in pending.unknown_requests.iter_mut() {
            add_named(
                &mut out.requests,
                name(names.requests, id, "request"),
                grab(stats, take),
            );
        }
        for (i, stats) in pending.groups.iter_mut().enumerate() {
            let name = name(names.groups, u32::try_from(i).unwrap_or(u32::MAX), "group");
            add_named(&mut out.groups, name, grab(stats, take));
        }
        for (&id, stats) in pending.unknown_groups.iter_mut() {
            add_named(
                &mut out.groups,
                name(names.groups, id, "group"),
                grab(stats, take),
            );
        }
        if take {
            pending.unknown_requests.clear();
            pending.unknown_groups.clear();
        }
        out.errors = grab(&mut pending.errors, take);
        let mut seconds = grab(&mut pending.seconds, take);
        for (&second, active) in self.active.iter_mut() {
            if active.max > active.emitted {
                let entry = seconds
                    .entry(second)
                    .or_insert_with(|| SecondStats::new(second));
                entry.active_users = entry
                    .active_users
                    .saturating_add(active.max - active.emitted);
                if take {
                    active.emitted = active.max;
                }
            }
        }
        out.series = seconds.into_values().filter(|s| !s.is_empty()).collect();
        out.users_started = grab(&mut pending.users_started, take);
        out.users_finished = grab(&mut pending.users_finished, take);
        out.scenario_requests = grab(&mut pending.scenario_requests, take);
        out.error_samples = grab(samples, take);
        out.error_samples.sort();
        out
    }
}
