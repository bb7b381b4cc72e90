//! The API's resources ([`broadside_api`]) built from the store's records and the node's
//! status: the one place where internal names become the API's.

use std::collections::BTreeMap;

use broadside_api as api;
use broadside_raft_store::model;
use broadside_rpc::NodeStatus;

/// A job state as the API names it.
pub(crate) fn job_state(state: model::JobState) -> api::JobState {
    match state {
        model::JobState::Queued => api::JobState::Queued,
        model::JobState::WaitingForWorkers => api::JobState::WaitingForWorkers,
        model::JobState::Starting => api::JobState::Starting,
        model::JobState::Running => api::JobState::Running,
        model::JobState::Completed => api::JobState::Completed,
        model::JobState::Failed => api::JobState::Failed,
        model::JobState::Aborted => api::JobState::Aborted,
    }
}

/// A task state as the API names it.
pub(crate) fn task_state(state: model::TaskState) -> api::TaskState {
    match state {
        model::TaskState::Pending => api::TaskState::Pending,
        model::TaskState::Assigned => api::TaskState::Assigned,
        model::TaskState::Running => api::TaskState::Running,
        model::TaskState::Succeeded => api::TaskState::Succeeded,
        model::TaskState::Failed => api::TaskState::Failed,
        model::TaskState::Aborted => api::TaskState::Aborted,
    }
}

/// A worker state as the API names it.
pub(crate) fn worker_state(state: model::WorkerState) -> api::WorkerState {
    match state {
        model::WorkerState::Alive => api::WorkerState::Alive,
        model::WorkerState::Suspect => api::WorkerState::Suspect,
        model::WorkerState::Dead => api::WorkerState::Dead,
        model::WorkerState::Draining => api::WorkerState::Draining,
    }
}

/// A file kind as the API names it.
pub(crate) fn file_kind(kind: model::FileKind) -> api::FileKind {
    match kind {
        model::FileKind::Simulation => api::FileKind::Simulation,
        model::FileKind::Data => api::FileKind::Data,
        model::FileKind::Conf => api::FileKind::Conf,
        model::FileKind::Artifact => api::FileKind::Artifact,
    }
}

/// The store's file kind of an API kind.
pub(crate) fn model_file_kind(kind: api::FileKind) -> model::FileKind {
    match kind {
        api::FileKind::Simulation => model::FileKind::Simulation,
        api::FileKind::Data => model::FileKind::Data,
        api::FileKind::Conf => model::FileKind::Conf,
        api::FileKind::Artifact => model::FileKind::Artifact,
    }
}

/// The store's job state of an API state.
pub(crate) fn model_job_state(state: api::JobState) -> model::JobState {
    match state {
        api::JobState::Queued => model::JobState::Queued,
        api::JobState::WaitingForWorkers => model::JobState::WaitingForWorkers,
        api::JobState::Starting => model::JobState::Starting,
        api::JobState::Running => model::JobState::Running,
        api::JobState::Completed => model::JobState::Completed,
        api::JobState::Failed => model::JobState::Failed,
        api::JobState::Aborted => model::JobState::Aborted,
    }
}

/// A project.
pub(crate) fn project(p: model::Project) -> api::Project {
    api::Project {
        name: p.name,
        description: p.description,
        created_at_ms: p.created_at_ms,
    }
}

/// A file version.
pub(crate) fn file(f: model::FileVersion) -> api::FileVersion {
    api::FileVersion {
        project: f.project,
        path: f.path,
        version: f.version,
        sha256: f.sha256.to_hex(),
        size: f.size,
        kind: file_kind(f.kind),
        created_at_ms: f.created_at_ms,
        pinned_by_jobs: f.pins,
        deleted: f.deleted,
    }
}

/// A job.
pub(crate) fn job(j: model::Job) -> api::Job {
    api::Job {
        id: j.id,
        project: j.project,
        name: j.name,
        simulation: j.simulation,
        pool: j.pool,
        parallelism: j.parallelism,
        mode: match j.split {
            model::SplitMode::Split => api::SplitMode::Split,
            model::SplitMode::Replicate => api::SplitMode::Replicate,
        },
        state: job_state(j.state),
        reason: j.reason,
        params: serde_json::from_slice(&j.params).unwrap_or_default(),
        files: j
            .files
            .into_iter()
            .map(|f| api::PinnedFile {
                path: f.path,
                version: f.version,
                sha256: f.sha256.to_hex(),
            })
            .collect(),
        start_at_ms: j.start_at_ms,
        submitted_at_ms: j.submitted_at_ms,
        finished_at_ms: j.finished_at_ms,
        reassignments: j.reassignments,
    }
}

/// Why the task `t` of a started `job` has no attempt running, and since when: its previous
/// attempt (`previous`) ended and no worker runs the next one yet.
pub(crate) fn waiting(
    t: &model::Task,
    job: &model::Job,
    previous: Option<&model::AttemptRecord>,
) -> Option<api::Waiting> {
    if t.state != model::TaskState::Pending || job.state.is_terminal() {
        return None;
    }
    let previous = previous.filter(|p| p.attempt + 1 == t.attempt)?;
    let (since_ms, _) = previous.ended?;
    Some(api::Waiting {
        since_ms,
        reason: format!(
            "attempt {} on worker {} ended ({}); waiting for a worker of pool {} with a free slot and no other task of this job",
            previous.attempt, previous.worker_id, previous.reason, job.pool
        ),
    })
}

/// What each of `tasks` of `job` waits for (see [`waiting`]), from the job's attempt records.
pub(crate) fn waiting_of(
    job: &model::Job,
    tasks: &[model::Task],
    attempts: &[model::AttemptRecord],
) -> Vec<Option<api::Waiting>> {
    tasks
        .iter()
        .map(|t| {
            let previous = attempts
                .iter()
                .find(|a| a.task == t.index && a.attempt + 1 == t.attempt);
            waiting(t, job, previous)
        })
        .collect()
}

/// The tasks of `job` with what they wait for.
pub(crate) fn tasks(
    job: &model::Job,
    tasks: Vec<model::Task>,
    attempts: &[model::AttemptRecord],
) -> Vec<api::Task> {
    let waiting = waiting_of(job, &tasks, attempts);
    tasks
        .into_iter()
        .zip(waiting)
        .map(|(t, waiting)| api::Task { waiting, ..task(t) })
        .collect()
}

/// A task.
pub(crate) fn task(t: model::Task) -> api::Task {
    api::Task {
        index: t.index,
        state: task_state(t.state),
        attempt: t.attempt,
        worker_id: t.worker_id,
        claimed_at_ms: t.claimed_at_ms,
        started_at_ms: t.started_at_ms,
        finished_at_ms: t.finished_at_ms,
        deltas: t.deltas,
        reason: t.reason,
        waiting: None,
    }
}

/// A worker, with the heartbeat ages the leader knows.
/// What a worker runs now: every task counts in `used`, only those of projects the caller
/// sees are listed.
#[derive(Clone, Debug, Default)]
pub(crate) struct WorkerLoad {
    pub(crate) used: u32,
    pub(crate) running: Vec<api::WorkerTask>,
}

pub(crate) fn worker(
    w: model::Worker,
    ages: &BTreeMap<String, u64>,
    loads: &BTreeMap<String, WorkerLoad>,
) -> api::Worker {
    let load = loads.get(&w.id).cloned().unwrap_or_default();
    api::Worker {
        last_heartbeat_age_ms: ages.get(&w.id).copied(),
        slots_used: load.used,
        running: load.running,
        id: w.id,
        pool: w.pool,
        labels: w.labels,
        slots: w.slots,
        version: w.version,
        address: w.address,
        state: worker_state(w.state),
        reason: w.reason,
        registered_at_ms: w.registered_at_ms,
        state_since_ms: w.state_since_ms,
    }
}

/// A master's status.
pub(crate) fn node_status(s: NodeStatus) -> api::NodeStatus {
    api::NodeStatus {
        id: s.id,
        raft_addr: s.raft_addr,
        http_addr: s.http_addr,
        initialized: s.initialized,
        role: api::Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.role)
            .unwrap_or(api::Role::Follower),
        term: s.term,
        leader: s.leader,
        last_log_index: s.last_log_index,
        applied_index: s.applied_index,
        version: s.version,
    }
}

/// A project role as the API names it.
pub(crate) fn role(role: model::ProjectRole) -> api::ProjectRole {
    match role {
        model::ProjectRole::Viewer => api::ProjectRole::Viewer,
        model::ProjectRole::Runner => api::ProjectRole::Runner,
        model::ProjectRole::Maintainer => api::ProjectRole::Maintainer,
    }
}

/// The store's project role of an API role.
pub(crate) fn model_role(role: api::ProjectRole) -> model::ProjectRole {
    match role {
        api::ProjectRole::Viewer => model::ProjectRole::Viewer,
        api::ProjectRole::Runner => model::ProjectRole::Runner,
        api::ProjectRole::Maintainer => model::ProjectRole::Maintainer,
    }
}

/// A token, without its secret's hash.
pub(crate) fn token(t: &model::Token) -> api::TokenInfo {
    api::TokenInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        admin: t.admin,
        projects: t
            .projects
            .iter()
            .map(|(p, r)| (p.clone(), role(*r)))
            .collect(),
        created_by: t.created_by.clone(),
        created_at_ms: t.created_at_ms,
        expires_at_ms: t.expires_at_ms,
        revoked_at_ms: t.revoked_at_ms,
    }
}

pub(crate) fn join_token(t: &model::JoinToken) -> api::JoinTokenInfo {
    api::JoinTokenInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        pool: t.pool.clone(),
        created_by: t.created_by.clone(),
        created_at_ms: t.created_at_ms,
        expires_at_ms: t.expires_at_ms,
        revoked_at_ms: t.revoked_at_ms,
    }
}

/// An audit record.
pub(crate) fn audit(a: model::AuditRecord) -> api::AuditEntry {
    api::AuditEntry {
        seq: a.seq,
        at_ms: a.at_ms,
        actor: api::AuditActor {
            token_id: a.actor.token_id,
            name: a.actor.name,
            request: a.actor.request,
        },
        action: a.action,
        project: a.project,
        target: a.target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_keeps_its_name_across_the_two_enums() {
        for state in api::JobState::ALL {
            assert_eq!(job_state(model_job_state(state)), state);
        }
        for kind in [
            api::FileKind::Simulation,
            api::FileKind::Data,
            api::FileKind::Conf,
            api::FileKind::Artifact,
        ] {
            assert_eq!(file_kind(model_file_kind(kind)), kind);
        }
    }
}
