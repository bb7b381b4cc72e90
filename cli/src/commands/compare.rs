//! `broadside compare BASELINE CANDIDATE`: two jobs of a cluster compared request name by
//! request name (the masters' compare route, which the web UI's Compare screen shows too);
//! exits 1 when the candidate regressed beyond the thresholds, so a CI job can gate on it.

use broadside_client::api::{CompareQuery, Comparison};
use broadside_engine::report::ComparedRow;
use clap::Args;

use super::inspect::{failed, opt, print_json, table, ApiArgs};
use super::{EXIT_ASSERTION_FAILED, EXIT_BAD_INPUT, EXIT_OK};

/// Arguments of `broadside compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The baseline job's id.
    pub baseline: u64,
    /// The candidate job's id.
    pub candidate: u64,
    /// Largest accepted increase of a request's p95, in percent.
    #[arg(long, default_value_t = 10.0, value_name = "PERCENT")]
    pub max_p95_increase: f64,
    /// Largest accepted increase of a request's p99, in percent (default: not judged).
    #[arg(long, value_name = "PERCENT")]
    pub max_p99_increase: Option<f64>,
    /// Largest accepted increase of a request's error rate, in percentage points.
    #[arg(long, default_value_t = 1.0, value_name = "POINTS")]
    pub max_error_increase: f64,
    /// Compare even when a job has not finished (its results so far); without it, that is
    /// an error: a CI gate must not pass or fail on a partial run.
    #[arg(long)]
    pub allow_running: bool,
}

/// A latency cell: `12.3` or `-`.
fn ms(v: Option<f64>) -> String {
    opt(v)
}

/// A change cell: `+12.5%`, `-3%` or `-`.
fn change(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:+}{unit}"))
}

/// One table row of a compared request name.
fn row(r: &ComparedRow) -> Vec<String> {
    let count = |s: Option<&broadside_engine::report::StatsRow>| opt(s.map(|s| s.count));
    let errors = |s: Option<&broadside_engine::report::StatsRow>| opt(s.map(|s| s.ko_percent));
    let (b, c) = (r.baseline.as_ref(), r.candidate.as_ref());
    vec![
        r.name.clone(),
        format!("{} → {}", count(b), count(c)),
        format!("{} → {}", errors(b), errors(c)),
        change(r.error_rate_change, " pt"),
        format!(
            "{} → {}",
            ms(b.and_then(|s| s.p50_ms)),
            ms(c.and_then(|s| s.p50_ms))
        ),
        format!(
            "{} → {} ({})",
            ms(b.and_then(|s| s.p95_ms)),
            ms(c.and_then(|s| s.p95_ms)),
            change(r.p95_change_percent, "%")
        ),
        format!(
            "{} → {} ({})",
            ms(b.and_then(|s| s.p99_ms)),
            ms(c.and_then(|s| s.p99_ms)),
            change(r.p99_change_percent, "%")
        ),
        if r.regressions.is_empty() {
            "ok".into()
        } else {
            "REGRESSED".into()
        },
    ]
}

/// Prints the comparison as a table and the regressions under it.
fn print(c: &Comparison) {
    println!(
        "baseline: job {} {} ({})\ncandidate: job {} {} ({})",
        c.baseline.id,
        c.baseline.name,
        c.baseline.state,
        c.candidate.id,
        c.candidate.name,
        c.candidate.state
    );
    table(
        &[
            "request", "count", "error %", "errors", "p50 ms", "p95 ms", "p99 ms", "verdict",
        ],
        c.rows.iter().map(row).collect(),
    );
    for r in c.rows.iter().filter(|r| !r.regressions.is_empty()) {
        for why in &r.regressions {
            println!("regression: {}: {why}", r.name);
        }
    }
    if !c.regressed {
        println!("no regression");
    }
}

/// `broadside compare`.
pub async fn execute(args: CompareArgs) -> u8 {
    let client = match args.api.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let query = CompareQuery {
        baseline: args.baseline,
        max_p95_increase_percent: Some(args.max_p95_increase),
        max_p99_increase_percent: args.max_p99_increase,
        max_error_rate_increase: Some(args.max_error_increase),
    };
    if let Some(problem) = query.thresholds().problem() {
        eprintln!("error: {problem}");
        return EXIT_BAD_INPUT;
    }
    let comparison = match client.compare(args.candidate, &query).await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let unfinished: Vec<String> = [&comparison.baseline, &comparison.candidate]
        .iter()
        .filter(|j| !j.state.is_terminal())
        .map(|j| format!("job {} is {}", j.id, j.state))
        .collect();
    if !unfinished.is_empty() && !args.allow_running {
        eprintln!(
            "error: {}: wait for it, or pass --allow-running to compare what it did so far",
            unfinished.join(", ")
        );
        return EXIT_BAD_INPUT;
    }
    if args.api.json {
        print_json(&comparison);
    } else {
        print(&comparison);
    }
    if comparison.regressed {
        EXIT_ASSERTION_FAILED
    } else {
        EXIT_OK
    }
}
