//! Cluster endpoints: members with their health and progress, membership changes, liveness
//! and readiness probes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use broadside_rpc::{MembershipChange, NodeStatus};
use futures::future::join_all;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::{json_body, Consistent, Problem};
use crate::node::Node;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cluster", get(cluster))
        .route("/cluster/members", axum::routing::post(add_member))
        .route("/cluster/members/{id}", delete(remove_member))
}

/// One member as this node sees it.
#[derive(Debug, Serialize)]
struct MemberView {
    id: u64,
    raft_addr: String,
    http_addr: String,
    voter: bool,
    /// Whether it answered a status call just now (absent with `probe=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    reachable: Option<bool>,
    /// Its own report, when reachable.
    status: Option<NodeStatus>,
}

/// `?probe=false`: this node's view only, without asking each member for its status (which
/// waits up to a second for an unresponsive one).
#[derive(Debug, Deserialize)]
struct ViewOptions {
    #[serde(default = "yes")]
    probe: bool,
}

fn yes() -> bool {
    true
}

/// The cluster as this node sees it.
#[derive(Debug, Serialize)]
struct ClusterView {
    /// The answering node.
    node: NodeStatus,
    leader: Option<u64>,
    term: u64,
    members: Vec<MemberView>,
}

async fn view(node: &Arc<Node>, probe: bool) -> ClusterView {
    let me = node.status();
    let members = node.members();
    let probes = members.iter().map(|(id, (member, voter))| {
        let node = node.clone();
        let me = me.clone();
        async move {
            let status = if *id == node.id() {
                Some(me)
            } else if probe {
                tokio::time::timeout(Duration::from_secs(1), node.peer_status(&member.raft_addr))
                    .await
                    .ok()
                    .and_then(Result::ok)
            } else {
                None
            };
            MemberView {
                id: *id,
                raft_addr: member.raft_addr.clone(),
                http_addr: member.http_addr.clone(),
                voter: *voter,
                reachable: (probe || *id == node.id()).then_some(status.is_some()),
                status,
            }
        }
    });
    let members = join_all(probes).await;
    ClusterView {
        leader: me.leader,
        term: me.term,
        node: me,
        members,
    }
}

async fn cluster(
    State(node): State<Arc<Node>>,
    _: Consistent,
    options: Result<Query<ViewOptions>, QueryRejection>,
) -> Result<Json<ClusterView>, Problem> {
    let Query(options) = options.map_err(|e| Problem::bad_request(e.body_text()))?;
    Ok(Json(view(&node, options.probe).await))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMember {
    id: u64,
    raft_addr: String,
}

/// Adds a master: it joins as a learner, catches up, then becomes a voter.
async fn add_member(
    State(node): State<Arc<Node>>,
    body: Result<Json<AddMember>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<ClusterView>), Problem> {
    let AddMember { id, raft_addr } = json_body(body)?;
    if id == 0 || !crate::config::valid_host_port(&raft_addr) {
        return Err(Problem::bad_request(
            "id must be at least 1 and raft_addr host:port",
        ));
    }
    if node.members().contains_key(&id) {
        return Err(Problem::conflict(format!("node {id} is already a member")));
    }
    let status = node.peer_status(&raft_addr).await.map_err(|e| {
        Problem::bad_request(format!("the new master did not answer at {raft_addr}: {e}"))
    })?;
    if status.id != id {
        return Err(Problem::bad_request(format!(
            "the master at {raft_addr} has id {}, not {id}",
            status.id
        )));
    }
    node.change_membership(MembershipChange::AddVoter {
        id,
        raft_addr,
        http_addr: status.http_addr,
    })
    .await?;
    // Show the new membership as this master's replica has it.
    node.read_barrier().await?;
    Ok((StatusCode::OK, Json(view(&node, true).await)))
}

/// Removes a master from the cluster.
async fn remove_member(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> Result<Json<ClusterView>, Problem> {
    let id: u64 = id
        .parse()
        .map_err(|_| Problem::bad_request(format!("{id:?} is not a node id")))?;
    if !node.members().contains_key(&id) {
        return Err(Problem::not_found(format!("node {id} is not a member")));
    }
    if node.members().values().filter(|(_, voter)| *voter).count() <= 1 {
        return Err(Problem::conflict("the last voter cannot be removed"));
    }
    node.change_membership(MembershipChange::Remove { id })
        .await?;
    // Show the new membership as this master's replica has it (a forwarded change is applied
    // here a moment later).
    node.read_barrier().await?;
    Ok(Json(view(&node, true).await))
}

/// Liveness: the process serves requests and Raft runs.
pub(super) async fn healthz(State(node): State<Arc<Node>>) -> Result<&'static str, Problem> {
    if node.raft.metrics().borrow().running_state.is_ok() {
        Ok("ok\n")
    } else {
        Err(Problem::unavailable("raft stopped", None))
    }
}

/// Readiness: a leader is known, so reads are current within the replication lag and writes
/// can be forwarded.
pub(super) async fn readyz(State(node): State<Arc<Node>>) -> Result<&'static str, Problem> {
    let status = node.status();
    match status.leader {
        Some(_) => Ok("ready\n"),
        None => Err(Problem::unavailable("no leader is known", None)),
    }
}
