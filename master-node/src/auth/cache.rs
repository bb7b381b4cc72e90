//! Tokens already read from the local replica, so that checking a caller's token costs no
//! store read (and no hop to a blocking lane) while the tokens are unchanged. An entry is used
//! only while the replica's tokens generation is the one read before it was filled, so a
//! revocation applied on this replica is seen by the very next request.

use std::collections::HashMap;
use std::sync::Arc;

use broadside_raft_store::model::Token;
use broadside_raft_store::StoreReader;
use parking_lot::Mutex;

/// Largest number of tokens kept; beyond it the cache starts again empty.
const MAX_ENTRIES: usize = 4096;

/// The generation read before a token, and the token (or its absence) then.
type Entry = (u64, Option<Arc<Token>>);

/// Token id → [`Entry`].
#[derive(Default)]
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl TokenCache {
    /// The token `id` as the replica holds it now, if the cache knows it.
    pub(crate) fn get(&self, reader: &StoreReader, id: &str) -> Option<Option<Arc<Token>>> {
        let now = reader.tokens_generation();
        let entries = self.entries.lock();
        match entries.get(id) {
            Some((generation, token)) if *generation == now => Some(token.clone()),
            _ => None,
        }
    }

    /// Remembers `token` (read after `generation` was).
    pub(crate) fn put(&self, id: String, generation: u64, token: Option<Arc<Token>>) {
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&id) {
            entries.clear();
        }
        entries.insert(id, (generation, token));
    }
}
