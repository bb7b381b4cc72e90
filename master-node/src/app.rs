//! The application context of a master: what the REST router, the worker service and the Raft
//! service reach, passed to each explicitly. It holds the node (Raft and the local replica),
//! the leader's memory ([`Office`]), progress batching, scheduler snapshots, the report cache
//! and the bounded lanes for blocking work; its methods are the operations every front end
//! shares — leadership checks, commits, blocking reads.

use std::sync::Arc;

use broadside_raft_store::model::{Actor, Token, WorkerIdentity};
use broadside_raft_store::{Command, Request, RequestId, Response, Sha256, StoreReader};
use broadside_rpc::raft::LeaderState;
use openraft::ServerState;
use tokio_util::sync::CancellationToken;

use crate::auth::cache::AccessCache;
use crate::blocking::Blocking;
use crate::error::{Error, Result};
use crate::idempotency::Writer;
use crate::leaders::LeaderLog;
use crate::node::{now_ms, Node};
use crate::office::Office;
use crate::progress::ProgressBatcher;
use crate::results::ReportCache;
use crate::scheduler::core::{CoreTimings, Snapshot};
use crate::scheduler::snapshot::Snapshots;

/// Blocking REST reads at once.
const REST_READS: usize = 16;
/// Blocking reads of the worker service's control calls at once (register, heartbeats,
/// completions, assignments): a lane of their own, so that neither a burst of API reads nor a
/// fleet fetching files delays a heartbeat's answer.
const WORKER_READS: usize = 16;
/// File chunks served to workers at once (1 MiB reads).
const CHUNK_READS: usize = 8;
/// Scheduler snapshots built at once (rebuilds are serialised anyway; cached reads are cheap).
const SNAPSHOTS: usize = 4;
/// CPU-heavy work at once: simulation validation, report building and rendering.
const HEAVY: usize = 2;

/// A master's shared state and operations.
pub(crate) struct App {
    /// Raft and the local replica.
    pub(crate) node: Arc<Node>,
    /// The leader's memory for its term.
    pub(crate) office: Office,
    /// Deltas waiting for a batch commit.
    pub(crate) progress: ProgressBatcher,
    /// Scheduler snapshots from the replica.
    pub(crate) snapshots: Snapshots,
    /// Finished jobs' reports.
    pub(crate) reports: ReportCache,
    /// The scheduler's timings.
    pub(crate) timings: CoreTimings,
    /// REST reads of the store.
    pub(crate) rest_reads: Blocking,
    /// The worker service's control reads of the store.
    pub(crate) worker_reads: Blocking,
    /// File chunks served to workers.
    pub(crate) chunk_reads: Blocking,
    /// Scheduler snapshots.
    pub(crate) snapshots_lane: Blocking,
    /// Validation and report building.
    pub(crate) heavy: Blocking,
    /// Tokens read from the replica, while unchanged.
    pub(crate) tokens: AccessCache<Token>,
    /// Worker identities read from the replica, while unchanged.
    pub(crate) identities: AccessCache<WorkerIdentity>,
    /// The leader changes this master saw.
    pub(crate) leaders: Arc<LeaderLog>,
    /// Cancelled when the master stops: long-lived responses (live streams) end.
    pub(crate) stop: CancellationToken,
}

impl App {
    /// The context of `node`.
    pub(crate) fn new(node: Arc<Node>, stop: CancellationToken) -> Arc<App> {
        let timings = CoreTimings::from_config(&node.config.timings);
        Arc::new(App {
            node,
            office: Office::default(),
            progress: ProgressBatcher::default(),
            snapshots: Snapshots::default(),
            reports: ReportCache::default(),
            timings,
            rest_reads: Blocking::new("rest reads", REST_READS),
            worker_reads: Blocking::new("worker reads", WORKER_READS),
            chunk_reads: Blocking::new("file chunks", CHUNK_READS),
            snapshots_lane: Blocking::new("scheduler snapshots", SNAPSHOTS),
            heavy: Blocking::new("validation and reports", HEAVY),
            tokens: AccessCache::default(),
            identities: AccessCache::default(),
            leaders: Arc::default(),
            stop,
        })
    }

    /// The local replica.
    pub(crate) fn reader(&self) -> &StoreReader {
        self.node.reader()
    }

    /// Whether this node leads now *and* heard from a quorum within the minimum election
    /// timeout *and* took office (its replica reflects every earlier term); errors with the
    /// leader's address otherwise.
    ///
    /// The quorum condition matters: a leader cut off from the other masters still believes
    /// it leads (openraft does not step down without quorum), and if it kept acknowledging
    /// worker heartbeats it would renew leases that the new leader ignores once its failover
    /// grace has passed — two attempts of a task at once. Refusing makes a cut-off leader's
    /// workers fence themselves when their lease runs out, as if no master answered.
    pub(crate) fn ensure_leader(&self) -> Result<()> {
        let m = self.node.raft.metrics().borrow().clone();
        if m.state != ServerState::Leader {
            return Err(Error::NotLeader(self.node.leader_hint()));
        }
        let limit = self.node.config.timings.election_min.as_millis() as u64;
        match m.millis_since_quorum_ack {
            Some(ms) if ms < limit => {}
            age => {
                self.office.refused_now();
                return Err(Error::Unavailable(format!(
                    "this master leads but has not heard from a quorum for {} ms",
                    age.map_or_else(|| "ever".to_owned(), |a| a.to_string())
                )));
            }
        }
        // A lagging replica would take a current attempt for a stale one.
        if !self.office.is_ready(m.current_term) {
            return Err(Error::Unavailable("the new leader is taking office".into()));
        }
        Ok(())
    }

    /// Proposes `command` on this node, which must lead; a state-machine refusal comes back
    /// as [`Response::Rejected`].
    pub(crate) async fn propose(&self, command: Command) -> Result<Response> {
        let request = Request::new(Node::new_request_id(), now_ms(), command);
        Ok(self.node.write_local(request).await?)
    }

    /// [`App::propose`], with a refusal as an error.
    pub(crate) async fn commit(&self, command: Command) -> Result<Response> {
        accepted(self.propose(command).await?)
    }

    /// Commits `command` through the leader wherever it is, with `request_id` (a retry with
    /// the same id is applied once), for `actor` (named in the audit log); a refusal is an
    /// error.
    pub(crate) async fn write(
        &self,
        request_id: RequestId,
        command: Command,
        actor: Option<Actor>,
        body_sha256: Option<Sha256>,
    ) -> Result<Response> {
        let request = if actor.is_none() && body_sha256.is_none() {
            Request::new(request_id, now_ms(), command)
        } else {
            Request::by(request_id, now_ms(), command, actor, body_sha256)
        };
        accepted(self.node.write(request).await?)
    }

    /// [`App::write`] for `writer`: the request id of its write named `scope`, its actor.
    pub(crate) async fn write_as(
        &self,
        writer: &Writer,
        scope: &str,
        command: Command,
    ) -> Result<Response> {
        let (request_id, body) = (writer.request_id(scope), writer.body_sha256());
        self.write(request_id, command, writer.actor.clone(), body)
            .await
    }

    /// Waits until this replica reflects every write committed before the call.
    pub(crate) async fn read_barrier(&self) -> Result<()> {
        Ok(self.node.read_barrier().await?)
    }

    /// Runs `f` on the local replica off the async threads (the REST lane).
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&StoreReader) -> Result<T> + Send + 'static,
    {
        let reader = self.reader().clone();
        self.rest_reads.run(move || f(&reader)).await
    }

    /// Runs `f` on the local replica off the async threads (the worker service's lane).
    pub(crate) async fn worker_read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&StoreReader) -> Result<T> + Send + 'static,
    {
        let reader = self.reader().clone();
        self.worker_reads.run(move || f(&reader)).await
    }

    /// Runs `f` on the local replica off the async threads (the file chunks' lane).
    pub(crate) async fn chunk_read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&StoreReader) -> Result<T> + Send + 'static,
    {
        let reader = self.reader().clone();
        self.chunk_reads.run(move || f(&reader)).await
    }

    /// Runs CPU-heavy `f` on the local replica (the heavy lane).
    pub(crate) async fn compute<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&StoreReader) -> Result<T> + Send + 'static,
    {
        let reader = self.reader().clone();
        self.heavy.run(move || f(&reader)).await
    }

    /// Workers and active jobs as the scheduler core sees them.
    pub(crate) async fn snapshot(self: &Arc<Self>) -> Result<Snapshot> {
        let app = Arc::clone(self);
        self.snapshots_lane
            .run(move || app.snapshots.take(app.reader(), &app.office))
            .await
    }

    /// Commits every queued progress delta now.
    pub(crate) async fn flush_progress(&self) -> Result<()> {
        self.progress.flush(&self.node).await
    }

    /// The leader's in-memory view (heartbeat ages, paused pools): this node's own when it
    /// leads, asked from the leader otherwise, empty when no leader answers within a second.
    pub(crate) async fn leader_state(&self) -> LeaderState {
        if self.ensure_leader().is_ok() {
            return self.office.leader_state();
        }
        let hint = self.node.leader_hint();
        let (Some(id), Some(addr)) = (hint.id, hint.raft_addr) else {
            return LeaderState::default();
        };
        let asked = self
            .node
            .peers
            .call(
                id,
                &addr,
                std::time::Duration::from_secs(1),
                |c, ctx| async move { c.leader_view(ctx).await },
            )
            .await;
        match asked {
            Ok(Ok(state)) => state,
            _ => LeaderState::default(),
        }
    }
}

/// A response, or the error of a refusal.
fn accepted(response: Response) -> Result<Response> {
    match response {
        Response::Rejected { code, message } => Err(Error::rejected(code, message)),
        ok => Ok(ok),
    }
}
