//! Property tests: segments partition every schedule exactly, resumption agrees with filtering,
//! closed-model levels add up, and the throttle's cap is continuous when it ramps.

use std::time::Duration;

use proptest::prelude::*;

use crate::model::{DurationSpec, InjectionStep, ThrottleStep};
use crate::schedule::{Arrival, ClosedSchedule, OpenSchedule, ThrottlePlan};
use crate::Segment;

/// Durations up to 5 s, often round, sometimes odd nanoseconds, sometimes zero.
fn duration() -> impl Strategy<Value = DurationSpec> {
    prop_oneof![
        Just(DurationSpec::from_secs(0)),
        (0u64..=5).prop_map(DurationSpec::from_secs),
        (0u64..5_000_000_000).prop_map(|n| DurationSpec(Duration::from_nanos(n))),
    ]
}

fn rate() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(10.0), 0.0f64..20.0]
}

fn open_step() -> impl Strategy<Value = InjectionStep> {
    prop_oneof![
        duration().prop_map(InjectionStep::NothingFor),
        (0u64..20).prop_map(InjectionStep::AtOnce),
        (0u64..50, duration())
            .prop_map(|(users, during)| InjectionStep::RampUsers { users, during }),
        (rate(), duration(), any::<bool>()).prop_map(|(rate, during, randomized)| {
            InjectionStep::ConstantUsersPerSec {
                rate,
                during,
                randomized,
            }
        }),
        (rate(), rate(), duration(), any::<bool>()).prop_map(|(from, to, during, randomized)| {
            InjectionStep::RampUsersPerSec {
                from,
                to,
                during,
                randomized,
            }
        }),
        (0u64..50, duration())
            .prop_map(|(users, during)| InjectionStep::StressPeakUsers { users, during }),
    ]
}

fn closed_step() -> impl Strategy<Value = InjectionStep> {
    prop_oneof![
        duration().prop_map(InjectionStep::NothingFor),
        (0u64..30, duration())
            .prop_map(|(users, during)| InjectionStep::ConstantConcurrentUsers { users, during }),
        (0u64..30, 0u64..30, duration())
            .prop_map(|(from, to, during)| InjectionStep::RampConcurrentUsers { from, to, during }),
    ]
}

fn segments(n: u32) -> impl Iterator<Item = Segment> {
    (0..n).filter_map(move |i| Segment::new(i, n).ok())
}

/// An instant to resume from: an arrival's own instant, one nanosecond either side, or anywhere.
fn resume_point(
    whole: &[Arrival],
    end: Duration,
    pick: usize,
    shift: u8,
    anywhere: f64,
) -> Duration {
    match whole.get(pick % whole.len().max(1)) {
        Some(a) if shift < 3 => {
            (a.at + Duration::from_nanos(u64::from(shift))).saturating_sub(Duration::from_nanos(1))
        }
        _ => end.mul_f64(anywhere * 1.1),
    }
}

proptest! {
    #[test]
    fn segments_partition_the_open_schedule(
        steps in prop::collection::vec(open_step(), 1..=4),
        seed in any::<u64>(),
        n in 1u32..8,
    ) {
        let schedule = OpenSchedule::new(&steps, seed).expect("valid profile");
        let whole: Vec<Arrival> = schedule.arrivals(Segment::WHOLE, Duration::ZERO).collect();
        prop_assert_eq!(whole.len() as u64, schedule.total_users());
        for (k, a) in whole.iter().enumerate() {
            prop_assert_eq!(a.index, k as u64);
            prop_assert!(a.at <= schedule.duration());
        }
        prop_assert!(whole.windows(2).all(|w| w[0].at <= w[1].at));
        for (range, start, end) in schedule.step_windows() {
            for a in &whole[range.start as usize..range.end as usize] {
                prop_assert!(start <= a.at && a.at <= end, "{:?} outside {:?}..={:?}", a, start, end);
            }
        }

        let mut union = Vec::new();
        for segment in segments(n) {
            let mine: Vec<Arrival> = schedule.arrivals(segment, Duration::ZERO).collect();
            prop_assert_eq!(mine.len() as u64, schedule.users(segment));
            prop_assert!(mine.iter().all(|a| segment.owns(a.index)));
            for (range, _, _) in schedule.step_windows() {
                let count = range.end - range.start;
                let got = mine.iter().filter(|a| range.contains(&a.index)).count() as u64;
                prop_assert!(got * u64::from(n) + u64::from(n) >= count && got * u64::from(n) <= count + u64::from(n),
                    "segment {} got {} of {}", segment, got, count);
            }
            union.extend(mine);
        }
        union.sort_by_key(|a| a.index);
        prop_assert_eq!(union, whole);
    }

    #[test]
    fn resuming_equals_filtering(
        steps in prop::collection::vec(open_step(), 1..=4),
        seed in any::<u64>(),
        n in 1u32..8,
        pick in any::<usize>(),
        shift in 0u8..4,
        anywhere in 0.0f64..1.0,
    ) {
        let schedule = OpenSchedule::new(&steps, seed).expect("valid profile");
        let whole: Vec<Arrival> = schedule.arrivals(Segment::WHOLE, Duration::ZERO).collect();
        let from = resume_point(&whole, schedule.duration(), pick, shift, anywhere);
        for segment in segments(n) {
            let all: Vec<Arrival> = schedule.arrivals(segment, Duration::ZERO).collect();
            let expected: Vec<Arrival> = all.iter().copied().filter(|a| a.at >= from).collect();
            let resumed = schedule.arrivals(segment, from);
            prop_assert_eq!(resumed.len(), expected.len());
            prop_assert_eq!(resumed.collect::<Vec<_>>(), expected);
            let before = all.iter().filter(|a| a.at < from).count() as u64;
            prop_assert_eq!(schedule.users_before(segment, from), before);
        }
    }

    #[test]
    fn closed_segment_levels_add_up_and_changes_replay_them(
        steps in prop::collection::vec(closed_step(), 1..=4),
        n in 1u32..8,
        probes in prop::collection::vec(0.0f64..1.1, 1..20),
        from_share in 0.0f64..1.1,
    ) {
        let schedule = ClosedSchedule::new(&steps).expect("valid profile");
        let end = schedule.duration();
        let from = end.mul_f64(from_share);
        for probe in &probes {
            let t = end.mul_f64(*probe);
            let sum: u64 = segments(n).map(|s| schedule.level_at(s, t)).sum();
            prop_assert_eq!(sum, schedule.level_at(Segment::WHOLE, t));
        }
        for segment in segments(n) {
            let changes: Vec<_> = schedule.changes(segment, from).collect();
            prop_assert_eq!(changes[0].at, from);
            prop_assert_eq!(changes.last().map(|c| c.level), Some(0));
            prop_assert!(changes.windows(2).all(|w| w[0].at < w[1].at && w[0].level != w[1].level));
            prop_assert!(changes.iter().all(|c| c.level <= schedule.max_level(segment)));
            // Replaying the changes gives the level everywhere: at each change, just before the
            // next one, and at the probes.
            let level_from_changes = |t: Duration| changes.iter().rev().find(|c| c.at <= t).map(|c| c.level);
            let mut points: Vec<Duration> = probes.iter().map(|p| end.mul_f64(*p)).filter(|t| *t >= from).collect();
            for c in &changes {
                points.push(c.at);
                if c.at > from {
                    points.push(c.at - Duration::from_nanos(1));
                }
            }
            for t in points {
                prop_assert_eq!(level_from_changes(t), Some(schedule.level_at(segment, t)), "at {:?}", t);
            }
        }
    }

    #[test]
    fn ramping_cap_is_continuous(
        steps in prop::collection::vec(
            prop_oneof![
                (0.0f64..1000.0, 0u64..10_000).prop_map(|(target, ms)| ThrottleStep::ReachRps {
                    target,
                    within: DurationSpec::from_millis(ms),
                }),
                (0u64..10_000).prop_map(|ms| ThrottleStep::HoldFor(DurationSpec::from_millis(ms))),
            ],
            1..6,
        ),
        probes in prop::collection::vec(0u64..60_000_000, 1..20),
    ) {
        // A zero-length ramp is a jump, so only real ramps are drawn.
        prop_assume!(steps.iter().all(|s| !matches!(s, ThrottleStep::ReachRps { within, .. } if within.get().is_zero())));
        let plan = ThrottlePlan::new(&steps).expect("valid").expect("some steps");
        // The steepest slope of the profile, and every step boundary.
        let (mut cap, mut t, mut max_slope) = (0.0f64, Duration::ZERO, 0.0f64);
        let mut points: Vec<Duration> = probes.into_iter().map(Duration::from_micros).collect();
        for step in &steps {
            if let ThrottleStep::ReachRps { target, within } = step {
                max_slope = max_slope.max((target - cap).abs() / within.get().as_secs_f64());
                cap = *target;
            }
            if let ThrottleStep::ReachRps { within: d, .. } | ThrottleStep::HoldFor(d) = step {
                t += d.get();
            }
            points.push(t);
        }
        let eps = Duration::from_nanos(1);
        for t in points {
            let (a, b) = (plan.rate_at(t.saturating_sub(eps)), plan.rate_at(t));
            prop_assert!((a - b).abs() <= max_slope * 1e-9 + 1e-6, "cap jumps from {} to {} at {:?}", a, b, t);
        }
    }
}
