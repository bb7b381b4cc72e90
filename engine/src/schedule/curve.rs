//! The arithmetic behind arrival instants: inverting a linear rate's integral, inverting the
//! smoothstep curve, and drawing sorted uniforms one at a time from a portable generator.
//!
//! Everything here is a pure function of its inputs. Instants are computed with IEEE basic
//! operations and `sqrt` (both correctly rounded everywhere), except the randomized draws, which
//! also use `powf`.

/// Nanoseconds per second, as a float.
pub(crate) const NANOS_PER_SEC: f64 = 1.0e9;

/// Converts a non-negative number of seconds to whole nanoseconds (rounded to nearest), clamped
/// to `0..=max`. NaN maps to 0.
pub(crate) fn secs_to_nanos(secs: f64, max: u64) -> u64 {
    let nanos = (secs * NANOS_PER_SEC).round();
    if nanos.is_nan() || nanos <= 0.0 {
        0
    } else if nanos >= max as f64 {
        max
    } else {
        // In range: the cast is exact up to float rounding, never saturating.
        (nanos as u64).min(max)
    }
}

/// The time `t` (seconds, in `0..=secs`) at which `∫₀ᵗ rate = area`, for a rate moving linearly
/// from `from` to `to` (per second) over `secs` seconds.
///
/// With slope `s = (to - from) / secs` the integral is `from·t + s·t²/2`; its root is computed
/// as `2·area / (from + √(from² + 2·s·area))`, which stays accurate when `s` is tiny or
/// negative and needs no special case when `from` is 0. A constant rate (`s == 0`) gives
/// `area / from`.
pub(crate) fn linear_rate_time(from: f64, to: f64, secs: f64, area: f64) -> f64 {
    if area <= 0.0 || secs <= 0.0 {
        return 0.0;
    }
    let slope = (to - from) / secs;
    let t = if slope == 0.0 {
        if from > 0.0 {
            area / from
        } else {
            secs
        }
    } else {
        let disc = (from * from + 2.0 * slope * area).max(0.0);
        let denom = from + disc.sqrt();
        if denom > 0.0 {
            2.0 * area / denom
        } else {
            secs
        }
    };
    if t.is_nan() {
        secs
    } else {
        t.clamp(0.0, secs)
    }
}

/// The smoothstep curve `3x² − 2x³`, the cumulative share of a stress peak's users at `x` in
/// `0..=1`.
fn smoothstep(x: f64) -> f64 {
    x * x * (3.0 - 2.0 * x)
}

/// The `x` in `0..=1` with `smoothstep(x) = p`, by bisection (60 halvings, well below a
/// nanosecond of any realistic step). Monotone in `p`: a larger `p` never gives a smaller `x`.
pub(crate) fn smoothstep_inverse(p: f64) -> f64 {
    if p.is_nan() || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if smoothstep(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// SplitMix64: a tiny generator whose output is the same on every platform and every build, so
/// all segments of a distributed run draw the same randomized instants.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator for injection step `step` of a profile seeded with `seed`.
    pub(crate) fn for_step(seed: u64, step: usize) -> Self {
        let mut mixer = SplitMix64 { state: seed };
        let base = mixer.next_u64();
        SplitMix64 {
            state: base ^ (step as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in `(0, 1]` with 53 random bits (never 0, so powers of it stay positive).
    fn next_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The `n` order statistics of `n` uniform draws on `[0, 1]`, produced in increasing order one
/// at a time with constant memory (the sequential method):
/// `U(j) = 1 − (1 − U(j−1))·V^(1/(n−j))` for `j = 0..n` with `U(−1) = 0` and fresh uniforms `V`.
#[derive(Debug, Clone)]
pub(crate) struct SortedUniforms {
    rng: SplitMix64,
    n: u64,
    produced: u64,
    /// `1 − U` of the last value produced.
    remaining: f64,
}

impl SortedUniforms {
    /// The sorted sample of size `n` drawn from `rng`.
    pub(crate) fn new(rng: SplitMix64, n: u64) -> Self {
        SortedUniforms {
            rng,
            n,
            produced: 0,
            remaining: 1.0,
        }
    }

    /// How many values have been produced so far (the index of the next one).
    pub(crate) fn position(&self) -> u64 {
        self.produced
    }
}

impl Iterator for SortedUniforms {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        if self.produced >= self.n {
            return None;
        }
        let left = (self.n - self.produced) as f64;
        let v = self.rng.next_unit();
        self.remaining *= v.powf(1.0 / left).min(1.0);
        self.produced += 1;
        Some((1.0 - self.remaining).clamp(0.0, 1.0))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.n - self.produced).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_rate_time_solves_the_integral() {
        // Constant 10/s: arrival 3 at 0.3 s.
        assert!((linear_rate_time(10.0, 10.0, 2.0, 3.0) - 0.3).abs() < 1e-12);
        // 0 -> 10/s over 10 s: integral t²/2, so area 8 at t = 4.
        assert!((linear_rate_time(0.0, 10.0, 10.0, 8.0) - 4.0).abs() < 1e-12);
        // 10 -> 0/s over 10 s: integral 10t − t²/2 = 32 at t = 4.
        assert!((linear_rate_time(10.0, 0.0, 10.0, 32.0) - 4.0).abs() < 1e-12);
        // The whole area of a decreasing ramp is reached at its end.
        assert!((linear_rate_time(10.0, 0.0, 10.0, 50.0) - 10.0).abs() < 1e-9);
        assert_eq!(linear_rate_time(0.0, 0.0, 10.0, 1.0), 10.0);
        assert_eq!(linear_rate_time(3.0, 5.0, 0.0, 1.0), 0.0);
    }

    #[test]
    fn smoothstep_inverse_inverts() {
        for i in 0..=100 {
            let p = f64::from(i) / 100.0;
            assert!((smoothstep(smoothstep_inverse(p)) - p).abs() < 1e-12);
        }
        assert_eq!(smoothstep_inverse(0.5), 0.5);
        assert_eq!(smoothstep_inverse(f64::NAN), 0.0);
    }

    #[test]
    fn sorted_uniforms_are_sorted_and_reproducible() {
        let a: Vec<f64> = SortedUniforms::new(SplitMix64::for_step(7, 2), 1000).collect();
        let b: Vec<f64> = SortedUniforms::new(SplitMix64::for_step(7, 2), 1000).collect();
        let c: Vec<f64> = SortedUniforms::new(SplitMix64::for_step(7, 3), 1000).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 1000);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(a.iter().all(|u| (0.0..=1.0).contains(u)));
        // The sample looks uniform: its mean is near 1/2 and its median near 1/2.
        let mean = a.iter().sum::<f64>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05, "mean {mean}");
        assert!((a[500] - 0.5).abs() < 0.06, "median {}", a[500]);
    }

    #[test]
    fn secs_to_nanos_rounds_and_clamps() {
        assert_eq!(secs_to_nanos(0.3, u64::MAX), 300_000_000);
        assert_eq!(secs_to_nanos(-1.0, 10), 0);
        assert_eq!(secs_to_nanos(f64::NAN, 10), 0);
        assert_eq!(secs_to_nanos(5.0, 10), 10);
        assert_eq!(secs_to_nanos(f64::INFINITY, 10), 10);
    }
}
