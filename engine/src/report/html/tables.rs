//! The tables of the HTML report: requests, groups, errors (with samples), assertions and
//! scenarios. All user text is escaped here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::super::attempts::{Distribution, ScenarioAccount};
use super::super::summary::{RunReport, StatsRow};
use super::super::text::{
    escape_html, fmt_grouped, fmt_number, fmt_opt_ms, fmt_percent, fmt_rate, fmt_timestamp,
};
use crate::metrics::ErrorSample;

/// Header cells of a statistics table after the name.
const STATS_COLUMNS: [&str; 13] = [
    "Count", "OK", "KO", "KO %", "Min", "p50", "p75", "p95", "p99", "p99.9", "Max", "Mean", "Req/s",
];

/// The requests table: one row per request name, then an "All requests" row.
pub(super) fn requests(report: &RunReport) -> String {
    let rows = report.request_rows();
    if rows.is_empty() {
        return empty("No requests were recorded.");
    }
    stats_table(&rows, Some(&report.all_row()), "Request")
}

/// The groups table: one row per group (latency is the group's cumulative time).
pub(super) fn groups(report: &RunReport) -> String {
    let rows = report.group_rows();
    if rows.is_empty() {
        return empty("No groups were recorded.");
    }
    let mut out = String::from(
        "<p class=\"hint\">Group times are cumulative: the whole time spent in the group, \
         pauses included.</p>\n",
    );
    out.push_str(&stats_table(&rows, None, "Group"));
    out
}

/// A statistics table with times in milliseconds.
fn stats_table(rows: &BTreeMap<String, StatsRow>, all: Option<&StatsRow>, first: &str) -> String {
    let mut out = String::from("<div class=\"scroll\"><table class=\"stats\">\n<thead><tr>");
    let _ = write!(out, "<th class=\"name\">{first}</th>");
    for column in STATS_COLUMNS {
        out.push_str("<th>");
        out.push_str(column);
        out.push_str("</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (name, row) in rows {
        stats_row(&mut out, &escape_html(name), row, "");
    }
    out.push_str("</tbody>\n");
    if let Some(all) = all {
        out.push_str("<tfoot>\n");
        stats_row(&mut out, "All requests", all, " class=\"all\"");
        out.push_str("</tfoot>\n");
    }
    out.push_str("</table></div>\n<p class=\"hint\">Times in milliseconds.</p>\n");
    out
}

/// One row; `name` is already escaped.
fn stats_row(out: &mut String, name: &str, r: &StatsRow, class: &str) {
    let ko_class = if r.ko > 0 { " class=\"bad\"" } else { "" };
    let _ = write!(
        out,
        "<tr{class}><td class=\"name\">{name}</td><td>{}</td><td>{}</td><td{ko_class}>{}</td>\
         <td{ko_class}>{}</td>",
        fmt_grouped(r.count),
        fmt_grouped(r.ok),
        fmt_grouped(r.ko),
        fmt_percent(r.ko_percent),
    );
    for v in [
        r.min_ms, r.p50_ms, r.p75_ms, r.p95_ms, r.p99_ms, r.p99_9_ms, r.max_ms, r.mean_ms,
    ] {
        let _ = write!(out, "<td>{}</td>", fmt_opt_ms(v));
    }
    let _ = writeln!(out, "<td>{}</td></tr>", fmt_rate(r.req_per_sec));
}

/// The errors table: message, count and share, with the samples of each message.
pub(super) fn errors(report: &RunReport) -> String {
    let rows = report.error_rows();
    if rows.is_empty() {
        return empty("No errors.");
    }
    let samples = &report.stats.error_samples;
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"errors\">\n<thead><tr><th class=\"name\">Error</th>\
         <th>Count</th><th>% of errors</th></tr></thead>\n<tbody>\n",
    );
    for row in &rows {
        let mine: Vec<&ErrorSample> = samples.iter().filter(|s| s.error == row.message).collect();
        let _ = writeln!(
            out,
            "<tr><td class=\"name\"><div class=\"message\">{}</div>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            escape_html(&row.message),
            samples_details(&mine),
            fmt_grouped(row.count),
            fmt_percent(row.percent),
        );
    }
    out.push_str("</tbody>\n</table></div>\n");
    let orphans: Vec<&ErrorSample> = samples
        .iter()
        .filter(|s| !rows.iter().any(|r| r.message == s.error))
        .collect();
    if !orphans.is_empty() {
        out.push_str("<p class=\"hint\">Samples of other errors:</p>\n");
        out.push_str(&samples_details(&orphans));
    }
    out
}

/// A collapsed block with the request and response of each sample (empty without samples).
fn samples_details(samples: &[&ErrorSample]) -> String {
    if samples.is_empty() {
        return String::new();
    }
    let plural = if samples.len() == 1 { "" } else { "s" };
    let mut out = format!(
        "<details><summary>{} sample{plural}</summary>\n",
        samples.len()
    );
    for s in samples {
        let _ = write!(
            out,
            "<div class=\"sample\"><div class=\"sample-title\">Request <code>{}</code>: {}</div>\
             <div class=\"sample-grid\"><div><div class=\"sample-label\">Request</div>\
             <pre>{}</pre></div>",
            escape_html(&s.request),
            escape_html(&s.error),
            escape_html(&s.request_text),
        );
        let response = if s.response_text.is_empty() {
            "<pre class=\"none\">(no response)</pre>".to_string()
        } else {
            format!("<pre>{}</pre>", escape_html(&s.response_text))
        };
        let _ = writeln!(
            out,
            "<div><div class=\"sample-label\">Response</div>{response}</div></div></div>"
        );
    }
    out.push_str("</details>");
    out
}

/// The assertions table.
pub(super) fn assertions(report: &RunReport) -> String {
    if report.assertions.is_empty() {
        return empty("The simulation defines no assertions.");
    }
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"assertions\">\n<thead><tr>\
         <th class=\"name\">Assertion</th><th>Actual</th><th>Result</th></tr></thead>\n<tbody>\n",
    );
    for a in &report.assertions {
        let (class, label) = if a.passed {
            ("pill pass", "✓ pass")
        } else {
            ("pill fail", "✗ fail")
        };
        let actual = a.actual.map_or_else(|| "–".to_string(), fmt_number);
        let message = if a.message.is_empty() {
            String::new()
        } else {
            format!("<div class=\"hint\">{}</div>", escape_html(&a.message))
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"name\">{}{message}</td><td>{}</td>\
             <td><span class=\"{class}\">{label}</span></td></tr>",
            escape_html(&a.description),
            escape_html(&actual),
        );
    }
    out.push_str("</tbody>\n</table></div>\n");
    out
}

/// The scenarios table.
pub(super) fn scenarios(report: &RunReport) -> String {
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"scenarios\">\n<thead><tr>\
         <th class=\"name\">Scenario</th><th>Planned users</th><th>Started users</th></tr></thead>\
         \n<tbody>\n",
    );
    for s in &report.scenarios {
        let planned = s.planned_users.map_or_else(|| "–".to_string(), fmt_grouped);
        let _ = writeln!(
            out,
            "<tr><td class=\"name\">{}</td><td>{planned}</td><td>{}</td></tr>",
            escape_html(&s.name),
            fmt_grouped(s.started_users),
        );
    }
    out.push_str("</tbody>\n</table></div>\n");
    out
}

/// A placeholder paragraph.
fn empty(text: &str) -> String {
    format!("<p class=\"empty\">{text}</p>\n")
}

/// Every attempt of every task of a distributed run: worker, timeline, requests, late deltas,
/// and the silent seconds before it.
pub(super) fn attempts(d: &Distribution) -> String {
    if d.attempts.is_empty() {
        return empty("No task was claimed.");
    }
    let mut out = scenario_accounts(d);
    if d.gap_seconds > 0 {
        let _ = writeln!(
            out,
            "<p class=\"hint\">Tasks had no attempt sending for {} s in all, between attempts \
             (planned load in those seconds was not sent).</p>",
            fmt_grouped(d.gap_seconds)
        );
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"attempts\">\n<thead><tr><th>Task</th><th>Attempt</th>\
         <th class=\"name\">Worker</th><th>Claimed</th><th>Ended</th><th>End</th>\
         <th>Sending (s)</th><th>Silent before (s)</th><th>Skipped before</th><th>Requests</th><th>Late requests</th>\
         <th>Unreported after</th><th class=\"name\">Reason</th></tr></thead>\n<tbody>\n",
    );
    for a in &d.attempts {
        let sending = a
            .sending
            .map_or_else(|| "—".to_owned(), |(first, last)| format!("{first}–{last}"));
        // One figure per scenario, in its unit (closed models in user-seconds).
        let skipped = a
            .skipped_before
            .iter()
            .zip(&d.scenarios)
            .map(|(v, s)| amount(s, *v))
            .collect::<Vec<_>>()
            .join(" / ");
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"name\">{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{sending}</td><td>{}</td><td>{skipped}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"name\">{}</td></tr>",
            a.task,
            a.attempt,
            escape_html(&a.worker),
            escape_html(&fmt_timestamp(a.claimed_at_unix_ms)),
            a.ended_at_unix_ms
                .map_or_else(|| "—".to_owned(), |t| escape_html(&fmt_timestamp(t))),
            escape_html(a.end.as_deref().unwrap_or("running")),
            a.gap_before_seconds,
            fmt_grouped(a.requests),
            fmt_grouped(a.late_requests),
            a.unaccounted_unix_ms.map_or_else(
                || "—".to_owned(),
                |(from, _)| escape_html(&fmt_timestamp(from))
            ),
            escape_html(&a.reason),
        );
    }
    out.push_str("</tbody>\n</table></div>\n");
    out
}

/// An amount of scenario `s`'s schedule: arrivals, or (a closed model's planned
/// user-milliseconds) user-seconds.
fn amount(s: &ScenarioAccount, v: u64) -> String {
    if s.unit == "user_ms" {
        format!("{:.1}", v as f64 / 1000.0)
    } else {
        fmt_grouped(v)
    }
}

/// Where every scenario's planned load went: sent, skipped between attempts, unaccounted (a
/// worker that never delivered its last deltas), not reached.
fn scenario_accounts(d: &Distribution) -> String {
    if d.scenarios.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"accounts\">\n<thead><tr>\
         <th class=\"name\">Scenario</th><th>Unit</th><th>Planned</th><th>Sent</th>\
         <th>Skipped by reassignment</th><th>Refused by lease</th><th>Unaccounted</th><th>Not reached</th>\
         <th>Requests</th><th>Reported late</th></tr></thead>\n<tbody>\n",
    );
    for s in &d.scenarios {
        let unit = if s.unit == "user_ms" {
            "user-seconds"
        } else {
            "arrivals"
        };
        let show = |v| amount(s, v);
        let _ = writeln!(
            out,
            "<tr><td class=\"name\">{}</td><td>{unit}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&s.name),
            show(s.planned),
            show(s.sent),
            show(s.skipped_by_reassignment),
            show(s.refused_by_lease),
            show(s.unaccounted),
            show(s.not_reached),
            fmt_grouped(s.requests),
            fmt_grouped(s.reported_late),
        );
    }
    out.push_str("</tbody>\n</table></div>\n");
    out
}
