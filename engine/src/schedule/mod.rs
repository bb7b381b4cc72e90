//! Injection schedules: injection profiles compiled into exact, deterministic timetables before
//! the run (the way Goose and Gatling compile load shapes into timed steps).
//!
//! - [`OpenSchedule`] (open model): the instant of every arrival, numbered in time order.
//! - [`ClosedSchedule`] (closed model): the target number of concurrent users over time.
//! - [`ThrottlePlan`] and [`Throttle`]: a request-rate cap over time and its runtime limiter.
//!
//! Distributed runs split a simulation into segments ([`Segment`]): segment `i` of `N` owns the
//! arrivals (and closed-model user slots) whose global index `k` has `k % N == i`. Schedules are
//! pure functions of the profile and the seed, so every segment computes the same instants and
//! the `N` segment schedules together are exactly the whole one. Every query takes a `from`
//! offset, so a task reassigned mid-run resumes where its predecessor stopped.

mod closed;
mod curve;
mod open;
mod throttle;

#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::model::InjectionStep;
use crate::Segment;

pub use closed::{ClosedSchedule, LevelChange, LevelChanges};
pub use open::{Arrival, Arrivals, OpenSchedule};
pub use throttle::{Throttle, ThrottlePlan, DEFAULT_BURST};

/// Most users a profile may plan (open: arrivals in total; closed: concurrent users).
pub const MAX_USERS: u64 = 1_000_000_000;

/// The compiled injection profile of one scenario.
#[derive(Debug, Clone)]
pub enum ScenarioSchedule {
    /// Users arrive at planned instants.
    Open(OpenSchedule),
    /// A target number of users is kept running.
    Closed(ClosedSchedule),
}

impl ScenarioSchedule {
    /// Compiles a scenario's injection steps: closed when any step is `constant_concurrent_users`
    /// or `ramp_concurrent_users`, open otherwise (`nothing_for` fits both). `seed` fixes the
    /// instants of randomized open steps.
    ///
    /// Fails when there are no steps, when open and closed steps are mixed, or when a step is
    /// invalid (see [`OpenSchedule::new`] and [`ClosedSchedule::new`]).
    pub fn from_steps(steps: &[InjectionStep], seed: u64) -> Result<ScenarioSchedule, String> {
        if steps.is_empty() {
            return Err("a scenario's injection needs at least one step".to_string());
        }
        let closed = steps.iter().any(InjectionStep::is_closed);
        if closed && steps.iter().any(InjectionStep::is_open) {
            return Err(
                "a scenario's injection uses either open steps (nothing_for, at_once, \
                        ramp_users, constant_users_per_sec, ramp_users_per_sec, \
                        stress_peak_users) or closed steps (nothing_for, \
                        constant_concurrent_users, ramp_concurrent_users), not both"
                    .to_string(),
            );
        }
        if closed {
            ClosedSchedule::new(steps).map(ScenarioSchedule::Closed)
        } else {
            OpenSchedule::new(steps, seed).map(ScenarioSchedule::Open)
        }
    }

    /// End of the last step, from the scenario's start.
    pub fn duration(&self) -> Duration {
        match self {
            ScenarioSchedule::Open(open) => open.duration(),
            ScenarioSchedule::Closed(closed) => closed.duration(),
        }
    }

    /// Number of users `segment` starts (open model only; a closed model's count depends on how
    /// long users take).
    pub fn planned_users(&self, segment: Segment) -> Option<u64> {
        match self {
            ScenarioSchedule::Open(open) => Some(open.users(segment)),
            ScenarioSchedule::Closed(_) => None,
        }
    }
}

/// The name of a step as written in a simulation file, for error messages.
fn step_label(step: &InjectionStep) -> &'static str {
    match step {
        InjectionStep::NothingFor(_) => "nothing_for",
        InjectionStep::AtOnce(_) => "at_once",
        InjectionStep::RampUsers { .. } => "ramp_users",
        InjectionStep::ConstantUsersPerSec { .. } => "constant_users_per_sec",
        InjectionStep::RampUsersPerSec { .. } => "ramp_users_per_sec",
        InjectionStep::StressPeakUsers { .. } => "stress_peak_users",
        InjectionStep::ConstantConcurrentUsers { .. } => "constant_concurrent_users",
        InjectionStep::RampConcurrentUsers { .. } => "ramp_concurrent_users",
    }
}

/// A duration in whole nanoseconds, when it fits in a `u64`.
fn nanos_of(d: Duration) -> Option<u64> {
    u64::try_from(d.as_nanos()).ok()
}
