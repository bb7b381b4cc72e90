//! Shared helpers of the integration tests: a store in a temp dir and a command runner.

#![allow(dead_code)]

use broadside_raft_store::{
    open, Command, Entry, LogStore, Request, RequestId, Response, StateMachineStore, StoreReader,
};
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};

/// A store in a temporary directory and a log index counter.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub log: LogStore,
    pub sm: StateMachineStore,
    pub index: u64,
    pub next_request: u128,
    pub now: u64,
}

impl Harness {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm) = open(dir.path()).expect("open store");
        Harness {
            dir,
            log,
            sm,
            index: 0,
            next_request: 1,
            now: 1_700_000_000_000,
        }
    }

    pub fn reader(&self) -> StoreReader {
        self.sm.reader()
    }

    /// Applies `request` as the next log entry.
    pub async fn apply_request(&mut self, request: Request) -> Response {
        self.index += 1;
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), self.index),
            payload: EntryPayload::Normal(request),
        };
        let mut out = self.sm.apply([entry]).await.expect("apply");
        out.pop().expect("one response")
    }

    /// Applies `command` with a fresh request id, one second after the previous one.
    pub async fn run(&mut self, command: Command) -> Response {
        self.now += 1000;
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.apply_request(Request::new(id, self.now, command))
            .await
    }
}

pub fn ok(r: &Response) {
    assert_eq!(r, &Response::Ok);
}

/// Builds a log entry with `payload` at `index`.
pub fn entry(index: u64, payload: EntryPayload<broadside_raft_store::TypeConfig>) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload,
    }
}
