//! The leader's in-memory state for its term — what it knows that is not replicated: when it
//! last heard from each worker (routine heartbeats are not Raft writes), what each worker said
//! it runs, which attempts it delivered, the storm guard's pauses, the pulls claiming tasks
//! right now. A new leader starts from nothing and re-arms every timer (the failover grace,
//! `docs/design.md#liveness-and-reassignment`); a follower keeps nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use broadside_raft_store::JobId;
use broadside_rpc::raft::LeaderState;
use parking_lot::{Mutex, MutexGuard};

use crate::node::now_ms;
use crate::scheduler::core::{AttemptRef, Reported};

/// Milliseconds on this process's monotonic clock.
pub(crate) fn mono_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// What a leader remembers during one term.
#[derive(Default)]
pub(crate) struct Term {
    /// The term (0: not leading).
    pub(crate) term: u64,
    /// When (`mono`) it took office.
    pub(crate) since: u64,
    /// The last time (`mono`) this leader refused workers for want of a quorum: they could
    /// not renew anything then, so liveness is judged afresh from that instant, as after a
    /// failover.
    pub(crate) refused_at: u64,
    /// Its replica reflects every earlier term's commits (its read barrier passed).
    pub(crate) ready: bool,
    /// When (`mono`) each worker was last heard from.
    pub(crate) last_seen: HashMap<String, u64>,
    /// Each worker's latest heartbeat.
    pub(crate) reported: HashMap<String, Reported>,
    /// When (`wall`) this leader delivered each attempt it handed out in a pull reply.
    pub(crate) delivered: HashMap<AttemptRef, u64>,
    /// When (`mono`) this leader first saw each job waiting for workers.
    pub(crate) waiting_since: HashMap<JobId, u64>,
    /// When (`mono`) this leader last reassigned a task of each job.
    pub(crate) last_reassignment: HashMap<JobId, u64>,
    /// Pools whose automatic reassignment is paused, with why.
    pub(crate) paused: BTreeMap<String, String>,
}

impl Term {
    /// When liveness is judged from: taking office, or the last refusal for want of a quorum.
    pub(crate) fn judged_since(&self) -> u64 {
        self.since.max(self.refused_at)
    }
}

/// The leader's memory, shared by the scheduler, the worker service and the REST views.
#[derive(Default)]
pub(crate) struct Office {
    term: Mutex<Term>,
    /// Tasks a pull is claiming now.
    claiming: Mutex<HashSet<(JobId, u32)>>,
    /// Worker heartbeats received since this process started.
    heartbeats: AtomicU64,
}

/// Unmarks a task being claimed when the claim is done, whatever its outcome.
pub(crate) struct ClaimGuard<'a> {
    office: &'a Office,
    task: (JobId, u32),
}

impl Drop for ClaimGuard<'_> {
    fn drop(&mut self) {
        self.office.claiming.lock().remove(&self.task);
    }
}

impl Office {
    /// The current term's memory, locked.
    pub(crate) fn term(&self) -> MutexGuard<'_, Term> {
        self.term.lock()
    }

    /// Starts term `term` (no-op when it is the current one); true when it is new.
    pub(crate) fn take_office(&self, term: u64) -> bool {
        let mut current = self.term.lock();
        if current.term == term {
            return false;
        }
        *current = Term {
            term,
            since: mono_ms(),
            ..Term::default()
        };
        true
    }

    /// Forgets everything (this node no longer leads); true when it led.
    pub(crate) fn leave_office(&self) -> bool {
        let mut current = self.term.lock();
        let led = current.term != 0;
        if led {
            *current = Term::default();
        }
        led
    }

    /// Whether term `term` is taken and ready to answer workers.
    pub(crate) fn is_ready(&self, term: u64) -> bool {
        let current = self.term.lock();
        current.ready && current.term == term
    }

    /// Records that workers were refused now for want of a quorum.
    pub(crate) fn refused_now(&self) {
        self.term.lock().refused_at = mono_ms();
    }

    /// Records that `worker` was heard from now.
    pub(crate) fn heard_from(&self, worker: &str) {
        self.term
            .lock()
            .last_seen
            .insert(worker.to_owned(), mono_ms());
    }

    /// Records the attempts `worker` said it runs in a heartbeat received now.
    pub(crate) fn reported(&self, worker: &str, tasks: impl IntoIterator<Item = AttemptRef>) {
        let report = Reported {
            at: now_ms(),
            tasks: tasks.into_iter().collect(),
        };
        self.term.lock().reported.insert(worker.to_owned(), report);
    }

    /// Records that this leader handed `attempt` to its worker now.
    pub(crate) fn delivered(&self, attempt: AttemptRef) {
        self.term.lock().delivered.insert(attempt, now_ms());
    }

    /// Notes a reassignment of one of `job`'s tasks (storm guard spacing).
    pub(crate) fn reassigned(&self, job: JobId) {
        self.term.lock().last_reassignment.insert(job, mono_ms());
    }

    /// Why reassignment is paused in `pool`, if it is.
    pub(crate) fn paused(&self, pool: &str) -> Option<String> {
        self.term.lock().paused.get(pool).cloned()
    }

    /// Marks `task` as being claimed by a pull (others skip it) until the guard is dropped.
    pub(crate) fn claiming(&self, task: (JobId, u32)) -> ClaimGuard<'_> {
        self.claiming.lock().insert(task);
        ClaimGuard { office: self, task }
    }

    /// Tasks being claimed right now.
    pub(crate) fn claiming_now(&self) -> HashSet<(JobId, u32)> {
        self.claiming.lock().clone()
    }

    /// Counts a heartbeat received.
    pub(crate) fn count_heartbeat(&self) {
        self.heartbeats.fetch_add(1, Ordering::Relaxed);
    }

    /// Heartbeats received by this node since it started.
    pub(crate) fn heartbeats(&self) -> u64 {
        self.heartbeats.load(Ordering::Relaxed)
    }

    /// This leader's view for other masters and the API: heartbeat ages and paused pools
    /// (empty unless leading).
    pub(crate) fn leader_state(&self) -> LeaderState {
        let now = mono_ms();
        let term = self.term.lock();
        LeaderState {
            heartbeat_ages: term
                .last_seen
                .iter()
                .map(|(w, at)| (w.clone(), now.saturating_sub(*at)))
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect(),
            paused_pools: term
                .paused
                .iter()
                .map(|(p, r)| (p.clone(), r.clone()))
                .collect(),
        }
    }
}
