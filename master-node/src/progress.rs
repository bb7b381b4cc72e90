//! Progress batching on the leader: the metrics deltas that heartbeats and completions carry
//! are queued here and committed together, in `RecordProgress` entries that fit the log's entry
//! limit, every half second (and at once when a completion waits for its final deltas).
//!
//! A delta is queued once: keys already queued or committed are skipped. When a batch fails,
//! later deltas of the same attempts are dropped from this flush, so that no sequence number is
//! folded past a gap; the worker resends whatever was not acknowledged.

use std::collections::HashSet;

use broadside_raft_store::{Command, ProgressDelta, Request, MAX_BATCH_DELTAS, MAX_ENTRY_BYTES};
use parking_lot::Mutex;

use crate::error::Result;
use crate::node::{now_ms, Node};
use crate::scheduler::core::AttemptRef;

/// A delta's identity: its attempt and sequence number.
type DeltaKey = (AttemptRef, u64);

fn key(d: &ProgressDelta) -> DeltaKey {
    (attempt(d), d.seq)
}

fn attempt(d: &ProgressDelta) -> AttemptRef {
    AttemptRef {
        job: d.job_id,
        task: d.task,
        attempt: d.attempt,
    }
}

/// Room kept in a log entry for everything but the deltas' bytes.
const ENTRY_HEADROOM: usize = 16 << 10;
/// Bytes counted per delta beyond its data (keys, lengths).
const DELTA_OVERHEAD: usize = 64;

#[derive(Default)]
struct Queue {
    deltas: Vec<ProgressDelta>,
    keys: HashSet<DeltaKey>,
}

/// Deltas waiting for the next batch commit.
#[derive(Default)]
pub(crate) struct ProgressBatcher {
    queue: Mutex<Queue>,
}

impl ProgressBatcher {
    /// Queues deltas, skipping those already queued and those `committed` says the store
    /// folded.
    pub(crate) fn queue(
        &self,
        deltas: Vec<ProgressDelta>,
        committed: impl Fn(&ProgressDelta) -> bool,
    ) {
        let mut queue = self.queue.lock();
        for d in deltas {
            let k = key(&d);
            if committed(&d) || queue.keys.contains(&k) {
                continue;
            }
            queue.keys.insert(k);
            queue.deltas.push(d);
        }
    }

    /// Drops everything queued (this node stopped leading).
    pub(crate) fn clear(&self) {
        *self.queue.lock() = Queue::default();
    }

    /// Commits every queued delta now through `node` (which must lead), in batches that fit a
    /// log entry. The first failure is returned after every batch was tried.
    pub(crate) async fn flush(&self, node: &Node) -> Result<()> {
        let deltas = std::mem::take(&mut self.queue.lock().deltas);
        let mut result = Ok(());
        let mut failed: HashSet<AttemptRef> = HashSet::new();
        for batch in batches(deltas) {
            let keys: Vec<DeltaKey> = batch.iter().map(key).collect();
            // After a failed batch, later deltas of the same attempts wait for the worker's
            // resend, so that no sequence number is folded past a gap.
            let sent: Vec<ProgressDelta> = batch
                .into_iter()
                .filter(|d| !failed.contains(&attempt(d)))
                .collect();
            let attempts: Vec<AttemptRef> = sent.iter().map(attempt).collect();
            if !sent.is_empty() {
                let request = Request::new(
                    Node::new_request_id(),
                    now_ms(),
                    Command::RecordProgress { deltas: sent },
                );
                if let Err(e) = node.write_local(request).await {
                    failed.extend(attempts);
                    result = Err(e.into());
                }
            }
            // Committed or not, the worker resends what was not acknowledged.
            let mut queue = self.queue.lock();
            for k in keys {
                queue.keys.remove(&k);
            }
        }
        result
    }
}

/// `deltas` cut into batches that fit a log entry, in order.
fn batches(deltas: Vec<ProgressDelta>) -> Vec<Vec<ProgressDelta>> {
    let budget = MAX_ENTRY_BYTES - ENTRY_HEADROOM;
    let mut out: Vec<Vec<ProgressDelta>> = Vec::new();
    let mut bytes = 0usize;
    for d in deltas {
        let size = d.delta.len() + DELTA_OVERHEAD;
        let fits = out
            .last()
            .is_some_and(|batch| bytes + size <= budget && batch.len() < MAX_BATCH_DELTAS);
        if !fits {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        out.last_mut().expect("a batch was just pushed").push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(task: u32, seq: u64, bytes: usize) -> ProgressDelta {
        ProgressDelta {
            job_id: 1,
            task,
            attempt: 1,
            seq,
            delta: vec![0; bytes],
        }
    }

    #[test]
    fn batches_fit_an_entry_and_keep_the_order() {
        let big = (MAX_ENTRY_BYTES - ENTRY_HEADROOM) / 2;
        let deltas: Vec<ProgressDelta> = (1..=5).map(|seq| delta(0, seq, big)).collect();
        let batches = batches(deltas);
        assert_eq!(
            batches.len(),
            5,
            "two halves and their overhead exceed an entry"
        );
        let seqs: Vec<u64> = batches.iter().flatten().map(|d| d.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        let small: Vec<ProgressDelta> = (1..=(MAX_BATCH_DELTAS as u64 + 1))
            .map(|seq| delta(0, seq, 10))
            .collect();
        let batches = super::batches(small);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].len(), MAX_BATCH_DELTAS);
    }

    #[test]
    fn a_delta_is_queued_once_and_committed_ones_are_skipped() {
        let batcher = ProgressBatcher::default();
        batcher.queue(vec![delta(0, 1, 1), delta(0, 2, 1)], |d| d.seq <= 1);
        batcher.queue(vec![delta(0, 2, 1), delta(1, 1, 1)], |_| false);
        let queued: Vec<(u32, u64)> = batcher
            .queue
            .lock()
            .deltas
            .iter()
            .map(|d| (d.task, d.seq))
            .collect();
        assert_eq!(queued, [(0, 2), (1, 1)]);
    }
}
