//! Initialising a fresh cluster exactly once.
//!
//! Only the node with the smallest id in `--peers` initialises, only when its own store holds
//! no Raft state, and only once every peer has answered that it holds none either: a restart of
//! any node, or a cluster whose membership has since changed, is never initialised again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use broadside_raft_store::MasterNode;
use openraft::error::{InitializeError, RaftError};
use tokio_util::sync::CancellationToken;

use crate::node::Node;

const POLL: Duration = Duration::from_millis(300);

/// Runs until the cluster is initialised (by this node or before), or `stop` is cancelled.
pub(crate) async fn bootstrap(node: Arc<Node>, stop: CancellationToken) {
    let peers = node.config.peers.clone();
    if peers.keys().next() != Some(&node.id) || node.status().initialized {
        return;
    }
    loop {
        let mut members = BTreeMap::new();
        let mut missing = Vec::new();
        for (&id, addr) in &peers {
            if id == node.id {
                members.insert(id, node.self_node());
                continue;
            }
            match node.peer_status(addr).await {
                Ok(status) if status.id != id => {
                    tracing::warn!(%addr, expected = id, found = status.id, "peer reports another node id");
                    missing.push(id);
                }
                Ok(status) if status.initialized => {
                    tracing::info!(peer = id, "cluster already initialised; joining it");
                    return;
                }
                Ok(status) => {
                    members.insert(
                        id,
                        MasterNode {
                            raft_addr: addr.clone(),
                            http_addr: status.http_addr,
                        },
                    );
                }
                Err(e) => {
                    tracing::debug!(peer = id, error = %e, "waiting for peer before initialising");
                    missing.push(id);
                }
            }
        }
        if missing.is_empty() {
            match node.raft.initialize(members).await {
                Ok(()) => {
                    tracing::info!(members = ?peers.keys().collect::<Vec<_>>(), "cluster initialised")
                }
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                    tracing::info!("cluster already initialised")
                }
                Err(e) => tracing::error!(error = %e, "cluster initialisation failed"),
            }
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = stop.cancelled() => return,
        }
    }
}
