//! Initialising a fresh cluster exactly once, and giving it its first admin token.
//!
//! Only the node with the smallest id in `--peers` initialises, only when its own store holds
//! no Raft state, and only once every peer has answered that it holds none either: a restart of
//! any node, or a cluster whose membership has since changed, is never initialised again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use broadside_raft_store::model::Token;
use broadside_raft_store::{Command, MasterNode, Request, Response};
use openraft::error::{InitializeError, RaftError};
use tokio_util::sync::CancellationToken;

use crate::auth::token::Bearer;
use crate::node::{now_ms, Node};

const POLL: Duration = Duration::from_millis(300);

/// Runs until the cluster is initialised (by this node or before), or `stop` is cancelled.
pub(crate) async fn bootstrap(node: Arc<Node>, stop: CancellationToken) {
    let peers = node.config.peers.clone();
    if node.status().initialized {
        return;
    }
    if !peers.contains_key(&node.id) {
        tracing::info!(
            id = node.id,
            "this master is not among the founding peers: it waits to be added \
             (`broadside cluster add`)"
        );
        return;
    }
    if peers.keys().next() != Some(&node.id) {
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
            match node.peer_status(id, addr).await {
                Ok(status) if status.id != id => {
                    tracing::warn!(%addr, expected = id, found = status.id, "peer reports another node id");
                    missing.push(id);
                }
                Ok(status) if status.initialized => {
                    tracing::info!(
                        peer = id,
                        "the peers already form a cluster: not founding one (this master is a member already, or waits to be added)"
                    );
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

/// The file a generated admin token is written to, in the master's data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Reads the bearer string in `path` (its first line).
fn read_token(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// Writes `token` to `path`, readable by its owner only.
pub(crate) fn write_token(path: &std::path::Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{token}")?;
    file.sync_all()
}

/// Gives a fresh cluster its first admin token (`docs/design.md#security`): the one in the
/// configured file, or — on the master that initialises the cluster, when none is configured —
/// a new one, written to `DATA/admin-token` (mode 0600) and printed once on standard output.
/// Proposed until committed; refused, and so a no-op, once the cluster has any token.
pub(crate) async fn admin_token(node: Arc<Node>, stop: CancellationToken) {
    if !node.config.auth.tokens() {
        return;
    }
    let fresh = !node.status().initialized;
    let initialiser = node.config.peers.keys().next() == Some(&node.id);
    let text = match &node.config.auth.admin_token_file {
        Some(path) => match read_token(path) {
            Some(text) => text,
            None => {
                tracing::error!(path = %path.display(), "cannot read the admin token file");
                return;
            }
        },
        None => {
            let path = node.config.data.join(ADMIN_TOKEN_FILE);
            match read_token(&path) {
                Some(text) => text,
                None if fresh && initialiser => {
                    let (_, text) = Bearer::generate();
                    if let Err(e) = write_token(&path, &text) {
                        tracing::error!(path = %path.display(), error = %e, "cannot write the admin token");
                        return;
                    }
                    println!(
                        "admin token (shown once, also in {}): {text}",
                        path.display()
                    );
                    text
                }
                None => return,
            }
        }
    };
    let Some(bearer) = Bearer::parse(&text) else {
        tracing::error!("the admin token is not a `bst_…` token");
        return;
    };
    let token = Token {
        id: bearer.id.clone(),
        name: "admin".to_owned(),
        secret_sha256: bearer.secret_sha256(),
        created_by: "bootstrap".to_owned(),
        created_at_ms: 0,
        expires_at_ms: None,
        revoked_at_ms: None,
        admin: true,
        projects: BTreeMap::new(),
    };
    loop {
        let request = Request::new(
            Node::new_request_id(),
            now_ms(),
            Command::BootstrapToken(token.clone()),
        );
        match node.write(request).await {
            Ok(Response::Ok) => {
                tracing::info!(token = %token.id, "admin token created");
                return;
            }
            Ok(Response::Rejected { message, .. }) => {
                // Another master's (or an earlier) bootstrap won: the cluster has its tokens.
                tracing::info!(token = %token.id, reason = %message, "admin token not bootstrapped");
                return;
            }
            Ok(_) | Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = stop.cancelled() => return,
        }
    }
}
