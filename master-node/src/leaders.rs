//! The leader changes a master saw since it started (term, leader, when), for the cluster view:
//! a task follows openraft's metrics and keeps the last [`KEPT`] changes.

use std::collections::VecDeque;

use broadside_api::LeaderChange;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::node::now_ms;
use crate::raft::Raft;

/// Changes kept.
pub(crate) const KEPT: usize = 20;

/// The leader changes seen, oldest first.
#[derive(Debug, Default)]
pub(crate) struct LeaderLog {
    changes: Mutex<VecDeque<LeaderChange>>,
}

impl LeaderLog {
    /// Records `(term, leader)` at `at_ms` unless it is the last change already (or no leader
    /// is known before any was: a starting master's first look is no change).
    pub(crate) fn saw(&self, term: u64, leader: Option<u64>, at_ms: u64) {
        let mut changes = self.changes.lock();
        let same = changes
            .back()
            .is_some_and(|c| c.term == term && c.leader == leader);
        if same || (changes.is_empty() && leader.is_none()) {
            return;
        }
        if changes.len() == KEPT {
            changes.pop_front();
        }
        changes.push_back(LeaderChange {
            term,
            leader,
            at_ms,
        });
    }

    /// The changes seen, oldest first.
    pub(crate) fn changes(&self) -> Vec<LeaderChange> {
        self.changes.lock().iter().cloned().collect()
    }
}

/// Records every change of term or leader of `raft` into `log` until `stop`.
pub(crate) async fn follow(raft: Raft, log: std::sync::Arc<LeaderLog>, stop: CancellationToken) {
    let mut metrics = raft.metrics();
    loop {
        let (term, leader) = {
            let m = metrics.borrow_and_update();
            (m.current_term, m.current_leader)
        };
        if term > 0 {
            log.saw(term, leader, now_ms());
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = metrics.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_are_kept_and_only_the_last_ones() {
        let log = LeaderLog::default();
        log.saw(1, None, 10);
        log.saw(1, Some(2), 20);
        log.saw(1, Some(2), 30);
        log.saw(2, Some(3), 40);
        let seen: Vec<(u64, Option<u64>, u64)> = log
            .changes()
            .iter()
            .map(|c| (c.term, c.leader, c.at_ms))
            .collect();
        assert_eq!(seen, [(1, Some(2), 20), (2, Some(3), 40)]);
        log.saw(3, None, 50);
        assert_eq!(
            log.changes().last().map(|c| (c.term, c.leader)),
            Some((3, None)),
            "an election after a leader is a change"
        );
        for term in 3..100 {
            log.saw(term, Some(1), term);
        }
        let changes = log.changes();
        assert_eq!(changes.len(), KEPT);
        assert_eq!(changes.last().map(|c| c.term), Some(99));
        assert_eq!(changes.first().map(|c| c.term), Some(100 - KEPT as u64));
    }
}
