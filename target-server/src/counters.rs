//! Concurrent, capped maps of counters keyed by strings.
//!
//! Both maps are split into shards chosen by key hash, so concurrent requests
//! for different keys rarely touch the same lock, and a snapshot only holds
//! one shard's lock at a time.
//!
//! * [`CounterMap`] keeps a plain count per key. Existing keys are counted under
//!   a shared (read) lock with an atomic increment; only the first request for a
//!   new key takes the shard's write lock.
//! * [`AttributionMap`] keeps an [`AttributionStats`] per key behind a mutex
//!   per shard.
//!
//! Both cap the number of distinct keys; requests for further new keys are
//! counted under [`OTHER_KEY`]. Keys longer than [`MAX_KEY_LEN`] bytes are
//! truncated (on a character boundary) before counting.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use parking_lot::{Mutex, RwLock};

use crate::stats::AttributionStats;

/// Key under which requests beyond a map's distinct-key cap are counted.
pub const OTHER_KEY: &str = "(other)";

/// Longest key stored, in bytes; longer keys are truncated.
pub const MAX_KEY_LEN: usize = 512;

/// Number of shards per map.
const SHARDS: usize = 32;

/// Truncates `key` to at most [`MAX_KEY_LEN`] bytes on a char boundary.
pub(crate) fn truncate_key(key: &str) -> &str {
    if key.len() <= MAX_KEY_LEN {
        return key;
    }
    let mut end = MAX_KEY_LEN;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

/// Reserves one slot of a distinct-key budget; false when the cap is reached.
fn reserve(distinct: &AtomicUsize, cap: usize) -> bool {
    if distinct.fetch_add(1, Relaxed) >= cap {
        distinct.fetch_sub(1, Relaxed);
        false
    } else {
        true
    }
}

/// One shard of a [`CounterMap`].
type CounterShard = RwLock<HashMap<Box<str>, AtomicU64>>;

/// One shard of an [`AttributionMap`].
type AttributionShard = Mutex<HashMap<Box<str>, AttributionStats>>;

/// A sharded map of string → count with a cap on distinct keys.
pub(crate) struct CounterMap {
    shards: Box<[CounterShard]>,
    hasher: RandomState,
    distinct: AtomicUsize,
    cap: usize,
    overflow: AtomicU64,
}

impl CounterMap {
    /// An empty map holding at most `cap` distinct keys.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            distinct: AtomicUsize::new(0),
            cap,
            overflow: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &str) -> &CounterShard {
        // Truncation to usize is fine: only the low bits pick the shard.
        let index = self.hasher.hash_one(key) as usize % self.shards.len();
        &self.shards[index]
    }

    /// Adds one to `key` (or to [`OTHER_KEY`] when the cap is reached).
    pub(crate) fn incr(&self, key: &str) {
        let key = truncate_key(key);
        let shard = self.shard(key);
        if let Some(counter) = shard.read().get(key) {
            counter.fetch_add(1, Relaxed);
            return;
        }
        let mut map = shard.write();
        if let Some(counter) = map.get(key) {
            counter.fetch_add(1, Relaxed);
        } else if reserve(&self.distinct, self.cap) {
            map.insert(key.into(), AtomicU64::new(1));
        } else {
            self.overflow.fetch_add(1, Relaxed);
        }
    }

    /// Adds every non-zero count to `out` (summing with what is there).
    pub(crate) fn snapshot_into(&self, out: &mut BTreeMap<String, u64>) {
        for shard in self.shards.iter() {
            let map = shard.read();
            for (key, count) in map.iter() {
                let count = count.load(Relaxed);
                if count > 0 {
                    *out.entry(key.to_string()).or_default() += count;
                }
            }
        }
        let overflow = self.overflow.load(Relaxed);
        if overflow > 0 {
            *out.entry(OTHER_KEY.to_owned()).or_default() += overflow;
        }
    }

    /// Forgets every key and count.
    pub(crate) fn reset(&self) {
        for shard in self.shards.iter() {
            let mut map = shard.write();
            let removed = map.len();
            map.clear();
            self.distinct.fetch_sub(removed, Relaxed);
        }
        self.overflow.store(0, Relaxed);
    }
}

/// Total per-second buckets kept across all attribution values; arrivals in
/// seconds beyond this budget are counted in `per_second_dropped` instead.
pub(crate) const PER_SECOND_BUDGET: usize = 2_000_000;

/// A sharded map of attribution value → [`AttributionStats`].
pub(crate) struct AttributionMap {
    shards: Box<[AttributionShard]>,
    overflow: Mutex<Option<AttributionStats>>,
    hasher: RandomState,
    distinct: AtomicUsize,
    cap: usize,
    buckets: AtomicUsize,
    bucket_cap: usize,
}

impl AttributionMap {
    /// An empty map holding at most `cap` distinct values and `bucket_cap`
    /// per-second buckets in total.
    pub(crate) fn new(cap: usize, bucket_cap: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            overflow: Mutex::new(None),
            hasher: RandomState::new(),
            distinct: AtomicUsize::new(0),
            cap,
            buckets: AtomicUsize::new(0),
            bucket_cap,
        }
    }

    /// Records one arrival for `value` at `now_ms` (unix milliseconds).
    pub(crate) fn record(&self, value: &str, now_ms: u64) {
        let value = truncate_key(value);
        let index = self.hasher.hash_one(value) as usize % self.shards.len();
        let mut map = self.shards[index].lock();
        if let Some(entry) = map.get_mut(value) {
            self.add(entry, now_ms);
        } else if reserve(&self.distinct, self.cap) {
            let entry = map.entry(value.into()).or_insert_with(|| new_entry(now_ms));
            self.add(entry, now_ms);
        } else {
            drop(map);
            let mut other = self.overflow.lock();
            let entry = other.get_or_insert_with(|| new_entry(now_ms));
            self.add(entry, now_ms);
        }
    }

    fn add(&self, entry: &mut AttributionStats, now_ms: u64) {
        entry.count += 1;
        entry.first_unix_ms = entry.first_unix_ms.min(now_ms);
        entry.last_unix_ms = entry.last_unix_ms.max(now_ms);
        let second = now_ms / 1000;
        if let Some(bucket) = entry.per_second.get_mut(&second) {
            *bucket += 1;
        } else if reserve(&self.buckets, self.bucket_cap) {
            entry.per_second.insert(second, 1);
        } else {
            entry.per_second_dropped += 1;
        }
    }

    /// Copies every value's stats into `out`.
    pub(crate) fn snapshot_into(&self, out: &mut BTreeMap<String, AttributionStats>) {
        for shard in self.shards.iter() {
            let map = shard.lock();
            for (key, stats) in map.iter() {
                out.insert(key.to_string(), stats.clone());
            }
        }
        if let Some(other) = self.overflow.lock().as_ref() {
            out.insert(OTHER_KEY.to_owned(), other.clone());
        }
    }

    /// Forgets every value.
    pub(crate) fn reset(&self) {
        for shard in self.shards.iter() {
            let mut map = shard.lock();
            let removed = map.len();
            let buckets: usize = map.values().map(|s| s.per_second.len()).sum();
            map.clear();
            self.distinct.fetch_sub(removed, Relaxed);
            self.buckets.fetch_sub(buckets, Relaxed);
        }
        let mut other = self.overflow.lock();
        if let Some(stats) = other.take() {
            self.buckets.fetch_sub(stats.per_second.len(), Relaxed);
        }
    }
}

fn new_entry(now_ms: u64) -> AttributionStats {
    AttributionStats {
        count: 0,
        first_unix_ms: now_ms,
        last_unix_ms: now_ms,
        per_second: BTreeMap::new(),
        per_second_dropped: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_map_caps_distinct_keys() {
        let map = CounterMap::new(2);
        for key in ["/a", "/b", "/a", "/c", "/d", "/b"] {
            map.incr(key);
        }
        let mut out = BTreeMap::new();
        map.snapshot_into(&mut out);
        let expected: BTreeMap<String, u64> = [("/a", 2), ("/b", 2), (OTHER_KEY, 2)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(out, expected);

        map.reset();
        map.incr("/c");
        let mut out = BTreeMap::new();
        map.snapshot_into(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out.get("/c"), Some(&1));
    }

    #[test]
    fn long_keys_are_truncated_on_char_boundaries() {
        let long = "é".repeat(MAX_KEY_LEN);
        let cut = truncate_key(&long);
        assert!(cut.len() <= MAX_KEY_LEN);
        assert!(long.starts_with(cut));
        assert_eq!(truncate_key("/short"), "/short");
    }

    #[test]
    fn attribution_tracks_times_and_seconds() {
        let map = AttributionMap::new(1, 3);
        map.record("a", 1_500);
        map.record("a", 1_200);
        map.record("a", 2_100);
        map.record("b", 9_000);
        let mut out = BTreeMap::new();
        map.snapshot_into(&mut out);
        let a = &out["a"];
        assert_eq!(a.count, 3);
        assert_eq!(a.first_unix_ms, 1_200);
        assert_eq!(a.last_unix_ms, 2_100);
        assert_eq!(a.per_second, BTreeMap::from([(1, 2), (2, 1)]));
        let other = &out[OTHER_KEY];
        assert_eq!(other.count, 1);
        assert_eq!(other.per_second, BTreeMap::from([(9, 1)]));

        // The bucket budget (3) is now used up.
        map.record("a", 5_000);
        let mut out = BTreeMap::new();
        map.snapshot_into(&mut out);
        assert_eq!(out["a"].count, 4);
        assert_eq!(out["a"].per_second_dropped, 1);

        map.reset();
        map.record("c", 7_000);
        let mut out = BTreeMap::new();
        map.snapshot_into(&mut out);
        assert_eq!(out.keys().collect::<Vec<_>>(), vec!["c"]);
        assert_eq!(out["c"].per_second, BTreeMap::from([(7, 1)]));
    }
}
