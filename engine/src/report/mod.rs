//! Reports of a finished run, all rendered from one [`RunReport`]:
//!
//! * the versioned JSON summary, `summary.json` ([`RunReport::to_summary_json`], schema in
//!   `docs/summary-schema.md`), which keeps the exact histograms so summaries can be re-read and
//!   merged;
//! * a self-contained HTML report, `index.html` ([`render_html`]): inline CSS and inline SVG
//!   charts, no script and no external resource, so it opens offline;
//! * JUnit XML, `junit.xml` ([`render_junit`]): one test case per assertion, for CI;
//! * the comparison of two runs, request name by request name, with the regressions a set of
//!   thresholds finds ([`compare`]);
//! * the console summary printed at the end of a run ([`render_console_summary`]) and the live
//!   progress line ([`render_progress_message`] beside a terminal's bar,
//!   [`render_plain_progress_line`] in logs).
//!
//! [`write_all`] writes the three files into an output directory. Every renderer accepts any
//! report, empty ones included, and escapes all user text (request names, error messages,
//! samples).

mod attempts;
mod compare;
mod console;
mod html;
mod junit;
mod summary;
mod svg;
mod text;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use attempts::{
    account_scenarios, measure_gaps, AttemptPositions, AttemptSummary, Distribution,
    ScenarioAccount,
};
pub use compare::{compare, ComparedRow, Comparison, Thresholds, ALL_REQUESTS};
pub use console::{
    render_console_summary, render_plain_progress_line, render_progress_message, Progress,
};
pub use html::render_html;
pub use junit::render_junit;
pub use summary::{
    ErrorRow, RunReport, ScenarioInfo, SeriesPoint, StatsRow, SUMMARY_SCHEMA_VERSION,
};

/// File name of the JSON summary.
pub const SUMMARY_FILE: &str = "summary.json";
/// File name of the HTML report.
pub const HTML_FILE: &str = "index.html";
/// File name of the JUnit XML report.
pub const JUNIT_FILE: &str = "junit.xml";

/// Writes `summary.json` (pretty-printed), `index.html` and `junit.xml` into `dir`, creating it
/// (and its parents) if needed, and returns the paths written, in that order. Existing files are
/// replaced.
pub fn write_all(report: &RunReport, dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut summary = serde_json::to_string_pretty(&report.to_summary_json())
        .map_err(|e| io::Error::other(format!("cannot encode the summary: {e}")))?;
    summary.push('\n');
    let files = [
        (SUMMARY_FILE, summary),
        (HTML_FILE, render_html(report)),
        (JUNIT_FILE, render_junit(report)),
    ];
    let mut written = Vec::with_capacity(files.len());
    for (name, content) in files {
        let path = dir.join(name);
        fs::write(&path, content)?;
        written.push(path);
    }
    Ok(written)
}
