//! Metrics: exact, mergeable results of a run.
//!
//! * [`Histogram`]: HDR latency histograms (µs, 3 significant digits, 1 µs … 1 h) whose merges
//!   are exact: percentiles across workers are computed from merged bucket counts, never averaged;
//! * [`RunStats`] and its parts ([`RequestStats`], [`SecondStats`], [`ErrorSample`]): the result
//!   of a run or of a part of it (worker, segment, heartbeat delta), all mergeable;
//! * [`Recorder`]: what the runtime calls on the hot path, sharded by thread, with cumulative
//!   [`Recorder::snapshot`]s, [`Recorder::take_delta`] for heartbeats and [`Recorder::live`] for
//!   the console;
//! * [`evaluate`]: checks the simulation's assertions against a [`RunStats`].
//!
//! Invariant: every request is counted exactly once, whatever the path (snapshot, sum of deltas,
//! merge of workers).

mod aggregate;
mod assertions;
mod encoding;
mod histogram;
mod recorder;
mod stats;

pub use aggregate::UNKNOWN_ERROR;
pub use assertions::{evaluate, AssertionOutcome};
pub use histogram::{
    Bucket, Entries, Histogram, DEFAULT_BUCKETS, HIGHEST_MICROS, LOWEST_MICROS, SIGNIFICANT_DIGITS,
};
pub use recorder::{GroupId, LiveStats, Recorder, RequestId};
pub use stats::{
    add_counts, ErrorSample, RequestStats, RunStats, SecondStats, MAX_ERROR_MESSAGES,
    MAX_ERROR_SAMPLES, MAX_SAMPLES_PER_ERROR, OTHER_ERRORS,
};

#[cfg(test)]
mod tests;
