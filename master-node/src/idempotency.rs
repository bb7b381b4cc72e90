//! Idempotency keys → request ids. A write carries a request id that the state machine applies
//! once; a client's `Idempotency-Key` names it, scoped to what the write does, so that a retry
//! through another master is recognised and a key reused for another write is a new request.

use broadside_raft_store::RequestId;
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
}
