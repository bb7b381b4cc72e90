//! Reports for the tests of the renderers, built through the metrics' public API.

use std::time::Duration;

use super::summary::{RunReport, ScenarioInfo, SUMMARY_SCHEMA_VERSION};
use crate::metrics::{AssertionOutcome, ErrorSample, RequestStats, RunStats, SecondStats};

/// A request name that must come out escaped everywhere.
pub(crate) const NASTY_NAME: &str = "<script>alert('x')</script> & \"co\"";
/// An error message that must come out escaped everywhere.
pub(crate) const NASTY_ERROR: &str = "status 500 <b>bad</b> & \"quoted\"";

/// A report with no requests, no series, no assertions.
pub(crate) fn empty_report() -> RunReport {
    RunReport {
        schema_version: SUMMARY_SCHEMA_VERSION,
        simulation: "empty".into(),
        description: None,
        started_at_unix_ms: 0,
        duration_ms: 0,
        segment: None,
        stats: RunStats::default(),
        assertions: Vec::new(),
        scenarios: Vec::new(),
        distribution: None,
    }
}

/// A 60-second run of two requests (one with a hostile name), a group, errors with samples,
/// a per-second series, and one passing and one failing assertion.
pub(crate) fn sample_report() -> RunReport {
    let mut stats = RunStats::default();
    let mut home = RequestStats::default();
    for i in 0..900u64 {
        home.record(Duration::from_micros(5_000 + i * 100), true);
    }
    for _ in 0..100 {
        home.record(Duration::from_millis(1500), true);
    }
    let mut nasty = RequestStats::default();
    for i in 0..190u64 {
        nasty.record(Duration::from_micros(20_000 + i * 1000), true);
    }
    for _ in 0..10 {
        nasty.record(Duration::from_millis(900), false);
    }
    stats.requests.insert("home".into(), home);
    stats.requests.insert(NASTY_NAME.into(), nasty);
    let mut group = RequestStats::default();
    group.record(Duration::from_millis(250), true);
    stats.groups.insert("checkout <flow>".into(), group);
    stats.add_error(NASTY_ERROR, 7);
    stats.add_error("connection refused", 3);
    stats.error_samples.push(ErrorSample {
        request: NASTY_NAME.into(),
        error: NASTY_ERROR.into(),
        request_text: "POST /cart\n\n{\"item\":\"<x>\"}".into(),
        response_text: "HTTP/1.1 500\n\n<html>oops</html>".into(),
    });
    stats.error_samples.push(ErrorSample {
        request: "home".into(),
        error: "connection refused".into(),
        request_text: "GET /".into(),
        response_text: String::new(),
    });
    for second in 0..60u64 {
        let mut s = SecondStats::new(second);
        s.requests = 20;
        s.ok = 19;
        s.ko = 1;
        s.active_users = second.min(40);
        s.users_started = u64::from(second < 40);
        for i in 0..20u64 {
            s.latency.record_micros(5_000 + i * 1_000 + second * 100);
        }
        stats.series.push(s);
    }
    stats.users_started = 40;
    stats.users_finished = 40;
    RunReport {
        schema_version: SUMMARY_SCHEMA_VERSION,
        simulation: "checkout & <friends>".into(),
        description: Some("Black Friday \"rehearsal\"".into()),
        started_at_unix_ms: 1_714_564_800_000,
        duration_ms: 60_000,
        segment: Some("2/3".into()),
        stats,
        assertions: vec![
            AssertionOutcome {
                description: "global: p95 < 2000 ms".into(),
                passed: true,
                actual: Some(1500.0),
                message: "p95 = 1500 ms".into(),
            },
            AssertionOutcome {
                description: "global: failed_percent < 0.5 & \"<strict>\"".into(),
                passed: false,
                actual: Some(0.833),
                message: "failed_percent = 0.833, expected < 0.5 <&>".into(),
            },
        ],
        scenarios: vec![ScenarioInfo {
            name: "shoppers".into(),
            planned_users: Some(40),
            started_users: 40,
        }],
        distribution: None,
    }
}
