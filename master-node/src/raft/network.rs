//! openraft's network over the master↔master tarpc service.
//!
//! `new_client` is called inside openraft's core loop (on every election and read barrier), so
//! it only builds a handle; dialling happens in the calls, through the shared [`Peers`] pool.
//! Failures map to openraft's errors so that it backs off where it should: a failed dial or a
//! broken connection is `Unreachable`, a missed deadline is `Timeout`, a message too large for
//! a frame is `PayloadTooLarge` (openraft retries with fewer entries).

use std::sync::Arc;
use std::time::Duration;

use broadside_raft_store::{MasterNode, NodeId, TypeConfig};
use broadside_rpc::{CallError, Payload};
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::RPCTypes;
use serde::de::DeserializeOwned;

use super::{decode, encode};
use crate::peers::{PeerError, Peers};

/// Largest AppendEntries message sent: openraft gives each one only the heartbeat interval
/// (follower fsync included), so large entries (blob chunks) go a few at a time.
const APPEND_BUDGET_BYTES: usize = 4 << 20;

/// Creates [`PeerLink`]s.
pub(crate) struct NetworkFactory {
    pub(crate) id: NodeId,
    pub(crate) peers: Arc<Peers>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &MasterNode) -> PeerLink {
        PeerLink {
            id: self.id,
            target,
            addr: node.raft_addr.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// The link from this node to one peer.
pub(crate) struct PeerLink {
    id: NodeId,
    target: NodeId,
    addr: String,
    peers: Arc<Peers>,
}

type Error<E> = RPCError<NodeId, MasterNode, RaftError<NodeId, E>>;

fn io_error(text: impl Into<String>) -> std::io::Error {
    std::io::Error::other(text.into())
}

impl PeerLink {
    /// Sends an encoded openraft request and decodes the peer's openraft result.
    async fn exchange<Resp, E>(
        &self,
        action: RPCTypes,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Resp, Error<E>>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let payload = Payload(payload);
        let reply = self
            .peers
            .call(self.target, &self.addr, timeout, |client, ctx| async move {
                match action {
                    RPCTypes::AppendEntries => client.append_entries(ctx, payload).await,
                    RPCTypes::Vote => client.vote(ctx, payload).await,
                    RPCTypes::InstallSnapshot => client.install_snapshot(ctx, payload).await,
                }
            })
            .await;
        let bytes = match reply {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(CallError::Unavailable(detail))) => {
                return Err(RPCError::Unreachable(Unreachable::new(&io_error(detail))))
            }
            Ok(Err(e)) => return Err(RPCError::Network(NetworkError::new(&e))),
            Err(e @ PeerError::Unreachable { .. }) => {
                return Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(PeerError::Timeout { .. }) => {
                return Err(RPCError::Timeout(Timeout {
                    action,
                    id: self.id,
                    target: self.target,
                    timeout,
                }))
            }
            Err(e @ (PeerError::Network { .. } | PeerError::Refused { .. })) => {
                return Err(RPCError::Network(NetworkError::new(&e)))
            }
        };
        let result: Result<Resp, RaftError<NodeId, E>> = decode(&bytes.0)
            .map_err(|e| RPCError::Network(NetworkError::new(&io_error(e.to_string()))))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

#[allow(clippy::result_large_err)] // openraft's error type, as its trait returns it
fn encoded<T: serde::Serialize, E: std::error::Error>(value: &T) -> Result<Vec<u8>, Error<E>> {
    encode(value).map_err(|e| RPCError::Network(NetworkError::new(&io_error(e.to_string()))))
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, Error<openraft::error::Infallible>> {
        let entries = rpc.entries.len() as u64;
        let payload = encoded(&rpc)?;
        if payload.len() > APPEND_BUDGET_BYTES && entries > 1 {
            // openraft retries at once with at most this many entries.
            let fit = (entries as usize * APPEND_BUDGET_BYTES / payload.len()).max(1);
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint(fit as u64),
            ));
        }
        self.exchange(RPCTypes::AppendEntries, payload, option.hard_ttl())
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, Error<InstallSnapshotError>> {
        let payload = encoded(&rpc)?;
        self.exchange(RPCTypes::InstallSnapshot, payload, option.hard_ttl())
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, Error<openraft::error::Infallible>> {
        let payload = encoded(&rpc)?;
        self.exchange(RPCTypes::Vote, payload, option.hard_ttl())
            .await
    }
}
