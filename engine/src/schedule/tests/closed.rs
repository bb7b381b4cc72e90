//! Closed model: levels over time, changes, segments and errors.

use std::time::Duration;

use super::{at_ms, secs};
use crate::model::InjectionStep;
use crate::schedule::{ClosedSchedule, LevelChange, MAX_USERS};
use crate::Segment;

fn schedule(steps: &[InjectionStep]) -> ClosedSchedule {
    ClosedSchedule::new(steps).expect("valid profile")
}

fn ramp(from: u64, to: u64, during: u64) -> InjectionStep {
    InjectionStep::RampConcurrentUsers {
        from,
        to,
        during: secs(during),
    }
}

fn constant(users: u64, during: u64) -> InjectionStep {
    InjectionStep::ConstantConcurrentUsers {
        users,
        during: secs(during),
    }
}

fn changes(s: &ClosedSchedule, segment: Segment, from: Duration) -> Vec<(u64, u64)> {
    s.changes(segment, from)
        .map(|c| (c.at.as_millis() as u64, c.level))
        .collect()
}

#[test]
fn constant_level_then_zero() {
    let s = schedule(&[constant(10, 5)]);
    assert_eq!(s.duration(), at_ms(5000));
    assert_eq!(s.level_at(Segment::WHOLE, Duration::ZERO), 10);
    assert_eq!(s.level_at(Segment::WHOLE, at_ms(4999)), 10);
    assert_eq!(s.level_at(Segment::WHOLE, at_ms(5000)), 0);
    assert_eq!(
        changes(&s, Segment::WHOLE, Duration::ZERO),
        [(0, 10), (5000, 0)]
    );
    assert_eq!(s.max_level(Segment::WHOLE), 10);
}

#[test]
fn rising_ramp_adds_whole_users_at_crossings() {
    let s = schedule(&[ramp(0, 10, 10)]);
    assert_eq!(s.level_at(Segment::WHOLE, at_ms(999)), 0);
    assert_eq!(s.level_at(Segment::WHOLE, at_ms(1000)), 1);
    assert_eq!(s.level_at(Segment::WHOLE, at_ms(9999)), 9);
    assert_eq!(s.level_at(Segment::WHOLE, at_ms(10_000)), 0);
    let mut expected: Vec<(u64, u64)> = (0..10).map(|m| (1000 * m, m)).collect();
    expected.push((10_000, 0));
    assert_eq!(changes(&s, Segment::WHOLE, Duration::ZERO), expected);
    assert_eq!(s.max_level(Segment::WHOLE), 9);
}

#[test]
fn falling_ramp_removes_whole_users_at_crossings() {
    let s = schedule(&[ramp(10, 0, 10)]);
    assert_eq!(s.level_at(Segment::WHOLE, Duration::ZERO), 10);
    assert_eq!(s.level_at(Segment::WHOLE, at_ms(999)), 10);
    assert_eq!(s.level_at(Segment::WHOLE, at_ms(1000)), 9);
    let mut expected: Vec<(u64, u64)> = (0..10).map(|m| (1000 * m, 10 - m)).collect();
    expected.push((10_000, 0));
    assert_eq!(changes(&s, Segment::WHOLE, Duration::ZERO), expected);
    assert_eq!(s.max_level(Segment::WHOLE), 10);
}

#[test]
fn steps_chain_and_nothing_for_means_zero() {
    let s = schedule(&[
        InjectionStep::NothingFor(secs(1)),
        constant(4, 2),
        ramp(4, 6, 2),
        constant(6, 1),
        InjectionStep::NothingFor(secs(1)),
    ]);
    assert_eq!(s.duration(), at_ms(7000));
    assert_eq!(
        changes(&s, Segment::WHOLE, Duration::ZERO),
        [(0, 0), (1000, 4), (4000, 5), (5000, 6), (6000, 0)]
    );
    // Resuming mid-ramp starts with the current level.
    assert_eq!(
        changes(&s, Segment::WHOLE, at_ms(4500)),
        [(4500, 5), (5000, 6), (6000, 0)]
    );
    assert_eq!(changes(&s, Segment::WHOLE, at_ms(9000)), [(9000, 0)]);
}

#[test]
fn segments_own_every_nth_slot() {
    let s = schedule(&[ramp(0, 10, 10)]);
    // Segment 1/3 owns slots 0, 3, 6, 9: it gains a user when slots 0, 3 and 6 fill.
    let first = Segment::new(0, 3).unwrap();
    assert_eq!(
        changes(&s, first, Duration::ZERO),
        [(0, 0), (1000, 1), (4000, 2), (7000, 3), (10_000, 0)]
    );
    let second = Segment::new(1, 3).unwrap();
    assert_eq!(
        changes(&s, second, Duration::ZERO),
        [(0, 0), (2000, 1), (5000, 2), (8000, 3), (10_000, 0)]
    );
    assert_eq!(s.max_level(first), 3);
    assert_eq!(s.max_level(second), 3);
    assert_eq!(s.max_level(Segment::new(2, 3).unwrap()), 3);

    let down = schedule(&[ramp(10, 0, 10)]);
    // Going down, segment 1/3 loses slot 9 at 1 s, 6 at 4 s, 3 at 7 s and 0 at the end.
    assert_eq!(
        changes(&down, first, Duration::ZERO),
        [(0, 4), (1000, 3), (4000, 2), (7000, 1), (10_000, 0)]
    );
}

#[test]
fn crowded_crossings_collapse_into_one_change() {
    // 1,000,000 users in 1 µs: a thousand crossings per nanosecond.
    let s = schedule(&[
        InjectionStep::RampConcurrentUsers {
            from: 0,
            to: 1_000_000,
            during: Duration::from_micros(1).into(),
        },
        constant(3, 1),
    ]);
    let got: Vec<LevelChange> = s
        .changes(Segment::new(1, 4).unwrap(), Duration::ZERO)
        .collect();
    assert_eq!(got.len(), 1 + 999 + 2);
    assert!(got
        .windows(2)
        .all(|w| w[0].at < w[1].at && w[0].level != w[1].level));
    assert_eq!(
        got[1],
        LevelChange {
            at: Duration::from_nanos(1),
            level: 250
        }
    );
}

#[test]
fn invalid_closed_profiles_are_refused() {
    let err = ClosedSchedule::new(&[constant(1, 1), InjectionStep::AtOnce(1)]).unwrap_err();
    assert!(err.contains("step 2 (`at_once`)"), "{err}");
    assert!(ClosedSchedule::new(&[constant(MAX_USERS + 1, 1)]).is_err());
    assert!(ClosedSchedule::new(&[ramp(0, u64::MAX, 1)]).is_err());
    let empty = ClosedSchedule::new(&[]).unwrap();
    assert_eq!(empty.duration(), Duration::ZERO);
    assert_eq!(changes(&empty, Segment::WHOLE, Duration::ZERO), [(0, 0)]);
}

#[test]
fn user_milliseconds_integrate_the_level_over_a_window() {
    // 10 users for 5 s, then a ramp from 0 to 4 over 4 s.
    let s = schedule(&[constant(10, 5), ramp(0, 4, 4)]);
    let whole = s.user_ms_between(Segment::WHOLE, Duration::ZERO, at_ms(60000));
    let by_changes: u64 = {
        let c: Vec<(u64, u64)> = changes(&s, Segment::WHOLE, Duration::ZERO);
        c.windows(2).map(|w| (w[1].0 - w[0].0) * w[0].1).sum()
    };
    assert_eq!(whole, by_changes);
    assert_eq!(
        s.user_ms_between(Segment::WHOLE, Duration::ZERO, at_ms(5000)),
        50_000
    );
    assert_eq!(
        s.user_ms_between(Segment::WHOLE, at_ms(1500), at_ms(2500)),
        10_000
    );
    // Any cut point splits the whole into two parts that add up.
    for cut in [0, 700, 5_000, 6_123, 9_000, 12_000] {
        let a = s.user_ms_between(Segment::WHOLE, Duration::ZERO, at_ms(cut));
        let b = s.user_ms_between(Segment::WHOLE, at_ms(cut), at_ms(60000));
        assert_eq!(a + b, whole, "cut at {cut} ms");
    }
    // Segments share the level.
    let halves: u64 = (0..2)
        .map(|i| s.user_ms_between(Segment::new(i, 2).unwrap(), Duration::ZERO, at_ms(60000)))
        .sum();
    assert_eq!(halves, whole);
    assert_eq!(
        s.user_ms_between(Segment::WHOLE, at_ms(3000), at_ms(2000)),
        0
    );
}
