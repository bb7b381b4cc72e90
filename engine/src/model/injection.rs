//! Injection profiles (how virtual users arrive) and throttling steps.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::DurationSpec;

/// One step of an injection profile. Steps run one after another.
///
/// Open steps describe arrivals (`nothing_for`, `at_once`, `ramp_users`,
/// `constant_users_per_sec`, `ramp_users_per_sec`, `stress_peak_users`); closed steps describe
/// a concurrency level that finished users are replaced to keep (`constant_concurrent_users`,
/// `ramp_concurrent_users`). A scenario uses one model or the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InjectionStep {
    /// No arrivals for a while (open), or no users at all (closed).
    NothingFor(DurationSpec),
    /// This many users at once.
    AtOnce(u64),
    /// `users` arrivals spread evenly over `during`.
    RampUsers {
        /// Number of users.
        users: u64,
        /// Time over which they arrive.
        during: DurationSpec,
    },
    /// A constant arrival rate.
    ConstantUsersPerSec {
        /// Users per second.
        rate: f64,
        /// How long.
        during: DurationSpec,
        /// Random (Poisson-like) instants instead of evenly spaced ones; the count is unchanged.
        #[serde(default)]
        randomized: bool,
    },
    /// An arrival rate changing linearly from `from` to `to`.
    RampUsersPerSec {
        /// Users per second at the start.
        from: f64,
        /// Users per second at the end.
        to: f64,
        /// How long.
        during: DurationSpec,
        /// Random instants instead of evenly spaced ones; the count is unchanged.
        #[serde(default)]
        randomized: bool,
    },
    /// `users` arrivals following a smooth step (a peak of arrivals in the middle of `during`).
    StressPeakUsers {
        /// Number of users.
        users: u64,
        /// Time over which they arrive.
        during: DurationSpec,
    },
    /// Keep `users` users running at once (closed model).
    ConstantConcurrentUsers {
        /// Concurrent users.
        users: u64,
        /// How long.
        during: DurationSpec,
    },
    /// Concurrency changing linearly from `from` to `to` (closed model).
    RampConcurrentUsers {
        /// Concurrent users at the start.
        from: u64,
        /// Concurrent users at the end.
        to: u64,
        /// How long.
        during: DurationSpec,
    },
}

impl InjectionStep {
    /// Whether the step belongs to the closed model.
    pub fn is_closed(&self) -> bool {
        matches!(
            self,
            InjectionStep::ConstantConcurrentUsers { .. }
                | InjectionStep::RampConcurrentUsers { .. }
        )
    }

    /// Whether the step belongs to the open model (`nothing_for` fits both).
    pub fn is_open(&self) -> bool {
        !self.is_closed() && !matches!(self, InjectionStep::NothingFor(_))
    }

    /// How long the step lasts.
    pub fn duration(&self) -> std::time::Duration {
        match self {
            InjectionStep::NothingFor(d) => d.get(),
            InjectionStep::AtOnce(_) => std::time::Duration::ZERO,
            InjectionStep::RampUsers { during, .. }
            | InjectionStep::ConstantUsersPerSec { during, .. }
            | InjectionStep::RampUsersPerSec { during, .. }
            | InjectionStep::StressPeakUsers { during, .. }
            | InjectionStep::ConstantConcurrentUsers { during, .. }
            | InjectionStep::RampConcurrentUsers { during, .. } => during.get(),
        }
    }
}

/// One step of a throttle profile (a cap on requests per second, Gatling's `throttle`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ThrottleStep {
    /// Move the cap linearly to `target` requests/s over `in`.
    ReachRps {
        /// Requests per second reached at the end of the step.
        target: f64,
        /// Time taken to get there.
        #[serde(rename = "in")]
        within: DurationSpec,
    },
    /// Keep the current cap for a while.
    HoldFor(DurationSpec),
    /// Set the cap at once.
    JumpToRps(f64),
}
