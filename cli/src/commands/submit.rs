//! `broadside submit`: run a simulation on a cluster, the CI way.
//!
//! Uploads the simulation and its data files into a project (created when missing), submits a
//! job, and with `--wait` follows its live stream in the terminal (the same line as `run`),
//! then prints the merged summary, writes `summary.json`, `index.html` and `junit.xml` into
//! `--out`, and exits like `run`: 0 when every assertion passes, 1 when one fails, 2 when the
//! job could not run (bad input, a failed or aborted job).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use broadside_client::api::{
    JobResult, JobState, OnTimeout, ProgressEvent, ReassignTo, SplitMode, StartPolicy, Submission,
};
use broadside_client::{Client, ClientError, LiveEvent};
use broadside_engine::report::{render_console_summary, Progress};
use clap::Args;
use parking_lot::Mutex;

use super::connect::Connection;
use super::{EXIT_ASSERTION_FAILED, EXIT_BAD_INPUT, EXIT_OK};
use crate::progress::ProgressPrinter;

/// Arguments of `broadside submit`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
broadside submit sims/shop.yaml --data sims/customers.csv --parallelism 3 \\\n    \
--master http://127.0.0.1:8081 --wait --out report\n\n\
Data files keep their path relative to the simulation's directory, so the simulation finds\n\
them as `broadside run` would. Exit codes with --wait: 0 every assertion passed, 1 an\n\
assertion failed, 2 the job could not run.")]
pub struct SubmitArgs {
    /// The simulation file.
    pub simulation: PathBuf,
    /// Data files the simulation reads (feeders, bodies); repeat or separate with commas.
    #[arg(long, value_delimiter = ',')]
    pub data: Vec<PathBuf>,
    #[command(flatten)]
    pub connection: Connection,
    /// Project the files and the job go to.
    #[arg(long, default_value = "default")]
    pub project: String,
    /// Number of tasks (workers) the job runs on.
    #[arg(long, default_value_t = 1)]
    pub parallelism: u32,
    /// Worker pool.
    #[arg(long, default_value = "default")]
    pub pool: String,
    /// Each task runs a segment of the simulation (the default: the tasks add up to it).
    #[arg(long, conflicts_with = "replicate")]
    pub split: bool,
    /// Each task runs the whole simulation (N× the load).
    #[arg(long)]
    pub replicate: bool,
    /// How long to wait for every task to be claimed.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub start_timeout: Duration,
    /// What to do then: fail, wait or start (with the tasks claimed so far).
    #[arg(long, default_value = "fail", value_parser = parse_on_timeout)]
    pub on_timeout: OnTimeout,
    /// Where a task lost with its worker runs again: distinct-worker (one that runs no other
    /// task of the job; the task waits for one) or any-free-slot.
    #[arg(long, default_value = "distinct-worker", value_parser = parse_reassign_to)]
    pub reassign_to: ReassignTo,
    /// Follow the job to its end, print the summary and exit with its verdict.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: write summary.json, index.html and junit.xml here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No live progress line.
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_reassign_to(s: &str) -> Result<ReassignTo, String> {
    match s {
        "distinct-worker" => Ok(ReassignTo::DistinctWorker),
        "any-free-slot" => Ok(ReassignTo::AnyFreeSlot),
        other => Err(format!("{other:?}: distinct-worker or any-free-slot")),
    }
}

fn parse_on_timeout(s: &str) -> Result<OnTimeout, String> {
    match s {
        "fail" => Ok(OnTimeout::Fail),
        "wait" => Ok(OnTimeout::Wait),
        "start" => Ok(OnTimeout::Start),
        other => Err(format!("{other:?}: fail, wait or start")),
    }
}

/// Where a data file goes in the project: its path relative to the simulation's directory
/// when it is inside it, its file name otherwise.
fn project_path(file: &Path, base: &Path) -> Result<String, String> {
    let relative = file
        .strip_prefix(base)
        .ok()
        .filter(|r| !r.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .or_else(|| file.file_name().map(PathBuf::from))
        .ok_or_else(|| format!("{}: not a file name", file.display()))?;
    relative
        .to_str()
        .map(|s| s.replace('\\', "/"))
        .ok_or_else(|| format!("{}: the path is not UTF-8", file.display()))
}

fn fail(e: impl std::fmt::Display) -> u8 {
    eprintln!("error: {e}");
    EXIT_BAD_INPUT
}

/// A 422's located problems as `file:line:col: path: message` lines.
fn located(e: &ClientError) -> String {
    let Some(problem) = e.problem() else {
        return e.to_string();
    };
    if problem.errors.is_empty() {
        return format!("{} {}", problem.status, problem.detail);
    }
    problem
        .errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the live stream told so far, for the progress line.
#[derive(Default)]
struct Live {
    progress: Option<ProgressEvent>,
    /// Requests and p95 per second.
    seconds: BTreeMap<u64, (u64, Option<f64>)>,
}

impl Live {
    fn absorb(&mut self, event: ProgressEvent) {
        for point in &event.series {
            self.seconds
                .insert(point.second, (point.requests, point.p95_ms));
        }
        self.progress = Some(event);
    }

    fn line(&self) -> Option<Progress> {
        let p = self.progress.as_ref()?;
        // The newest second is still filling: show the one before it.
        let complete = self.seconds.iter().rev().nth(1).map(|(_, v)| *v);
        Some(Progress {
            elapsed: Duration::from_millis(p.elapsed_ms),
            planned: None,
            active_users: p.users,
            requests: p.total.count,
            errors: p.total.ko,
            req_per_sec: complete.map_or(0.0, |(r, _)| r as f64),
            p95: complete
                .and_then(|(_, p95)| p95)
                .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
        })
    }
}

/// Pause before a broken live stream is opened again.
const REOPEN_PAUSE: Duration = Duration::from_millis(500);

/// Follows the job's live stream until its `end` event (reconnecting across failovers);
/// returns the final job state.
async fn follow(client: &Client, job: u64, quiet: bool) -> Result<JobState, ClientError> {
    let live = Arc::new(Mutex::new(Live::default()));
    let printer = (!quiet).then(|| {
        let live = live.clone();
        ProgressPrinter::with(move || live.lock().line())
    });
    let state = 'outer: loop {
        let mut stream = match client.live(job).await {
            Ok(s) => s,
            Err(ClientError::Unreachable { .. }) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        while let Some(event) = stream.next().await {
            match event {
                LiveEvent::Progress(p) => live.lock().absorb(*p),
                LiveEvent::End(end) => break 'outer end.state,
                LiveEvent::Log(_) | LiveEvent::Error(_) => {}
            }
        }
        // The stream broke (a master went away): open it again, on another one if need be,
        // after a pause (a stream that keeps breaking must not hammer the masters).
        tokio::time::sleep(REOPEN_PAUSE).await;
    };
    if let Some(p) = printer {
        p.finish().await;
    }
    Ok(state)
}

async fn write_reports(
    client: &Client,
    job: u64,
    out: &Path,
    result: &JobResult,
) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut text = serde_json::to_string_pretty(&result.summary).map_err(|e| e.to_string())?;
    text.push('\n');
    let html = client
        .report_html(job)
        .await
        .map_err(|e| format!("index.html: {e}"))?;
    let junit = client
        .junit_xml(job)
        .await
        .map_err(|e| format!("junit.xml: {e}"))?;
    let files = [
        ("summary.json", text.into_bytes()),
        ("index.html", html.to_vec()),
        ("junit.xml", junit.to_vec()),
    ];
    for (name, bytes) in files {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// A job to run: files to upload into a project, and the submission.
pub(super) struct JobRequest {
    /// Project (created when missing).
    pub project: String,
    /// `(project path, content)` of every file; the first is the simulation.
    pub files: Vec<(String, Vec<u8>)>,
    /// The submission (`POST /projects/{project}/jobs`).
    pub submission: Submission,
}

/// How to follow a submitted job.
pub(super) struct Follow {
    /// Where the reports go.
    pub out: Option<PathBuf>,
    /// No live progress line.
    pub quiet: bool,
}

/// Uploads, submits and, when asked, follows a job to its end; returns the exit code.
pub(super) async fn run_job(client: &Client, job: JobRequest, follow_it: Option<Follow>) -> u8 {
    if let Err(e) = client.ensure_project(&job.project).await {
        return fail(format!("project {}: {e}", job.project));
    }
    for (path, bytes) in job.files {
        if let Err(e) = client.upload(&job.project, &path, bytes, None, None).await {
            return fail(format!("upload of {path}: {e}"));
        }
    }
    let key = format!("submit-{}", uuid::Uuid::new_v4());
    let submitted = match client
        .submit(&job.project, &job.submission, Some(&key))
        .await
    {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: the job was refused:\n{}", located(&e));
            return EXIT_BAD_INPUT;
        }
    };
    let id = submitted.id;
    let master = client.current_master().to_owned();
    let mode = match submitted.mode {
        SplitMode::Split => "split",
        SplitMode::Replicate => "replicate",
    };
    println!(
        "job {id} submitted: {} task(s), {mode}, pool {}",
        submitted.parallelism, submitted.pool
    );
    println!("  live:   {master}/api/v1/jobs/{id}/live");
    println!("  report: {master}/api/v1/jobs/{id}/report.html");
    let Some(options) = follow_it else {
        return EXIT_OK;
    };
    let state = match follow(client, id, options.quiet).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let result = match client.result(id).await {
        Ok(r) => r,
        Err(e) => return fail(format!("result of job {id}: {e}")),
    };
    println!("{}", render_console_summary(&result.report));
    if let Some(out) = &options.out {
        if let Err(e) = write_reports(client, id, out, &result).await {
            return fail(e);
        }
        println!("reports written to {}", out.display());
    }
    match state {
        JobState::Completed if result.report.passed() => EXIT_OK,
        JobState::Completed => EXIT_ASSERTION_FAILED,
        other => {
            let reason = client
                .job(id)
                .await
                .map(|j| j.job.reason)
                .unwrap_or_default();
            eprintln!("error: job {id} {other}: {reason}");
            EXIT_BAD_INPUT
        }
    }
}

/// Reads the files, then [`run_job`].
pub async fn execute(args: SubmitArgs) -> u8 {
    let client = match args.connection.client() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let sim = &args.simulation;
    let base = sim.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut files = Vec::new();
    for (kind, file) in
        std::iter::once(("simulation", sim)).chain(args.data.iter().map(|d| ("data", d)))
    {
        let path = match project_path(file, &base) {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
        match std::fs::read(file) {
            Ok(bytes) => files.push((path, bytes)),
            Err(e) => {
                return fail(format!(
                    "{}: cannot read the {kind} file: {e}",
                    file.display()
                ))
            }
        }
    }
    // `--split` is the default; it only documents the intent.
    let mode = match (args.split, args.replicate) {
        (_, true) => SplitMode::Replicate,
        _ => SplitMode::Split,
    };
    let submission = Submission {
        parallelism: args.parallelism,
        pool: args.pool,
        mode,
        start: StartPolicy {
            timeout: args.start_timeout,
            on_timeout: args.on_timeout,
        },
        reassign_to: args.reassign_to,
        ..Submission::new(files[0].0.clone())
    };
    let request = JobRequest {
        project: args.project,
        files,
        submission,
    };
    let follow_it = args.wait.then_some(Follow {
        out: args.out,
        quiet: args.quiet,
    });
    run_job(&client, request, follow_it).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_keep_their_path_relative_to_the_simulation() {
        let base = Path::new("sims");
        assert_eq!(
            project_path(Path::new("sims/shop.yaml"), base).unwrap(),
            "shop.yaml"
        );
        assert_eq!(
            project_path(Path::new("sims/data/users.csv"), base).unwrap(),
            "data/users.csv"
        );
        assert_eq!(
            project_path(Path::new("/tmp/other.csv"), base).unwrap(),
            "other.csv"
        );
    }
}
