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
    /// Slots its tasks take now (every project's).
    #[serde(default)]
    pub slots_used: u32,
    /// The tasks it runs now (claimed and not finished) of the projects the caller sees.
    #[serde(default)]
    pub running: Vec<WorkerTask>,
}

/// A task a worker runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkerTask {
    /// Job.
    pub job_id: u64,
    /// Task index.
    pub task: u32,
    /// Attempt.
    pub attempt: u32,
}

/// A join token as the API shows it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JoinTokenInfo {
    /// Public id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The pool its workers serve.
    pub pool: String,
    /// Name of the API token that created it.
    pub created_by: String,
    /// When it was created (Unix milliseconds).
    pub created_at_ms: u64,
    /// After this instant no worker joins with it, if it expires.
    pub expires_at_ms: Option<u64>,
    /// When it was revoked (with every worker identity it gave), if it was.
    pub revoked_at_ms: Option<u64>,
}

/// The body of `POST /join-tokens`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJoinToken {
    /// A name for people (1 to 128 characters).
    pub name: String,
    /// The pool the workers that join with it serve.
    pub pool: String,
    /// How long workers may join with it, e.g. `"24h"` (none: until revoked). Workers that
    /// joined keep their identity after it expires.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::duration::optional"
    )]
    #[schema(value_type = Option<String>, example = "24h")]
    pub expires_in: Option<std::time::Duration>,
}

/// A join token just created: the only time its secret is shown (its `Debug` form does not).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedJoinToken {
    /// The join token.
    pub join_token: JoinTokenInfo,
    /// The token string (`bsj_…`) to give `broadside worker --join-token`: keep it, it is not
    /// shown again.
    pub secret: String,
}

impl std::fmt::Debug for CreatedJoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedJoinToken")
            .field("join_token", &self.join_token)
            .field("secret", &"[redacted]")
            .finish()
    }
}
