//! Console output: the final summary printed at the end of a run (in the spirit of Gatling's)
//! and the live progress line printed while it runs.

use std::fmt::Write as _;
use std::time::Duration;

use super::attempts::Distribution;
use super::summary::{RunReport, StatsRow};
use super::text::{
    fmt_elapsed, fmt_latency, fmt_number, fmt_opt_ms, fmt_percent, fmt_rate, fmt_run_duration,
    fmt_timestamp, percent, truncate_chars,
};

/// Width of the summary's rules.
const RULE_WIDTH: usize = 80;
/// Width of the request-name column of the summary.
const NAME_WIDTH: usize = 28;
/// At most this many error messages are listed in the summary.
const MAX_ERRORS_SHOWN: usize = 10;
/// Bounds of the response-time distribution, in microseconds.
const LOW_MICROS: u64 = 800_000;
/// Upper bound of the middle band of the distribution, in microseconds.
const HIGH_MICROS: u64 = 1_200_000;

/// The live state shown by the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Progress {
    /// Time since the start of the run.
    pub elapsed: Duration,
    /// Planned duration of the run, when known.
    pub planned: Option<Duration>,
    /// Virtual users currently running.
    pub active_users: u64,
    /// Requests completed so far.
    pub requests: u64,
    /// Failed requests so far.
    pub errors: u64,
    /// Current throughput (requests per second).
    pub req_per_sec: f64,
    /// Current 95th percentile of response times, when any response arrived.
    pub p95: Option<Duration>,
}

/// What a terminal's progress bar shows beside the bar: the time, then the numbers, e.g.
/// `12s/1m00s  users 40  req/s 1234  errors 0 (0.00%)  p95 12.3 ms` (the planned duration
/// only when known). No carriage return, no newline.
pub fn render_progress_message(p: &Progress) -> String {
    let time = match p.planned {
        Some(planned) => format!("{}/{}", fmt_elapsed(p.elapsed), fmt_elapsed(planned)),
        None => fmt_elapsed(p.elapsed),
    };
    format!("{time}  {}", numbers(p))
}

/// The progress line for logs and other non-terminal output: no bar, no carriage return, no
/// newline, e.g. `elapsed 12s/60s (20%)  users 40  req/s 1234  errors 0 (0.00%)  p95 12.3 ms`.
pub fn render_plain_progress_line(p: &Progress) -> String {
    let time = match p.planned {
        Some(planned) => {
            let done = if planned.is_zero() {
                100.0
            } else {
                (p.elapsed.as_secs_f64() / planned.as_secs_f64() * 100.0).clamp(0.0, 100.0)
            };
            format!(
                "{}/{} ({done:.0}%)",
                fmt_elapsed(p.elapsed),
                fmt_elapsed(planned)
            )
        }
        None => fmt_elapsed(p.elapsed),
    };
    format!("elapsed {time}  {}", numbers(p))
}

/// The part shared by both progress lines.
fn numbers(p: &Progress) -> String {
    let p95 = p.p95.map_or_else(|| "-".to_string(), fmt_latency);
    format!(
        "users {}  req/s {}  errors {} ({})  p95 {p95}",
        p.active_users,
        fmt_rate(p.req_per_sec),
        p.errors,
        fmt_percent(percent(p.errors, p.requests)),
    )
}

/// The final summary: global statistics, the response-time distribution, one line per request
/// (and per group), the most frequent errors and the assertions with ✓/✗; no trailing newline.
///
/// The distribution bands (`t < 800 ms`, `800 ms <= t < 1200 ms`, `t >= 1200 ms`) count all
/// responses, successful or not, since latencies are recorded for both; the `failed` line counts
/// the failed ones, which are therefore also in a band. Bands are decided on the lower bound of
/// each histogram bucket (0.1% precision).
pub fn render_console_summary(report: &RunReport) -> String {
    let mut out = String::new();
    let all = report.all_row();
    let rule = "=".repeat(RULE_WIDTH);
    let _ = writeln!(out, "{rule}");
    let segment = report
        .segment
        .as_deref()
        .map(|s| format!(" (segment {s})"))
        .unwrap_or_default();
    let _ = writeln!(out, "Simulation {}{segment}", one_line(&report.simulation));
    let _ = writeln!(
        out,
        "Started {}, ran {}; users started {}, finished {}",
        fmt_timestamp(report.started_at_unix_ms),
        fmt_run_duration(report.duration_ms),
        report.stats.users_started,
        report.stats.users_finished,
    );

    section(&mut out, "Global Information");
    let counts = format!("(OK={} KO={})", all.ok, all.ko);
    line(&mut out, "request count", &all.count.to_string(), &counts);
    let ms = |label: &str, v: Option<f64>, out: &mut String| {
        line(out, &format!("{label} (ms)"), &fmt_opt_ms(v), "");
    };
    ms("min response time", all.min_ms, &mut out);
    ms("mean response time", all.mean_ms, &mut out);
    ms("max response time", all.max_ms, &mut out);
    ms("std deviation", all.stddev_ms, &mut out);
    ms("response time 50th percentile", all.p50_ms, &mut out);
    ms("response time 75th percentile", all.p75_ms, &mut out);
    ms("response time 95th percentile", all.p95_ms, &mut out);
    ms("response time 99th percentile", all.p99_ms, &mut out);
    line(
        &mut out,
        "mean requests/sec",
        &fmt_rate(all.req_per_sec),
        "",
    );

    section(&mut out, "Response Time Distribution");
    let (low, mid, high) = distribution(report);
    for (label, n) in [
        ("t < 800 ms", low),
        ("800 ms <= t < 1200 ms", mid),
        ("t >= 1200 ms", high),
        ("failed", all.ko),
    ] {
        line(
            &mut out,
            label,
            &n.to_string(),
            &format!("({})", fmt_percent(percent(n, all.count))),
        );
    }

    let requests = report.request_rows();
    if !requests.is_empty() {
        section(&mut out, "Requests");
        table(&mut out, &requests);
    }
    let groups = report.group_rows();
    if !groups.is_empty() {
        section(&mut out, "Groups");
        table(&mut out, &groups);
    }

    let errors = report.error_rows();
    if !errors.is_empty() {
        section(&mut out, "Errors");
        for e in errors.iter().take(MAX_ERRORS_SHOWN) {
            let message = truncate_chars(&one_line(&e.message), 58);
            let _ = writeln!(
                out,
                "> {message:<58} {:>8} ({:>7})",
                e.count,
                fmt_percent(e.percent)
            );
        }
        if errors.len() > MAX_ERRORS_SHOWN {
            let _ = writeln!(out, "> … and {} more", errors.len() - MAX_ERRORS_SHOWN);
        }
    }

    if let Some(d) = &report.distribution {
        tasks(&mut out, d);
    }

    if !report.assertions.is_empty() {
        section(&mut out, "Assertions");
        for a in &report.assertions {
            let mark = if a.passed { '✓' } else { '✗' };
            let actual = a
                .actual
                .map(|v| format!(" (actual {})", fmt_number(v)))
                .unwrap_or_default();
            let _ = write!(out, "{mark} {}{actual}", one_line(&a.description));
            if !a.passed && !a.message.is_empty() {
                let _ = write!(out, ": {}", one_line(&a.message));
            }
            out.push('\n');
        }
    }
    let failed = report.assertions.iter().filter(|a| !a.passed).count();
    let verdict = if failed == 0 {
        "PASSED".to_string()
    } else {
        format!(
            "FAILED ({failed} of {} assertions failed)",
            report.assertions.len()
        )
    };
    let _ = write!(out, "{rule}\nResult: {verdict}");
    out
}

/// A distributed run's attempts and where each scenario's planned load went, when something
/// is worth saying (a reassignment, late deltas, load not sent).
fn tasks(out: &mut String, d: &Distribution) {
    let reassigned = d.attempts.iter().filter(|a| a.attempt > 1).count();
    let missing = d.scenarios.iter().any(|s| {
        s.skipped_by_reassignment + s.refused_by_lease + s.unaccounted + s.not_reached > 0
    });
    if reassigned == 0 && !d.amended() && !missing {
        return;
    }
    section(out, "Tasks");
    let _ = writeln!(
        out,
        "> {} attempts, {reassigned} after a reassignment; {} requests arrived late (in {} deltas); {} s without an attempt sending",
        d.attempts.len(),
        d.late_requests,
        d.late_deltas,
        d.gap_seconds
    );
    for s in &d.scenarios {
        let unit = if s.unit == "user_ms" {
            "user-ms"
        } else {
            "arrivals"
        };
        let _ = writeln!(
            out,
            "> {}: {} planned {unit}: {} sent, {} skipped by reassignment, {} refused by lease, {} unaccounted, {} not reached",
            one_line(&s.name),
            s.planned,
            s.sent,
            s.skipped_by_reassignment,
            s.refused_by_lease,
            s.unaccounted,
            s.not_reached
        );
    }
    for a in d
        .attempts
        .iter()
        .filter(|a| a.unaccounted_unix_ms.is_some())
    {
        let _ = writeln!(
            out,
            "> task {} attempt {} on {}: not reported after {} (its worker never delivered the rest)",
            a.task,
            a.attempt,
            one_line(&a.worker),
            a.unaccounted_unix_ms
                .map_or_else(String::new, |(from, _)| fmt_timestamp(from))
        );
    }
}

/// Counts of all responses below 800 ms, between 800 and 1200 ms, and from 1200 ms on.
fn distribution(report: &RunReport) -> (u64, u64, u64) {
    let mut bands = (0u64, 0u64, 0u64);
    for stats in report.stats.requests.values() {
        for (micros, count) in stats.latency.entries() {
            let band = if micros < LOW_MICROS {
                &mut bands.0
            } else if micros < HIGH_MICROS {
                &mut bands.1
            } else {
                &mut bands.2
            };
            *band = band.saturating_add(count);
        }
    }
    bands
}

/// A section title padded into a rule.
fn section(out: &mut String, title: &str) {
    let head = format!("---- {title} ");
    let pad = RULE_WIDTH.saturating_sub(head.chars().count());
    let _ = writeln!(out, "{head}{}", "-".repeat(pad));
}

/// `> label ....... value suffix`.
fn line(out: &mut String, label: &str, value: &str, suffix: &str) {
    let _ = writeln!(out, "> {label:<50}{value:>12} {suffix}");
    if out.ends_with(" \n") {
        out.truncate(out.len() - 2);
        out.push('\n');
    }
}

/// One line per row: name, count, ko %, percentiles, max and rate.
fn table(out: &mut String, rows: &std::collections::BTreeMap<String, StatsRow>) {
    let _ = writeln!(
        out,
        "{:<NAME_WIDTH$} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "name", "count", "ko %", "p50", "p95", "p99", "max", "req/s"
    );
    for (name, r) in rows {
        let name = truncate_chars(&one_line(name), NAME_WIDTH);
        let _ = writeln!(
            out,
            "{name:<NAME_WIDTH$} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            r.count,
            format!("{:.2}", r.ko_percent),
            fmt_opt_ms(r.p50_ms),
            fmt_opt_ms(r.p95_ms),
            fmt_opt_ms(r.p99_ms),
            fmt_opt_ms(r.max_ms),
            fmt_rate(r.req_per_sec),
        );
    }
}

/// Text on one line: control characters (newlines included) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
