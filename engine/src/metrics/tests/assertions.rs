//! Assertions: every metric and comparison, scopes, missing scopes, for_all.

use std::time::Duration;

use crate::metrics::{evaluate, AssertionOutcome, RequestStats, RunStats};
use crate::model::Assertion;

fn assertion(metric: &str) -> Assertion {
    Assertion {
        request: None,
        group: None,
        for_all: false,
        metric: metric.into(),
        lt: None,
        lte: None,
        gt: None,
        gte: None,
        eq: None,
    }
}

fn stats_of(latencies_ms: &[u64], ko: usize) -> RequestStats {
    let mut s = RequestStats::default();
    for (i, &ms) in latencies_ms.iter().enumerate() {
        s.record(Duration::from_millis(ms), i >= ko);
    }
    s
}

/// `login`: 10 requests of 10..=100 ms, 1 failed; `search`: 2 requests of 1000 ms, ok;
/// group `checkout`: 3 executions of 200 ms.
fn stats() -> RunStats {
    let mut s = RunStats::default();
    s.requests.insert(
        "login".into(),
        stats_of(&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 1),
    );
    s.requests
        .insert("search".into(), stats_of(&[1000, 1000], 0));
    s.groups
        .insert("checkout".into(), stats_of(&[200, 200, 200], 0));
    s
}

fn one(a: Assertion) -> AssertionOutcome {
    let out = evaluate(&[a], &stats(), Duration::from_secs(4));
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().unwrap()
}

fn actual(a: Assertion) -> f64 {
    let o = one(a);
    o.actual.unwrap_or_else(|| panic!("no value: {o:?}"))
}

#[test]
fn every_metric() {
    let login = |metric: &str| Assertion {
        request: Some("login".into()),
        lt: Some(1e12),
        ..assertion(metric)
    };
    let close = |a: f64, b: f64| (a - b).abs() <= b.abs() * 0.001 + 1e-9;
    assert!(close(actual(login("p50")), 50.0));
    assert!(close(actual(login("p90")), 90.0));
    assert!(close(actual(login("p99.9")), 100.0));
    assert!(close(actual(login("p100")), 100.0));
    assert!(close(actual(login("min")), 10.0));
    assert!(close(actual(login("max")), 100.0));
    assert!(close(actual(login("mean")), 55.0));
    assert!(close(actual(login("stddev")), 28.7228));
    assert_eq!(actual(login("failed_percent")), 10.0);
    assert_eq!(actual(login("successful_percent")), 90.0);
    assert_eq!(actual(login("failed_count")), 1.0);
    assert_eq!(actual(login("count")), 10.0);
    assert_eq!(actual(login("requests_per_sec")), 2.5);
    // Global: all requests.
    assert_eq!(
        actual(Assertion {
            lt: Some(1.0),
            ..assertion("count")
        }),
        12.0
    );
    assert!(close(
        actual(Assertion {
            lt: Some(1.0),
            ..assertion("max")
        }),
        1000.0
    ));
    // Group.
    let group = Assertion {
        group: Some("checkout".into()),
        gt: Some(0.0),
        ..assertion("mean")
    };
    assert!(close(actual(group), 200.0));
}

#[test]
fn every_comparison() {
    let count = |f: fn(&mut Assertion)| {
        let mut a = assertion("count");
        f(&mut a);
        one(a).passed
    };
    assert!(count(|a| a.lt = Some(13.0)));
    assert!(!count(|a| a.lt = Some(12.0)));
    assert!(count(|a| a.lte = Some(12.0)));
    assert!(!count(|a| a.lte = Some(11.0)));
    assert!(count(|a| a.gt = Some(11.0)));
    assert!(!count(|a| a.gt = Some(12.0)));
    assert!(count(|a| a.gte = Some(12.0)));
    assert!(!count(|a| a.gte = Some(13.0)));
    assert!(count(|a| a.eq = Some(12.0)));
    assert!(!count(|a| a.eq = Some(12.5)));
    // All bounds must hold.
    assert!(count(|a| {
        a.gt = Some(10.0);
        a.lt = Some(20.0);
    }));
    assert!(!count(|a| {
        a.gt = Some(10.0);
        a.lt = Some(11.0);
    }));
}

#[test]
fn descriptions_and_messages() {
    let o = one(Assertion {
        lt: Some(500.0),
        ..assertion("p95")
    });
    assert_eq!(o.description, "global: p95 < 500 ms");
    assert!(!o.passed, "p95 of all requests is 1000 ms");
    assert!(o.message.contains("expected < 500 ms"), "{}", o.message);
    let o = one(Assertion {
        request: Some("login".into()),
        lte: Some(1.0),
        ..assertion("failed_percent")
    });
    assert_eq!(o.description, "request `login`: failed_percent <= 1");
    assert_eq!(o.message, "failed_percent = 10, expected <= 1");
    let o = one(Assertion {
        request: Some("search".into()),
        gte: Some(2.0),
        lte: Some(2.0),
        ..assertion("count")
    });
    assert!(o.passed);
    assert_eq!(o.description, "request `search`: count <= 2 and >= 2");
    assert_eq!(o.message, "count = 2");
}

#[test]
fn missing_scopes_fail_loudly() {
    let o = one(Assertion {
        request: Some("logn".into()),
        lt: Some(1e9),
        ..assertion("p95")
    });
    assert!(!o.passed);
    assert_eq!(o.actual, None);
    assert!(
        o.message.contains("no request named `logn`"),
        "{}",
        o.message
    );
    assert!(
        o.message.contains("`login`"),
        "lists known names: {}",
        o.message
    );
    let o = one(Assertion {
        group: Some("nope".into()),
        lt: Some(1e9),
        ..assertion("count")
    });
    assert!(
        !o.passed && o.message.contains("no group named `nope`"),
        "{o:?}"
    );
    let empty = evaluate(
        &[Assertion {
            lt: Some(1e9),
            ..assertion("max")
        }],
        &RunStats::default(),
        Duration::from_secs(1),
    );
    assert!(
        !empty[0].passed && empty[0].message.contains("no requests"),
        "{empty:?}"
    );
    // A request with a zero entry counts as missing too.
    let mut zero = stats();
    zero.requests.insert("idle".into(), RequestStats::default());
    let o = evaluate(
        &[Assertion {
            request: Some("idle".into()),
            gte: Some(0.0),
            ..assertion("count")
        }],
        &zero,
        Duration::from_secs(1),
    );
    assert!(!o[0].passed, "{o:?}");
}

#[test]
fn for_all_gives_one_outcome_per_request() {
    let a = Assertion {
        for_all: true,
        lt: Some(500.0),
        ..assertion("p99")
    };
    let out = evaluate(std::slice::from_ref(&a), &stats(), Duration::from_secs(4));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].description, "request `login`: p99 < 500 ms");
    assert!(out[0].passed);
    assert_eq!(out[1].description, "request `search`: p99 < 500 ms");
    assert!(!out[1].passed);
    let none = evaluate(&[a], &RunStats::default(), Duration::from_secs(4));
    assert_eq!(none.len(), 1);
    assert!(
        !none[0].passed && none[0].message.contains("no requests"),
        "{none:?}"
    );
}

#[test]
fn invalid_assertions_fail_with_a_reason() {
    let o = one(Assertion {
        lt: Some(1.0),
        ..assertion("p95x")
    });
    assert!(!o.passed && o.message.contains("unknown metric"), "{o:?}");
    let o = one(assertion("p95"));
    assert!(!o.passed && o.message.contains("no bound"), "{o:?}");
    let o = one(Assertion {
        request: Some("login".into()),
        group: Some("checkout".into()),
        lt: Some(1.0),
        ..assertion("count")
    });
    assert!(!o.passed, "{o:?}");
    let o = one(Assertion {
        for_all: true,
        request: Some("login".into()),
        lt: Some(1.0),
        ..assertion("count")
    });
    assert!(
        !o.passed && o.message.contains("cannot be combined"),
        "{o:?}"
    );
    let zero = evaluate(
        &[Assertion {
            gt: Some(0.0),
            ..assertion("requests_per_sec")
        }],
        &stats(),
        Duration::ZERO,
    );
    assert!(
        !zero[0].passed && zero[0].message.contains("duration is zero"),
        "{zero:?}"
    );
}
