//! Where a run stands on each scenario's schedule: what lay before its start offset and what it
//! has run since. A distributed worker sends this with every
//! delta ([`ScenarioPosition`]), so the masters can account for every planned arrival of a
//! task across its attempts: sent by one of them, skipped in a gap between two, or not
//! reported.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::schedule::ScenarioSchedule;
use crate::wire::ScenarioPosition;
use crate::Segment;

use super::plan::Plan;

/// Per-scenario counters of one run.
#[derive(Debug)]
pub(crate) struct Positions {
    scenarios: Vec<Counter>,
}

#[derive(Debug)]
struct Counter {
    /// Users started (open model: arrivals sent).
    started: AtomicU64,
    /// Where the scenario's own timeline starts on the plan's.
    begin: Duration,
    /// The run's offset on the scenario's timeline.
    from: Duration,
}

impl Positions {
    /// Counters for `plan` run from `from` (on the plan's timeline); `begins` gives where each
    /// scenario's timeline starts on the plan's.
    pub(crate) fn new(plan: &Plan, begins: &[Duration], from: Duration) -> Positions {
        let scenarios = plan
            .scenarios
            .iter()
            .zip(begins)
            .map(|(_, begin)| Counter {
                started: AtomicU64::new(0),
                begin: *begin,
                from: from.saturating_sub(*begin),
            })
            .collect();
        Positions { scenarios }
    }

    /// A user of `scenario` started.
    pub(crate) fn user_started(&self, scenario: usize) {
        self.scenarios[scenario]
            .started
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Users started in `scenario`.
    pub(crate) fn started(&self, scenario: usize) -> u64 {
        self.scenarios[scenario].started.load(Ordering::Relaxed)
    }

    /// Every scenario's position when the run has reached `elapsed` on the plan's timeline (a
    /// closed model's share of its schedule is what lies between its offset and `elapsed`).
    pub(crate) fn snapshot(
        &self,
        plan: &Plan,
        segment: Segment,
        elapsed: Duration,
    ) -> Vec<ScenarioPosition> {
        plan.scenarios
            .iter()
            .zip(&self.scenarios)
            .map(|(s, c)| match &s.schedule {
                ScenarioSchedule::Open(open) => ScenarioPosition {
                    open: true,
                    planned: open.users(segment),
                    before: open.users_before(segment, c.from),
                    run: c.started.load(Ordering::Relaxed),
                },
                ScenarioSchedule::Closed(closed) => {
                    let now = elapsed.saturating_sub(c.begin);
                    let end = closed.duration();
                    ScenarioPosition {
                        open: false,
                        planned: closed.user_ms_between(segment, Duration::ZERO, end),
                        before: closed.user_ms_between(segment, Duration::ZERO, c.from),
                        run: closed.user_ms_between(segment, c.from, now),
                    }
                }
            })
            .collect()
    }
}
