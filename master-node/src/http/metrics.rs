//! `/metrics`: a master's state in the Prometheus text format (0.0.4), encoded by
//! `prometheus-client` from values read at scrape time — Raft (term, leader, lags), jobs and
//! workers by state, heartbeats received, writes forwarded, pools the storm guard paused.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use broadside_api::{JobState, WorkerState};
use broadside_raft_store::all_pages;
use openraft::ServerState;
use prometheus_client::encoding::prometheus_text::{encode, CONTENT_TYPE};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Problem;
use crate::app::App;
use crate::error::Error;
use crate::views;

pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Label sets: `[(name, value)]`.
type Labels = Vec<(&'static str, String)>;

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let g: Gauge = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, g);
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn family(
    registry: &mut Registry,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, u64)>,
) {
    let f = Family::<Labels, Gauge>::default();
    for (labels, value) in samples {
        f.get_or_create(&labels)
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }
    registry.register(name, help, f);
}

/// Raft: term, leader, log and apply positions, each follower's lag.
fn raft(r: &mut Registry, m: &openraft::RaftMetrics<u64, broadside_raft_store::MasterNode>) {
    let last_log = m.last_log_index.unwrap_or(0);
    let applied = m.last_applied.map_or(0, |l| l.index);
    gauge(r, "raft_term", "Current Raft term", m.current_term);
    gauge(
        r,
        "raft_leader",
        "Id of the leader this node knows (0: none)",
        m.current_leader.unwrap_or(0),
    );
    gauge(
        r,
        "raft_is_leader",
        "1 when this node leads",
        u64::from(m.state == ServerState::Leader),
    );
    gauge(
        r,
        "raft_last_log_index",
        "Index of the last log entry",
        last_log,
    );
    gauge(
        r,
        "raft_applied_index",
        "Index of the last applied entry",
        applied,
    );
    gauge(
        r,
        "raft_apply_lag",
        "Log entries not yet applied on this node",
        last_log.saturating_sub(applied),
    );
    let lag = m.replication.iter().flatten().map(|(id, matched)| {
        let matched = matched.map_or(0, |l| l.index);
        (
            vec![("follower", id.to_string())],
            last_log.saturating_sub(matched),
        )
    });
    family(
        r,
        "raft_replication_lag",
        "Entries each follower still lacks (leader only)",
        lag,
    );
}

/// The replicated state: active jobs and workers by state.
fn state(r: &mut Registry, jobs: BTreeMap<JobState, u64>, workers: BTreeMap<WorkerState, u64>) {
    family(
        r,
        "active_jobs",
        "Jobs not yet finished, by state",
        jobs.into_iter()
            .map(|(s, n)| (vec![("state", s.as_str().to_owned())], n)),
    );
    family(
        r,
        "workers",
        "Registered workers by state",
        workers
            .into_iter()
            .map(|(s, n)| (vec![("state", s.as_str().to_owned())], n)),
    );
}

/// What this process counted and what it knows as the leader.
fn leader(r: &mut Registry, app: &App) {
    counter(
        r,
        "worker_heartbeats",
        "Worker heartbeats this node received",
        app.office.heartbeats(),
    );
    counter(
        r,
        "forwarded_writes",
        "Writes this node forwarded to the leader",
        app.node.forwarded_writes(),
    );
    family(
        r,
        "reassignment_paused",
        "1 for each pool whose automatic reassignment the storm guard paused (on the leader)",
        app.office
            .leader_state()
            .paused_pools
            .into_iter()
            .map(|(pool, _)| (vec![("pool", pool)], 1)),
    );
}

/// Prometheus metrics
///
/// The master's state in the Prometheus text exposition format (0.0.4): Raft term, leader and
/// lags, active jobs and workers by state, heartbeats, forwarded writes and pools whose
/// reassignment the storm guard paused.
#[utoipa::path(get, path = "/metrics", tag = "probes",
    extensions(("x-broadside-access" = json!("authenticated"))),
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "text/plain", body = String),
        (status = 500, body = broadside_api::Problem),
    ))]
async fn metrics(State(app): State<Arc<App>>) -> Result<impl IntoResponse, Problem> {
    let (jobs, workers) = app
        .read(|r| {
            let mut jobs: BTreeMap<JobState, u64> = BTreeMap::new();
            for j in all_pages(|p| r.active_jobs(p))? {
                *jobs.entry(views::job_state(j.state)).or_default() += 1;
            }
            let mut workers: BTreeMap<WorkerState, u64> =
                WorkerState::ALL.into_iter().map(|s| (s, 0)).collect();
            for w in all_pages(|p| r.list_workers(p))? {
                *workers.entry(views::worker_state(w.state)).or_default() += 1;
            }
            Ok((jobs, workers))
        })
        .await?;
    let mut registry = Registry::with_prefix("broadside");
    raft(&mut registry, &app.node.raft.metrics().borrow());
    state(&mut registry, jobs, workers);
    leader(&mut registry, &app);
    let mut out = String::with_capacity(4096);
    encode(&mut out, &registry).map_err(|e| Error::internal(format_args!("metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], out))
}
