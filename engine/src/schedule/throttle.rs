//! Throttling: a cap on requests per second that changes over the run (Gatling's `throttle`).
//!
//! A [`ThrottlePlan`] turns the throttle steps into a piecewise-linear cap for the whole
//! simulation: the cap starts at 0, `reach_rps{target, in}` moves it linearly to `target` over
//! `in` (at once when `in` is 0), `hold_for(d)` keeps it for `d`, `jump_to_rps(r)` sets it at
//! once, and after the last step the last cap holds for the rest of the run. A segment of `N`
//! gets `1/N` of the cap.
//!
//! A [`Throttle`] enforces the cap at run time with virtual scheduling (GCRA): the `k`-th permit
//! is given the instant at which the integral of the cap since the previous permit reaches one
//! request, so over any stretch of time at most `∫ cap` requests get through (plus a bounded
//! burst after an idle stretch), and a cap of 0 simply admits nothing until the cap rises again.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::model::ThrottleStep;
use crate::Segment;

use super::curve::linear_rate_time;

/// Default burst tolerance of a [`Throttle`]: after an idle stretch, up to this much time worth
/// of permits at the current cap is admitted at once.
pub const DEFAULT_BURST: Duration = Duration::from_secs(1);

/// Permits whose slot is at most this far ahead are admitted without sleeping (tokio timers have
/// a resolution of about a millisecond, so shorter sleeps would only add latency).
const SLEEP_THRESHOLD: Duration = Duration::from_millis(1);

/// A throttle profile: the request-rate cap of the whole simulation over time.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottlePlan {
    /// Back-to-back pieces from 0, each of positive length.
    pieces: Vec<Piece>,
    /// Cap after the last piece.
    tail: f64,
}

/// The cap moves linearly from `from` to `to` between `start` and `end` (seconds, `end > start`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Piece {
    start: f64,
    end: f64,
    from: f64,
    to: f64,
}

impl Piece {
    fn rate_at(self, t: f64) -> f64 {
        let x = ((t - self.start) / (self.end - self.start)).clamp(0.0, 1.0);
        self.from + (self.to - self.from) * x
    }
}

impl ThrottlePlan {
    /// Compiles throttle steps; `None` when there are none (no cap). Fails on a negative,
    /// infinite or NaN rate.
    pub fn new(steps: &[ThrottleStep]) -> Result<Option<ThrottlePlan>, String> {
        if steps.is_empty() {
            return Ok(None);
        }
        let check = |idx: usize, rate: f64| {
            if rate.is_finite() && rate >= 0.0 {
                Ok(rate)
            } else {
                Err(format!(
                    "throttle step {}: invalid rate {rate}; expected a finite number of requests \
                     per second >= 0",
                    idx + 1
                ))
            }
        };
        let (mut pieces, mut cap, mut t) = (Vec::new(), 0.0, 0.0);
        for (idx, step) in steps.iter().enumerate() {
            let (to, secs) = match step {
                ThrottleStep::ReachRps { target, within } => {
                    (check(idx, *target)?, within.get().as_secs_f64())
                }
                ThrottleStep::HoldFor(d) => (cap, d.get().as_secs_f64()),
                ThrottleStep::JumpToRps(rate) => (check(idx, *rate)?, 0.0),
            };
            if secs > 0.0 {
                pieces.push(Piece {
                    start: t,
                    end: t + secs,
                    from: cap,
                    to,
                });
                t += secs;
            }
            cap = to;
        }
        Ok(Some(ThrottlePlan { pieces, tail: cap }))
    }

    /// The cap of the whole simulation (requests per second) at `t` from the run's start.
    pub fn rate_at(&self, t: Duration) -> f64 {
        self.rate_at_secs(t.as_secs_f64())
    }

    /// The cap of `segment` at `t`: the whole cap divided by the number of segments.
    pub fn rate_at_segment(&self, segment: Segment, t: Duration) -> f64 {
        self.rate_at(t) / f64::from(segment.count.max(1))
    }

    /// When the steps end; the last cap holds from then on.
    pub fn steps_end(&self) -> Duration {
        let end = self.pieces.last().map_or(0.0, |p| p.end);
        Duration::try_from_secs_f64(end).unwrap_or(Duration::MAX)
    }

    fn rate_at_secs(&self, t: f64) -> f64 {
        let idx = self.pieces.partition_point(|p| p.end <= t);
        match self.pieces.get(idx) {
            Some(piece) => piece.rate_at(t),
            None => self.tail,
        }
    }

    /// The instant `s' >= s` (seconds) at which `∫ₛ^{s'} cap = units`, or `None` when the cap
    /// stays too low forever.
    pub(super) fn advance(&self, s: f64, units: f64) -> Option<f64> {
        let mut s = if s.is_nan() { 0.0 } else { s.max(0.0) };
        let mut units = units;
        if units.is_nan() || units <= 0.0 {
            return Some(s);
        }
        let mut idx = self.pieces.partition_point(|p| p.end <= s);
        while let Some(piece) = self.pieces.get(idx) {
            let (rate, span) = (piece.rate_at(s), piece.end - s);
            let area = (rate + piece.to) / 2.0 * span;
            if area >= units {
                return Some((s + linear_rate_time(rate, piece.to, span, units)).min(piece.end));
            }
            units -= area;
            s = piece.end;
            idx += 1;
        }
        let end = s + units / self.tail;
        (self.tail > 0.0 && end.is_finite()).then_some(end)
    }
}

/// Runtime limiter that admits requests at a segment's share of a [`ThrottlePlan`]'s cap.
///
/// Shared (`Send + Sync`, typically in an `Arc`) by every virtual user of a run. Each permit
/// reserves the next slot under a short lock and the caller sleeps until that slot; permits due
/// within about a millisecond go through at once, so caps far above 1,000 requests/s work.
#[derive(Debug)]
pub struct Throttle {
    plan: ThrottlePlan,
    /// Units of the whole cap's integral per permit: the number of segments.
    units: f64,
    start: Instant,
    burst: f64,
    /// Slot of the last permit handed out, in seconds from `start`.
    last_slot: Mutex<f64>,
}

impl Throttle {
    /// A limiter for `segment` of a run that started (or starts) at `start`, with the
    /// [`DEFAULT_BURST`].
    ///
    /// The cap is read at the time elapsed since `start`, so a run resumed at an offset passes
    /// the instant the original run started (now minus the offset). No burst is granted for the
    /// time before the limiter is built.
    pub fn new(plan: ThrottlePlan, segment: Segment, start: Instant) -> Throttle {
        let elapsed = Instant::now()
            .saturating_duration_since(start)
            .as_secs_f64();
        Throttle {
            plan,
            units: f64::from(segment.count.max(1)),
            start,
            burst: DEFAULT_BURST.as_secs_f64(),
            last_slot: Mutex::new(elapsed),
        }
    }

    /// Changes the burst tolerance: after an idle stretch, up to `burst` worth of permits at the
    /// current cap go through at once (`Duration::ZERO` for none).
    pub fn with_burst(mut self, burst: Duration) -> Throttle {
        self.burst = burst.as_secs_f64();
        self
    }

    /// The plan this limiter enforces.
    pub fn plan(&self) -> &ThrottlePlan {
        &self.plan
    }

    /// Reserves the next permit and returns the instant from which it may be used, or `None`
    /// when the cap stays at 0 for the rest of time.
    pub fn reserve(&self) -> Option<Instant> {
        let now = Instant::now()
            .saturating_duration_since(self.start)
            .as_secs_f64();
        let slot = {
            let mut last = self.last_slot.lock();
            let slot = self.plan.advance(last.max(now - self.burst), self.units)?;
            *last = slot;
            slot
        };
        self.start
            .checked_add(Duration::try_from_secs_f64(slot).ok()?)
    }

    /// Waits for a permit to send one request; `false` (at once) when the cap stays at 0 for
    /// the rest of time, so no permit will ever come. Dropping the future after it has started
    /// waiting gives up its slot.
    pub async fn acquire(&self) -> bool {
        let Some(slot) = self.reserve() else {
            return false;
        };
        if slot > Instant::now() + SLEEP_THRESHOLD {
            tokio::time::sleep_until(slot).await;
        }
        true
    }
}
