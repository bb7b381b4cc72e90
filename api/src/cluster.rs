//! The cluster of masters: members, their status, membership changes.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A master's Raft role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Leads the cluster: every write goes through it.
    Leader,
    /// Replicates the leader's log.
    Follower,
    /// Asks for votes in an election.
    Candidate,
    /// Replicates without a vote (a member being added).
    Learner,
    /// Stopped.
    Shutdown,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Leader,
        Role::Follower,
        Role::Candidate,
        Role::Learner,
        Role::Shutdown,
    ];

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Learner => "learner",
            Role::Shutdown => "shutdown",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One master's own report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeStatus {
    /// Its node id.
    pub id: u64,
    /// Its advertised Raft / tarpc address.
    pub raft_addr: String,
    /// Its advertised REST address.
    pub http_addr: String,
    /// Whether its store holds any Raft state (a vote, a log or a membership).
    pub initialized: bool,
    /// Its role.
    pub role: Role,
    /// Current term.
    pub term: u64,
    /// The leader it knows, if any.
    pub leader: Option<u64>,
    /// Index of its last log entry.
    pub last_log_index: Option<u64>,
    /// Index of its last applied entry.
    pub applied_index: Option<u64>,
    /// Software version.
    pub version: String,
}

/// One member of the cluster, as the answering master sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// Node id.
    pub id: u64,
    /// Raft / tarpc address.
    pub raft_addr: String,
    /// REST address.
    pub http_addr: String,
    /// A voter (false: a learner).
    pub voter: bool,
    /// Whether it answered a status call just now (absent with `probe=false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
    /// Its own report, when it answered.
    pub status: Option<NodeStatus>,
}

/// The cluster as the answering master sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    /// The answering master.
    pub node: NodeStatus,
    /// The leader it knows.
    pub leader: Option<u64>,
    /// Its current term.
    pub term: u64,
    /// Every member, voters and learners.
    pub members: Vec<Member>,
    /// The leader changes this master saw since it started, oldest first (at most 20).
    #[serde(default)]
    pub leader_changes: Vec<LeaderChange>,
}

/// A leader change a master saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaderChange {
    /// The term.
    pub term: u64,
    /// The leader of that term (`null`: none known yet).
    pub leader: Option<u64>,
    /// When this master saw it (Unix milliseconds).
    pub at_ms: u64,
}

impl ClusterView {
    /// The REST address of the leader this view names, if it is a member.
    pub fn leader_http_addr(&self) -> Option<&str> {
        let leader = self.leader?;
        self.members
            .iter()
            .find(|m| m.id == leader)
            .map(|m| m.http_addr.as_str())
    }
}

fn yes() -> bool {
    true
}

/// Parameters of `GET /cluster`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClusterQuery {
    /// Ask every member for its status (waits up to a second for an unresponsive one);
    /// `false`: this master's view only.
    #[serde(default = "yes")]
    pub probe: bool,
}

impl Default for ClusterQuery {
    fn default() -> Self {
        ClusterQuery { probe: true }
    }
}

/// The body of `POST /cluster/members`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The new master's node id (≥ 1, not a member yet).
    pub id: u64,
    /// Its Raft / tarpc address, `host:port`.
    pub raft_addr: String,
}
