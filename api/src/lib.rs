//! The resources of the Broadside REST API (`/api/v1`) as plain serde types.
//!
//! One definition per resource, used on both sides of the wire: the masters build these values
//! from their store and serve them (and generate the OpenAPI document from their
//! [`utoipa::ToSchema`] derives), `broadside-client` decodes them. Nothing here knows HTTP or
//! the store; enums carry their API spelling (`snake_case`) once, in their serde attributes.
//!
//! The merged result of a job is the engine's `summary.json` document ([`JobResult`]); its
//! schema is `docs/summary-schema.md`.

mod access;
mod cluster;
mod compare;
mod duration;
mod files;
mod jobs;
mod live;
mod page;
mod problem;
mod projects;
mod session;
mod validation;
mod workers;

pub use access::{
    AuditActor, AuditEntry, CreatedToken, NewToken, ProjectRole, ProjectSettings, SecretValue,
    TokenInfo, Whoami,
};
pub use cluster::{AddMember, ClusterQuery, ClusterView, LeaderChange, Member, NodeStatus, Role};
pub use compare::{CompareQuery, Comparison};
pub use files::{FileKind, FileVersion, UploadQuery, VersionQuery};
pub use jobs::{
    AbortRequest, Job, JobDetails, JobListQuery, JobParams, JobState, OnTimeout, PinnedFile,
    ReassignTo, SplitMode, StartPolicy, Submission, Task, TaskState, Waiting,
};
pub use live::{EndEvent, JobResult, LiveTask, LogEvent, LogsQuery, ProgressEvent};
pub use page::{Page, PageQuery};
pub use problem::{LeaderView, LocatedProblem, Problem};
pub use projects::{NewProject, Project};
pub use session::{NewSession, Session};
pub use validation::{Validation, ValidationRequest};
pub use workers::{CreatedJoinToken, JoinTokenInfo, NewJoinToken, Worker, WorkerState, WorkerTask};

/// The path prefix of every API route.
pub const PREFIX: &str = "/api/v1";

/// Header carrying a client's idempotency key on writes.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// `?consistent=true`: read after a linearizable read barrier instead of from the answering
/// master's replica as it is.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// Wait until this master reflects every write committed before the request.
    #[serde(default)]
    pub consistent: bool,
}
