//! Tests of the schedules: exact instants and counts of every step, errors, segment splits and
//! resumption (unit and property tests), and the throttle under tokio's paused clock.

mod closed;
mod open;
mod props;
mod throttle;

use std::time::Duration;

use crate::model::DurationSpec;

/// A duration of `ms` milliseconds, as written in a simulation.
fn ms(ms: u64) -> DurationSpec {
    DurationSpec::from_millis(ms)
}

/// A duration of `s` seconds, as written in a simulation.
fn secs(s: u64) -> DurationSpec {
    DurationSpec::from_secs(s)
}

/// `Duration` from milliseconds, for expected instants.
fn at_ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}
