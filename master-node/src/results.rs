//! A job's merged result, built from the replicated store on any master.
//!
//! The statistics are the sum of every committed delta of every attempt of every task: each
//! request a worker reported is counted exactly once (deltas are folded once per sequence
//! number), including the part a lost attempt reported before it was replaced — which a merge
//! of final task results would miss. Percentiles come from the merged HDR histograms. The
//! run's metadata comes from the pinned simulation (name, description, assertions, evaluated
//! on the merged statistics) and from the tasks' final reports (scenarios and their users).
//!
//! The same fold serves the live view while a job runs; a finished job's report never changes
//! and is cached.

use std::collections::HashMap;
use std::sync::Arc;

use broadside_engine::metrics::{add_counts, evaluate, RunStats};
use broadside_engine::report::{
    account_scenarios, measure_gaps, AttemptPositions, AttemptSummary, Distribution, RunReport,
    ScenarioInfo, SUMMARY_SCHEMA_VERSION,
};
use broadside_engine::wire::{decode_report, LogLine, ScenarioPosition, TaskDelta};
use broadside_raft_store::model::{AttemptEnd, Job, ProgressRecord};
use broadside_raft_store::{all_pages, JobId, StoreReader};
use parking_lot::Mutex;

use crate::error::Error;
use crate::node::now_ms;

/// Finished jobs' reports kept in memory per master.
const CACHED_REPORTS: usize = 32;

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// The store could not be read.
    #[error("storage: {0}")]
    Storage(#[from] broadside_raft_store::Error),
    /// The pinned simulation is unreadable.
    #[error("simulation {path}: {message}")]
    Simulation {
        /// Its path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl From<ResultError> for Error {
    fn from(e: ResultError) -> Self {
        match e {
            ResultError::Storage(e) => Error::from(e),
            e @ ResultError::Simulation { .. } => Error::Conflict(e.to_string()),
        }
    }
}

/// The decoded deltas of a job, in store order (task, attempt, sequence).
pub(crate) struct Decoded {
    /// `(task, attempt, delta)`.
    pub deltas: Vec<(u32, u32, TaskDelta)>,
    /// The sequence number of each of them, in the same order.
    pub seqs: Vec<u64>,
    /// Records that could not be decoded (from an incompatible worker), skipped.
    pub undecodable: u64,
}

/// Decodes progress records, skipping (and counting) undecodable ones.
pub(crate) fn decode_records(records: impl IntoIterator<Item = ProgressRecord>) -> Decoded {
    let mut out = Decoded {
        deltas: Vec::new(),
        seqs: Vec::new(),
        undecodable: 0,
    };
    for r in records {
        match TaskDelta::decode(&r.delta) {
            Ok(d) => {
                out.deltas.push((r.task, r.attempt, d));
                out.seqs.push(r.seq);
            }
            Err(e) => {
                tracing::warn!(task = r.task, attempt = r.attempt, seq = r.seq, error = %e, "undecodable delta skipped");
                out.undecodable += 1;
            }
        }
    }
    out
}

/// Every committed delta of `job`.
pub(crate) fn job_deltas(reader: &StoreReader, job: JobId) -> Result<Decoded, ResultError> {
    Ok(decode_records(all_pages(|p| reader.job_progress(job, p))?))
}

/// The merged report of `job` as of now.
pub fn job_report(reader: &StoreReader, job: &Job) -> Result<RunReport, ResultError> {
    let decoded = job_deltas(reader, job.id)?;
    let mut stats = RunStats::default();
    for (_, _, d) in &decoded.deltas {
        stats.merge(&d.stats);
    }
    let sim_file = job
        .files
        .iter()
        .find(|f| f.path == job.simulation)
        .ok_or_else(|| ResultError::Simulation {
            path: job.simulation.clone(),
            message: "not pinned by the job".into(),
        })?;
    let bad = |message: String| ResultError::Simulation {
        path: job.simulation.clone(),
        message,
    };
    let bytes = reader
        .blob_content(&sim_file.sha256)?
        .ok_or_else(|| bad("its content is missing".into()))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
    let sim = broadside_engine::simulation::parse_text(&text, &job.simulation)
        .map_err(|e| bad(e.to_string()))?;

    let started_at = job.start_at_ms.unwrap_or(job.submitted_at_ms);
    let end = job.finished_at_ms.unwrap_or_else(now_ms);
    let duration_ms = if job.start_at_ms.is_some() {
        end.saturating_sub(started_at)
    } else {
        stats.series_duration().as_millis() as u64
    };
    let scenario_names: Vec<String> = sim.scenarios.iter().map(|s| s.name.clone()).collect();
    let assertions = evaluate(
        &sim.assertions,
        &stats,
        std::time::Duration::from_millis(duration_ms),
    );
    Ok(RunReport {
        schema_version: SUMMARY_SCHEMA_VERSION,
        simulation: sim.name,
        description: sim.description,
        started_at_unix_ms: started_at,
        duration_ms,
        segment: None,
        stats,
        assertions,
        scenarios: task_scenarios(reader, job)?,
        distribution: Some(distribution(reader, job, &decoded, &scenario_names)?),
    })
}

fn attempt_end(end: AttemptEnd) -> &'static str {
    match end {
        AttemptEnd::Succeeded => "succeeded",
        AttemptEnd::Failed => "failed",
        AttemptEnd::Stopped => "stopped",
        AttemptEnd::Reassigned => "reassigned",
    }
}

/// Every attempt of the job with what its deltas say: its sending window, its requests, and
/// those that arrived after it ended; the silent windows between attempts; every scenario's
/// schedule accounted for; the window of a lost attempt that nobody reported.
fn distribution(
    reader: &StoreReader,
    job: &Job,
    decoded: &Decoded,
    scenarios: &[String],
) -> Result<Distribution, ResultError> {
    let records = all_pages(|p| reader.job_attempts(job.id, p))?;
    let mut attempts: Vec<AttemptSummary> = records
        .iter()
        .map(|a| AttemptSummary {
            task: a.task,
            attempt: a.attempt,
            worker: a.worker_id.clone(),
            claimed_at_unix_ms: a.claimed_at_ms,
            started_at_unix_ms: a.started_at_ms,
            ended_at_unix_ms: a.ended.map(|(at, _)| at),
            end: a.ended.map(|(_, end)| attempt_end(end).to_owned()),
            reason: a.reason.clone(),
            late_deltas: a.late_deltas,
            late_between_unix_ms: a.late_between_ms,
            ..AttemptSummary::default()
        })
        .collect();
    let mut seen: Vec<Seen> = vec![Seen::default(); records.len()];
    // Where each attempt is, and the watermark its deltas are late above.
    let index: HashMap<(u32, u32), (usize, Option<u64>)> = records
        .iter()
        .enumerate()
        .map(|(i, a)| ((a.task, a.attempt), (i, a.ended.map(|_| a.seq_at_end))))
        .collect();
    for ((task, attempt, delta), seq) in decoded.deltas.iter().zip(&decoded.seqs) {
        let Some(&(i, late_above)) = index.get(&(*task, *attempt)) else {
            continue;
        };
        let a = &mut attempts[i];
        let requests: u64 = delta.stats.requests.values().map(|r| r.count()).sum();
        a.requests += requests;
        let late = late_above.is_some_and(|watermark| *seq > watermark);
        if late {
            a.late_requests += requests;
        }
        let seconds = delta.stats.series.iter().filter(|s| s.requests > 0);
        for second in seconds.map(|s| s.second) {
            a.sending = Some(match a.sending {
                Some((first, last)) => (first.min(second), last.max(second)),
                None => (second, second),
            });
        }
        seen[i].fold(delta, late);
    }
    let gap_seconds = measure_gaps(&mut attempts);
    let start = job.start_at_ms.unwrap_or(job.submitted_at_ms);
    let mut positions = Vec::with_capacity(attempts.len());
    for (a, seen) in attempts.iter_mut().zip(seen) {
        // The first instant its worker may have sent load: the job's start, or its claim when
        // it joined later (a start reported to the masters comes after it, or never).
        let could_send_from = job.start_at_ms.map(|s| s.max(a.claimed_at_unix_ms));
        let ended_before_sending = match (could_send_from, a.ended_at_unix_ms) {
            (None, _) => true,
            (Some(from), Some(end)) => end <= from,
            (Some(_), None) => false,
        };
        a.accounted = seen.last
            || a.ended_at_unix_ms.is_none()
            || (ended_before_sending && seen.elapsed_ms.is_none());
        if !a.accounted {
            let from = seen
                .elapsed_ms
                .map(|e| start + e)
                .or(could_send_from)
                .unwrap_or(a.claimed_at_unix_ms);
            let to = a.ended_at_unix_ms.unwrap_or(from).max(from);
            a.unaccounted_unix_ms = Some((from, to));
        }
        positions.push(AttemptPositions {
            task: a.task,
            attempt: a.attempt,
            positions: seen.positions,
            requests: seen.requests,
            late_requests: seen.late_requests,
            accounted: a.accounted,
        });
    }
    let (accounts, before) = account_scenarios(scenarios, &positions);
    for (a, before) in attempts.iter_mut().zip(before) {
        a.skipped_before = before;
    }
    Ok(Distribution {
        late_requests: attempts.iter().map(|a| a.late_requests).sum(),
        late_deltas: attempts.iter().map(|a| a.late_deltas).sum(),
        gap_seconds,
        scenarios: accounts,
        attempts,
    })
}

/// What the deltas of one attempt said, in order.
#[derive(Clone, Default)]
struct Seen {
    /// The latest position on each scenario.
    positions: Vec<ScenarioPosition>,
    /// Requests reported per scenario.
    requests: Vec<u64>,
    /// Of those, requests in deltas that arrived after the attempt ended.
    late_requests: Vec<u64>,
    /// Whether its last delta arrived.
    last: bool,
    /// How far into the schedule its latest delta reaches.
    elapsed_ms: Option<u64>,
}

impl Seen {
    fn fold(&mut self, delta: &TaskDelta, late: bool) {
        if !delta.scenarios.is_empty() {
            self.positions = delta.scenarios.clone();
        }
        add_counts(&mut self.requests, &delta.stats.scenario_requests);
        if late {
            add_counts(&mut self.late_requests, &delta.stats.scenario_requests);
        }
        self.last |= delta.last;
        self.elapsed_ms = Some(self.elapsed_ms.unwrap_or(0).max(delta.elapsed_ms));
    }
}

/// The final reports of the tasks that have one (the last attempt's), by task index.
pub fn task_reports(reader: &StoreReader, job: &Job) -> Result<Vec<(u32, RunReport)>, ResultError> {
    let mut out = Vec::new();
    for index in 0..job.parallelism {
        if let Some(record) = reader.task_result(job.id, index)? {
            if let Ok(report) = decode_report(&record.data) {
                out.push((index, report));
            }
        }
    }
    Ok(out)
}

/// How far apart the tasks' loads started (worker clocks, corrected to the leader's), in
/// milliseconds, from their final reports; `None` with fewer than two.
pub fn start_skew_ms(reports: &[(u32, RunReport)]) -> Option<u64> {
    let starts = reports.iter().map(|(_, r)| r.started_at_unix_ms);
    let (min, max) = (starts.clone().min()?, starts.max()?);
    (reports.len() > 1).then_some(max - min)
}

/// The scenarios of the tasks' final reports, users added up by scenario name.
fn task_scenarios(reader: &StoreReader, job: &Job) -> Result<Vec<ScenarioInfo>, ResultError> {
    let mut merged: Vec<ScenarioInfo> = Vec::new();
    for (_, report) in task_reports(reader, job)? {
        for s in report.scenarios {
            match merged.iter_mut().find(|m| m.name == s.name) {
                Some(m) => {
                    m.started_users += s.started_users;
                    m.planned_users = match (m.planned_users, s.planned_users) {
                        (Some(a), Some(b)) => Some(a + b),
                        _ => None,
                    };
                }
                None => merged.push(s),
            }
        }
    }
    Ok(merged)
}

/// The log lines of one task (every attempt), oldest first, with their attempt.
pub(crate) fn task_logs(decoded: &Decoded, task: u32) -> Vec<(u32, LogLine)> {
    decoded
        .deltas
        .iter()
        .filter(|(t, _, _)| *t == task)
        .flat_map(|(_, attempt, d)| d.logs.iter().map(|l| (*attempt, l.clone())))
        .collect()
}

/// Reports of finished jobs. A finished job's last deltas may still arrive (an aborted task
/// flushing what it measured), so a cached report is keyed by the number of deltas folded.
#[derive(Default)]
pub struct ReportCache {
    reports: Mutex<HashMap<JobId, (u64, Arc<RunReport>)>>,
}

impl ReportCache {
    /// The report of `job`, from the cache when the job is finished and nothing was folded
    /// since it was built.
    pub fn get(&self, reader: &StoreReader, job: &Job) -> Result<Arc<RunReport>, ResultError> {
        let folded: u64 = all_pages(|p| reader.list_tasks(job.id, p))?
            .iter()
            .map(|t| t.deltas)
            .sum();
        if let Some((count, r)) = self.reports.lock().get(&job.id) {
            if *count == folded {
                return Ok(Arc::clone(r));
            }
        }
        let report = Arc::new(job_report(reader, job)?);
        if job.state.is_terminal() {
            let mut reports = self.reports.lock();
            if reports.len() >= CACHED_REPORTS {
                if let Some(&old) = reports.keys().min() {
                    reports.remove(&old);
                }
            }
            reports.insert(job.id, (folded, Arc::clone(&report)));
        }
        Ok(report)
    }

    /// Forgets a deleted job.
    pub fn forget(&self, job: JobId) {
        self.reports.lock().remove(&job);
    }
}

/// Reads a job's deltas as they are committed: each call returns only the new ones (of every
/// attempt of every task), so a live view folds each delta once.
#[derive(Default)]
pub(crate) struct Follower {
    /// Highest sequence number read per `(task, attempt)`.
    seen: HashMap<(u32, u32), u64>,
}

/// Deltas read per attempt and call (a long backlog is read over several calls).
const FOLLOW_BATCH: usize = 1000;

impl Follower {
    /// Every delta committed so far (reads until nothing is left).
    pub(crate) fn poll_all(
        &mut self,
        reader: &StoreReader,
        job: JobId,
        tasks: &[broadside_raft_store::model::Task],
    ) -> Result<Decoded, ResultError> {
        let mut all = self.poll(reader, job, tasks)?;
        loop {
            let more = self.poll(reader, job, tasks)?;
            if more.deltas.is_empty() && more.undecodable == 0 {
                return Ok(all);
            }
            all.deltas.extend(more.deltas);
            all.seqs.extend(more.seqs);
            all.undecodable += more.undecodable;
        }
    }

    /// The deltas committed since the previous call (at most a batch per attempt).
    pub(crate) fn poll(
        &mut self,
        reader: &StoreReader,
        job: JobId,
        tasks: &[broadside_raft_store::model::Task],
    ) -> Result<Decoded, ResultError> {
        let mut records = Vec::new();
        for task in tasks {
            for attempt in 1..=task.attempt {
                let seen = self.seen.entry((task.index, attempt)).or_insert(0);
                let new = reader.attempt_progress(job, task.index, attempt, *seen, FOLLOW_BATCH)?;
                if let Some(last) = new.last() {
                    *seen = last.seq;
                }
                records.extend(new);
            }
        }
        Ok(decode_records(records))
    }
}
