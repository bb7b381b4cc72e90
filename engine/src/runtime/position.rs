//! Where a run stands on each scenario's schedule: what lay before its start offset, what it
//! has run since and how far it reached. A distributed worker sends this with every delta
//! ([`ScenarioPosition`]), so the masters can account for every planned arrival of a task
//! across its attempts: sent by one of them, skipped in a gap between two, refused while an
//! attempt's lease had run out, or not reported.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::schedule::ScenarioSchedule;
use crate::wire::ScenarioPosition;
use crate::Segment;

use super::plan::Plan;

/// Per-scenario counters of one run.
#[derive(Debug)]
pub(crate) struct Positions {
    scenarios: Vec<Counter>,
    /// The plan's t = 0.
    start: Instant,
    /// When (milliseconds on the plan's timeline) the gate first refused something: a closed
    /// model's schedule is not run past it. `u64::MAX` while it has not.
    refused_at_ms: AtomicU64,
}

#[derive(Debug)]
struct Counter {
    /// Users started (open model: arrivals sent).
    started: AtomicU64,
    /// Open model: arrivals offered up to and including the last one started (refused ones
    /// before it are holes in the run).
    reach: AtomicU64,
    /// Where the scenario's own timeline starts on the plan's.
    begin: Duration,
    /// The run's offset on the scenario's timeline.
    from: Duration,
}

impl Positions {
    /// Counters for `plan` run from `from` (on the plan's timeline, whose t = 0 is `start`);
    /// `begins` gives where each scenario's timeline starts on the plan's.
    pub(crate) fn new(
        plan: &Plan,
        begins: &[Duration],
        from: Duration,
        start: Instant,
    ) -> Positions {
        let scenarios = plan
            .scenarios
            .iter()
            .zip(begins)
            .map(|(_, begin)| Counter {
                started: AtomicU64::new(0),
                reach: AtomicU64::new(0),
                begin: *begin,
                from: from.saturating_sub(*begin),
            })
            .collect();
        Positions {
            scenarios,
            start,
            refused_at_ms: AtomicU64::new(u64::MAX),
        }
    }

    /// A user of `scenario` started.
    pub(crate) fn user_started(&self, scenario: usize) {
        self.scenarios[scenario]
            .started
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The open driver of `scenario` started the `offered`-th arrival it was offered.
    pub(crate) fn reached(&self, scenario: usize, offered: u64) {
        self.scenarios[scenario]
            .reach
            .fetch_max(offered, Ordering::Relaxed);
    }

    /// The gate refused an arrival or a request (the lease ran out).
    pub(crate) fn refused(&self) {
        let at = self.start.elapsed().as_millis() as u64;
        self.refused_at_ms.fetch_min(at, Ordering::Relaxed);
    }

    /// Users started in `scenario`.
    pub(crate) fn started(&self, scenario: usize) -> u64 {
        self.scenarios[scenario].started.load(Ordering::Relaxed)
    }

    /// Every scenario's position once the run has reached `elapsed` on the plan's timeline (a
    /// closed model's share of its schedule is what lies between its offset and `elapsed`, or
    /// the first refusal of the gate if that came first).
    pub(crate) fn snapshot(
        &self,
        plan: &Plan,
        segment: Segment,
        elapsed: Duration,
    ) -> Vec<ScenarioPosition> {
        let refused_at = Duration::from_millis(self.refused_at_ms.load(Ordering::Relaxed));
        plan.scenarios
            .iter()
            .zip(&self.scenarios)
            .map(|(s, c)| match &s.schedule {
                ScenarioSchedule::Open(open) => {
                    let before = open.users_before(segment, c.from);
                    ScenarioPosition {
                        open: true,
                        planned: open.users(segment),
                        before,
                        run: c.started.load(Ordering::Relaxed),
                        reached: before + c.reach.load(Ordering::Relaxed),
                    }
                }
                ScenarioSchedule::Closed(closed) => {
                    let now = elapsed.min(refused_at).saturating_sub(c.begin);
                    let before = closed.user_ms_between(segment, Duration::ZERO, c.from);
                    let run = closed.user_ms_between(segment, c.from, now);
                    ScenarioPosition {
                        open: false,
                        planned: closed.user_ms_between(segment, Duration::ZERO, closed.duration()),
                        before,
                        run,
                        reached: before + run,
                    }
                }
            })
            .collect()
    }
}
