//! JUnit XML (`junit.xml`): the assertions as test cases, for CI systems.

use std::fmt::Write as _;

use super::summary::RunReport;
use super::text::{escape_xml, fmt_number, fmt_rfc3339};

/// Renders the run as a JUnit XML document: one `<testsuite>` named after the simulation (the
/// root element), one `<testcase>` per assertion, with a `<failure>` when the assertion failed.
///
/// A simulation without assertions yields a single passing test case named `simulation ran`
/// rather than an empty suite: several CI tools treat a report with zero test cases as an error
/// or a missing report (Jenkins' JUnit publisher fails the build on "no test results", others
/// show the step as "no tests"), whereas the run itself did succeed.
///
/// All text is escaped for XML 1.0 (characters XML cannot carry become U+FFFD).
pub fn render_junit(report: &RunReport) -> String {
    let suite = escape_xml(&report.simulation);
    let time = report.duration_ms as f64 / 1000.0;
    let failures = report.assertions.iter().filter(|a| !a.passed).count();
    let tests = report.assertions.len().max(1);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        r#"<testsuite name="{suite}" tests="{tests}" failures="{failures}" errors="0" skipped="0" time="{time:.3}" timestamp="{}">"#,
        fmt_rfc3339(report.started_at_unix_ms),
    );
    let mut properties: Vec<(String, String)> = Vec::new();
    if let Some(segment) = &report.segment {
        properties.push(("segment".into(), escape_xml(segment)));
    }
    if let Some(d) = &report.distribution {
        properties.push(("late_requests".into(), d.late_requests.to_string()));
        properties.push(("late_deltas".into(), d.late_deltas.to_string()));
        properties.push(("gap_seconds".into(), d.gap_seconds.to_string()));
        // Per scenario: where its planned load went (`docs/summary-schema.md`).
        for s in &d.scenarios {
            let name = escape_xml(&s.name);
            let unit = s.unit.as_str();
            for (what, value, unit) in [
                ("planned", s.planned, unit),
                ("sent", s.sent, unit),
                ("skipped_by_reassignment", s.skipped_by_reassignment, unit),
                ("refused_by_lease", s.refused_by_lease, unit),
                ("unaccounted", s.unaccounted, unit),
                ("not_reached", s.not_reached, unit),
                ("reported_late", s.reported_late, "requests"),
            ] {
                properties.push((format!("{name}.{what}_{unit}"), value.to_string()));
            }
        }
    }
    if !properties.is_empty() {
        xml.push_str("  <properties>\n");
        for (name, value) in properties {
            let _ = writeln!(xml, "    <property name=\"{name}\" value=\"{value}\"/>");
        }
        xml.push_str("  </properties>\n");
    }
    if report.assertions.is_empty() {
        let _ = writeln!(
            xml,
            r#"  <testcase name="simulation ran" classname="{suite}" time="{time:.3}"/>"#
        );
    }
    for assertion in &report.assertions {
        let name = escape_xml(&assertion.description);
        if assertion.passed {
            let _ = writeln!(
                xml,
                r#"  <testcase name="{name}" classname="{suite}" time="0"/>"#
            );
            continue;
        }
        let message = if assertion.message.is_empty() {
            format!("assertion failed: {}", assertion.description)
        } else {
            assertion.message.clone()
        };
        let actual = assertion
            .actual
            .map_or_else(|| "no data".to_string(), fmt_number);
        let detail = format!("{}\nactual: {actual}\n{message}", assertion.description);
        let _ = writeln!(
            xml,
            r#"  <testcase name="{name}" classname="{suite}" time="0">
    <failure message="{}" type="AssertionFailed">{}</failure>
  </testcase>"#,
            escape_xml(&message),
            escape_xml(&detail),
        );
    }
    xml.push_str("</testsuite>\n");
    xml
}
