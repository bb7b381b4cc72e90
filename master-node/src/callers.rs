//! Who may call the cluster port's services (`docs/security.md#the-cluster-port`).
//!
//! With TLS, the handshake has already checked a caller's certificate against the cluster CA;
//! here its identity is checked against what it calls. The master↔master service (Raft
//! messages, forwarded writes, membership changes, status) takes only a master that is a
//! member of the cluster as this node knows it — or any master while this node belongs to no
//! cluster yet (a founding master before initialisation, a new master waiting to be added,
//! which must hear from the leader that adds it). Raft's own messages (vote, append, snapshot)
//! reach a node that is no voter in its membership (a learner catching up, whose membership
//! may be older than the leader that feeds it) from any master: such a node's log decides
//! nothing, and refusing would keep it from ever catching up. The worker service takes a worker's
//! certificate, and only for calls made as that worker. In plain mode (every listener on
//! loopback) nobody is checked.

use broadside_pki::Identity;
use broadside_rpc::transport::Caller;
use broadside_rpc::ServiceKind;

use crate::error::Error;
use crate::node::Node;

/// Whether a connection for `kind` stays open at all: with TLS, the master↔master service
/// only for a master's certificate and the worker service only for a worker's; anyone else is
/// disconnected before a single request is read.
pub(crate) fn may_open(kind: ServiceKind, caller: &Caller) -> bool {
    match caller {
        Caller::Unchecked => true,
        Caller::Verified(who) => matches!(
            (kind, who),
            (ServiceKind::Raft, Some(Identity::Master(_)))
                | (ServiceKind::Worker, Some(Identity::Worker(_)))
        ),
    }
}

fn presented(identity: &Option<Identity>) -> String {
    match identity {
        Some(who) => format!("{who}'s certificate"),
        None => "no certificate".to_owned(),
    }
}

/// Refuses a caller of the master↔master service that is not a member master (`raft`: a Raft
/// message, which a node that is no voter takes from any master).
pub(crate) fn member(node: &Node, caller: &Caller, raft: bool) -> Result<(), Error> {
    match caller {
        Caller::Unchecked => Ok(()),
        Caller::Verified(Some(Identity::Master(id))) => match node.knows_member(*id) {
            None | Some((true, _)) => Ok(()),
            Some((false, false)) if raft => Ok(()),
            Some((false, _)) => Err(Error::Forbidden(format!(
                "master {id} is not a member of this cluster (an admin adds it: \
                 POST /api/v1/cluster/members)"
            ))),
        },
        Caller::Verified(other) => Err(Error::Forbidden(format!(
            "the master↔master service takes a member master's certificate; this connection \
             presented {}",
            presented(other)
        ))),
    }
}

/// Refuses a worker-service call made as `worker_id` by any other caller.
pub(crate) fn worker(caller: &Caller, worker_id: &str) -> Result<(), Error> {
    match caller {
        Caller::Unchecked => Ok(()),
        Caller::Verified(Some(Identity::Worker(name))) if name == worker_id => Ok(()),
        Caller::Verified(other) => Err(Error::Forbidden(format!(
            "calls as worker {worker_id:?} take that worker's certificate; this connection \
             presented {}",
            presented(other)
        ))),
    }
}

/// Refuses a worker-service call that names no worker (a file chunk) from a caller that is no
/// worker.
pub(crate) fn any_worker(caller: &Caller) -> Result<(), Error> {
    match caller {
        Caller::Unchecked | Caller::Verified(Some(Identity::Worker(_))) => Ok(()),
        Caller::Verified(other) => Err(Error::Forbidden(format!(
            "the worker service takes a worker's certificate; this connection presented {}",
            presented(other)
        ))),
    }
}
