//! A job's results and live data, served by every master from its replica:
//!
//! * `GET /jobs/{id}/result`: the merged summary (the `summary.json` document of the engine,
//!   plus `start_skew_ms`: how far apart the tasks' loads started);
//! * `GET /jobs/{id}/tasks/{index}/result`: one task's own final report;
//! * `GET /jobs/{id}/report.html` and `/jobs/{id}/junit.xml`: rendered by the engine's report
//!   code from the same merged report;
//! * `GET /jobs/{id}/live`: Server-Sent Events — a `progress` event per interval (job and task
//!   states, totals with exact percentiles, the per-second points that changed), `log` events
//!   for task log lines, and a final `end` event when the job is finished;
//! * `GET /jobs/{id}/tasks/{index}/logs?tail=N&follow=true`: a task's log lines (every attempt)
//!   as NDJSON, optionally followed until the job ends.
//!
//! A running job's result is a partial report of what was committed so far.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use broadside_engine::metrics::RunStats;
use broadside_engine::report::{render_html, render_junit, RunReport, SeriesPoint, StatsRow};
use broadside_engine::wire::LogLine;
use broadside_raft_store::model::{Job, Task};
use broadside_raft_store::{all_pages, JobId, StoreReader};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::jobs::{job_id, load, state_name, task_state_name};
use super::{AppState, Consistent, Problem};
use crate::node::Node;
use crate::results::{
    start_skew_ms, task_logs, task_reports, Decoded, Follower, ReportCache, ResultError,
};

/// How often live streams look for new data.
const LIVE_INTERVAL: Duration = Duration::from_secs(1);
/// Most log lines a `tail` returns.
const MAX_TAIL: usize = 10_000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs/{id}/result", get(result))
        .route("/jobs/{id}/report.html", get(html))
        .route("/jobs/{id}/junit.xml", get(junit))
        .route("/jobs/{id}/live", get(live))
        .route("/jobs/{id}/tasks/{index}/logs", get(logs))
        .route("/jobs/{id}/tasks/{index}/result", get(task_result))
}

impl From<ResultError> for Problem {
    fn from(e: ResultError) -> Self {
        match e {
            ResultError::Storage(e) => Problem::from(e),
            e @ ResultError::Simulation { .. } => Problem::conflict(e.to_string()),
        }
    }
}

/// Runs blocking store work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(Problem::internal)?
}

async fn report(
    node: &Node,
    reports: Arc<ReportCache>,
    id: &str,
) -> Result<Arc<RunReport>, Problem> {
    let job = load(node, job_id(id)?)?;
    let reader = node.reader().clone();
    blocking(move || Ok(reports.get(&reader, &job)?)).await
}

async fn result(
    State(node): State<Arc<Node>>,
    State(reports): State<Arc<ReportCache>>,
    _: Consistent,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Problem> {
    let mut doc = report(&node, reports, &id).await?.to_summary_json();
    let job = load(&node, job_id(&id)?)?;
    let reader = node.reader().clone();
    let skew = blocking(move || Ok(start_skew_ms(&task_reports(&reader, &job)?))).await?;
    if let serde_json::Value::Object(map) = &mut doc {
        map.insert("start_skew_ms".into(), serde_json::json!(skew));
    }
    Ok(Json(doc))
}

/// The final report of one task (its last attempt's), as the worker made it.
async fn task_result(
    State(node): State<Arc<Node>>,
    _: Consistent,
    Path((id, index)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, Problem> {
    let job = load(&node, job_id(&id)?)?;
    let index = task_index(&job, &index)?;
    let reader = node.reader().clone();
    let reports = blocking(move || Ok(task_reports(&reader, &job)?)).await?;
    reports
        .into_iter()
        .find(|(i, _)| *i == index)
        .map(|(_, r)| Json(r.to_summary_json()))
        .ok_or_else(|| Problem::not_found(format!("task {index} of job {id} has no result yet")))
}

/// A task index of `job` from the path.
fn task_index(job: &Job, index: &str) -> Result<u32, Problem> {
    let parsed: u32 = index
        .parse()
        .map_err(|_| Problem::bad_request(format!("{index:?} is not a task index")))?;
    if parsed >= job.parallelism {
        return Err(Problem::not_found(format!(
            "job {} has no task {parsed}",
            job.id
        )));
    }
    Ok(parsed)
}

/// The merged report of job `id` rendered by `render`, served as `content_type`.
async fn rendered(
    node: &Node,
    reports: Arc<ReportCache>,
    id: &str,
    content_type: &'static str,
    render: fn(&RunReport) -> String,
) -> Result<Response, Problem> {
    let report = report(node, reports, id).await?;
    Ok(([(header::CONTENT_TYPE, content_type)], render(&report)).into_response())
}

async fn html(
    State(node): State<Arc<Node>>,
    State(reports): State<Arc<ReportCache>>,
    _: Consistent,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    rendered(&node, reports, &id, "text/html; charset=utf-8", render_html).await
}

async fn junit(
    State(node): State<Arc<Node>>,
    State(reports): State<Arc<ReportCache>>,
    _: Consistent,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    rendered(
        &node,
        reports,
        &id,
        "application/xml; charset=utf-8",
        render_junit,
    )
    .await
}

/// A task as the live view shows it.
#[derive(Debug, Serialize)]
struct LiveTask {
    index: u32,
    state: &'static str,
    attempt: u32,
    worker_id: Option<String>,
    elapsed_ms: u64,
    users: u64,
}

/// One `progress` event.
#[derive(Debug, Serialize)]
struct ProgressEvent {
    job_id: JobId,
    state: &'static str,
    reason: String,
    /// Furthest point into the schedule any task reported.
    elapsed_ms: u64,
    /// Active users now, all tasks.
    users: u64,
    /// All requests so far, percentiles exact over every task.
    total: StatsRow,
    /// Errors so far.
    errors: u64,
    /// Seconds of the series that changed since the previous event (the first event carries
    /// every second so far).
    series: Vec<SeriesPoint>,
    tasks: Vec<LiveTask>,
}

/// One `log` event, and one NDJSON line of the logs endpoint.
#[derive(Debug, Serialize)]
struct LogEvent<'a> {
    task: u32,
    attempt: u32,
    #[serde(flatten)]
    line: &'a LogLine,
}

/// What a live stream has folded so far.
struct LiveState {
    node: Arc<Node>,
    job: JobId,
    follower: Follower,
    stats: RunStats,
    /// Latest `(elapsed_ms, users)` per `(task, attempt)`.
    latest: std::collections::HashMap<(u32, u32), (u64, u64)>,
    first: bool,
    done: bool,
}

fn read_job(reader: &StoreReader, id: JobId) -> Result<(Job, Vec<Task>), Problem> {
    let job = reader
        .job(id)?
        .ok_or_else(|| Problem::not_found(format!("no job {id}")))?;
    let tasks = all_pages(|p| reader.list_tasks(id, p))?;
    Ok((job, tasks))
}

impl LiveState {
    /// Reads what is new and turns it into events.
    fn step(mut self) -> (Vec<Event>, Self) {
        let reader = self.node.reader().clone();
        let (job, tasks) = match read_job(&reader, self.job) {
            Ok(found) => found,
            Err(p) => {
                self.done = true;
                let event = Event::default()
                    .event("error")
                    .json_data(p.details())
                    .unwrap_or_default();
                return (vec![event], self);
            }
        };
        // The first event carries everything so far; later ones what is new.
        let read = if self.first {
            self.follower.poll_all(&reader, self.job, &tasks)
        } else {
            self.follower.poll(&reader, self.job, &tasks)
        };
        let decoded = match read {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(job = self.job, error = %e, "live stream could not read progress");
                return (Vec::new(), self);
            }
        };
        let mut events = Vec::new();
        let mut changed = std::collections::BTreeSet::new();
        for (task, attempt, d) in &decoded.deltas {
            self.stats.merge(&d.stats);
            changed.extend(d.stats.series.iter().map(|s| s.second));
            self.latest
                .insert((*task, *attempt), (d.elapsed_ms, d.users));
            for line in &d.logs {
                let log = LogEvent {
                    task: *task,
                    attempt: *attempt,
                    line,
                };
                if let Ok(e) = Event::default().event("log").json_data(&log) {
                    events.push(e);
                }
            }
        }
        if self.first || !decoded.deltas.is_empty() || job.state.is_terminal() {
            let series = self
                .stats
                .series
                .iter()
                .filter(|s| self.first || changed.contains(&s.second))
                .map(SeriesPoint::new)
                .collect();
            let live_tasks: Vec<LiveTask> = tasks
                .iter()
                .map(|t| {
                    let (elapsed_ms, users) = self
                        .latest
                        .get(&(t.index, t.attempt))
                        .copied()
                        .unwrap_or_default();
                    LiveTask {
                        index: t.index,
                        state: task_state_name(t.state),
                        attempt: t.attempt,
                        worker_id: t.worker_id.clone(),
                        elapsed_ms,
                        users: if t.state.is_terminal() { 0 } else { users },
                    }
                })
                .collect();
            let progress = ProgressEvent {
                job_id: job.id,
                state: state_name(job.state),
                reason: job.reason.clone(),
                elapsed_ms: live_tasks.iter().map(|t| t.elapsed_ms).max().unwrap_or(0),
                users: live_tasks.iter().map(|t| t.users).sum(),
                total: StatsRow::new(&self.stats.total(), 0.0),
                errors: self.stats.error_count(),
                series,
                tasks: live_tasks,
            };
            if let Ok(e) = Event::default().event("progress").json_data(&progress) {
                events.push(e);
            }
        }
        // Finished, and nothing more to read: the last event.
        if job.state.is_terminal() && decoded.deltas.is_empty() {
            let end = serde_json::json!({ "job_id": job.id, "state": state_name(job.state), "reason": job.reason });
            if let Ok(e) = Event::default().event("end").json_data(end) {
                events.push(e);
            }
            self.done = true;
        }
        self.first = false;
        (events, self)
    }
}

async fn live(
    State(node): State<Arc<Node>>,
    State(stop): State<CancellationToken>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let id = job_id(&id)?;
    load(&node, id)?;
    let state = LiveState {
        node,
        job: id,
        follower: Follower::default(),
        stats: RunStats::default(),
        latest: Default::default(),
        first: true,
        done: false,
    };
    let stream = futures::stream::unfold(Some(state), move |state| {
        let stop = stop.clone();
        async move {
            let state = state?;
            if state.done {
                return None;
            }
            if !state.first {
                tokio::select! {
                    () = tokio::time::sleep(LIVE_INTERVAL) => {}
                    () = stop.cancelled() => return None,
                }
            }
            let (events, state) = tokio::task::spawn_blocking(move || state.step())
                .await
                .ok()?;
            Some((
                futures::stream::iter(events.into_iter().map(Ok)),
                Some(state),
            ))
        }
    });
    Ok(Sse::new(stream.flatten()).keep_alive(KeepAlive::default()))
}

/// `?tail=N&follow=true`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    #[serde(default)]
    tail: Option<usize>,
    #[serde(default)]
    follow: bool,
}

fn ndjson(lines: &[(u32, u32, LogLine)]) -> Bytes {
    let mut out = Vec::new();
    for (task, attempt, line) in lines {
        let event = LogEvent {
            task: *task,
            attempt: *attempt,
            line,
        };
        if serde_json::to_writer(&mut out, &event).is_ok() {
            out.push(b'\n');
        }
    }
    Bytes::from(out)
}

fn lines_of(decoded: &Decoded, task: u32) -> Vec<(u32, u32, LogLine)> {
    task_logs(decoded, task)
        .into_iter()
        .map(|(attempt, line)| (task, attempt, line))
        .collect()
}

async fn logs(
    State(node): State<Arc<Node>>,
    State(stop): State<CancellationToken>,
    Path((id, index)): Path<(String, String)>,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let id = job_id(&id)?;
    let job = load(&node, id)?;
    let index = task_index(&job, &index)?;
    let tail = query.tail.unwrap_or(100);
    if tail > MAX_TAIL {
        return Err(Problem::bad_request(format!("tail is at most {MAX_TAIL}")));
    }
    let reader = node.reader().clone();
    let (first, follower) = blocking(move || {
        let mut follower = Follower::default();
        let (_, tasks) = read_job(&reader, id)?;
        let mine: Vec<Task> = tasks.into_iter().filter(|t| t.index == index).collect();
        let decoded = follower.poll_all(&reader, id, &mine)?;
        let mut lines = lines_of(&decoded, index);
        let skip = lines.len().saturating_sub(tail);
        lines.drain(..skip);
        Ok((ndjson(&lines), follower))
    })
    .await?;
    let headers = [(header::CONTENT_TYPE, "application/x-ndjson")];
    if !query.follow {
        return Ok((headers, first).into_response());
    }
    let rest = futures::stream::unfold(Some((node, follower)), move |state| {
        let stop = stop.clone();
        async move {
            let (node, mut follower) = state?;
            tokio::select! {
                () = tokio::time::sleep(LIVE_INTERVAL) => {}
                () = stop.cancelled() => return None,
            }
            let read = tokio::task::spawn_blocking(move || {
                let reader = node.reader().clone();
                let (job, tasks) = read_job(&reader, id).ok()?;
                let mine: Vec<Task> = tasks.into_iter().filter(|t| t.index == index).collect();
                let decoded = follower.poll(&reader, id, &mine).ok()?;
                let finished = job.state.is_terminal() && decoded.deltas.is_empty();
                Some((ndjson(&lines_of(&decoded, index)), finished, node, follower))
            })
            .await
            .ok()
            .flatten()?;
            let (bytes, finished, node, follower) = read;
            let next = (!finished).then_some((node, follower));
            Some((Ok::<Bytes, Infallible>(bytes), next))
        }
    });
    let body = futures::stream::once(async move { Ok::<Bytes, Infallible>(first) }).chain(rest);
    Ok((headers, Body::from_stream(body)).into_response())
}
