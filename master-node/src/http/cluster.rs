//! Cluster endpoints: members with their health and progress, membership changes, liveness
//! and readiness probes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use broadside_api::{AddMember, ClusterQuery, ClusterView, Member, ReadQuery};
use broadside_rpc::MembershipChange;
use futures::future::join_all;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiPath, ApiQuery, Consistent};
use super::Problem;
use crate::app::App;
use crate::error::Error;
use crate::views;

pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(cluster))
        .routes(routes!(add_member))
        .routes(routes!(remove_member))
}

/// Probes at the root of the server, outside `/api/v1`.
pub(super) fn probes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The cluster as `app`'s master sees it; with `probe`, every member is asked for its status
/// (one second at most each, all at once).
async fn view(app: &App, probe: bool) -> ClusterView {
    let node = &app.node;
    let me = node.status();
    let members = node.members();
    let probes = members.iter().map(|(id, (member, voter))| {
        let node = node.clone();
        let me = me.clone();
        async move {
            let status = if *id == node.id() {
                Some(me)
            } else if probe {
                tokio::time::timeout(
                    Duration::from_secs(1),
                    node.peer_status(*id, &member.raft_addr),
                )
                .await
                .ok()
                .and_then(Result::ok)
            } else {
                None
            };
            Member {
                id: *id,
                raft_addr: member.raft_addr.clone(),
                http_addr: member.http_addr.clone(),
                voter: *voter,
                reachable: (probe || *id == node.id()).then_some(status.is_some()),
                status: status.map(views::node_status),
            }
        }
    });
    let members = join_all(probes).await;
    ClusterView {
        leader: me.leader,
        term: me.term,
        node: views::node_status(me),
        members,
        leader_changes: app.leaders.changes(),
    }
}

/// Cluster view
///
/// The members with their reachability and status, as the answering master sees them (each
/// peer is probed with a 1 s timeout; `probe=false` answers at once with this master's view
/// only).
#[utoipa::path(get, path = "/cluster", tag = "cluster",
    extensions(("x-broadside-access" = json!("authenticated"))),
    security(("bearer" = [])),
    params(ClusterQuery, ReadQuery),
    responses(
        (status = 200, body = ClusterView),
        (status = 400, body = broadside_api::Problem),
    ))]
async fn cluster(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiQuery(options): ApiQuery<ClusterQuery>,
) -> Json<ClusterView> {
    Json(view(&app, options.probe).await)
}

/// Add a master
///
/// Adds a running master to the cluster: it joins as a learner, catches up, then becomes a
/// voter; answers with the new membership. Not idempotency-keyed: a repeat answers 409.
#[utoipa::path(post, path = "/cluster/members", tag = "cluster",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    request_body = AddMember,
    responses(
        (status = 200, body = ClusterView),
        (status = 400, body = broadside_api::Problem),
        (status = 409, body = broadside_api::Problem),
        (status = 503, body = broadside_api::Problem),
    ))]
async fn add_member(
    State(app): State<Arc<App>>,
    ApiJson(AddMember { id, raft_addr }): ApiJson<AddMember>,
) -> Result<Json<ClusterView>, Problem> {
    let node = &app.node;
    if id == 0 || !crate::config::valid_host_port(&raft_addr) {
        return Err(
            Error::BadRequest("id must be at least 1 and raft_addr host:port".into()).into(),
        );
    }
    if !node.config.cluster_tls.is_tls() && !broadside_rpc::transport::on_loopback(&raft_addr) {
        return Err(Error::BadRequest(format!(
            "raft_addr {raft_addr} is not on loopback and this cluster's port is plain TCP: \
             masters off loopback need TLS (--ca-cert, --cert and --key)"
        ))
        .into());
    }
    if node.members().contains_key(&id) {
        return Err(Error::Conflict(format!("node {id} is already a member")).into());
    }
    let status = node.peer_status(id, &raft_addr).await.map_err(|e| {
        Error::BadRequest(format!("the new master did not answer at {raft_addr}: {e}"))
    })?;
    if status.id != id {
        return Err(Error::BadRequest(format!(
            "the master at {raft_addr} has id {}, not {id}",
            status.id
        ))
        .into());
    }
    node.change_membership(MembershipChange::AddVoter {
        id,
        raft_addr,
        http_addr: status.http_addr,
    })
    .await?;
    // Show the new membership as this master's replica has it.
    node.read_barrier().await?;
    Ok(Json(view(&app, true).await))
}

/// Remove a master
///
/// Removes a master (voter or learner) from the cluster; answers with the new membership.
#[utoipa::path(delete, path = "/cluster/members/{id}", tag = "cluster",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "Node id")),
    responses(
        (status = 200, body = ClusterView),
        (status = 400, body = broadside_api::Problem),
        (status = 404, body = broadside_api::Problem),
        (status = 409, body = broadside_api::Problem),
    ))]
async fn remove_member(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<ClusterView>, Problem> {
    let node = &app.node;
    if !node.members().contains_key(&id) {
        return Err(Error::NotFound(format!("node {id} is not a member")).into());
    }
    if node.members().values().filter(|(_, voter)| *voter).count() <= 1 {
        return Err(Error::Conflict("the last voter cannot be removed".into()).into());
    }
    node.change_membership(MembershipChange::Remove { id })
        .await?;
    // Show the new membership as this master's replica has it (a forwarded change is applied
    // here a moment later).
    node.read_barrier().await?;
    Ok(Json(view(&app, true).await))
}

/// Liveness probe
///
/// Answers while the process serves requests and Raft runs.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    extensions(("x-broadside-access" = json!("public"))),
    responses(
        (status = 200, content_type = "text/plain", body = String),
        (status = 503, body = broadside_api::Problem),
    ))]
async fn healthz(State(app): State<Arc<App>>) -> Result<&'static str, Problem> {
    if app.node.raft.metrics().borrow().running_state.is_ok() {
        Ok("ok\n")
    } else {
        Err(Error::Unavailable("raft stopped".into()).into())
    }
}

/// Readiness probe
///
/// Answers when a leader is known, so reads are current within the replication lag and
/// writes can be forwarded.
#[utoipa::path(get, path = "/readyz", tag = "probes",
    extensions(("x-broadside-access" = json!("public"))),
    responses(
        (status = 200, content_type = "text/plain", body = String),
        (status = 503, body = broadside_api::Problem),
    ))]
async fn readyz(State(app): State<Arc<App>>) -> Result<&'static str, Problem> {
    match app.node.status().leader {
        Some(_) => Ok("ready\n"),
        None => Err(Error::Unavailable("no leader is known".into()).into()),
    }
}
