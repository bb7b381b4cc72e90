//! Recorder: counting once, deltas vs snapshot under concurrency, caps, gauges, live figures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::UNKNOWN_ERROR;
use crate::metrics::{
    ErrorSample, GroupId, Recorder, RequestId, RunStats, MAX_ERROR_MESSAGES, MAX_ERROR_SAMPLES,
    MAX_SAMPLES_PER_ERROR, OTHER_ERRORS,
};

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn at(start: Instant, millis: u64) -> Instant {
    start + Duration::from_millis(millis)
}

fn sample(error: &str) -> ErrorSample {
    ErrorSample {
        request: "r0".into(),
        error: error.into(),
        request_text: "GET /".into(),
        response_text: "HTTP/1.1 503".into(),
    }
}

#[test]
fn records_requests_groups_and_seconds() {
    let start = Instant::now();
    let rec = Recorder::new(names("r", 2), vec!["outer / inner".into()], start);
    rec.record_request(
        RequestId(0),
        at(start, 100),
        Duration::from_millis(20),
        true,
        None,
    );
    rec.record_request(
        RequestId(1),
        at(start, 1500),
        Duration::from_millis(40),
        false,
        Some("boom"),
    );
    rec.record_request(
        RequestId(1),
        at(start, 1600),
        Duration::from_millis(60),
        false,
        None,
    );
    rec.record_request(
        RequestId(0),
        at(start, 1700),
        Duration::from_millis(1),
        true,
        Some("ignored"),
    );
    rec.record_group(
        GroupId(0),
        at(start, 1800),
        Duration::from_millis(500),
        true,
    );
    rec.user_started(at(start, 0));
    rec.record_user_error("feeder `users` is empty");
    let s = rec.snapshot();
    assert_eq!(s.requests["r0"].ok, 2);
    assert_eq!(s.requests["r1"].ko, 2);
    assert_eq!(s.requests["r1"].latency.count(), 2);
    assert_eq!(s.groups["outer / inner"].ok, 1);
    assert!((s.groups["outer / inner"].latency.mean() - 500.0).abs() < 0.5);
    assert_eq!(s.errors["boom"], 1);
    assert_eq!(s.errors[UNKNOWN_ERROR], 1);
    assert_eq!(s.errors["feeder `users` is empty"], 1);
    assert!(!s.errors.contains_key("ignored"));
    assert_eq!(s.series.len(), 2);
    assert_eq!(
        (
            s.series[0].second,
            s.series[0].requests,
            s.series[0].users_started
        ),
        (0, 1, 1)
    );
    assert_eq!(
        (s.series[1].second, s.series[1].requests, s.series[1].ko),
        (1, 3, 2)
    );
    assert_eq!(s.series[1].latency.count(), 3);
    assert_eq!(s.total().count(), 4);
    assert_eq!(s.users_started, 1);
    assert_eq!(rec.active_users(), 1);
    // Snapshots are cumulative and repeatable.
    assert_eq!(rec.snapshot(), s);
}

#[test]
fn odd_inputs_do_not_panic_and_still_count() {
    let start = Instant::now() + Duration::from_secs(5);
    let rec = Recorder::new(vec!["a".into(), "a".into()], vec![], start);
    // Before t = 0: second 0. Unknown ids: counted under a synthetic name. Duplicate names merge.
    rec.record_request(RequestId(0), Instant::now(), Duration::MAX, true, None);
    rec.record_request(RequestId(1), Instant::now(), Duration::ZERO, true, None);
    rec.record_request(
        RequestId(u32::MAX),
        Instant::now(),
        Duration::ZERO,
        false,
        Some(""),
    );
    rec.record_group(GroupId(7), Instant::now(), Duration::ZERO, false);
    rec.user_finished(Instant::now());
    assert_eq!(rec.active_users(), 0);
    let s = rec.snapshot();
    assert_eq!(s.requests["a"].ok, 2);
    assert_eq!(s.requests[&format!("request #{}", u32::MAX)].ko, 1);
    assert_eq!(s.groups["group #7"].ko, 1);
    assert_eq!(s.series[0].second, 0);
    assert_eq!(s.total().count(), 3);
    let live = rec.live();
    assert_eq!(live.last_second, None);
    assert_eq!(live.requests, 3);
}

#[test]
fn deltas_merge_to_snapshot_under_concurrency() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 5_000;
    let start = Instant::now();
    let rec = Recorder::new(names("r", 3), names("g", 2), start);
    let done = Arc::new(AtomicBool::new(false));
    // Deltas taken so far: the recording threads wait half-way for one, so that at least one
    // delta is taken while they record, however the threads are scheduled.
    let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let taker = {
        let (rec, done, taken) = (rec.clone(), done.clone(), taken.clone());
        std::thread::spawn(move || {
            let mut deltas = Vec::new();
            while !done.load(Ordering::Relaxed) {
                deltas.push(rec.take_delta());
                taken.fetch_add(1, Ordering::SeqCst);
                let _ = rec.snapshot();
                let _ = rec.live();
                std::thread::yield_now();
            }
            deltas
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (rec, taken) = (rec.clone(), taken.clone());
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    if i == PER_THREAD / 2 {
                        while taken.load(Ordering::SeqCst) < 2 {
                            std::thread::yield_now();
                        }
                    }
                    let end = at(start, (i * 7 + t * 13) % 4_000);
                    let ok = i % 10 != 0;
                    let error = format!("error {}", i % 7);
                    rec.record_request(
                        RequestId(u32::try_from(i % 3).unwrap()),
                        end,
                        Duration::from_micros(100 + (i * 37 + t) % 900_000),
                        ok,
                        Some(&error),
                    );
                    if !ok && rec.wants_sample(&error) {
                        rec.record_error_sample(sample(&error));
                    }
                    if i % 50 == 0 {
                        rec.record_group(
                            GroupId(u32::try_from(i % 2).unwrap()),
                            end,
                            Duration::from_millis(3),
                            ok,
                        );
                        rec.user_started(end);
                        rec.sample_active_users(end);
                        rec.user_finished(end);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let mut deltas = taker.join().unwrap();
    deltas.push(rec.take_delta());
    assert!(deltas.len() > 1);
    let mut sum = RunStats::default();
    for d in &deltas {
        sum.merge(d);
    }
    let snapshot = rec.snapshot();
    assert_eq!(sum, snapshot);

    // Every request counted exactly once, everywhere.
    let total = THREADS * PER_THREAD;
    assert_eq!(snapshot.total().count(), total);
    assert_eq!(snapshot.total().latency.count(), total);
    assert_eq!(
        snapshot.series.iter().map(|s| s.requests).sum::<u64>(),
        total
    );
    assert_eq!(
        snapshot
            .series
            .iter()
            .map(|s| s.latency.count())
            .sum::<u64>(),
        total
    );
    assert_eq!(snapshot.error_count(), total / 10);
    assert_eq!(snapshot.total().ko, total / 10);
    assert_eq!(snapshot.users_started, THREADS * PER_THREAD / 50);
    assert_eq!(
        snapshot.groups.values().map(|g| g.count()).sum::<u64>(),
        THREADS * PER_THREAD / 50
    );
    assert!(snapshot.error_samples.len() <= MAX_ERROR_SAMPLES);
    assert_eq!(
        rec.take_delta().total().count(),
        0,
        "nothing left after the last delta"
    );
    assert!(rec.take_delta().is_empty());

    // Same histogram as one fed every sample.
    let mut whole = crate::metrics::Histogram::new();
    for t in 0..THREADS {
        for i in 0..PER_THREAD {
            whole.record_micros(100 + (i * 37 + t) % 900_000);
        }
    }
    assert_eq!(snapshot.total().latency, whole);
    assert_eq!(
        snapshot.total().latency.percentile(99.9),
        whole.percentile(99.9)
    );
}

#[test]
fn error_messages_are_capped_in_the_recorder() {
    let start = Instant::now();
    let rec = Recorder::new(names("r", 1), vec![], start);
    for i in 0..300 {
        rec.record_request(
            RequestId(0),
            start,
            Duration::ZERO,
            false,
            Some(&format!("e{i}")),
        );
    }
    let s = rec.snapshot();
    assert_eq!(s.errors.len(), MAX_ERROR_MESSAGES + 1);
    assert_eq!(s.errors[OTHER_ERRORS], 100);
    assert_eq!(s.error_count(), 300);
}

#[test]
fn sample_budget() {
    let rec = Recorder::new(names("r", 1), vec![], Instant::now());
    for _ in 0..5 {
        if rec.wants_sample("a") {
            rec.record_error_sample(sample("a"));
        }
    }
    assert!(!rec.wants_sample("a"));
    rec.record_error_sample(sample("a"));
    let delta = rec.take_delta();
    assert_eq!(delta.error_samples.len(), MAX_SAMPLES_PER_ERROR);
    // The budget is per run, not per delta.
    assert!(!rec.wants_sample("a"));
    for i in 0..100 {
        rec.record_error_sample(sample(&format!("b{i}")));
    }
    assert!(!rec.wants_sample("new"));
    let s = rec.snapshot();
    assert_eq!(s.error_samples.len(), MAX_ERROR_SAMPLES);
    assert_eq!(
        s.error_samples.iter().filter(|x| x.error == "a").count(),
        MAX_SAMPLES_PER_ERROR
    );
}

#[test]
fn active_users_take_the_max_per_second_across_deltas() {
    let start = Instant::now();
    let rec = Recorder::new(vec![], vec![], start);
    for _ in 0..3 {
        rec.user_started(at(start, 2_100));
    }
    rec.sample_active_users(at(start, 2_200));
    rec.user_finished(at(start, 2_300));
    rec.sample_active_users(at(start, 2_400));
    let first = rec.take_delta();
    assert_eq!(first.series[0].active_users, 3);
    for _ in 0..4 {
        rec.user_started(at(start, 2_500));
    }
    rec.sample_active_users(at(start, 2_600)); // 6 active now, same second
    rec.sample_active_users(at(start, 3_100));
    let second = rec.take_delta();
    assert_eq!(
        second.series[0].active_users, 3,
        "only the increase of the maximum"
    );
    let snapshot = rec.snapshot();
    let mut sum = first.clone();
    sum.merge(&second);
    assert_eq!(sum, snapshot);
    let s2 = &snapshot.series[0];
    assert_eq!(
        (
            s2.second,
            s2.active_users,
            s2.users_started,
            s2.users_finished
        ),
        (2, 6, 7, 1)
    );
    assert_eq!(
        (snapshot.series[1].second, snapshot.series[1].active_users),
        (3, 6)
    );
    assert_eq!(rec.active_users(), 6);
}

#[test]
fn live_reports_the_last_complete_second() {
    let start = Instant::now();
    let rec = Recorder::new(names("r", 1), vec![], start);
    for i in 0..100u64 {
        rec.record_request(
            RequestId(0),
            at(start, 2_200 + i),
            Duration::from_millis(i + 1),
            i % 4 != 0,
            None,
        );
    }
    rec.record_request(
        RequestId(0),
        at(start, 500),
        Duration::from_secs(2),
        true,
        None,
    );
    rec.user_started(start);
    let live = rec.live_at(at(start, 3_500));
    assert_eq!(live.elapsed, Duration::from_millis(3_500));
    assert_eq!((live.requests, live.ok, live.ko), (101, 76, 25));
    assert_eq!(live.active_users, 1);
    assert_eq!(live.last_second, Some(2));
    assert_eq!((live.last_second_requests, live.last_second_ko), (100, 25));
    let p95 = live.last_second_p95.unwrap();
    assert!(
        p95 >= Duration::from_millis(95) && p95 < Duration::from_millis(96),
        "{p95:?}"
    );
    assert!(live.recent_p95.unwrap() >= p95);
    // After a delta the figures come from the emitted part.
    let _ = rec.take_delta();
    assert_eq!(rec.live_at(at(start, 3_500)), live);
    let quiet = rec.live_at(at(start, 9_000));
    assert_eq!(
        (
            quiet.last_second_requests,
            quiet.last_second_p95,
            quiet.recent_p95
        ),
        (0, None, None)
    );
}
