//! Closed model: a target number of concurrent users over time; a user that finishes is
//! replaced while the target allows it.
//!
//! A [`ClosedSchedule`] compiles `constant_concurrent_users`, `ramp_concurrent_users` and
//! `nothing_for` (0 users) into a piecewise target concurrency `c(t)`; steps run back to back and
//! `c(t) = 0` from the end of the last one. A ramp from `a` to `b` over `d` moves by whole users
//! at the instants where the line `a + (b − a)·τ/d` crosses an integer: at `τ` (integer
//! nanoseconds into the step) the level is `a + ⌊(b − a)·τ/d⌋` going up and
//! `a − ⌊(a − b)·τ/d⌋` going down, so it equals `m` from the first nanosecond the line reaches
//! `m`. The ramp's final value `b` belongs to the next instant, the start of the next step.
//!
//! Segment `i` of `N` owns the user slots `j < c(t)` with `j % N == i`, so its level is
//! [`Segment::share_of`]`(c(t))` and the segments' levels always add up to `c(t)`.

use std::iter::FusedIterator;
use std::sync::Arc;
use std::time::Duration;

use crate::model::InjectionStep;
use crate::Segment;

use super::{nanos_of, step_label, MAX_USERS};

/// A segment's concurrency level from an instant on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelChange {
    /// Instant of the change, from the scenario's start.
    pub at: Duration,
    /// Number of concurrent users the segment keeps from `at` on.
    pub level: u64,
}

/// The compiled concurrency profile of a closed-model scenario (cheap to clone).
#[derive(Debug, Clone)]
pub struct ClosedSchedule {
    plan: Arc<Plan>,
}

#[derive(Debug)]
struct Plan {
    /// Steps of non-zero length, back to back from 0.
    steps: Vec<LevelStep>,
    end: u64,
}

/// A step of non-zero length `len` (nanoseconds) moving linearly from `from` to `to` users.
#[derive(Debug, Clone, Copy)]
struct LevelStep {
    start: u64,
    len: u64,
    from: u64,
    to: u64,
}

impl LevelStep {
    fn diff(self) -> u64 {
        self.from.abs_diff(self.to)
    }

    /// How many integers the line has crossed `tau` nanoseconds into the step (`tau < len`).
    fn crossings(self, tau: u64) -> u64 {
        let done = u128::from(self.diff()) * u128::from(tau) / u128::from(self.len.max(1));
        u64::try_from(done).unwrap_or(u64::MAX).min(self.diff())
    }

    /// Target concurrency `tau` nanoseconds into the step.
    fn level(self, tau: u64) -> u64 {
        let done = self.crossings(tau);
        if self.to >= self.from {
            self.from + done
        } else {
            self.from - done
        }
    }

    /// Highest level reached during the step.
    fn max_level(self) -> u64 {
        self.level(self.len - 1).max(self.from)
    }

    /// First nanosecond at which the line has crossed `e` integers (`1 <= e <= diff`).
    fn crossing_at(self, e: u64) -> u64 {
        let diff = u128::from(self.diff().max(1));
        let nanos = (u128::from(e) * u128::from(self.len)).div_ceil(diff);
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    /// After `tau`, the next instant within the step where `segment`'s share changes, with the
    /// whole level at that instant.
    fn next_change(self, tau: u64, segment: Segment) -> Option<(u64, u64)> {
        let diff = self.diff();
        if diff == 0 {
            return None;
        }
        let n = u64::from(segment.count.max(1));
        let i = u64::from(segment.index) % n;
        // Crossing `e` moves slot `from + e − 1` (going up) or `from − e` (going down) in or
        // out; the segment's share changes only for the slots it owns.
        let residue = if self.to > self.from {
            (i + 1 + n - self.from % n) % n
        } else {
            (self.from % n + n - i) % n
        };
        let first = self.crossings(tau).checked_add(1)?;
        let e = first.checked_add((residue + n - first % n) % n)?;
        if e >= diff {
            return None;
        }
        let at = self.crossing_at(e);
        (at < self.len).then(|| (at, self.level(at)))
    }
}

impl ClosedSchedule {
    /// Compiles closed injection steps (`nothing_for` included).
    ///
    /// Fails on an open-model step, more than 10⁹ concurrent users, or a total duration beyond
    /// `u64::MAX` nanoseconds.
    pub fn new(steps: &[InjectionStep]) -> Result<ClosedSchedule, String> {
        let mut plans = Vec::with_capacity(steps.len());
        let mut start = 0u64;
        for (idx, step) in steps.iter().enumerate() {
            let what = || format!("injection step {} (`{}`)", idx + 1, step_label(step));
            let (from, to) = match step {
                InjectionStep::NothingFor(_) => (0, 0),
                InjectionStep::ConstantConcurrentUsers { users, .. } => (*users, *users),
                InjectionStep::RampConcurrentUsers { from, to, .. } => (*from, *to),
                _ => {
                    return Err(format!(
                        "{}: an open-model step cannot appear in a closed injection profile",
                        what()
                    ));
                }
            };
            if from.max(to) > MAX_USERS {
                return Err(format!(
                    "{}: more than {MAX_USERS} concurrent users",
                    what()
                ));
            }
            let len = nanos_of(step.duration()).ok_or_else(|| format!("{}: too long", what()))?;
            let end = start.checked_add(len).ok_or_else(|| {
                format!(
                    "{}: the profile lasts more than {} s",
                    what(),
                    u64::MAX / 1_000_000_000
                )
            })?;
            if len > 0 {
                plans.push(LevelStep {
                    start,
                    len,
                    from,
                    to,
                });
            }
            start = end;
        }
        Ok(ClosedSchedule {
            plan: Arc::new(Plan {
                steps: plans,
                end: start,
            }),
        })
    }

    /// End of the last step, from the scenario's start; the level is 0 from then on.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.plan.end)
    }

    /// The step in effect at `t` (nanoseconds) and the offset into it.
    fn step_at(&self, t: u64) -> Option<(usize, u64)> {
        let idx = self.plan.steps.partition_point(|s| s.start + s.len <= t);
        let step = self.plan.steps.get(idx)?;
        (step.start <= t).then(|| (idx, t - step.start))
    }

    /// Target concurrency of the whole simulation at `t` (nanoseconds).
    fn whole_level(&self, t: u64) -> u64 {
        self.step_at(t)
            .map_or(0, |(idx, tau)| self.plan.steps[idx].level(tau))
    }

    /// Number of concurrent users `segment` keeps at `t`: its share of `c(t)`.
    pub fn level_at(&self, segment: Segment, t: Duration) -> u64 {
        segment.share_of(self.whole_level(clamp_nanos(t)))
    }

    /// The highest level `segment` ever keeps.
    pub fn max_level(&self, segment: Segment) -> u64 {
        let max = self
            .plan
            .steps
            .iter()
            .map(|s| s.max_level())
            .max()
            .unwrap_or(0);
        segment.share_of(max)
    }

    /// `segment`'s planned user-milliseconds between `from` and `to` (the level integrated over
    /// that window): how much of the schedule a run covering the window runs, or a gap skips.
    pub fn user_ms_between(&self, segment: Segment, from: Duration, to: Duration) -> u64 {
        let to = to.min(self.duration());
        if to <= from {
            return 0;
        }
        let mut total: u128 = 0;
        let mut changes = self.changes(segment, from).peekable();
        while let Some(c) = changes.next() {
            if c.at >= to {
                break;
            }
            let until = changes.peek().map_or(to, |n| n.at.min(to));
            total += u128::from(c.level) * (until - c.at).as_millis();
        }
        u64::try_from(total).unwrap_or(u64::MAX)
    }

    /// `segment`'s level from `from` on, lazily: the first item is the level at `from` (at
    /// `from`), each further item a change of the level at a later instant (instants strictly
    /// increase and consecutive levels differ), and the last item has level 0 (at
    /// [`duration`](Self::duration), unless the level was already 0 by then).
    pub fn changes(&self, segment: Segment, from: Duration) -> LevelChanges {
        let t = clamp_nanos(from);
        let (step, tau) = self.step_at(t).unwrap_or((self.plan.steps.len(), 0));
        let level = segment.share_of(self.whole_level(t));
        LevelChanges {
            plan: Arc::clone(&self.plan),
            segment,
            step,
            tau,
            first: Some(LevelChange { at: from, level }),
            last: level,
            done: false,
        }
    }
}

fn clamp_nanos(t: Duration) -> u64 {
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
}

/// Iterator over a segment's level changes (see [`ClosedSchedule::changes`]); `'static` and
/// `Send`.
#[derive(Debug, Clone)]
pub struct LevelChanges {
    plan: Arc<Plan>,
    segment: Segment,
    /// Current step, and the offset into it of the last instant reported.
    step: usize,
    tau: u64,
    first: Option<LevelChange>,
    last: u64,
    done: bool,
}

impl Iterator for LevelChanges {
    type Item = LevelChange;

    fn next(&mut self) -> Option<LevelChange> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        while !self.done {
            let Some(step) = self.plan.steps.get(self.step).copied() else {
                self.done = true;
                if self.last != 0 {
                    self.last = 0;
                    return Some(LevelChange {
                        at: Duration::from_nanos(self.plan.end),
                        level: 0,
                    });
                }
                return None;
            };
            if let Some((tau, level)) = step.next_change(self.tau, self.segment) {
                self.tau = tau;
                let level = self.segment.share_of(level);
                if level != self.last {
                    self.last = level;
                    return Some(LevelChange {
                        at: Duration::from_nanos(step.start + tau),
                        level,
                    });
                }
                continue;
            }
            self.step += 1;
            self.tau = 0;
            if let Some(next) = self.plan.steps.get(self.step) {
                let level = self.segment.share_of(next.from);
                if level != self.last {
                    self.last = level;
                    return Some(LevelChange {
                        at: Duration::from_nanos(next.start),
                        level,
                    });
                }
            }
        }
        None
    }
}

impl FusedIterator for LevelChanges {}
