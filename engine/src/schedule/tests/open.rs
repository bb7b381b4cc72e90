//! Open model: instants and counts of every step, errors, segments and resumption.

use std::time::Duration;

use super::{at_ms, ms, secs};
use crate::model::InjectionStep;
use crate::schedule::{Arrival, OpenSchedule, ScenarioSchedule, MAX_USERS};
use crate::Segment;

fn schedule(steps: &[InjectionStep]) -> OpenSchedule {
    OpenSchedule::new(steps, 42).expect("valid profile")
}

fn instants(s: &OpenSchedule) -> Vec<Duration> {
    s.arrivals(Segment::WHOLE, Duration::ZERO)
        .map(|a| a.at)
        .collect()
}

fn constant(rate: f64, during: u64, randomized: bool) -> InjectionStep {
    InjectionStep::ConstantUsersPerSec {
        rate,
        during: secs(during),
        randomized,
    }
}

fn ramp_rate(from: f64, to: f64, during: u64, randomized: bool) -> InjectionStep {
    InjectionStep::RampUsersPerSec {
        from,
        to,
        during: secs(during),
        randomized,
    }
}

/// Asserts two instants differ by at most a nanosecond (float rounding).
fn assert_close(actual: Duration, expected_secs: f64) {
    let diff = (actual.as_secs_f64() - expected_secs).abs();
    assert!(diff < 2e-9, "{actual:?} vs {expected_secs} s");
}

#[test]
fn constant_rate_is_evenly_spaced() {
    let s = schedule(&[constant(10.0, 2, false)]);
    assert_eq!(s.total_users(), 20);
    assert_eq!(s.duration(), at_ms(2000));
    let expected: Vec<Duration> = (0..20).map(|j| at_ms(100 * j)).collect();
    assert_eq!(instants(&s), expected);
    let indices: Vec<u64> = s
        .arrivals(Segment::WHOLE, Duration::ZERO)
        .map(|a| a.index)
        .collect();
    assert_eq!(indices, (0..20).collect::<Vec<_>>());
}

#[test]
fn constant_rate_rounds_the_count() {
    // 2.5/s for 3 s = 7.5 users: rounded to 8, the last at 7/2.5 = 2.8 s.
    let s = schedule(&[InjectionStep::ConstantUsersPerSec {
        rate: 2.5,
        during: secs(3),
        randomized: false,
    }]);
    assert_eq!(s.total_users(), 8);
    assert_eq!(instants(&s).last(), Some(&at_ms(2800)));
}

#[test]
fn rising_ramp_follows_the_quadratic() {
    // rate(t) = t, so ∫₀ᵗ = t²/2 and arrival j comes at √(2j).
    let s = schedule(&[ramp_rate(0.0, 10.0, 10, false)]);
    assert_eq!(s.total_users(), 50);
    let got = instants(&s);
    assert_eq!(got.len(), 50);
    for (j, at) in got.iter().enumerate() {
        assert_close(*at, (2.0 * j as f64).sqrt());
    }
    assert_eq!(got[2], at_ms(2000));
    assert_eq!(got[32], at_ms(8000));
}

#[test]
fn falling_ramp_follows_the_quadratic() {
    // rate(t) = 10 − t, so ∫₀ᵗ = 10t − t²/2 and arrival j comes at 10 − √(100 − 2j).
    let s = schedule(&[ramp_rate(10.0, 0.0, 10, false)]);
    assert_eq!(s.total_users(), 50);
    for (j, at) in instants(&s).iter().enumerate() {
        assert_close(*at, 10.0 - (100.0 - 2.0 * j as f64).sqrt());
    }
}

#[test]
fn ramp_between_equal_rates_is_a_constant_rate() {
    let ramp = schedule(&[ramp_rate(4.0, 4.0, 5, false)]);
    let constant = schedule(&[constant(4.0, 5, false)]);
    assert_eq!(instants(&ramp), instants(&constant));
    assert_eq!(ramp.total_users(), 20);
}

#[test]
fn ramp_from_a_non_zero_rate() {
    // rate(t) = 2 + t over 4 s: area 16, ∫₀ᵗ = 2t + t²/2, so arrival j at −2 + √(4 + 2j).
    let s = schedule(&[ramp_rate(2.0, 6.0, 4, false)]);
    assert_eq!(s.total_users(), 16);
    for (j, at) in instants(&s).iter().enumerate() {
        assert_close(*at, -2.0 + (4.0 + 2.0 * j as f64).sqrt());
    }
}

#[test]
fn zero_rates_plan_nobody() {
    let s = schedule(&[ramp_rate(0.0, 0.0, 10, false), constant(0.0, 3, true)]);
    assert_eq!(s.total_users(), 0);
    assert_eq!(s.duration(), at_ms(13_000));
    assert_eq!(s.arrivals(Segment::WHOLE, Duration::ZERO).count(), 0);
}

#[test]
fn at_once_and_nothing_for() {
    let s = schedule(&[
        InjectionStep::NothingFor(secs(2)),
        InjectionStep::AtOnce(3),
        InjectionStep::NothingFor(ms(500)),
        InjectionStep::AtOnce(2),
    ]);
    assert_eq!(s.total_users(), 5);
    assert_eq!(s.duration(), at_ms(2500));
    let expected = [2000, 2000, 2000, 2500, 2500].map(at_ms);
    assert_eq!(instants(&s), expected);
    assert_eq!(s.users_before(Segment::WHOLE, at_ms(2000)), 0);
    assert_eq!(s.users_before(Segment::WHOLE, at_ms(2001)), 3);
    assert_eq!(s.users_before(Segment::WHOLE, at_ms(9000)), 5);
}

#[test]
fn ramp_users_spreads_evenly_from_the_start() {
    let s = schedule(&[InjectionStep::RampUsers {
        users: 4,
        during: secs(2),
    }]);
    assert_eq!(instants(&s), [0, 500, 1000, 1500].map(at_ms));
    let zero = schedule(&[InjectionStep::RampUsers {
        users: 3,
        during: secs(0),
    }]);
    assert_eq!(instants(&zero), [Duration::ZERO; 3]);
}

#[test]
fn stress_peak_is_dense_in_the_middle() {
    let s = schedule(&[InjectionStep::StressPeakUsers {
        users: 100,
        during: secs(10),
    }]);
    let got = instants(&s);
    assert_eq!(got.len(), 100);
    assert_eq!(got[0], Duration::ZERO);
    assert_eq!(got[50], at_ms(5000), "half the users by the middle");
    assert!(got.windows(2).all(|w| w[0] <= w[1]));
    assert!(got.iter().all(|at| *at < at_ms(10_000)));
    let in_range = |lo: u64, hi: u64| {
        got.iter()
            .filter(|at| (at_ms(lo)..at_ms(hi)).contains(*at))
            .count()
    };
    // smoothstep(0.4) = 0.352 and smoothstep(0.6) = 0.648: users 36..=64 arrive in [4 s, 6 s);
    // smoothstep(0.2) = 0.104: users 0..=10 arrive before 2 s.
    assert_eq!(in_range(4000, 6000), 29);
    assert_eq!(in_range(0, 2000), 11);
}

#[test]
fn randomized_steps_keep_counts_windows_and_seed() {
    let steps = [
        InjectionStep::NothingFor(secs(1)),
        constant(10.0, 10, true),
        ramp_rate(0.0, 8.0, 5, true),
    ];
    let a = OpenSchedule::new(&steps, 7).unwrap();
    let b = OpenSchedule::new(&steps, 7).unwrap();
    let c = OpenSchedule::new(&steps, 8).unwrap();
    assert_eq!(a.total_users(), 120);
    let got = instants(&a);
    assert_eq!(got, instants(&b));
    assert_ne!(got, instants(&c));
    assert!(got.windows(2).all(|w| w[0] <= w[1]));
    assert!(got[..100]
        .iter()
        .all(|at| (at_ms(1000)..=at_ms(11_000)).contains(at)));
    assert!(got[100..]
        .iter()
        .all(|at| (at_ms(11_000)..=at_ms(16_000)).contains(at)));
    // Randomized instants are not the evenly spaced ones.
    let even = instants(&schedule(&[
        InjectionStep::NothingFor(secs(1)),
        constant(10.0, 10, false),
    ]));
    assert_ne!(got[..100], even[..]);
    // The rising ramp keeps its shape: most arrivals come in its second half.
    let late = got[100..].iter().filter(|at| **at >= at_ms(13_500)).count();
    assert!(late > 10, "{late} of 20 in the second half");
}

#[test]
fn segments_take_every_nth_arrival() {
    let s = schedule(&[constant(10.0, 2, false)]);
    let seg = Segment::new(1, 3).unwrap();
    let got: Vec<Arrival> = s.arrivals(seg, Duration::ZERO).collect();
    let expected: Vec<Arrival> = (0..7)
        .map(|j| Arrival {
            index: 1 + 3 * j,
            at: at_ms(100 + 300 * j),
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(s.users(seg), 7);
    assert_eq!(
        ScenarioSchedule::Open(s.clone()).planned_users(seg),
        Some(7)
    );
    // Resuming at 0.45 s skips 0.1 s and 0.4 s.
    let resumed: Vec<Arrival> = s.arrivals(seg, at_ms(450)).collect();
    assert_eq!(resumed, expected[2..]);
    assert_eq!(s.users_before(seg, at_ms(450)), 2);
    assert_eq!(s.users_before(seg, at_ms(400)), 1);
}

#[test]
fn long_runs_stay_lazy_and_resume_by_formula() {
    // 5,000 users/s for an hour: 18M arrivals, never materialised.
    let s = schedule(&[constant(5000.0, 3600, false)]);
    assert_eq!(s.total_users(), 18_000_000);
    let seg = Segment::new(2, 8).unwrap();
    let mut it = s.arrivals(seg, Duration::from_secs(1800));
    assert_eq!(it.len(), 1_125_000);
    let first = it.next().unwrap();
    assert_eq!(
        first,
        Arrival {
            index: 9_000_002,
            at: Duration::from_micros(1_800_000_400)
        }
    );
    assert_eq!(s.users_before(seg, Duration::from_secs(1800)), 1_125_000);
    assert_eq!(it.len(), 1_124_999);
}

#[test]
fn arrivals_are_owned_and_sendable() {
    fn assert_send_static<T: Send + 'static>(_: T) {}
    let s = schedule(&[constant(1.0, 1, false)]);
    assert_send_static(s.arrivals(Segment::WHOLE, Duration::ZERO));
}

#[test]
fn resuming_past_the_end_yields_nothing() {
    let s = schedule(&[InjectionStep::RampUsers {
        users: 10,
        during: secs(1),
    }]);
    assert_eq!(s.arrivals(Segment::WHOLE, secs(5).get()).count(), 0);
    assert_eq!(s.users_before(Segment::WHOLE, secs(5).get()), 10);
    assert_eq!(s.arrivals(Segment::WHOLE, Duration::MAX).count(), 0);
}

#[test]
fn invalid_open_profiles_are_refused() {
    let bad = [
        vec![constant(-1.0, 1, false)],
        vec![constant(f64::NAN, 1, false)],
        vec![ramp_rate(1.0, f64::INFINITY, 1, false)],
        vec![InjectionStep::AtOnce(MAX_USERS + 1)],
        vec![InjectionStep::AtOnce(MAX_USERS), InjectionStep::AtOnce(1)],
        vec![constant(1.0e6, 10_000, false)],
        vec![InjectionStep::ConstantConcurrentUsers {
            users: 1,
            during: secs(1),
        }],
        vec![
            InjectionStep::NothingFor(Duration::MAX.into()),
            InjectionStep::NothingFor(secs(1)),
        ],
    ];
    for steps in bad {
        let err = OpenSchedule::new(&steps, 0).expect_err("refused");
        assert!(err.starts_with("injection step"), "{err}");
    }
    let err = OpenSchedule::new(&[constant(-1.0, 1, false)], 0).unwrap_err();
    assert!(
        err.contains("`constant_users_per_sec`") && err.contains("-1"),
        "{err}"
    );
}

#[test]
fn scenario_schedule_picks_the_model() {
    let open = ScenarioSchedule::from_steps(&[InjectionStep::AtOnce(3)], 0).unwrap();
    assert!(matches!(open, ScenarioSchedule::Open(_)));
    assert_eq!(open.planned_users(Segment::WHOLE), Some(3));
    let idle = ScenarioSchedule::from_steps(&[InjectionStep::NothingFor(secs(3))], 0).unwrap();
    assert!(matches!(idle, ScenarioSchedule::Open(_)));
    assert_eq!(idle.duration(), at_ms(3000));
    let closed = ScenarioSchedule::from_steps(
        &[
            InjectionStep::NothingFor(secs(1)),
            InjectionStep::ConstantConcurrentUsers {
                users: 4,
                during: secs(2),
            },
        ],
        0,
    )
    .unwrap();
    assert!(matches!(closed, ScenarioSchedule::Closed(_)));
    assert_eq!(closed.planned_users(Segment::WHOLE), None);
    assert_eq!(closed.duration(), at_ms(3000));

    let mixed = ScenarioSchedule::from_steps(
        &[
            InjectionStep::AtOnce(1),
            InjectionStep::RampConcurrentUsers {
                from: 1,
                to: 2,
                during: secs(1),
            },
        ],
        0,
    )
    .unwrap_err();
    assert!(
        mixed.starts_with("a scenario's injection uses either open steps ("),
        "{mixed}"
    );
    assert!(mixed.ends_with("not both"), "{mixed}");
    let empty = ScenarioSchedule::from_steps(&[], 0).unwrap_err();
    assert!(empty.contains("at least one step"), "{empty}");
}
