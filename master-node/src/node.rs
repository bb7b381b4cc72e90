//! One master's view of the cluster: its Raft handle and store reader, and the operations every
//! front end (REST, the worker service) builds on — writes that reach the leader wherever they
//! enter, linearizable read barriers, membership changes, status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use broadside_raft_store::{MasterNode, NodeId, Request, RequestId, Response, StoreReader};
use broadside_rpc::{CallError, LeaderHint, MembershipChange, NodeStatus, Payload};
use openraft::error::{CheckIsLeaderError, ClientWriteError, ForwardToLeader, RaftError};
use openraft::{ChangeMembers, ServerState};

use crate::config::MasterConfig;
use crate::peers::{PeerError, Peers};
use crate::raft::{decode, encode, Raft};

/// How long a write or a read barrier may wait for a leader before giving up.
pub const LEADER_WAIT: Duration = Duration::from_secs(10);
/// Pause between attempts while no leader is known.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The software version every node reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A running master's shared state.
pub struct Node {
    pub(crate) id: NodeId,
    pub(crate) config: MasterConfig,
    pub(crate) raft: Raft,
    pub(crate) reader: StoreReader,
    pub(crate) peers: Arc<Peers>,
    pub(crate) forwarded: std::sync::atomic::AtomicU64,
}

/// Milliseconds since the Unix epoch on this node's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn role(state: ServerState) -> broadside_api::Role {
    use broadside_api::Role;
    match state {
        ServerState::Leader => Role::Leader,
        ServerState::Follower => Role::Follower,
        ServerState::Candidate => Role::Candidate,
        ServerState::Learner => Role::Learner,
        ServerState::Shutdown => Role::Shutdown,
    }
}

impl Node {
    /// Writes this node forwarded to a leader since it started.
    pub fn forwarded_writes(&self) -> u64 {
        self.forwarded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The local replica's query API.
    pub fn reader(&self) -> &StoreReader {
        &self.reader
    }

    /// How other nodes reach this one.
    pub(crate) fn self_node(&self) -> MasterNode {
        MasterNode {
            raft_addr: self.config.advertise_raft.clone(),
            http_addr: self.config.advertise_http.clone(),
        }
    }

    /// The members of the current membership, voters and learners, with their addresses.
    pub fn members(&self) -> BTreeMap<NodeId, (MasterNode, bool)> {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| (*id, (node.clone(), voters.contains(id))))
            .collect()
    }

    /// Whether master `id` is in the membership this node knows (a voter or a learner), and
    /// whether this node is a voter in it; none while it knows no membership (it belongs to no
    /// cluster yet).
    pub(crate) fn knows_member(&self, id: NodeId) -> Option<(bool, bool)> {
        let watch = self.raft.metrics();
        let metrics = watch.borrow();
        let membership = metrics.membership_config.membership();
        membership.nodes().next()?;
        let member = membership.nodes().any(|(n, _)| *n == id);
        let voter = membership.voter_ids().any(|v| v == self.id);
        Some((member, voter))
    }

    /// The leader as this node knows it.
    pub fn leader_hint(&self) -> LeaderHint {
        let metrics = self.raft.metrics().borrow().clone();
        let Some(id) = metrics.current_leader else {
            return LeaderHint::default();
        };
        let node = metrics
            .membership_config
            .membership()
            .get_node(&id)
            .cloned();
        LeaderHint {
            id: Some(id),
            raft_addr: node.as_ref().map(|n| n.raft_addr.clone()),
            http_addr: node.map(|n| n.http_addr),
        }
    }

    fn hint_from(&self, f: &ForwardToLeader<NodeId, MasterNode>) -> LeaderHint {
        match (f.leader_id, &f.leader_node) {
            (Some(id), Some(node)) => LeaderHint {
                id: Some(id),
                raft_addr: Some(node.raft_addr.clone()),
                http_addr: Some(node.http_addr.clone()),
            },
            _ => self.leader_hint(),
        }
    }

    /// This node's status.
    pub fn status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow().clone();
        NodeStatus {
            id: self.id,
            raft_addr: self.config.advertise_raft.clone(),
            http_addr: self.config.advertise_http.clone(),
            initialized: m.vote.leader_id().term > 0
                || m.last_log_index.is_some()
                || m.membership_config.membership().nodes().next().is_some(),
            role: role(m.state).as_str().to_owned(),
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|l| l.index),
            version: VERSION.to_owned(),
        }
    }

    /// A fresh request id for a write that has no idempotency key.
    pub fn new_request_id() -> RequestId {
        RequestId(rand::random())
    }

    /// Proposes `request` on this node, which must lead; answers the state machine's response
    /// once the entry is committed and applied here.
    pub(crate) async fn write_local(&self, request: Request) -> Result<Response, CallError> {
        self.write_local_at(request).await.map(|(_, r)| r)
    }

    /// [`Node::write_local`], with the log index of the entry.
    pub(crate) async fn write_local_at(
        &self,
        request: Request,
    ) -> Result<(u64, Response), CallError> {
        let size = request
            .encoded_len()
            .map_err(|e| CallError::BadRequest(e.to_string()))?;
        if size > broadside_raft_store::MAX_ENTRY_BYTES {
            return Err(CallError::BadRequest(format!(
                "write of {size} bytes exceeds the {} byte limit of a log entry",
                broadside_raft_store::MAX_ENTRY_BYTES
            )));
        }
        // A leader that lost its quorum never answers: give up after the write deadline. The
        // entry may still commit later; a retry with the same request id is applied once.
        let written = tokio::time::timeout(LEADER_WAIT, self.raft.client_write(request))
            .await
            .map_err(|_| {
                CallError::Unavailable(format!(
                    "not committed within {LEADER_WAIT:?} (no quorum?); the outcome is unknown, \
                     retry with the same idempotency key"
                ))
            })?;
        match written {
            Ok(r) => Ok((r.log_id.index, r.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(CallError::NotLeader(self.hint_from(&f)))
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(CallError::Conflict(e.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(CallError::Unavailable(f.to_string())),
        }
    }

    /// Commits `request` through the leader, wherever it is: proposed here when this node
    /// leads, forwarded otherwise, retried (same request id, so applied once) across leader
    /// changes for up to [`LEADER_WAIT`].
    pub async fn write(&self, request: Request) -> Result<Response, CallError> {
        let deadline = Instant::now() + LEADER_WAIT;
        let mut encoded: Option<Vec<u8>> = None;
        let mut last = String::from("no leader elected");
        loop {
            let hint = match self.write_local(request.clone()).await {
                Err(CallError::NotLeader(hint)) => hint,
                other => return other,
            };
            if let (Some(id), Some(addr)) = (hint.id, hint.raft_addr.as_deref()) {
                if id != self.id {
                    let bytes = match &encoded {
                        Some(b) => b.clone(),
                        None => {
                            let b = encode(&request)
                                .map_err(|e| CallError::BadRequest(e.to_string()))?;
                            encoded = Some(b.clone());
                            b
                        }
                    };
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    self.forwarded
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let reply = self
                        .peers
                        .call(id, addr, remaining, |c, ctx| async move {
                            c.propose(ctx, Payload(bytes)).await
                        })
                        .await;
                    match reply {
                        Ok(Ok(bytes)) => {
                            let (index, response): (u64, Response) = decode(&bytes.0)
                                .map_err(|e| CallError::Unavailable(e.to_string()))?;
                            // Read-your-writes on this master: wait until it applied the entry.
                            let remaining = deadline.saturating_duration_since(Instant::now());
                            self.raft
                                .wait(Some(remaining.max(Duration::from_secs(1))))
                                .applied_index_at_least(Some(index), "forwarded write")
                                .await
                                .map_err(|e| {
                                    CallError::Unavailable(format!("replica behind: {e}"))
                                })?;
                            return Ok(response);
                        }
                        Ok(Err(CallError::NotLeader(_))) => last = format!("{addr} stepped down"),
                        Ok(Err(CallError::Unavailable(e))) => last = e,
                        Ok(Err(other)) => return Err(other),
                        Err(e) => last = e.to_string(),
                    }
                }
            }
            if Instant::now() + RETRY_PAUSE >= deadline {
                return Err(CallError::Unavailable(format!(
                    "write not committed within {LEADER_WAIT:?}: {last}"
                )));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// The leader's read index, confirmed with a quorum; this node must lead.
    pub(crate) async fn read_index_local(&self) -> Result<Option<u64>, CallError> {
        match self.raft.ensure_linearizable().await {
            Ok(log_id) => Ok(log_id.map(|l| l.index)),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                Err(CallError::NotLeader(self.hint_from(&f)))
            }
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q))) => {
                Err(CallError::Unavailable(q.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(CallError::Unavailable(f.to_string())),
        }
    }

    /// Waits until this replica reflects every write committed before the call: afterwards a
    /// local read is linearizable.
    pub async fn read_barrier(&self) -> Result<(), CallError> {
        let deadline = Instant::now() + LEADER_WAIT;
        let mut last = String::from("no leader elected");
        let index = loop {
            let hint = match self.read_index_local().await {
                Ok(index) => break index,
                Err(CallError::NotLeader(hint)) => hint,
                Err(e) => return Err(e),
            };
            if let (Some(id), Some(addr)) = (hint.id, hint.raft_addr.as_deref()) {
                if id != self.id {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    match self
                        .peers
                        .call(id, addr, remaining, |c, ctx| async move {
                            c.read_index(ctx).await
                        })
                        .await
                    {
                        Ok(Ok(index)) => break index,
                        Ok(Err(e)) => last = e.to_string(),
                        Err(e) => last = e.to_string(),
                    }
                }
            }
            if Instant::now() + RETRY_PAUSE >= deadline {
                return Err(CallError::Unavailable(format!(
                    "no read barrier within {LEADER_WAIT:?}: {last}"
                )));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        };
        if let Some(index) = index {
            let remaining = deadline.saturating_duration_since(Instant::now());
            self.raft
                .wait(Some(remaining))
                .applied_index_at_least(Some(index), "read barrier")
                .await
                .map_err(|e| CallError::Unavailable(format!("replica behind: {e}")))?;
        }
        Ok(())
    }

    /// Carries out a membership change; this node must lead.
    pub(crate) async fn change_membership_local(
        &self,
        change: MembershipChange,
    ) -> Result<(), CallError> {
        fn mapped(
            node: &Node,
            e: RaftError<NodeId, ClientWriteError<NodeId, MasterNode>>,
        ) -> CallError {
            match e {
                RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                    CallError::NotLeader(node.hint_from(&f))
                }
                RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                    CallError::Conflict(e.to_string())
                }
                RaftError::Fatal(f) => CallError::Unavailable(f.to_string()),
            }
        }
        if !matches!(self.raft.metrics().borrow().state, ServerState::Leader) {
            return Err(CallError::NotLeader(self.leader_hint()));
        }
        match change {
            MembershipChange::AddVoter {
                id,
                raft_addr,
                http_addr,
            } => {
                let node = MasterNode {
                    raft_addr,
                    http_addr,
                };
                self.raft
                    .add_learner(id, node, true)
                    .await
                    .map_err(|e| mapped(self, e))?;
                self.raft
                    .change_membership(ChangeMembers::AddVoterIds([id].into()), false)
                    .await
                    .map_err(|e| mapped(self, e))?;
            }
            MembershipChange::Remove { id } => {
                let members = self.members();
                match members.get(&id) {
                    None => {
                        return Err(CallError::BadRequest(format!("node {id} is not a member")))
                    }
                    Some((_, true)) => {
                        self.raft
                            .change_membership(ChangeMembers::RemoveVoters([id].into()), false)
                            .await
                            .map_err(|e| mapped(self, e))?;
                    }
                    Some((_, false)) => {}
                }
                if self.members().contains_key(&id) {
                    self.raft
                        .change_membership(ChangeMembers::RemoveNodes([id].into()), false)
                        .await
                        .map_err(|e| mapped(self, e))?;
                }
            }
        }
        Ok(())
    }

    /// Carries out a membership change through the leader.
    pub async fn change_membership(&self, change: MembershipChange) -> Result<(), CallError> {
        match self.change_membership_local(change.clone()).await {
            Err(CallError::NotLeader(hint)) => {
                let (Some(id), Some(addr)) = (hint.id, hint.raft_addr) else {
                    return Err(CallError::Unavailable("no leader elected".into()));
                };
                if id == self.id {
                    return Err(CallError::Unavailable("leadership is changing".into()));
                }
                // A catching-up learner can take long; allow a generous deadline.
                self.peers
                    .call(id, &addr, Duration::from_secs(120), |c, ctx| async move {
                        c.change_membership(ctx, change).await
                    })
                    .await
                    .map_err(|e| CallError::Unavailable(e.to_string()))?
            }
            other => other,
        }
    }

    /// The status of master `id` at `raft_addr` (with TLS, a master whose certificate names
    /// another id does not answer).
    pub(crate) async fn peer_status(
        &self,
        id: u64,
        raft_addr: &str,
    ) -> Result<NodeStatus, PeerError> {
        self.peers
            .call(id, raft_addr, Duration::from_secs(2), |c, ctx| async move {
                c.status(ctx).await
            })
            .await?
            .map_err(|e| PeerError::Refused {
                addr: raft_addr.to_owned(),
                detail: e.to_string(),
            })
    }
}
