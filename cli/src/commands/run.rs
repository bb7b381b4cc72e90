//! `broadside run FILE`: run a simulation (or one segment of it) on this machine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use broadside_engine::protocol::AddressPolicy;
use broadside_engine::report;
use broadside_engine::runtime::{build_report, Plan, Run, RunConfig};
use broadside_engine::secrets::Secrets;
use broadside_engine::Segment;
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::progress::ProgressPrinter;

/// Arguments of `broadside run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The simulation file (YAML or JSON).
    pub file: PathBuf,
    /// Run segment i of N (1-based, e.g. `2/3`): the N segments together make up exactly the
    /// whole simulation (users, arrival instants, rates, queue-feeder records).
    #[arg(long, value_name = "i/N")]
    pub segment: Option<Segment>,
    /// Start the schedule at this elapsed offset (e.g. `30s`), as a resumed task does.
    #[arg(long, value_name = "OFFSET", value_parser = parse_duration)]
    pub from: Option<Duration>,
    /// Write summary.json, index.html (the report) and junit.xml into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Override the simulation's `http.base_url`.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Allow load to go to non-loopback addresses (refused by default as a safety interlock).
    #[arg(long)]
    pub allow_remote_targets: bool,
    /// No live progress line.
    ///
    /// Secrets: every `BROADSIDE_SECRET_<name>` environment variable is what `secret('<name>')`
    /// reads in the simulation; their values are redacted from every report.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    broadside_engine::model::DurationSpec::parse(text).map(|d| d.get())
}

/// Loads and runs the file; returns the exit code.
pub async fn execute(args: RunArgs) -> u8 {
    let mut sim = match broadside_engine::simulation::load_file(&args.file) {
        Ok((sim, _)) => sim,
        Err(errors) => {
            eprintln!("{errors}");
            return super::EXIT_BAD_INPUT;
        }
    };
    if let Some(url) = &args.base_url {
        sim.http.base_url = Some(url.clone());
        sim.http.base_urls.clear();
    }
    let dir = args
        .file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let plan = match broadside_engine::simulation::compile_simulation(
        &sim,
        &broadside_engine::runtime::DirFiles::new(dir),
    ) {
        Ok(plan) => plan,
        Err(errors) => {
            eprintln!("{errors}");
            return super::EXIT_BAD_INPUT;
        }
    };
    let options = RunOptions {
        segment: args.segment.unwrap_or_default(),
        from: args.from.unwrap_or_default(),
        policy: if args.allow_remote_targets {
            AddressPolicy::Any
        } else {
            AddressPolicy::LoopbackOnly
        },
        out: args.out,
        quiet: args.quiet,
    };
    run_plan(Arc::new(plan), options).await
}

/// How the CLI runs a compiled plan.
#[derive(Debug)]
pub struct RunOptions {
    /// Segment to run.
    pub segment: Segment,
    /// Resume offset.
    pub from: Duration,
    /// Address policy.
    pub policy: AddressPolicy,
    /// Report directory.
    pub out: Option<PathBuf>,
    /// No live progress.
    pub quiet: bool,
}

/// The secrets of a local run: every `BROADSIDE_SECRET_<name>` environment variable is the
/// secret `<name>` (what `secret('<name>')` reads in the simulation).
/// A value shorter than [`broadside_engine::redact::MIN_SECRET_LEN`] could not be told apart
/// from ordinary text in a report, so it is refused, as the masters refuse it.
fn secrets_from_env() -> Result<Secrets, String> {
    let mut pairs = Vec::new();
    for (key, value) in std::env::vars() {
        let Some(name) = key
            .strip_prefix(SECRET_ENV_PREFIX)
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        if value.len() < broadside_engine::redact::MIN_SECRET_LEN {
            return Err(format!(
                "{key}: a secret is at least {} bytes long",
                broadside_engine::redact::MIN_SECRET_LEN
            ));
        }
        pairs.push((name.to_owned(), value));
    }
    Ok(Secrets::new(pairs))
}

/// Environment variables naming a local run's secrets start with this.
pub const SECRET_ENV_PREFIX: &str = "BROADSIDE_SECRET_";

/// Runs `plan` with live progress, prints the summary, writes the reports, and returns the
/// exit code. The first Ctrl-C stops the run early; results so far are still reported.
pub async fn run_plan(plan: Arc<Plan>, options: RunOptions) -> u8 {
    let secrets = match secrets_from_env() {
        Ok(secrets) => secrets,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_BAD_INPUT;
        }
    };
    let stop = CancellationToken::new();
    let config = RunConfig {
        segment: options.segment,
        from: options.from,
        policy: options.policy.into(),
        secrets,
        stop: stop.clone(),
        ..RunConfig::default()
    };
    let run = match Run::start(plan.clone(), config) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_BAD_INPUT;
        }
    };
    let progress = (!options.quiet).then(|| ProgressPrinter::start(&run));
    let interrupt = {
        let stop = stop.clone();
        tokio::spawn(async move {
            super::shutdown_signal().await;
            eprintln!("\ninterrupted: stopping virtual users and writing the results so far");
            stop.cancel();
        })
    };
    let outcome = run.wait().await;
    interrupt.abort();
    if let Some(p) = progress {
        p.finish().await;
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_BAD_INPUT;
        }
    };
    let report = build_report(&plan, &outcome, options.segment);
    println!("{}", report::render_console_summary(&report));
    if let Some(dir) = &options.out {
        match report::write_all(&report, dir) {
            Ok(paths) => {
                for p in paths {
                    println!("wrote {}", p.display());
                }
            }
            Err(e) => {
                eprintln!("error: cannot write the report to {}: {e}", dir.display());
                return super::EXIT_BAD_INPUT;
            }
        }
    }
    if report.passed() {
        super::EXIT_OK
    } else {
        super::EXIT_ASSERTION_FAILED
    }
}
