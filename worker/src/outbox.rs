//! Deltas of attempts this worker no longer runs, kept until a leader acknowledges them.
//!
//! An attempt leaves the worker's running set when it completes, is handed back, is stopped
//! with its job, or is fenced (the leader reassigned it while this worker was cut off or
//! paused). Whatever it measured and no leader acknowledged yet is a fact about the target: it
//! moves here, with its journal, and every heartbeat carries it ([`EndedAttempt`]) until the
//! leader acknowledges it (folded as late deltas, `docs/design.md#late-deltas`) or says the job
//! is gone. Journals an earlier process left in the data directory are loaded at start.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use broadside_rpc::worker::{Delta, EndedAttempt, TaskRef, MAX_DELTA_BYTES, MAX_ENDED_DELTAS};
use parking_lot::Mutex;

use crate::journal::{self, Journal};

/// Most bytes of ended attempts' deltas one heartbeat carries (the rest follow).
const ENDED_BYTES_PER_HEARTBEAT: usize = 4 << 20;

#[derive(Debug)]
struct Kept {
    deltas: VecDeque<Delta>,
    journal: Option<Journal>,
}

/// The ended attempts with unacknowledged deltas.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    kept: Mutex<BTreeMap<TaskRef, Kept>>,
}

impl Outbox {
    /// An outbox holding what the journals in `dir` kept.
    pub(crate) fn recover(dir: &Path) -> Outbox {
        let outbox = Outbox::default();
        for (task, journal, deltas) in journal::recover(dir) {
            tracing::info!(
                ?task,
                deltas = deltas.len(),
                "delivering deltas an earlier process kept"
            );
            outbox.keep(task, deltas, Some(journal));
        }
        outbox
    }

    /// Keeps an ended attempt's unacknowledged deltas (its journal is removed when none are
    /// left).
    pub(crate) fn keep(&self, task: TaskRef, mut deltas: Vec<Delta>, journal: Option<Journal>) {
        // A delta above the limit would be refused with the whole heartbeat; the ones after
        // it could never be folded (deltas fold in order). They are lost.
        if let Some(cut) = deltas.iter().position(|d| d.data.0.len() > MAX_DELTA_BYTES) {
            tracing::error!(
                ?task,
                lost = deltas.len() - cut,
                "deltas above the size limit dropped"
            );
            deltas.truncate(cut);
        }
        if deltas.is_empty() {
            if let Some(j) = journal {
                j.remove();
            }
            return;
        }
        tracing::info!(
            ?task,
            deltas = deltas.len(),
            "keeping an ended attempt's deltas until a leader acknowledges them"
        );
        self.kept.lock().insert(
            task,
            Kept {
                deltas: deltas.into(),
                journal,
            },
        );
    }

    /// What the next heartbeat carries: the oldest deltas of the kept attempts, at most
    /// [`MAX_ENDED_DELTAS`] per attempt and [`ENDED_BYTES_PER_HEARTBEAT`] in all.
    pub(crate) fn report(&self) -> Vec<EndedAttempt> {
        let mut budget = ENDED_BYTES_PER_HEARTBEAT;
        let mut out = Vec::new();
        for (task, kept) in self.kept.lock().iter() {
            let mut deltas = Vec::new();
            for d in kept.deltas.iter().take(MAX_ENDED_DELTAS) {
                let size = d.data.0.len();
                if size > budget {
                    break;
                }
                budget -= size;
                deltas.push(d.clone());
            }
            if deltas.is_empty() {
                break;
            }
            out.push(EndedAttempt {
                task: *task,
                deltas,
            });
        }
        out
    }

    /// Drops the deltas an acknowledgement covers; an attempt with none left is done.
    pub(crate) fn ack(&self, task: TaskRef, up_to: u64) {
        let mut kept = self.kept.lock();
        let Some(k) = kept.get_mut(&task) else { return };
        while k.deltas.front().is_some_and(|d| d.seq <= up_to) {
            k.deltas.pop_front();
        }
        if k.deltas.is_empty() {
            if let Some(k) = kept.remove(&task) {
                if let Some(j) = k.journal {
                    j.remove();
                }
            }
            tracing::info!(?task, "every delta of the ended attempt is acknowledged");
        } else if let Some(j) = &k.journal {
            if let Err(e) = j.acked(up_to) {
                tracing::warn!(?task, error = %e, "acknowledgement not recorded on disk");
            }
        }
    }

    /// Forgets an attempt whose job is gone.
    pub(crate) fn forget(&self, task: TaskRef, reason: &str) {
        if let Some(k) = self.kept.lock().remove(&task) {
            tracing::warn!(?task, deltas = k.deltas.len(), %reason, "ended attempt's deltas dropped");
            if let Some(j) = k.journal {
                j.remove();
            }
        }
    }

    /// Deltas kept, over every attempt.
    pub(crate) fn len(&self) -> usize {
        self.kept.lock().values().map(|k| k.deltas.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use broadside_rpc::Payload;

    use super::*;

    fn delta(seq: u64) -> Delta {
        Delta {
            seq,
            data: Payload(vec![1]),
        }
    }

    const T: TaskRef = TaskRef {
        job_id: 1,
        task: 0,
        attempt: 1,
    };

    #[test]
    fn kept_deltas_are_reported_in_bounded_batches_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path(), T);
        let deltas: Vec<Delta> = (1..=40).map(delta).collect();
        for d in &deltas {
            journal.append(d).unwrap();
        }
        let outbox = Outbox::default();
        outbox.keep(T, deltas, Some(journal));
        let report = outbox.report();
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].deltas.len(), MAX_ENDED_DELTAS);
        outbox.ack(T, 35);
        assert_eq!(outbox.report()[0].deltas[0].seq, 36);
        // A restart now would deliver only what is left.
        let again = Outbox::recover(dir.path());
        assert_eq!(again.len(), 5);
        outbox.ack(T, 40);
        assert_eq!(outbox.len(), 0);
        assert!(outbox.report().is_empty());
        assert!(Outbox::recover(dir.path()).report().is_empty());
    }

    #[test]
    fn a_forgotten_attempt_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path(), T);
        journal.append(&delta(1)).unwrap();
        let outbox = Outbox::default();
        outbox.keep(T, vec![delta(1)], Some(journal));
        outbox.forget(T, "job deleted");
        assert_eq!(outbox.len(), 0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
