//! Workers: the registry with each worker's state and heartbeat age, drain, forget, revoke.
//!
//! Heartbeat ages live in the leader's memory (routine heartbeats are not replicated): a
//! follower asks the leader for them and shows `null` when it cannot.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use broadside_api::{Page, PageQuery, ReadQuery, Worker, WorkerTask};
use broadside_raft_store::model::{self, WorkerState};
use broadside_raft_store::Command;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::authorize::Caller;
use super::extract::{ApiPath, ApiQuery, Consistent};
use super::paging::{page, page_request};
use super::Problem;
use crate::app::App;
use crate::error::{Error, Result};
use crate::idempotency::Writer;
use crate::views::{self, WorkerLoad};

pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, forget))
        .routes(routes!(drain))
        .routes(routes!(revoke))
}

/// What each worker runs, from the replica: how many slots its tasks take, and those tasks
/// `caller` may see (another project's jobs are not its business).
async fn running(app: &Arc<App>, caller: &Caller) -> Result<BTreeMap<String, WorkerLoad>> {
    let snapshots = Arc::clone(app);
    let running = app.read(move |r| snapshots.snapshots.running(r)).await?;
    Ok(running
        .into_iter()
        .map(|(worker, tasks)| {
            let load = WorkerLoad {
                used: tasks.len() as u32,
                running: tasks
                    .into_iter()
                    .filter(|t| caller.principal.sees(&t.project))
                    .map(|t| WorkerTask {
                        job_id: t.job,
                        task: t.task,
                        attempt: t.attempt,
                    })
                    .collect(),
            };
            (worker, load)
        })
        .collect())
}

/// Heartbeat ages from the leader (this node's own when it leads).
async fn ages(app: &App) -> BTreeMap<String, u64> {
    app.leader_state()
        .await
        .heartbeat_ages
        .into_iter()
        .collect()
}

async fn load(app: &App, id: String) -> Result<model::Worker> {
    app.read(move |r| {
        r.worker(&id)?
            .ok_or_else(|| Error::NotFound(format!("no worker {id:?}")))
    })
    .await
}

/// List workers
///
/// One page of the registered workers, by id, with their heartbeat age from the leader.
#[utoipa::path(get, path = "/workers", tag = "workers",
    extensions(("x-broadside-access" = json!("authenticated"))),
    security(("bearer" = [])),
    params(PageQuery, ReadQuery),
    responses(
        (status = 200, body = Page<Worker>),
        (status = 400, body = broadside_api::Problem),
    ))]
async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    _: Consistent,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> std::result::Result<Json<Page<Worker>>, Problem> {
    let request = page_request(&query)?;
    let listed = app.read(move |r| Ok(r.list_workers(&request)?)).await?;
    let ages = ages(&app).await;
    let running = running(&app, &caller).await?;
    Ok(Json(page(listed, |w| views::worker(w, &ages, &running))))
}

/// Get a worker
///
/// One worker, with its heartbeat age from the leader.
#[utoipa::path(get, path = "/workers/{id}", tag = "workers",
    extensions(("x-broadside-access" = json!("authenticated"))),
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Worker id"), ReadQuery),
    responses(
        (status = 200, body = Worker),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn show(
    State(app): State<Arc<App>>,
    caller: Caller,
    _: Consistent,
    ApiPath(id): ApiPath<String>,
) -> std::result::Result<Json<Worker>, Problem> {
    let worker = load(&app, id).await?;
    let running = running(&app, &caller).await?;
    Ok(Json(views::worker(worker, &ages(&app).await, &running)))
}

/// Drain a worker
///
/// Stops giving the worker new tasks; its running tasks finish. No request body.
#[utoipa::path(post, path = "/workers/{id}/drain", tag = "workers",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Worker id")),
    responses(
        (status = 200, body = Worker),
        (status = 404, body = broadside_api::Problem),
        (status = 409, body = broadside_api::Problem),
    ))]
async fn drain(
    State(app): State<Arc<App>>,
    caller: Caller,
    writer: Writer,
    ApiPath(id): ApiPath<String>,
) -> std::result::Result<Json<Worker>, Problem> {
    load(&app, id.clone()).await?;
    let command = Command::SetWorkerState {
        worker_id: id.clone(),
        state: WorkerState::Draining,
        reason: "drained by an operator".into(),
        expected: None,
    };
    app.write_as(&writer, &format!("POST workers/{id}/drain"), command)
        .await?;
    let running = running(&app, &caller).await?;
    Ok(Json(views::worker(
        load(&app, id).await?,
        &BTreeMap::new(),
        &running,
    )))
}

/// Forget a worker
///
/// Removes a dead or draining worker that holds no task from the registry.
#[utoipa::path(delete, path = "/workers/{id}", tag = "workers",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Worker id")),
    responses(
        (status = 204),
        (status = 404, body = broadside_api::Problem),
        (status = 409, body = broadside_api::Problem),
    ))]
async fn forget(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath(id): ApiPath<String>,
) -> std::result::Result<StatusCode, Problem> {
    load(&app, id.clone()).await?;
    let scope = format!("DELETE workers/{id}");
    app.write_as(&writer, &scope, Command::RemoveWorker { worker_id: id })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a worker's identity
///
/// Every later call made as this worker id is refused, whatever it presents (a joined worker's
/// credential, a certificate naming it): its running tasks stop when their lease runs out and
/// resume on other workers. The id stays revoked; a worker started again needs another id. The
/// worker need not be registered. No request body.
#[utoipa::path(post, path = "/workers/{id}/revoke", tag = "workers",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Worker id")),
    responses(
        (status = 204),
        (status = 400, body = broadside_api::Problem),
    ))]
async fn revoke(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath(id): ApiPath<String>,
) -> std::result::Result<StatusCode, Problem> {
    let scope = format!("POST workers/{id}/revoke");
    app.write_as(&writer, &scope, Command::RevokeWorker { worker_id: id })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
