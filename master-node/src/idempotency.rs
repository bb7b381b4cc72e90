//! Idempotency keys → request ids. A write carries a request id that the state machine applies
//! once; a client's `Idempotency-Key` names it, scoped to what the write does, so that a retry
//! through another master is recognised and a key reused for another write is a new request.
//! A key's request also carries the digest of the client's request (method, path, JSON body):
//! the same key again with another body is refused (422) rather than answered with the first
//! request's response.

use broadside_raft_store::model::Actor;
use broadside_raft_store::{RequestId, Sha256};
use sha2::Digest;

use crate::node::Node;

/// Longest key accepted.
pub(crate) const MAX_KEY_LEN: usize = 255;

/// Whether `key` is a key this API accepts: 1 to 255 visible ASCII characters.
pub(crate) fn valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The request id of a write: derived from the client's key and the write's `scope` (the same
/// on every master), or fresh without a key.
pub(crate) fn request_id(key: Option<&str>, scope: &str) -> RequestId {
    let Some(key) = key else {
        return Node::new_request_id();
    };
    let mut hasher = sha2::Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    RequestId(u128::from_be_bytes(id))
}

/// Who writes and with what idempotency key: the request id of each write it makes (scoped to
/// the caller, so that two callers' keys never name the same write) and the actor the audit
/// log names.
#[derive(Clone, Debug, Default)]
pub(crate) struct Writer {
    /// Who the audit log names.
    pub(crate) actor: Option<Actor>,
    /// What scopes the caller's keys (its token id).
    caller: String,
    /// The client's idempotency key.
    key: Option<String>,
    /// Digest of the client's request, when it has a key (see [`request_digest`]).
    body: Option<Sha256>,
}

impl Writer {
    /// A writer: `caller` scopes its `key`.
    pub(crate) fn new(caller: &str, actor: Option<Actor>, key: Option<String>) -> Writer {
        Writer {
            actor,
            caller: caller.to_owned(),
            key,
            body: None,
        }
    }

    /// The same writer, for a request whose digest is `body`.
    pub(crate) fn with_body(mut self, body: Option<Sha256>) -> Writer {
        self.body = body;
        self
    }

    /// The digest the write carries: only with a key (it is compared only between requests
    /// that share one).
    pub(crate) fn body_sha256(&self) -> Option<Sha256> {
        self.key.as_ref().and(self.body)
    }

    /// The request id of this writer's write named `scope`.
    pub(crate) fn request_id(&self, scope: &str) -> RequestId {
        request_id(self.key.as_deref(), &format!("{} {scope}", self.caller))
    }
}

/// The digest of a client request: method, path with query, body.
pub(crate) fn request_digest(method: &str, path: &str, body: &[u8]) -> Sha256 {
    let mut hasher = sha2::Sha256::new();
    for part in [method.as_bytes(), path.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update(body);
    Sha256(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_stable_request_ids_per_scope() {
        let a = request_id(Some("retry-me-1"), "POST /projects");
        assert_eq!(a, request_id(Some("retry-me-1"), "POST /projects"));
        assert_ne!(a, request_id(Some("retry-me-1"), "POST /jobs"));
        assert_ne!(request_id(None, "x"), request_id(None, "x"));
        assert!(!valid_key("has space"));
        assert!(!valid_key(""));
        assert!(!valid_key(&"k".repeat(256)));
        assert!(valid_key("submit-0f3a"));
    }

    #[test]
    fn two_callers_keys_never_name_the_same_write() {
        let a = Writer::new("token-a", None, Some("k".into()));
        let b = Writer::new("token-b", None, Some("k".into()));
        assert_eq!(
            a.request_id("POST /projects x"),
            a.request_id("POST /projects x")
        );
        assert_ne!(
            a.request_id("POST /projects x"),
            b.request_id("POST /projects x")
        );
    }
}
