//! Workers: the registry with each worker's state and heartbeat age, drain, forget.
//!
//! Heartbeat ages live in the leader's memory (routine heartbeats are not replicated): a
//! follower asks the leader for them and shows `null` when it cannot.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, post};
use axum::{Json, Router};
use broadside_raft_store::model::{Worker, WorkerState};
use broadside_raft_store::Command;
use serde::Serialize;

use super::{
    commit, leader_state, request_id, ApiQuery, AppState, Consistent, PageQuery, PageView, Problem,
};
use crate::node::Node;
use crate::scheduler::driver::Scheduler;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/workers", axum::routing::get(list))
        .route("/workers/{id}", delete(forget).get(show))
        .route("/workers/{id}/drain", post(drain))
}

pub(crate) fn state_name(state: WorkerState) -> &'static str {
    match state {
        WorkerState::Alive => "alive",
        WorkerState::Suspect => "suspect",
        WorkerState::Dead => "dead",
        WorkerState::Draining => "draining",
    }
}

/// A worker as the API shows it.
#[derive(Debug, Serialize)]
struct WorkerView {
    id: String,
    pool: String,
    labels: BTreeMap<String, String>,
    slots: u32,
    version: String,
    address: String,
    state: &'static str,
    reason: String,
    registered_at_ms: u64,
    state_since_ms: u64,
    /// Milliseconds since the leader last heard from it (`null`: unknown to this master).
    last_heartbeat_age_ms: Option<u64>,
}

fn view(w: Worker, ages: &BTreeMap<String, u64>) -> WorkerView {
    WorkerView {
        last_heartbeat_age_ms: ages.get(&w.id).copied(),
        id: w.id,
        pool: w.pool,
        labels: w.labels,
        slots: w.slots,
        version: w.version,
        address: w.address,
        state: state_name(w.state),
        reason: w.reason,
        registered_at_ms: w.registered_at_ms,
        state_since_ms: w.state_since_ms,
    }
}

/// Heartbeat ages from the leader (this node's own when it leads).
async fn ages(node: &Node, scheduler: &Scheduler) -> BTreeMap<String, u64> {
    leader_state(node, scheduler)
        .await
        .heartbeat_ages
        .into_iter()
        .collect()
}

async fn list(
    State(node): State<Arc<Node>>,
    State(scheduler): State<Arc<Scheduler>>,
    _: Consistent,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<PageView<WorkerView>>, Problem> {
    let page = node.reader().list_workers(&page.request()?)?;
    let ages = ages(&node, &scheduler).await;
    Ok(Json(PageView::from_page(page, |w| view(w, &ages))))
}

fn load(node: &Node, id: &str) -> Result<Worker, Problem> {
    node.reader()
        .worker(id)?
        .ok_or_else(|| Problem::not_found(format!("no worker {id:?}")))
}

async fn show(
    State(node): State<Arc<Node>>,
    State(scheduler): State<Arc<Scheduler>>,
    _: Consistent,
    Path(id): Path<String>,
) -> Result<Json<WorkerView>, Problem> {
    let worker = load(&node, &id)?;
    Ok(Json(view(worker, &ages(&node, &scheduler).await)))
}

/// Stops giving the worker new tasks; its running tasks finish.
async fn drain(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<WorkerView>, Problem> {
    load(&node, &id)?;
    commit(
        &node,
        request_id(&headers, &format!("POST workers/{id}/drain"))?,
        Command::SetWorkerState {
            worker_id: id.clone(),
            state: WorkerState::Draining,
            reason: "drained by an operator".into(),
            expected: None,
        },
    )
    .await?;
    Ok(Json(view(load(&node, &id)?, &BTreeMap::new())))
}

/// Forgets a dead or draining worker that holds no task.
async fn forget(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    load(&node, &id)?;
    commit(
        &node,
        request_id(&headers, &format!("DELETE workers/{id}"))?,
        Command::RemoveWorker { worker_id: id },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
