//! Prometheus text exposition of a master's state: Raft (term, leader, lags), jobs and
//! workers by state, heartbeats and forwarded writes.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use broadside_raft_store::all_pages;
use broadside_raft_store::model::WorkerState;
use openraft::ServerState;

use super::jobs::state_name;
use super::workers::state_name as worker_state_name;
use super::Problem;
use crate::node::Node;
use crate::scheduler::driver::Scheduler;

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

pub(super) async fn metrics(
    State(node): State<Arc<Node>>,
    State(scheduler): State<Arc<Scheduler>>,
) -> Result<impl IntoResponse, Problem> {
    let m = node.raft.metrics().borrow().clone();
    let last_log = m.last_log_index.unwrap_or(0);
    let applied = m.last_applied.map_or(0, |l| l.index);
    let mut out = String::with_capacity(4096);
    let one = |v: u64| vec![(String::new(), v)];
    metric(
        &mut out,
        "broadside_raft_term",
        "gauge",
        "Current Raft term.",
        &one(m.current_term),
    );
    metric(
        &mut out,
        "broadside_raft_leader",
        "gauge",
        "Id of the leader this node knows (0: none).",
        &one(m.current_leader.unwrap_or(0)),
    );
    metric(
        &mut out,
        "broadside_raft_is_leader",
        "gauge",
        "1 when this node leads.",
        &one(u64::from(m.state == ServerState::Leader)),
    );
    metric(
        &mut out,
        "broadside_raft_last_log_index",
        "gauge",
        "Index of the last log entry.",
        &one(last_log),
    );
    metric(
        &mut out,
        "broadside_raft_applied_index",
        "gauge",
        "Index of the last applied entry.",
        &one(applied),
    );
    metric(
        &mut out,
        "broadside_raft_apply_lag",
        "gauge",
        "Log entries not yet applied on this node.",
        &one(last_log.saturating_sub(applied)),
    );
    let lag: Vec<(String, u64)> = m
        .replication
        .iter()
        .flatten()
        .map(|(id, matched)| {
            let matched = matched.map_or(0, |l| l.index);
            (
                format!("{{follower=\"{id}\"}}"),
                last_log.saturating_sub(matched),
            )
        })
        .collect();
    metric(
        &mut out,
        "broadside_raft_replication_lag",
        "gauge",
        "Entries each follower still lacks (leader only).",
        &lag,
    );

    let reader = node.reader();
    let mut jobs = std::collections::BTreeMap::new();
    for j in all_pages(|p| reader.active_jobs(p))? {
        *jobs.entry(state_name(j.state)).or_insert(0u64) += 1;
    }
    let jobs: Vec<(String, u64)> = jobs
        .into_iter()
        .map(|(s, n)| (format!("{{state=\"{s}\"}}"), n))
        .collect();
    metric(
        &mut out,
        "broadside_active_jobs",
        "gauge",
        "Jobs not yet finished, by state.",
        &jobs,
    );

    let mut workers = std::collections::BTreeMap::new();
    for s in [
        WorkerState::Alive,
        WorkerState::Suspect,
        WorkerState::Dead,
        WorkerState::Draining,
    ] {
        workers.insert(worker_state_name(s), 0u64);
    }
    for w in all_pages(|p| reader.list_workers(p))? {
        *workers.entry(worker_state_name(w.state)).or_insert(0) += 1;
    }
    let workers: Vec<(String, u64)> = workers
        .into_iter()
        .map(|(s, n)| (format!("{{state=\"{s}\"}}"), n))
        .collect();
    metric(
        &mut out,
        "broadside_workers",
        "gauge",
        "Registered workers by state.",
        &workers,
    );
    metric(
        &mut out,
        "broadside_worker_heartbeats_total",
        "counter",
        "Worker heartbeats this node received.",
        &one(scheduler.heartbeats()),
    );
    metric(
        &mut out,
        "broadside_forwarded_writes_total",
        "counter",
        "Writes this node forwarded to the leader.",
        &one(node.forwarded_writes()),
    );
    let paused: Vec<(String, u64)> = scheduler
        .leader_state()
        .paused_pools
        .into_iter()
        .map(|(pool, _)| (format!("{{pool=\"{}\"}}", escape_label(&pool)), 1))
        .collect();
    metric(
        &mut out,
        "broadside_reassignment_paused",
        "gauge",
        "1 for each pool whose automatic reassignment the storm guard paused (on the leader).",
        &paused,
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}

/// A Prometheus label value, escaped (backslash, double quote, newline).
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
