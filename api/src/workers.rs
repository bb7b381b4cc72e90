//! Workers: the registry of the processes that run tasks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A worker's state in the registry.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Heartbeats arrive.
    Alive,
    /// Silent for a few heartbeats.
    Suspect,
    /// Silent past its lease and margin: its tasks were reassigned. It comes back only by
    /// registering again.
    Dead,
    /// Takes no new task.
    Draining,
}

impl WorkerState {
    /// Every state.
    pub const ALL: [WorkerState; 4] = [
        WorkerState::Alive,
        WorkerState::Suspect,
        WorkerState::Dead,
        WorkerState::Draining,
    ];

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Alive => "alive",
            WorkerState::Suspect => "suspect",
            WorkerState::Dead => "dead",
            WorkerState::Draining => "draining",
        }
    }
}

impl std::fmt::Display for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Worker {
    /// Its stable id.
    pub id: String,
    /// Its pool.
    pub pool: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Task slots.
    pub slots: u32,
    /// Software version.
    pub version: String,
    /// The address it reported.
    pub address: String,
    /// State.
    pub state: WorkerState,
    /// Why it is in this state.
    pub reason: String,
    /// When it (last) registered (Unix milliseconds).
    pub registered_at_ms: u64,
    /// When it entered its state.
    pub state_since_ms: u64,
    /// Milliseconds since the leader last heard from it (`null`: unknown to this master).
    pub last_heartbeat_age_ms: Option<u64>,
}
