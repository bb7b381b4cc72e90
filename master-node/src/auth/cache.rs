//! Access records already read from the local replica (API tokens, worker identities), so that
//! checking a caller costs no store read (and no hop to a blocking lane) while they are
//! unchanged. An entry is used only while the replica's access generation is the one read
//! before it was filled, so a revocation applied on this replica is seen by the very next call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use broadside_raft_store::StoreReader;
use parking_lot::Mutex;

use crate::error::Result;

/// Largest number of records kept; beyond it the cache starts again empty.
const MAX_ENTRIES: usize = 4096;

/// The generation read before a record, and the record (or its absence) then.
type Entry<T> = (u64, Option<Arc<T>>);

/// Id → [`Entry`].
pub(crate) struct AccessCache<T> {
    entries: Mutex<HashMap<String, Entry<T>>>,
}

impl<T> Default for AccessCache<T> {
    fn default() -> Self {
        AccessCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> AccessCache<T> {
    /// The record `id` as the replica holds it now: from the cache, or from `read` (which
    /// reads the generation, then the record) when the cache does not know it.
    pub(crate) async fn get<F, Fut>(
        &self,
        reader: &StoreReader,
        id: &str,
        read: F,
    ) -> Result<Option<Arc<T>>>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<(u64, Option<T>)>>,
    {
        let now = reader.tokens_generation();
        if let Some((generation, record)) = self.entries.lock().get(id) {
            if *generation == now {
                return Ok(record.clone());
            }
        }
        let (generation, record) = read(id.to_owned()).await?;
        let record = record.map(Arc::new);
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(id) {
            entries.clear();
        }
        entries.insert(id.to_owned(), (generation, record.clone()));
        Ok(record)
    }
}
