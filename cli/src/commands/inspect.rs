//! `broadside jobs`, `job`, `abort`, `workers`, `cluster`: the cluster's state over the REST
//! API of any master, as tables (or the API's JSON with `--json`).

use broadside_client::api::{JobListQuery, JobState, SplitMode};
use broadside_client::{Client, ClientError};
use clap::Args;

use super::connect::Connection;
use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Where the masters are, and the output form.
#[derive(Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `broadside jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Project.
    #[arg(long, default_value = "default")]
    pub project: String,
    /// Only jobs in this state (queued, waiting_for_workers, starting, running, completed,
    /// failed, aborted).
    #[arg(long, value_parser = parse_state)]
    pub state: Option<JobState>,
    /// Most jobs listed.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

fn parse_state(s: &str) -> Result<JobState, String> {
    JobState::ALL
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| {
            let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            format!("one of {}", names.join(", "))
        })
}

/// Arguments of `broadside job` and `broadside abort`.
#[derive(Debug, Args)]
pub struct JobArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Job id.
    pub id: u64,
}

/// Arguments of `broadside workers` (listing) and `broadside cluster`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub api: ApiArgs,
}

/// A cell: `-` for nothing.
pub(super) fn cell(v: impl std::fmt::Display) -> String {
    let s = v.to_string();
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// An optional cell.
pub(super) fn opt(v: Option<impl std::fmt::Display>) -> String {
    v.map_or_else(|| "-".into(), cell)
}

/// A revocation cell: `revoked` or `-`.
pub(super) fn revoked(at_ms: Option<u64>) -> String {
    if at_ms.is_some() { "revoked" } else { "-" }.into()
}

/// Prints rows as aligned columns under `headers`.
pub(super) fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!(
        "{}",
        line(headers.iter().map(|h| h.to_uppercase()).collect())
    );
    for row in rows {
        println!("{}", line(row));
    }
}

/// The error's message on stderr, and the exit code of a command that could not talk to the
/// cluster.
pub(super) fn failed(e: ClientError) -> u8 {
    eprintln!("error: {e}");
    EXIT_BAD_INPUT
}

impl ApiArgs {
    /// A client of the masters, or the exit code of a command that could not make one.
    pub(super) fn client(&self) -> Result<Client, u8> {
        self.connection.client().map_err(|e| {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        })
    }
}

pub(super) fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `broadside jobs`.
pub async fn jobs(args: JobsArgs) -> u8 {
    let query = JobListQuery {
        limit: Some(args.limit),
        state: args.state,
        ..JobListQuery::default()
    };
    let client = match args.api.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let page = match client.jobs(&args.project, &query).await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    if args.api.json {
        print_json(&page);
        return EXIT_OK;
    }
    let rows = page
        .items
        .iter()
        .map(|j| {
            vec![
                cell(j.id),
                cell(&j.name),
                cell(j.state),
                format!("{}×{}", j.parallelism, mode(j.mode)),
                cell(&j.pool),
                cell(&j.reason),
            ]
        })
        .collect();
    table(&["id", "name", "state", "tasks", "pool", "reason"], rows);
    EXIT_OK
}

fn mode(mode: SplitMode) -> &'static str {
    match mode {
        SplitMode::Split => "split",
        SplitMode::Replicate => "replicate",
    }
}

/// `broadside job ID`.
pub async fn job(args: JobArgs) -> u8 {
    let client = match args.api.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let details = match client.job(args.id).await {
        Ok(j) => j,
        Err(e) => return failed(e),
    };
    let tasks = match client.tasks(args.id).await {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    if args.api.json {
        print_json(&serde_json::json!({ "job": details, "tasks": tasks }));
        return EXIT_OK;
    }
    let job = &details.job;
    println!(
        "job {} {} — {} ({}×{}, pool {})",
        job.id,
        job.name,
        job.state,
        job.parallelism,
        mode(job.mode),
        job.pool
    );
    if !job.reason.is_empty() {
        println!("reason: {}", job.reason);
    }
    if let Some(paused) = &details.reassignment_paused {
        println!("reassignment_paused: {paused}");
    }
    let rows = tasks
        .iter()
        .map(|t| {
            vec![
                cell(t.index),
                cell(t.state),
                cell(t.attempt),
                opt(t.worker_id.as_ref()),
                cell(t.deltas),
                cell(&t.reason),
            ]
        })
        .collect();
    table(
        &["task", "state", "attempt", "worker", "deltas", "reason"],
        rows,
    );
    EXIT_OK
}

/// `broadside abort ID`.
pub async fn abort(args: JobArgs) -> u8 {
    let client = match args.api.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let key = format!("abort-{}", args.id);
    match client
        .abort(args.id, Some("aborted from the command line"), Some(&key))
        .await
    {
        Ok(job) => {
            println!("job {} {}", args.id, job.state);
            EXIT_OK
        }
        Err(e) => failed(e),
    }
}

/// `broadside workers`.
pub async fn workers(args: ListArgs) -> u8 {
    let client = match args.api.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let workers = match client.workers().await {
        Ok(w) => w,
        Err(e) => return failed(e),
    };
    if args.api.json {
        print_json(&workers);
        return EXIT_OK;
    }
    let rows = workers
        .iter()
        .map(|w| {
            vec![
                cell(&w.id),
                cell(w.state),
                cell(&w.pool),
                cell(w.slots),
                cell(&w.version),
                w.last_heartbeat_age_ms
                    .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
            ]
        })
        .collect();
    table(
        &["id", "state", "pool", "slots", "version", "heartbeat"],
        rows,
    );
    EXIT_OK
}

/// `broadside cluster`.
pub async fn cluster(args: ListArgs) -> u8 {
    let client = match args.api.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let view = match client.cluster(true).await {
        Ok(v) => v,
        Err(e) => return failed(e),
    };
    if args.api.json {
        print_json(&view);
        return EXIT_OK;
    }
    println!("leader: {}", opt(view.leader));
    let rows = view
        .members
        .iter()
        .map(|m| {
            let status = m.status.as_ref();
            vec![
                cell(m.id),
                opt(status.map(|s| s.role)),
                cell(m.voter),
                cell(&m.http_addr),
                cell(&m.raft_addr),
                opt(status.map(|s| s.term)),
                opt(status.and_then(|s| s.applied_index)),
                opt(m.reachable),
            ]
        })
        .collect();
    table(
        &[
            "id",
            "role",
            "voter",
            "http",
            "raft",
            "term",
            "applied",
            "reachable",
        ],
        rows,
    );
    EXIT_OK
}
