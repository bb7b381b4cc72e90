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
//! certificate or a joined worker's credential, each only for calls made as that worker and
//! only while its identity is not revoked (the replicated worker identities: a worker id
//! bound to a joined worker's secret belongs to it alone; a revoked certificate name is
//! refused); a connection with neither may only join with a join token. In plain mode (every
//! listener on loopback) nobody is checked.

use std::sync::Arc;

use broadside_pki::Identity;
use broadside_raft_store::model::{WorkerCredential, WorkerIdentity};
use broadside_rpc::transport::Caller;
use broadside_rpc::ServiceKind;

use crate::app::App;
use crate::auth::token::secret_matches;
use crate::error::Error;
use crate::node::Node;

/// Whether a connection for `kind` stays open at all: with TLS, the master↔master service
/// only for a master's certificate, the worker service for a worker's certificate, a joined
/// worker's credential or nothing (to join); anyone else is disconnected before a single
/// request is read.
pub(crate) fn may_open(kind: ServiceKind, caller: &Caller) -> bool {
    match (kind, caller) {
        (_, Caller::Unchecked) => true,
        (ServiceKind::Raft, Caller::Verified(who)) => matches!(who, Some(Identity::Master(_))),
        (ServiceKind::Raft, Caller::Claims(_)) => false,
        (ServiceKind::Worker, Caller::Verified(who)) => {
            matches!(who, None | Some(Identity::Worker(_)))
        }
        (ServiceKind::Worker, Caller::Claims(_)) => true,
    }
}

fn presented(caller: &Caller) -> String {
    match caller {
        Caller::Unchecked => "nothing (plain mode)".to_owned(),
        Caller::Verified(Some(who)) => format!("{who}'s certificate"),
        Caller::Verified(None) => "no certificate".to_owned(),
        Caller::Claims(c) => format!("the credential of joined worker {:?}", c.worker_id),
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
        other => Err(Error::Forbidden(format!(
            "the master↔master service takes a member master's certificate; this connection \
             presented {}",
            presented(other)
        ))),
    }
}

/// The worker id a worker-service caller claims (its certificate's name or its credential's),
/// `None` for a caller that claims none.
fn claimed(caller: &Caller) -> Option<&str> {
    match caller {
        Caller::Verified(Some(Identity::Worker(name))) => Some(name),
        Caller::Claims(credential) => Some(&credential.worker_id),
        _ => None,
    }
}

/// The identity bound to `worker_id` on this replica (through the cache).
async fn identity(app: &App, worker_id: &str) -> Result<Option<Arc<WorkerIdentity>>, Error> {
    app.identities
        .get(app.reader(), worker_id, |id| {
            app.worker_read(move |r| Ok((r.tokens_generation(), r.worker_identity(&id)?)))
        })
        .await
}

/// Refuses a worker-service call made as `worker_id` by any other caller, or by a worker whose
/// identity is revoked. `Ok` holds the pool the worker's identity binds it to, if any.
pub(crate) async fn worker(
    app: &App,
    caller: &Caller,
    worker_id: &str,
) -> Result<Option<String>, Error> {
    if matches!(caller, Caller::Unchecked) {
        return Ok(None);
    }
    if claimed(caller) != Some(worker_id) {
        return Err(Error::Forbidden(format!(
            "calls as worker {worker_id:?} take that worker's certificate or credential; this \
             connection presented {}",
            presented(caller)
        )));
    }
    let bound = identity(app, worker_id).await?;
    let refused = |why: &str| {
        Err(Error::Forbidden(format!(
            "worker {worker_id:?} may not call: {why}"
        )))
    };
    match (caller, bound.as_deref()) {
        (_, Some(i)) if i.revoked_at_ms.is_some() => refused("its identity was revoked"),
        (Caller::Verified(_), None) => Ok(None),
        (Caller::Verified(_), Some(_)) => {
            refused("the id belongs to a worker that joined with a join token")
        }
        (Caller::Claims(credential), Some(i)) => match &i.credential {
            WorkerCredential::Joined { secret_sha256, .. }
                if secret_matches(&credential.secret, secret_sha256) =>
            {
                Ok(i.pool.clone())
            }
            _ => refused("its credential is not the one this id was given"),
        },
        // This replica may not have applied the join yet (a follower serving a chunk, a
        // leader just elected): ask again, maybe elsewhere. A stranger gets nothing either way.
        (Caller::Claims(_), None) => Err(Error::Unavailable(format!(
            "this master knows no identity of worker {worker_id:?} (yet)"
        ))),
        (Caller::Unchecked, _) => Ok(None),
    }
}

/// Refuses a worker-service call that names no worker (a file chunk) from a caller that is no
/// worker, checked as [`worker`] does. `Ok` holds the caller's worker id (`None` in plain
/// mode).
pub(crate) async fn any_worker(app: &App, caller: &Caller) -> Result<Option<String>, Error> {
    match claimed(caller) {
        Some(id) => {
            let id = id.to_owned();
            worker(app, caller, &id).await?;
            Ok(Some(id))
        }
        None if matches!(caller, Caller::Unchecked) => Ok(None),
        None => Err(Error::Forbidden(format!(
            "the worker service takes a worker's certificate or credential; this connection \
             presented {}",
            presented(caller)
        ))),
    }
}
