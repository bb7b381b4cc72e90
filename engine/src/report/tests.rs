//! Tests of the renderers on a sample report (hostile names included) and on an empty one.

use std::time::Duration;

use serde_json::Value;

use super::fixtures::{empty_report, sample_report, NASTY_ERROR, NASTY_NAME};
use super::text::escape_html;
use super::*;

/// A small well-formedness check: balanced tags, quoted attributes without `<`, and only
/// the predefined or numeric entity references.
pub(super) fn assert_well_formed(xml: &str) {
    let body = xml.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let Some(mut rest) = body else {
        panic!("no XML declaration")
    };
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    while let Some(start) = rest.find('<') {
        check_text(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            panic!("unclosed tag")
        };
        let tag = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name));
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in {tag}"
        );
        check_text(tag);
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert_eq!(roots, 1);
}

fn check_text(text: &str) {
    assert!(!text.contains('<'));
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
        let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity);
        let numeric = entity.len() > 3
            && entity.starts_with("&#")
            && entity[2..entity.len() - 1]
                .chars()
                .all(|c| c.is_ascii_digit());
        assert!(known || numeric, "bad entity {entity}");
    }
}

mod summary_json {
    use super::*;

    #[test]
    fn has_version_raw_stats_and_derived_tables() {
        let report = sample_report();
        let doc = report.to_summary_json();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["passed"], false);
        assert_eq!(doc["started_at"], "2024-05-01T12:00:00.000Z");
        assert_eq!(doc["segment"], "2/3");
        let all = &doc["requests"]["all"];
        assert_eq!(all["count"], 1200);
        assert_eq!(all["ok"], 1190);
        assert_eq!(all["ko"], 10);
        assert_eq!(all["req_per_sec"], 20.0);
        for key in [
            "min_ms", "p50_ms", "p75_ms", "p95_ms", "p99_ms", "p99_9_ms", "max_ms",
        ] {
            assert!(
                all[key].as_f64().is_some_and(|v| v > 0.0),
                "{key}: {}",
                all[key]
            );
        }
        assert!(all["mean_ms"].is_f64() && all["stddev_ms"].is_f64());
        let p95 = all["p95_ms"].as_f64().unwrap_or_default();
        assert!((1495.0..=1505.0).contains(&p95), "p95 {p95}");
        assert_eq!(doc["requests"]["by_name"][NASTY_NAME]["ko"], 10);
        assert_eq!(doc["requests"]["by_name"]["home"]["count"], 1000);
        assert_eq!(doc["groups"]["checkout <flow>"]["count"], 1);
        assert_eq!(doc["errors"][0]["message"], NASTY_ERROR);
        assert_eq!(doc["errors"][0]["percent"], 70.0);
        let series = doc["series"].as_array().map(Vec::len);
        assert_eq!(series, Some(60));
        assert_eq!(doc["series"][10]["active_users"], 10);
        assert!(doc["series"][10]["p99_ms"].is_f64());
        // The raw, mergeable data stays under `stats`, histograms included.
        assert!(doc["stats"]["requests"]["home"]["latency"].is_string());
        assert_eq!(doc["scenarios"][0]["planned_users"], 40);
        assert_eq!(doc["assertions"][1]["passed"], false);
    }

    #[test]
    fn round_trips_through_text() {
        let report = sample_report();
        let text = serde_json::to_string_pretty(&report.to_summary_json()).unwrap_or_default();
        let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let back = RunReport::from_summary_json(doc);
        assert_eq!(back.ok(), Some(report));
        let empty = empty_report();
        assert_eq!(
            RunReport::from_summary_json(empty.to_summary_json()).ok(),
            Some(empty)
        );
    }

    #[test]
    fn summaries_re_merge_exactly() {
        let (a, b) = (sample_report(), sample_report());
        let read = |r: &RunReport| RunReport::from_summary_json(r.to_summary_json()).ok();
        let (Some(mut ra), Some(rb)) = (read(&a), read(&b)) else {
            panic!("summaries must read back");
        };
        ra.stats.merge(&rb.stats);
        let mut direct = a.stats.clone();
        direct.merge(&b.stats);
        assert_eq!(ra.stats, direct);
        assert_eq!(ra.stats.total().count(), 2400);
    }

    #[test]
    fn rejects_newer_or_unversioned_documents() {
        let mut doc = sample_report().to_summary_json();
        doc["schema_version"] = Value::from(SUMMARY_SCHEMA_VERSION + 1);
        let err = RunReport::from_summary_json(doc)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("newer")));
        assert!(RunReport::from_summary_json(serde_json::json!({"simulation": "x"})).is_err());
    }

    #[test]
    fn empty_stats_give_null_latencies_and_zero_rates() {
        let doc = empty_report().to_summary_json();
        assert_eq!(doc["requests"]["all"]["count"], 0);
        assert!(doc["requests"]["all"]["p50_ms"].is_null());
        assert_eq!(doc["requests"]["all"]["req_per_sec"], 0.0);
        assert_eq!(doc["requests"]["all"]["ko_percent"], 0.0);
        assert_eq!(doc["series"], serde_json::json!([]));
        assert_eq!(doc["passed"], true);
    }
}

mod html {
    use super::*;

    /// Every way a page could load something from elsewhere.
    fn assert_self_contained(html: &str) {
        let lower = html.to_lowercase();
        for needle in [
            "<script", "<link", "@import", "src=", "url(", "<iframe", "<object",
        ] {
            assert!(!lower.contains(needle), "found {needle}");
        }
        let ns = "http://www.w3.org/2000/svg";
        let without_ns = lower.replace(ns, "");
        assert!(!without_ns.contains("http://") && !without_ns.contains("https://"));
    }

    #[test]
    fn renders_every_part_with_user_text_escaped() {
        let report = sample_report();
        let html = render_html(&report);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert_self_contained(&html);
        assert!(!html.contains(NASTY_NAME) && !html.contains(NASTY_ERROR));
        for name in report.stats.requests.keys() {
            assert!(html.contains(&escape_html(name)), "{name}");
        }
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;")
        );
        assert!(html.contains(&escape_html(NASTY_ERROR)));
        assert!(html.contains("checkout &amp; &lt;friends&gt;"));
        assert!(html.contains("checkout &lt;flow&gt;"));
        assert!(html.contains("&lt;html&gt;oops&lt;/html&gt;"));
        assert!(html.contains("<details>"));
        assert!(html.contains("(no response)"));
        assert!(html.matches("<svg").count() >= 4);
        assert!(html.contains("All requests"));
        assert!(html.contains("badge fail"));
        assert!(html.contains("2024-05-01 12:00:00 UTC"));
        assert!(html.contains("Segment"));
        assert!(html.contains("✗ fail") && html.contains("✓ pass"));
        assert!(!html.contains("NaN") && !html.contains("inf\""));
    }

    #[test]
    fn empty_stats_render_placeholders() {
        let html = render_html(&empty_report());
        assert_self_contained(&html);
        assert!(html.contains("No requests were recorded."));
        assert!(html.contains("No errors."));
        assert!(html.contains("No data"));
        assert!(html.contains("badge pass"));
        assert!(!html.contains("NaN"));
    }
}

mod junit {
    use super::*;

    #[test]
    fn one_testcase_per_assertion_with_failures_escaped() {
        let report = sample_report();
        let xml = render_junit(&report);
        assert_well_formed(&xml);
        assert_eq!(xml.matches("<testcase ").count(), report.assertions.len());
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert!(xml.contains(
            r#"<testsuite name="checkout &amp; &lt;friends&gt;" tests="2" failures="1""#
        ));
        assert!(xml.contains(r#"time="60.000""#));
        assert!(xml.contains("failed_percent &lt; 0.5 &amp; &quot;&lt;strict&gt;&quot;"));
        assert!(
            xml.contains(r#"message="failed_percent = 0.833, expected &lt; 0.5 &lt;&amp;&gt;""#)
        );
        assert!(xml.contains(r#"<property name="segment" value="2/3"/>"#));
    }

    #[test]
    fn no_assertions_give_one_passing_testcase() {
        let xml = render_junit(&empty_report());
        assert_well_formed(&xml);
        assert_eq!(xml.matches("<testcase ").count(), 1);
        assert!(xml.contains(r#"tests="1" failures="0""#));
        assert!(xml.contains(r#"name="simulation ran""#));
    }
}

mod console {
    use super::*;

    #[test]
    fn summary_shows_the_numbers() {
        let text = render_console_summary(&sample_report());
        assert!(text.contains("Simulation checkout & <friends> (segment 2/3)"));
        assert!(text.contains("request count"));
        assert!(text.contains("1200 (OK=1190 KO=10)"));
        assert!(text.contains("mean requests/sec"));
        assert!(text.contains("response time 95th percentile (ms)"));
        let line = |label: &str| {
            text.lines()
                .find(|l| l.starts_with(label))
                .unwrap_or_default()
        };
        assert!(line("> t < 800 ms").contains(" 1090 (90.83%)"));
        assert!(line("> 800 ms <= t < 1200 ms").contains(" 10 (0.83%)"));
        assert!(line("> t >= 1200 ms").contains(" 100 (8.33%)"));
        assert!(line("> failed").contains(" 10 (0.83%)"));
        assert!(line("home").contains("1000"));
        assert!(text.contains(NASTY_ERROR));
        assert!(text.contains("✓ global: p95 < 2000 ms (actual 1500)"));
        assert!(text.contains("✗ global: failed_percent"));
        assert!(text.contains("Result: FAILED (1 of 2 assertions failed)"));
        assert!(!text.ends_with('\n'));
    }

    #[test]
    fn summary_of_empty_stats() {
        let text = render_console_summary(&empty_report());
        assert!(text.contains("0 (OK=0 KO=0)"));
        assert!(text.contains("–"));
        assert!(text.contains("Result: PASSED"));
        assert!(!text.contains("NaN"));
    }

    fn progress(planned: Option<u64>) -> Progress {
        Progress {
            elapsed: Duration::from_secs(12),
            planned: planned.map(Duration::from_secs),
            active_users: 40,
            requests: 5000,
            errors: 0,
            req_per_sec: 1234.4,
            p95: Some(Duration::from_micros(12_300)),
        }
    }

    #[test]
    fn progress_message_beside_the_bar() {
        let line = render_progress_message(&progress(Some(60)));
        assert_eq!(
            line,
            "12s/1m00s  users 40  req/s 1234  errors 0 (0.00%)  p95 12.3 ms"
        );
        let line = render_progress_message(&progress(None));
        assert_eq!(
            line,
            "12s  users 40  req/s 1234  errors 0 (0.00%)  p95 12.3 ms"
        );
        let mut p = progress(Some(0));
        p.errors = 50;
        p.p95 = None;
        let line = render_progress_message(&p);
        assert!(line.contains("errors 50 (1.00%)") && line.contains("p95 -"));
    }

    #[test]
    fn plain_progress_line() {
        let line = render_plain_progress_line(&progress(Some(60)));
        assert_eq!(
            line,
            "elapsed 12s/1m00s (20%)  users 40  req/s 1234  errors 0 (0.00%)  p95 12.3 ms"
        );
        assert!(!line.contains('\r') && !line.contains('\n'));
        let line = render_plain_progress_line(&progress(None));
        assert!(line.starts_with("elapsed 12s  users"));
    }
}

#[test]
fn write_all_writes_the_three_files() {
    let Ok(tmp) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let dir = tmp.path().join("nested/out");
    let report = sample_report();
    let paths = write_all(&report, &dir).unwrap_or_default();
    let names: Vec<String> = paths
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(names, ["summary.json", "index.html", "junit.xml"]);
    assert!(paths.iter().all(|p| p.is_file()));
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap_or_default();
    assert!(text.starts_with("{\n  \""), "pretty-printed");
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert_eq!(RunReport::from_summary_json(doc).ok(), Some(report));
}

#[test]
fn extreme_values_do_not_panic() {
    let mut report = sample_report();
    report.started_at_unix_ms = u64::MAX;
    report.duration_ms = u64::MAX;
    let mut late = crate::metrics::SecondStats::new(u64::MAX);
    late.requests = u64::MAX;
    late.active_users = u64::MAX;
    late.latency.record(Duration::MAX);
    report.stats.series.push(late);
    report.assertions[0].actual = Some(f64::NAN);
    report.assertions[1].actual = Some(f64::INFINITY);
    report
        .stats
        .requests
        .entry(String::new())
        .or_default()
        .record(Duration::MAX, false);
    let html = render_html(&report);
    assert!(html.contains("</html>"));
    assert_well_formed(&render_junit(&report));
    assert!(render_console_summary(&report).contains("Result: FAILED"));
    let back = RunReport::from_summary_json(report.to_summary_json());
    assert!(back.is_ok());
    let p = Progress {
        elapsed: Duration::MAX,
        planned: Some(Duration::from_nanos(1)),
        active_users: u64::MAX,
        requests: 0,
        errors: u64::MAX,
        req_per_sec: f64::NAN,
        p95: Some(Duration::MAX),
    };
    assert!(!render_progress_message(&p).is_empty());
    assert!(!render_plain_progress_line(&p).is_empty());
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn any_text_is_escaped(name in ".{0,40}", error in "\\PC{0,40}", sim in ".{0,20}") {
            let mut report = sample_report();
            report.simulation = sim.clone();
            report.stats.requests.entry(name.clone()).or_default().record(Duration::from_millis(3), false);
            report.stats.add_error(&error, 1);
            report.assertions[1].description = name.clone();
            report.assertions[1].message = error.clone();
            let html = render_html(&report);
            prop_assert!(html.contains(&escape_html(&name)));
            prop_assert!(html.contains(&escape_html(&error)));
            prop_assert!(!html.to_lowercase().contains("<script"));
            assert_well_formed(&render_junit(&report));
            let _ = render_console_summary(&report);
        }
    }
}

#[test]
fn an_amended_distributed_report_says_so_everywhere() {
    let mut report = sample_report();
    let late = AttemptSummary {
        task: 0,
        attempt: 1,
        worker: NASTY_NAME.into(),
        claimed_at_unix_ms: 1_000,
        ended_at_unix_ms: Some(20_000),
        end: Some("reassigned".into()),
        reason: "worker lost".into(),
        sending: Some((0, 9)),
        requests: 120,
        late_requests: 37,
        late_deltas: 4,
        late_between_unix_ms: Some((30_000, 31_000)),
        accounted: false,
        unaccounted_unix_ms: Some((
            report.started_at_unix_ms + 9_000,
            report.started_at_unix_ms + 20_000,
        )),
        ..AttemptSummary::default()
    };
    let next = AttemptSummary {
        attempt: 2,
        sending: Some((15, 59)),
        skipped_before: vec![100],
        accounted: true,
        unaccounted_unix_ms: None,
        ..late.clone()
    };
    let mut attempts = vec![late, next];
    let gap_seconds = measure_gaps(&mut attempts);
    report.distribution = Some(Distribution {
        attempts,
        late_requests: 37,
        late_deltas: 4,
        gap_seconds,
        scenarios: vec![ScenarioAccount {
            name: "browse".into(),
            unit: "arrivals".into(),
            planned: 1200,
            sent: 1100,
            skipped_by_reassignment: 100,
            requests: 1100,
            reported_late: 37,
            ..ScenarioAccount::default()
        }],
    });
    let html = render_html(&report);
    assert!(html.contains("Amended"), "no amendment in the header");
    assert!(html.contains("37 requests arrived late"));
    assert!(html.contains("Tasks and attempts"));
    assert!(html.contains("for 5 s in all"), "the gap is not stated");
    // The gap and the unreported window are shaded on the three time charts.
    assert_eq!(html.matches("class=\"chart-gap\"").count(), 6);
    assert!(html.contains("no attempt sending for 5 s (until attempt 2"));
    assert!(html.contains("not reported after its last delta"));
    assert!(html.contains("Skipped by reassignment"));
    assert!(
        !html.contains(NASTY_NAME),
        "a worker name went out unescaped"
    );
    let console = render_console_summary(&report);
    assert!(
        console.contains(
            "browse: 1200 planned arrivals: 1100 sent, 100 skipped by reassignment, 0 refused by lease"
        ),
        "{console}"
    );
    assert!(console.contains("not reported after"), "{console}");
    let junit = render_junit(&report);
    assert_well_formed(&junit);
    assert!(junit.contains(r#"<property name="late_requests" value="37"/>"#));
    assert!(junit.contains(r#"<property name="gap_seconds" value="5"/>"#));
    assert!(
        junit.contains(r#"<property name="browse.skipped_by_reassignment_arrivals" value="100"/>"#)
    );
    assert!(junit.contains(r#"<property name="browse.reported_late_requests" value="37"/>"#));
    let json = report.to_summary_json();
    assert_eq!(json["distribution"]["late_requests"], 37);
    assert_eq!(json["distribution"]["attempts"][1]["gap_before_seconds"], 5);
    assert_eq!(json["distribution"]["attempts"][0]["accounted"], false);
    assert_eq!(
        json["distribution"]["attempts"][1]["skipped_before"][0],
        100
    );
    let account = &json["distribution"]["scenarios"][0];
    assert_eq!(account["planned"], 1200);
    assert_eq!(account["skipped_by_reassignment"], 100);
    assert_eq!(account["reported_late"], 37);
    let back = RunReport::from_summary_json(json).expect("read back");
    assert_eq!(back.distribution, report.distribution);
    // A local run has none of it.
    let local = sample_report().to_summary_json();
    assert!(local["distribution"].is_null());
    // The wire form (a worker's task report) is the one it always was: no distribution.
    let bytes = crate::wire::encode_report(&report).expect("encode");
    let plain = RunReport {
        distribution: None,
        ..report.clone()
    };
    assert_eq!(crate::wire::decode_report(&bytes).expect("decode"), plain);
    assert_eq!(
        bytes,
        crate::wire::encode_report(&plain).expect("encode"),
        "the wire format changed"
    );
}
