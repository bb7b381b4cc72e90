//! Open model: users arrive at planned instants, whatever the system under test does.
//!
//! An [`OpenSchedule`] compiles the open injection steps of a scenario into a deterministic list
//! of arrivals, numbered `0..total_users()` in time order, without materialising it: every
//! instant is a formula of the step and the arrival's number. The rules, with a step starting at
//! `s` (steps run back to back) and lasting `d`:
//!
//! | step | arrivals | instant of arrival `j` (0-based within the step) |
//! |---|---|---|
//! | `nothing_for(d)` | 0 | — |
//! | `at_once(n)` | `n` | `s` |
//! | `ramp_users{n, d}` | `n` | `s + j·d/n` (exact integer nanoseconds) |
//! | `constant_users_per_sec{r, d}` | `round(r·d)` | `s + j/r` |
//! | `ramp_users_per_sec{a, b, d}` | `round((a+b)/2·d)` | `s + t` where `∫₀ᵗ rate = j`, `rate` linear from `a` to `b` |
//! | `stress_peak_users{n, d}` | `n` | `s + d·x` where `3x² − 2x³ = j/n` |
//!
//! With `randomized: true` the count is unchanged and the instants become `s + t` where
//! `∫₀ᵗ rate = U(j)·∫₀ᵈ rate`, `U(0) ≤ U(1) ≤ …` being the sorted sample of `n` uniforms drawn
//! from a generator seeded with the simulation seed and the step's position: a constant rate
//! gives uniformly spread instants, a ramp keeps its shape. Instants are rounded to the
//! nanosecond and never leave the step's window, so arrival numbers are in time order.
//!
//! Segment `i` of `N` owns the arrivals whose number `k` has `k % N == i` ([`Segment::owns`]);
//! every segment computes the same instants, so the segments' arrivals together are exactly the
//! whole schedule.

use std::iter::FusedIterator;
use std::sync::Arc;
use std::time::Duration;

use crate::model::InjectionStep;
use crate::Segment;

use super::curve::{
    linear_rate_time, secs_to_nanos, smoothstep_inverse, SortedUniforms, SplitMix64, NANOS_PER_SEC,
};
use super::{nanos_of, step_label, MAX_USERS};

/// One planned arrival of a virtual user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arrival {
    /// Global arrival number `k` in the whole schedule (0-based, in time order).
    pub index: u64,
    /// Instant of the arrival, from the scenario's start.
    pub at: Duration,
}

/// The compiled arrival schedule of an open-model scenario (cheap to clone).
#[derive(Debug, Clone)]
pub struct OpenSchedule {
    plan: Arc<Plan>,
}

#[derive(Debug)]
struct Plan {
    steps: Vec<StepPlan>,
    total: u64,
    end: u64,
}

/// One step, with its place in time (nanoseconds) and in the numbering.
#[derive(Debug, Clone)]
struct StepPlan {
    start: u64,
    len: u64,
    first: u64,
    count: u64,
    shape: Shape,
}

#[derive(Debug, Clone)]
enum Shape {
    /// Every arrival at the step's start.
    AtOnce,
    /// Arrival `j` at `j·len/count`.
    Even,
    /// Arrival `j` where the integral of a rate moving linearly from `from` to `to` reaches `j`.
    Rate { from: f64, to: f64 },
    /// Arrival `j` at `len·x` where `smoothstep(x) = j/count`.
    Peak,
    /// Sorted uniform draws mapped through the integral of a linear rate.
    Random { from: f64, to: f64, rng: SplitMix64 },
}

impl StepPlan {
    fn secs(&self) -> f64 {
        self.len as f64 / NANOS_PER_SEC
    }

    fn is_random(&self) -> bool {
        matches!(self.shape, Shape::Random { .. })
    }

    /// Offset (nanoseconds from the step's start) of local arrival `j` of a non-random step.
    fn fixed_offset(&self, j: u64) -> u64 {
        match &self.shape {
            Shape::AtOnce => 0,
            Shape::Even => {
                if self.count == 0 {
                    0
                } else {
                    let nanos = u128::from(j) * u128::from(self.len) / u128::from(self.count);
                    u64::try_from(nanos).unwrap_or(self.len).min(self.len)
                }
            }
            Shape::Rate { from, to } => {
                let t = linear_rate_time(*from, *to, self.secs(), j as f64);
                secs_to_nanos(t, self.len)
            }
            Shape::Peak => {
                let x = smoothstep_inverse(j as f64 / self.count.max(1) as f64);
                secs_to_nanos(x * self.secs(), self.len)
            }
            Shape::Random { .. } => self.len,
        }
    }

    /// Offset of a random arrival whose sorted uniform is `u`.
    fn random_offset(&self, u: f64) -> u64 {
        match &self.shape {
            Shape::Random { from, to, .. } => {
                let secs = self.secs();
                let area = (from + to) / 2.0 * secs;
                secs_to_nanos(linear_rate_time(*from, *to, secs, u * area), self.len)
            }
            _ => self.len,
        }
    }

    /// The random draws of this step, from the first.
    fn draws(&self) -> Draws {
        let rng = match &self.shape {
            Shape::Random { rng, .. } => rng.clone(),
            _ => SplitMix64::for_step(0, 0),
        };
        Draws {
            uniforms: SortedUniforms::new(rng, self.count),
            pending: None,
        }
    }

    /// The first local arrival with offset `>= tau`, or `count` when there is none.
    fn first_at_or_after(&self, tau: u64) -> u64 {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.fixed_offset(mid) >= tau {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

/// Position in a random step's draws.
#[derive(Debug, Clone)]
struct Draws {
    uniforms: SortedUniforms,
    /// Offset of the last value drawn (local index `position() - 1`) when it has not been
    /// consumed yet.
    pending: Option<u64>,
}

impl Draws {
    /// The offset of local arrival `j`, drawing (and dropping) every earlier one not yet drawn.
    fn offset_of(&mut self, step: &StepPlan, j: u64) -> Option<u64> {
        loop {
            let offset = match self.pending.take() {
                Some(offset) => offset,
                None => step.random_offset(self.uniforms.next()?),
            };
            let local = self.uniforms.position().checked_sub(1)?;
            if local >= j {
                return Some(offset);
            }
        }
    }
}

/// Where an iteration starts: the first arrival at or after some instant.
struct Cursor {
    step: usize,
    next: u64,
    draws: Option<Draws>,
}

impl OpenSchedule {
    /// Compiles open injection steps (`nothing_for` included) into a schedule; `seed` fixes the
    /// instants of randomized steps.
    ///
    /// Fails on a closed-model step, a negative, infinite or NaN rate, more than 10⁹ users in
    /// total, or a total duration beyond `u64::MAX` nanoseconds (about 584 years).
    pub fn new(steps: &[InjectionStep], seed: u64) -> Result<OpenSchedule, String> {
        let mut plans = Vec::with_capacity(steps.len());
        let (mut start, mut first) = (0u64, 0u64);
        for (idx, step) in steps.iter().enumerate() {
            let what = || format!("injection step {} (`{}`)", idx + 1, step_label(step));
            let len = nanos_of(step.duration()).ok_or_else(|| format!("{}: too long", what()))?;
            let secs = len as f64 / NANOS_PER_SEC;
            let rate_count = |from: f64, to: f64| -> Result<u64, String> {
                for rate in [from, to] {
                    if !rate.is_finite() || rate < 0.0 {
                        return Err(format!(
                            "{}: invalid rate {rate}; expected a finite number of users per \
                             second >= 0",
                            what()
                        ));
                    }
                }
                let users = ((from + to) / 2.0 * secs).round();
                if users.is_finite() && users <= MAX_USERS as f64 {
                    Ok(users as u64)
                } else {
                    Err(format!("{}: more than {MAX_USERS} users", what()))
                }
            };
            let random = |from: f64, to: f64| Shape::Random {
                from,
                to,
                rng: SplitMix64::for_step(seed, idx),
            };
            let (count, shape) = match step {
                InjectionStep::NothingFor(_) => (0, Shape::AtOnce),
                InjectionStep::AtOnce(users) => (*users, Shape::AtOnce),
                InjectionStep::RampUsers { users, .. } => (*users, Shape::Even),
                InjectionStep::StressPeakUsers { users, .. } => (*users, Shape::Peak),
                InjectionStep::ConstantUsersPerSec {
                    rate, randomized, ..
                } => {
                    let shape = if *randomized {
                        random(*rate, *rate)
                    } else {
                        Shape::Rate {
                            from: *rate,
                            to: *rate,
                        }
                    };
                    (rate_count(*rate, *rate)?, shape)
                }
                InjectionStep::RampUsersPerSec {
                    from,
                    to,
                    randomized,
                    ..
                } => {
                    let shape = if *randomized {
                        random(*from, *to)
                    } else {
                        Shape::Rate {
                            from: *from,
                            to: *to,
                        }
                    };
                    (rate_count(*from, *to)?, shape)
                }
                InjectionStep::ConstantConcurrentUsers { .. }
                | InjectionStep::RampConcurrentUsers { .. } => {
                    return Err(format!(
                        "{}: a closed-model step cannot appear in an open injection profile",
                        what()
                    ));
                }
            };
            let total = first.checked_add(count).filter(|total| *total <= MAX_USERS);
            let total = total.ok_or_else(|| {
                format!("{}: the profile plans more than {MAX_USERS} users", what())
            })?;
            let end = start.checked_add(len).ok_or_else(|| {
                format!(
                    "{}: the profile lasts more than {} s",
                    what(),
                    u64::MAX / 1_000_000_000
                )
            })?;
            plans.push(StepPlan {
                start,
                len,
                first,
                count,
                shape,
            });
            start = end;
            first = total;
        }
        Ok(OpenSchedule {
            plan: Arc::new(Plan {
                steps: plans,
                total: first,
                end: start,
            }),
        })
    }

    /// Number of arrivals in the whole schedule.
    pub fn total_users(&self) -> u64 {
        self.plan.total
    }

    /// Number of arrivals owned by `segment`.
    pub fn users(&self, segment: Segment) -> u64 {
        segment.share_of(self.plan.total)
    }

    /// End of the last step, from the scenario's start.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.plan.end)
    }

    /// The arrivals owned by `segment` with `at >= from`, in time order, computed lazily.
    ///
    /// Skipping to `from` costs a binary search in the step holding `from` (a linear pass over
    /// that step's earlier draws for a randomized step).
    pub fn arrivals(&self, segment: Segment, from: Duration) -> Arrivals {
        let cursor = self.locate(from);
        let left = segment.share_of(self.plan.total) - segment.share_of(cursor.next);
        Arrivals {
            plan: Arc::clone(&self.plan),
            segment,
            step: cursor.step,
            next: cursor.next,
            draws: cursor.draws,
            left,
        }
    }

    /// How many arrivals owned by `segment` come before `from` (`at < from`): on a resumed run,
    /// the number of feeder records the earlier attempt consumed.
    pub fn users_before(&self, segment: Segment, from: Duration) -> u64 {
        segment.share_of(self.locate(from).next)
    }

    /// Each step's arrival numbers and time window (for tests).
    #[cfg(test)]
    pub(super) fn step_windows(&self) -> Vec<(std::ops::Range<u64>, Duration, Duration)> {
        let steps = self.plan.steps.iter();
        steps
            .map(|s| {
                let window = (
                    Duration::from_nanos(s.start),
                    Duration::from_nanos(s.start + s.len),
                );
                (s.first..s.first + s.count, window.0, window.1)
            })
            .collect()
    }

    /// The first arrival (of the whole schedule) at or after `from`.
    fn locate(&self, from: Duration) -> Cursor {
        let from = u64::try_from(from.as_nanos()).unwrap_or(u64::MAX);
        for (idx, step) in self.plan.steps.iter().enumerate() {
            if step.count == 0 {
                continue;
            }
            if from <= step.start {
                return Cursor {
                    step: idx,
                    next: step.first,
                    draws: None,
                };
            }
            let tau = from - step.start;
            if tau > step.len {
                continue;
            }
            if step.is_random() {
                let mut draws = step.draws();
                while let Some(u) = draws.uniforms.next() {
                    let offset = step.random_offset(u);
                    if offset >= tau {
                        draws.pending = Some(offset);
                        let next = step.first + draws.uniforms.position() - 1;
                        return Cursor {
                            step: idx,
                            next,
                            draws: Some(draws),
                        };
                    }
                }
            } else {
                let j = step.first_at_or_after(tau);
                if j < step.count {
                    return Cursor {
                        step: idx,
                        next: step.first + j,
                        draws: None,
                    };
                }
            }
        }
        Cursor {
            step: self.plan.steps.len(),
            next: self.plan.total,
            draws: None,
        }
    }
}

/// The smallest `k' >= k` owned by `segment`.
fn align_up(k: u64, segment: Segment) -> u64 {
    let n = u64::from(segment.count.max(1));
    let i = u64::from(segment.index) % n;
    let r = k % n;
    if r <= i {
        k.saturating_add(i - r)
    } else {
        k.saturating_add(n - r + i)
    }
}

/// Iterator over one segment's arrivals, in time order (see [`OpenSchedule::arrivals`]).
///
/// Owns its data (`'static`, `Send`), so it can move into the task that spawns the users.
#[derive(Debug, Clone)]
pub struct Arrivals {
    plan: Arc<Plan>,
    segment: Segment,
    step: usize,
    /// Next global arrival number to consider.
    next: u64,
    /// Draws of the current step when it is randomized.
    draws: Option<Draws>,
    left: u64,
}

impl Iterator for Arrivals {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        loop {
            let step = self.plan.steps.get(self.step)?;
            let end = step.first + step.count;
            let owned = align_up(self.next.max(step.first), self.segment);
            if owned >= end {
                self.step += 1;
                self.next = end;
                self.draws = None;
                continue;
            }
            let j = owned - step.first;
            let offset = if step.is_random() {
                let draws = self.draws.get_or_insert_with(|| step.draws());
                match draws.offset_of(step, j) {
                    Some(offset) => offset,
                    None => {
                        // Unreachable (a step draws `count` values); stay fused anyway.
                        self.step = self.plan.steps.len();
                        return None;
                    }
                }
            } else {
                step.fixed_offset(j)
            };
            self.next = owned + 1;
            self.left = self.left.saturating_sub(1);
            return Some(Arrival {
                index: owned,
                at: Duration::from_nanos(step.start + offset),
            });
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Arrivals {}

impl FusedIterator for Arrivals {}
