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
//! A running job's result is a partial report of what was committed so far. Reports are built
//! on the heavy lane, live reads on the REST lane: never on the async threads.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use broadside_api::{CompareQuery, Comparison, JobResult, LogEvent, LogsQuery, ReadQuery};
use broadside_engine::report::{render_html, render_junit, RunReport};
use broadside_raft_store::model::Job;
use broadside_raft_store::model::ProjectRole;
use futures::{Stream, StreamExt};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::authorize::Caller;
use super::extract::{ApiPath, ApiQuery, Consistent};
use super::jobs::load;
use super::Problem;
use crate::app::App;
use crate::auth;
use crate::error::{Error, Result};
use crate::live::{LiveEvent, LiveJob, TaskLog};
use crate::node::now_ms;
use crate::results::{start_skew_ms, task_reports};
use crate::views;

/// How often live streams look for new data.
const LIVE_INTERVAL: Duration = Duration::from_secs(1);
/// Most log lines a `tail` returns.
const MAX_TAIL: usize = 10_000;
/// Log lines a `tail` returns by default.
const DEFAULT_TAIL: usize = 100;

/// The merged and per-task results and the rendered reports (compressible documents).
pub(super) fn report_routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(result))
        .routes(routes!(html))
        .routes(routes!(junit))
        .routes(routes!(task_result))
        .routes(routes!(compare))
}

/// The live stream and the task logs (long-lived responses: no deadline, no compression).
pub(super) fn live_routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(logs))
}

/// The merged report of job `id`, from the cache when it is finished and nothing changed.
async fn report(app: &Arc<App>, id: u64) -> Result<Arc<RunReport>> {
    let job = load(app, id).await?;
    let cached = Arc::clone(app);
    app.compute(move |reader| Ok(cached.reports.get(reader, &job)?))
        .await
}

/// A task index of `job`.
fn task_index(job: &Job, index: u32) -> Result<u32> {
    if index >= job.parallelism {
        return Err(Error::NotFound(format!(
            "job {} has no task {index}",
            job.id
        )));
    }
    Ok(index)
}

/// Job result
///
/// The merged summary of every task's results (the engine's `summary.json`); a partial report
/// of what was committed so far while the job runs. The document also carries
/// `start_skew_ms`: how far apart the tasks' loads started (null with fewer than two task
/// reports).
#[utoipa::path(get, path = "/jobs/{id}/result", tag = "results",
    extensions(("x-broadside-access" = json!("job:viewer"))),
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "Job id"), ReadQuery),
    responses(
        (status = 200, body = JobResult),
        (status = 404, body = broadside_api::Problem),
        (status = 409, body = broadside_api::Problem),
    ))]
async fn result(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath(id): ApiPath<u64>,
) -> std::result::Result<Json<serde_json::Value>, Problem> {
    let report = report(&app, id).await?;
    let job = load(&app, id).await?;
    let document = app
        .compute(move |reader| {
            let skew = start_skew_ms(&task_reports(reader, &job)?);
            Ok(JobResult::document(&report, skew))
        })
        .await?;
    Ok(Json(document))
}

/// Compare two runs
///
/// Job `id` (the candidate) against `baseline`, request name by request name: counts, error
/// rates, p50/p95/p99 and their changes, and the regressions beyond the thresholds (p95 +10 %
/// and errors +1 point unless given). The caller must see both jobs. A running job compares
/// with what it committed so far.
#[utoipa::path(get, path = "/jobs/{id}/compare", tag = "results",
    extensions(("x-broadside-access" = json!("job:viewer"))),
    security(("bearer" = []), ("session" = [])),
    params(("id" = u64, Path, description = "The candidate job's id"), CompareQuery),
    responses(
        (status = 200, body = Comparison),
        (status = 400, body = broadside_api::Problem),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn compare(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
    ApiQuery(query): ApiQuery<CompareQuery>,
) -> std::result::Result<Json<Comparison>, Problem> {
    let thresholds = query.thresholds();
    if let Some(problem) = thresholds.problem() {
        return Err(Error::BadRequest(problem).into());
    }
    let baseline_job = load(&app, query.baseline).await?;
    auth::require_role(
        &caller.principal,
        &baseline_job.project,
        ProjectRole::Viewer,
        || format!("no job {}", query.baseline),
    )?;
    let candidate_job = load(&app, id).await?;
    let baseline = report(&app, query.baseline).await?;
    let candidate = report(&app, id).await?;
    let compared = broadside_engine::report::compare(&baseline, &candidate, thresholds);
    Ok(Json(Comparison {
        baseline: views::job(baseline_job),
        candidate: views::job(candidate_job),
        thresholds: compared.thresholds,
        regressed: compared.regressed,
        rows: compared.rows,
    }))
}

/// A task's final report
///
/// The final report of one task's last attempt, as its worker made it (the summary document
/// of the engine). 404 until the task finished.
#[utoipa::path(get, path = "/jobs/{id}/tasks/{index}/result", tag = "results",
    extensions(("x-broadside-access" = json!("job:viewer"))),
    security(("bearer" = [])),
    params(
        ("id" = u64, Path, description = "Job id"),
        ("index" = u32, Path, description = "Task index"),
        ReadQuery,
    ),
    responses(
        (status = 200, body = Object),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn task_result(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath((id, index)): ApiPath<(u64, u32)>,
) -> std::result::Result<Json<serde_json::Value>, Problem> {
    let job = load(&app, id).await?;
    let index = task_index(&job, index)?;
    let found = app
        .compute(move |reader| {
            let report = task_reports(reader, &job)?
                .into_iter()
                .find(|(i, _)| *i == index)
                .map(|(_, r)| r.to_summary_json());
            report.ok_or_else(|| {
                Error::NotFound(format!("task {index} of job {id} has no result yet"))
            })
        })
        .await?;
    Ok(Json(found))
}

/// The merged report of job `id` rendered by `render`, served as `content_type`.
async fn rendered(
    app: &Arc<App>,
    id: u64,
    content_type: &'static str,
    render: fn(&RunReport) -> String,
) -> std::result::Result<Response, Problem> {
    let report = report(app, id).await?;
    let rendered = app.compute(move |_| Ok(render(&report))).await?;
    // A report shows text the target sent (error messages, samples): escaped, and on top of
    // that nothing in it may run, load or be sniffed as something else, since the browser
    // opening it is signed in to the UI.
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, REPORT_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        rendered,
    )
        .into_response())
}

/// What a rendered report may do: show its inline styles and SVG, nothing else.
const REPORT_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox";

/// HTML report
///
/// The job's report as a self-contained HTML page, rendered from the merged report.
#[utoipa::path(get, path = "/jobs/{id}/report.html", tag = "results",
    extensions(("x-broadside-access" = json!("job:viewer"))),
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "Job id"), ReadQuery),
    responses(
        (status = 200, content_type = "text/html", body = String),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn html(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath(id): ApiPath<u64>,
) -> std::result::Result<Response, Problem> {
    rendered(&app, id, "text/html; charset=utf-8", render_html).await
}

/// JUnit report
///
/// The job's assertions as a JUnit XML report, rendered from the merged report.
#[utoipa::path(get, path = "/jobs/{id}/junit.xml", tag = "results",
    extensions(("x-broadside-access" = json!("job:viewer"))),
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "Job id"), ReadQuery),
    responses(
        (status = 200, content_type = "application/xml", body = String),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn junit(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath(id): ApiPath<u64>,
) -> std::result::Result<Response, Problem> {
    rendered(&app, id, "application/xml; charset=utf-8", render_junit).await
}

/// The SSE form of a live event.
fn sse(event: LiveEvent) -> Option<Event> {
    let built = match event {
        LiveEvent::Progress(p) => Event::default().event("progress").json_data(p),
        LiveEvent::Log(l) => Event::default().event("log").json_data(l),
        LiveEvent::End(e) => Event::default().event("end").json_data(e),
        LiveEvent::Gone(e) => Event::default()
            .event("error")
            .json_data(Problem::from(e).details()),
    };
    built.ok()
}

/// Live progress
///
/// Server-Sent Events, polled every second from the answering master's replica: `progress`
/// (ProgressEvent, on the first poll, when new data arrived and when finished), `log`
/// (LogEvent, one per task log line), then a final `end` (EndEvent) when the job is finished,
/// or `error` (Problem) if the job disappears.
#[utoipa::path(get, path = "/jobs/{id}/live", tag = "results",
    extensions(("x-broadside-access" = json!("job:viewer"))),
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "Job id")),
    responses(
        (status = 200, content_type = "text/event-stream", body = String),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn live(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
) -> std::result::Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>, Problem> {
    load(&app, id).await?;
    let principal = Arc::new(caller.principal);
    let stream = futures::stream::unfold(Some(LiveJob::new(id)), move |state| {
        let app = Arc::clone(&app);
        let principal = Arc::clone(&principal);
        async move {
            let mut live = state?;
            if live.is_done() {
                return None;
            }
            if !live.is_first() {
                tokio::select! {
                    () = tokio::time::sleep(LIVE_INTERVAL) => {}
                    () = app.stop.cancelled() => return None,
                }
            }
            let (events, live) = app
                .read(move |reader| {
                    if !auth::still_valid(&principal, reader, now_ms()) {
                        return Err(auth::unauthenticated());
                    }
                    let events = live.step(reader);
                    Ok((events, live))
                })
                .await
                .ok()?;
            let events: Vec<_> = events.into_iter().filter_map(sse).map(Ok).collect();
            Some((futures::stream::iter(events), Some(live)))
        }
    });
    Ok(Sse::new(stream.flatten()).keep_alive(KeepAlive::default()))
}

fn ndjson(lines: &[LogEvent]) -> Bytes {
    let mut out = Vec::new();
    for line in lines {
        if serde_json::to_writer(&mut out, line).is_ok() {
            out.push(b'\n');
        }
    }
    Bytes::from(out)
}

/// Task logs
///
/// A task's log lines of every attempt as NDJSON (one LogEvent per line), the last `tail` of
/// them; with `follow=true` the response keeps streaming new lines until the job is finished
/// (or the master stops). Unknown query parameters are refused.
#[utoipa::path(get, path = "/jobs/{id}/tasks/{index}/logs", tag = "results",
    extensions(("x-broadside-access" = json!("job:viewer"))),
    security(("bearer" = [])),
    params(
        ("id" = u64, Path, description = "Job id"),
        ("index" = u32, Path, description = "Task index"),
        LogsQuery,
    ),
    responses(
        (status = 200, content_type = "application/x-ndjson", body = LogEvent),
        (status = 400, body = broadside_api::Problem),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn logs(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath((id, index)): ApiPath<(u64, u32)>,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> std::result::Result<Response, Problem> {
    let job = load(&app, id).await?;
    let index = task_index(&job, index)?;
    let tail = query.tail.unwrap_or(DEFAULT_TAIL);
    if tail > MAX_TAIL {
        return Err(Error::BadRequest(format!("tail is at most {MAX_TAIL}")).into());
    }
    let (first, log) = app
        .read(move |reader| {
            let mut log = TaskLog::new(id, index);
            let (mut lines, _) = log.read(reader, true)?;
            let skip = lines.len().saturating_sub(tail);
            lines.drain(..skip);
            Ok((ndjson(&lines), log))
        })
        .await?;
    let headers = [(header::CONTENT_TYPE, "application/x-ndjson")];
    if !query.follow {
        return Ok((headers, first).into_response());
    }
    let principal = Arc::new(caller.principal);
    let rest = futures::stream::unfold(Some(log), move |state| {
        let app = Arc::clone(&app);
        let principal = Arc::clone(&principal);
        async move {
            let mut log = state?;
            tokio::select! {
                () = tokio::time::sleep(LIVE_INTERVAL) => {}
                () = app.stop.cancelled() => return None,
            }
            let (bytes, finished, log) = app
                .read(move |reader| {
                    if !auth::still_valid(&principal, reader, now_ms()) {
                        return Err(auth::unauthenticated());
                    }
                    let (lines, finished) = log.read(reader, false)?;
                    Ok((ndjson(&lines), finished, log))
                })
                .await
                .ok()?;
            let next = (!finished).then_some(log);
            Some((Ok::<Bytes, Infallible>(bytes), next))
        }
    });
    let body = futures::stream::once(async move { Ok::<Bytes, Infallible>(first) }).chain(rest);
    Ok((headers, Body::from_stream(body)).into_response())
}
