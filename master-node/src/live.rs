//! A job's live data, as the live stream and the log endpoint serve it: each step reads what
//! was committed since the previous one (every attempt of every task, each delta once) and
//! turns it into the API's events. Blocking: steps read the replica.

use std::collections::{BTreeSet, HashMap};

use broadside_api::{self as api, EndEvent, LiveTask, LogEvent, ProgressEvent};
use broadside_engine::metrics::RunStats;
use broadside_engine::report::{SeriesPoint, StatsRow};
use broadside_raft_store::model::{Job, Task, TaskState};
use broadside_raft_store::{all_pages, JobId, StoreReader};

use crate::error::{Error, Result};
use crate::results::{task_logs, Decoded, Follower};
use crate::views;

/// One event of the live stream.
#[derive(Debug)]
pub(crate) enum LiveEvent {
    /// Totals, the changed seconds of the series, every task.
    Progress(Box<ProgressEvent>),
    /// A task log line.
    Log(LogEvent),
    /// The job is finished and everything was sent.
    End(EndEvent),
    /// The job cannot be read any more (deleted).
    Gone(Error),
}

/// A job and its tasks from the replica.
pub(crate) fn read_job(reader: &StoreReader, id: JobId) -> Result<(Job, Vec<Task>)> {
    let job = reader
        .job(id)?
        .ok_or_else(|| Error::NotFound(format!("no job {id}")))?;
    let tasks = all_pages(|p| reader.list_tasks(id, p))?;
    Ok((job, tasks))
}

/// Why each waiting task of `job` waits (the attempt records are read only when a task was
/// reassigned and waits).
fn waiting(reader: &StoreReader, job: &Job, tasks: &[Task]) -> Vec<Option<api::Waiting>> {
    let attempts = if tasks
        .iter()
        .any(|t| t.state == TaskState::Pending && t.attempt > 1)
    {
        all_pages(|p| reader.job_attempts(job.id, p)).unwrap_or_default()
    } else {
        Vec::new()
    };
    views::waiting_of(job, tasks, &attempts)
}

/// What a live stream has folded so far.
pub(crate) struct LiveJob {
    job: JobId,
    follower: Follower,
    stats: RunStats,
    /// Latest `(elapsed_ms, users)` per `(task, attempt)`.
    latest: HashMap<(u32, u32), (u64, u64)>,
    /// Each task's attempt and state in the last progress event (a change is news too).
    shown: Vec<(u32, TaskState)>,
    first: bool,
    done: bool,
}

impl LiveJob {
    /// A stream of job `job`, from its beginning.
    pub(crate) fn new(job: JobId) -> LiveJob {
        LiveJob {
            job,
            follower: Follower::default(),
            stats: RunStats::default(),
            latest: HashMap::new(),
            shown: Vec::new(),
            first: true,
            done: false,
        }
    }

    /// Whether the stream ended (its last events were returned).
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Whether no step was taken yet.
    pub(crate) fn is_first(&self) -> bool {
        self.first
    }

    /// Reads what is new and turns it into events: `log` events, then a `progress` event
    /// (on the first step, when something arrived, and when the job is finished), then `end`
    /// once the job is finished and nothing is left to read.
    pub(crate) fn step(&mut self, reader: &StoreReader) -> Vec<LiveEvent> {
        let (job, tasks) = match read_job(reader, self.job) {
            Ok(found) => found,
            Err(e) => {
                self.done = true;
                return vec![LiveEvent::Gone(e)];
            }
        };
        // The first step reads everything so far; later ones what is new.
        let read = if self.first {
            self.follower.poll_all(reader, self.job, &tasks)
        } else {
            self.follower.poll(reader, self.job, &tasks)
        };
        let decoded = match read {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(job = self.job, error = %e, "live stream could not read progress");
                return Vec::new();
            }
        };
        let mut events = Vec::new();
        let mut changed = BTreeSet::new();
        for (task, attempt, d) in &decoded.deltas {
            self.stats.merge(&d.stats);
            changed.extend(d.stats.series.iter().map(|s| s.second));
            self.latest
                .insert((*task, *attempt), (d.elapsed_ms, d.users));
            events.extend(d.logs.iter().map(|line| {
                LiveEvent::Log(LogEvent {
                    task: *task,
                    attempt: *attempt,
                    line: line.clone(),
                })
            }));
        }
        let finished = job.state.is_terminal();
        let shown: Vec<(u32, TaskState)> = tasks.iter().map(|t| (t.attempt, t.state)).collect();
        if self.first || !decoded.deltas.is_empty() || finished || shown != self.shown {
            let waiting = waiting(reader, &job, &tasks);
            let progress = self.progress(&job, &tasks, &waiting, &changed);
            events.push(LiveEvent::Progress(Box::new(progress)));
            self.shown = shown;
        }
        if finished && decoded.deltas.is_empty() {
            events.push(LiveEvent::End(EndEvent {
                job_id: job.id,
                state: views::job_state(job.state),
                reason: job.reason,
            }));
            self.done = true;
        }
        self.first = false;
        events
    }

    /// The progress event: totals so far, the seconds in `changed` (every second on the first
    /// event), every task with its latest report.
    fn progress(
        &self,
        job: &Job,
        tasks: &[Task],
        waiting: &[Option<api::Waiting>],
        changed: &BTreeSet<u64>,
    ) -> ProgressEvent {
        let series = self
            .stats
            .series
            .iter()
            .filter(|s| self.first || changed.contains(&s.second))
            .map(SeriesPoint::new)
            .collect();
        let live_tasks: Vec<LiveTask> = tasks
            .iter()
            .zip(waiting)
            .map(|(t, waiting)| {
                let (elapsed_ms, users) = self
                    .latest
                    .get(&(t.index, t.attempt))
                    .copied()
                    .unwrap_or_default();
                LiveTask {
                    index: t.index,
                    state: views::task_state(t.state),
                    attempt: t.attempt,
                    worker_id: t.worker_id.clone(),
                    elapsed_ms,
                    users: if t.state.is_terminal() { 0 } else { users },
                    waiting: waiting.clone(),
                }
            })
            .collect();
        ProgressEvent {
            job_id: job.id,
            state: views::job_state(job.state),
            reason: job.reason.clone(),
            elapsed_ms: live_tasks.iter().map(|t| t.elapsed_ms).max().unwrap_or(0),
            users: live_tasks.iter().map(|t| t.users).sum(),
            total: StatsRow::new(&self.stats.total(), 0.0),
            errors: self.stats.error_count(),
            series,
            tasks: live_tasks,
            requests: self
                .stats
                .requests
                .iter()
                .map(|(name, stats)| (name.clone(), StatsRow::new(stats, 0.0)))
                .collect(),
        }
    }
}

/// The log lines of task `index` as events, oldest first.
pub(crate) fn log_events(decoded: &Decoded, index: u32) -> Vec<LogEvent> {
    task_logs(decoded, index)
        .into_iter()
        .map(|(attempt, line)| LogEvent {
            task: index,
            attempt,
            line,
        })
        .collect()
}

/// Follows the log lines of one task.
pub(crate) struct TaskLog {
    job: JobId,
    index: u32,
    follower: Follower,
}

impl TaskLog {
    /// The log of task `index` of `job`.
    pub(crate) fn new(job: JobId, index: u32) -> TaskLog {
        TaskLog {
            job,
            index,
            follower: Follower::default(),
        }
    }

    /// Every line so far (`all`) or the lines committed since the previous read; and whether
    /// the job is finished with nothing left to read.
    pub(crate) fn read(
        &mut self,
        reader: &StoreReader,
        all: bool,
    ) -> Result<(Vec<LogEvent>, bool)> {
        let (job, tasks) = read_job(reader, self.job)?;
        let mine: Vec<Task> = tasks
            .into_iter()
            .filter(|t| t.index == self.index)
            .collect();
        let decoded = if all {
            self.follower.poll_all(reader, self.job, &mine)?
        } else {
            self.follower.poll(reader, self.job, &mine)?
        };
        let finished = job.state.is_terminal() && decoded.deltas.is_empty();
        Ok((log_events(&decoded, self.index), finished))
    }
}
