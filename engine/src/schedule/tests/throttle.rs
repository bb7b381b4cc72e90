//! Throttle: the cap over time, and the limiter under tokio's paused clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{at_ms, secs};
use crate::model::ThrottleStep;
use crate::schedule::{Throttle, ThrottlePlan};
use crate::Segment;

fn plan(steps: &[ThrottleStep]) -> ThrottlePlan {
    ThrottlePlan::new(steps)
        .expect("valid throttle")
        .expect("some steps")
}

fn reach(target: f64, within: u64) -> ThrottleStep {
    ThrottleStep::ReachRps {
        target,
        within: secs(within),
    }
}

#[test]
fn cap_follows_the_steps() {
    assert_eq!(ThrottlePlan::new(&[]), Ok(None));
    let p = plan(&[
        reach(100.0, 10),
        ThrottleStep::HoldFor(secs(5)),
        ThrottleStep::JumpToRps(20.0),
        ThrottleStep::HoldFor(secs(5)),
        reach(40.0, 0),
    ]);
    assert_eq!(p.rate_at(Duration::ZERO), 0.0);
    assert_eq!(p.rate_at(at_ms(5000)), 50.0);
    assert_eq!(p.rate_at(at_ms(12_000)), 100.0);
    assert_eq!(p.rate_at(at_ms(14_999)), 100.0);
    assert_eq!(p.rate_at(at_ms(15_000)), 20.0);
    assert_eq!(p.rate_at(at_ms(19_999)), 20.0);
    assert_eq!(p.rate_at(at_ms(20_000)), 40.0);
    assert_eq!(p.rate_at(Duration::from_secs(1_000_000)), 40.0);
    assert_eq!(
        p.rate_at_segment(Segment::new(0, 4).unwrap(), at_ms(5000)),
        12.5
    );
    assert_eq!(p.steps_end(), at_ms(20_000));
}

#[test]
fn invalid_rates_are_refused() {
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let err = ThrottlePlan::new(&[ThrottleStep::JumpToRps(1.0), reach(bad, 1)]).unwrap_err();
        assert!(err.starts_with("throttle step 2"), "{err}");
        assert!(ThrottlePlan::new(&[ThrottleStep::JumpToRps(bad)]).is_err());
    }
}

#[test]
fn advance_integrates_the_cap() {
    let p = plan(&[reach(10.0, 10), ThrottleStep::HoldFor(secs(1))]);
    // ∫₀ᵗ t dt = t²/2: one request by √2 s, 8 by 4 s.
    assert!((p.advance(0.0, 1.0).unwrap() - 2f64.sqrt()).abs() < 1e-12);
    assert!((p.advance(0.0, 8.0).unwrap() - 4.0).abs() < 1e-12);
    // Across the end of the ramp: 50 by 10 s, then 10/s.
    assert!((p.advance(0.0, 55.0).unwrap() - 10.5).abs() < 1e-9);
    assert!((p.advance(20.0, 5.0).unwrap() - 20.5).abs() < 1e-12);
    let off = plan(&[
        ThrottleStep::JumpToRps(5.0),
        ThrottleStep::HoldFor(secs(1)),
        ThrottleStep::JumpToRps(0.0),
    ]);
    assert!((off.advance(0.0, 5.0).unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(off.advance(0.5, 3.0), None);
}

/// Runs `tasks` users acquiring permits as fast as they can until `run` has elapsed; returns the
/// number of permits obtained within `run`.
async fn permits(throttle: Throttle, tasks: usize, run: Duration) -> u64 {
    let throttle = Arc::new(throttle);
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + run;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (throttle, count) = (Arc::clone(&throttle), Arc::clone(&count));
        handles.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                throttle.acquire().await;
                if Instant::now() <= deadline {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for handle in handles {
        handle.await.expect("user task");
    }
    count.load(Ordering::Relaxed)
}

fn assert_near(got: u64, expected: f64, tolerance: f64) {
    assert!(
        (got as f64 - expected).abs() <= tolerance,
        "{got} permits, expected {expected} ± {tolerance}"
    );
}

#[tokio::test(start_paused = true)]
async fn constant_cap_admits_rate_times_duration() {
    let throttle = Throttle::new(
        plan(&[ThrottleStep::JumpToRps(100.0)]),
        Segment::WHOLE,
        Instant::now(),
    );
    assert_near(
        permits(throttle, 4, Duration::from_secs(10)).await,
        1000.0,
        2.0,
    );
}

#[tokio::test(start_paused = true)]
async fn ramping_cap_admits_its_integral() {
    let throttle = Throttle::new(plan(&[reach(100.0, 10)]), Segment::WHOLE, Instant::now());
    // ∫₀¹⁰ 10t dt = 500.
    assert_near(
        permits(throttle, 3, Duration::from_secs(10)).await,
        500.0,
        2.0,
    );
}

#[tokio::test(start_paused = true)]
async fn a_segment_gets_its_share_of_the_cap() {
    let segment = Segment::new(3, 4).unwrap();
    let throttle = Throttle::new(
        plan(&[ThrottleStep::JumpToRps(100.0)]),
        segment,
        Instant::now(),
    );
    assert_near(
        permits(throttle, 2, Duration::from_secs(10)).await,
        250.0,
        2.0,
    );
}

#[tokio::test(start_paused = true)]
async fn many_permits_per_millisecond() {
    let throttle = Throttle::new(
        plan(&[ThrottleStep::JumpToRps(50_000.0)]),
        Segment::WHOLE,
        Instant::now(),
    );
    assert_near(
        permits(throttle, 4, Duration::from_secs(2)).await,
        100_000.0,
        100.0,
    );
}

#[tokio::test(start_paused = true)]
async fn a_zero_cap_waits_until_it_rises() {
    let start = Instant::now();
    let steps = [
        ThrottleStep::JumpToRps(0.0),
        ThrottleStep::HoldFor(secs(2)),
        ThrottleStep::JumpToRps(50.0),
    ];
    let throttle = Throttle::new(plan(&steps), Segment::WHOLE, start);
    assert!(throttle.acquire().await);
    assert_eq!(start.elapsed(), at_ms(2020));
    // Never rising again: no permit will ever come, and the caller is told at once.
    let off = Throttle::new(plan(&[ThrottleStep::JumpToRps(0.0)]), Segment::WHOLE, start);
    let before = tokio::time::Instant::now();
    assert!(!off.acquire().await);
    assert_eq!(before.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_resumed_run_reads_the_cap_at_its_offset_without_a_burst() {
    tokio::time::advance(Duration::from_secs(20)).await;
    // The run started 10 s ago with a cap rising from 0 to 100/s over 10 s: it is 100/s now,
    // and the 10 s before the limiter existed grant no burst.
    let start = Instant::now() - Duration::from_secs(10);
    let throttle = Throttle::new(plan(&[reach(100.0, 10)]), Segment::WHOLE, start);
    let now = Instant::now();
    throttle.acquire().await;
    assert_eq!(Instant::now() - now, at_ms(10));
    assert_near(
        permits(throttle, 2, Duration::from_secs(5)).await,
        500.0,
        2.0,
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_stretch_allows_a_bounded_burst() {
    let start = Instant::now();
    let throttle = Throttle::new(
        plan(&[ThrottleStep::JumpToRps(100.0)]),
        Segment::WHOLE,
        start,
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let resumed = Instant::now();
    let mut immediate = 0;
    while Instant::now() == resumed && immediate < 1000 {
        throttle.acquire().await;
        immediate += 1;
    }
    // A second's worth (100) goes through at once, plus the slots due within the next ms.
    assert!(
        (100..=102).contains(&immediate),
        "{immediate} permits without waiting"
    );

    let strict = Throttle::new(
        plan(&[ThrottleStep::JumpToRps(100.0)]),
        Segment::WHOLE,
        start,
    )
    .with_burst(Duration::ZERO);
    let now = Instant::now();
    strict.acquire().await;
    assert_eq!(Instant::now() - now, at_ms(10));
}
