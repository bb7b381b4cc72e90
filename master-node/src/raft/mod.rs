//! The master's openraft node: configuration from the validated timings, the payload codec of
//! the master↔master service, the tarpc network ([`network`]) and its server side
//! ([`service`]).

pub(crate) mod network;
pub(crate) mod service;

use broadside_raft_store::TypeConfig;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::Timings;

/// The openraft handle of this store.
pub type Raft = openraft::Raft<TypeConfig>;

/// Entries per AppendEntries message: with entries of at most
/// [`MAX_ENTRY_BYTES`](broadside_raft_store::MAX_ENTRY_BYTES) a message stays well below the
/// transport's frame limit.
pub(crate) const MAX_PAYLOAD_ENTRIES: u64 = 64;

/// Snapshot bytes per chunk message.
pub(crate) const SNAPSHOT_CHUNK_BYTES: u64 = 4 << 20;

/// openraft's configuration for these timings.
#[allow(clippy::result_large_err)] // openraft's error type
pub(crate) fn openraft_config(t: &Timings) -> Result<openraft::Config, openraft::ConfigError> {
    const _: () = assert!(
        MAX_PAYLOAD_ENTRIES as usize * broadside_raft_store::MAX_ENTRY_BYTES
            + SNAPSHOT_CHUNK_BYTES as usize
            <= broadside_rpc::MAX_FRAME_BYTES
    );
    openraft::Config {
        cluster_name: "broadside".into(),
        heartbeat_interval: t.raft_heartbeat.as_millis() as u64,
        election_timeout_min: t.election_min.as_millis() as u64,
        election_timeout_max: t.election_max.as_millis() as u64,
        // The last chunk's call installs the whole snapshot on the follower; a large state
        // takes seconds to load.
        install_snapshot_timeout: 120_000,
        max_payload_entries: MAX_PAYLOAD_ENTRIES,
        snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(10_000),
        max_in_snapshot_log_to_keep: 2_000,
        purge_batch_size: 256,
        ..Default::default()
    }
    .validate()
}

fn codec() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a value carried as an opaque payload between masters.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, codec())
}

/// Decodes a payload written by [`encode`].
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, bincode::error::DecodeError> {
    let cfg = codec().with_limit::<{ broadside_rpc::MAX_FRAME_BYTES }>();
    bincode::serde::decode_from_slice(bytes, cfg).map(|(v, _)| v)
}
