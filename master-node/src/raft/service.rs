//! The master↔master tarpc service: hands Raft messages to the local openraft node and serves
//! forwarded writes, read barriers, membership changes, status and the leader's in-memory view.

use std::sync::Arc;

use broadside_raft_store::{Request, TypeConfig};
use broadside_rpc::raft::LeaderState;
use broadside_rpc::transport::Caller;
use broadside_rpc::{CallError, MembershipChange, NodeStatus, Payload, RaftRpc};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tarpc::context::Context;

use super::{decode, encode};
use crate::app::App;
use crate::node::Node;

/// The service object; cloned per request.
#[derive(Clone)]
pub(crate) struct RaftServer {
    pub(crate) app: Arc<App>,
    /// Who is calling (every call checks it is a member master).
    pub(crate) caller: Caller,
}

impl RaftServer {
    /// The node, once the caller is known to be a member master.
    fn node(&self) -> Result<&Node, CallError> {
        crate::callers::member(&self.app.node, &self.caller, false)?;
        Ok(&self.app.node)
    }

    /// The node, for a Raft message from a member master (or any master, to a node that is no
    /// voter).
    fn raft_node(&self) -> Result<&Node, CallError> {
        crate::callers::member(&self.app.node, &self.caller, true)?;
        Ok(&self.app.node)
    }
}

fn incoming<T: DeserializeOwned>(payload: &Payload) -> Result<T, CallError> {
    decode(&payload.0).map_err(|e| CallError::BadRequest(format!("undecodable payload: {e}")))
}

fn outgoing<T: Serialize>(value: &T) -> Result<Payload, CallError> {
    encode(value)
        .map(Payload)
        .map_err(|e| CallError::Unavailable(format!("unencodable reply: {e}")))
}

impl RaftRpc for RaftServer {
    async fn append_entries(self, _: Context, request: Payload) -> Result<Payload, CallError> {
        let node = self.raft_node()?;
        let request: AppendEntriesRequest<TypeConfig> = incoming(&request)?;
        outgoing(&node.raft.append_entries(request).await)
    }

    async fn vote(self, _: Context, request: Payload) -> Result<Payload, CallError> {
        let node = self.raft_node()?;
        let request: VoteRequest<u64> = incoming(&request)?;
        outgoing(&node.raft.vote(request).await)
    }

    async fn install_snapshot(self, _: Context, request: Payload) -> Result<Payload, CallError> {
        let node = self.raft_node()?;
        let request: InstallSnapshotRequest<TypeConfig> = incoming(&request)?;
        outgoing(&node.raft.install_snapshot(request).await)
    }

    async fn propose(self, _: Context, request: Payload) -> Result<Payload, CallError> {
        let node = self.node()?;
        let request: Request = incoming(&request)?;
        let applied = node.write_local_at(request).await?;
        outgoing(&applied)
    }

    async fn read_index(self, _: Context) -> Result<Option<u64>, CallError> {
        self.node()?.read_index_local().await
    }

    async fn change_membership(
        self,
        _: Context,
        change: MembershipChange,
    ) -> Result<(), CallError> {
        self.node()?.change_membership_local(change).await
    }

    async fn leader_view(self, _: Context) -> Result<LeaderState, CallError> {
        self.node()?;
        self.app.ensure_leader()?;
        Ok(self.app.office.leader_state())
    }

    async fn status(self, _: Context) -> Result<NodeStatus, CallError> {
        Ok(self.node()?.status())
    }
}
