//! A Broadside master: an openraft node on the RocksDB store ([`broadside_raft_store`]), the
//! master↔master tarpc service, the worker service, the scheduler and the REST API served by
//! every master. The concepts and protocols are `docs/design.md`.
//!
//! [`start`] runs one master; its [`MasterHandle`] stops it. Inside, everything hangs off one
//! explicit application context (`app::App`) that the REST router and both tarpc services
//! receive. Writes entering any master are committed through the leader ([`Node::write`]);
//! reads come from the local replica, after a read barrier when they must be linearizable
//! ([`Node::read_barrier`]). [`LocalCluster`] starts several masters on loopback (the demo,
//! tests, benchmarks).

mod app;
mod auth;
mod blocking;
mod bootstrap;
mod callers;
pub mod config;
mod error;
mod files;
mod http;
mod idempotency;
mod jobs;
mod leaders;
mod live;
mod local;
mod master;
mod node;
mod office;
mod peers;
mod progress;
mod raft;
mod results;
mod scheduler;
mod views;
mod worker_service;

pub use bootstrap::ADMIN_TOKEN_FILE;
pub use config::{AuthConfig, ConfigError, MasterConfig, MasterFile, Timings};
pub use error::Error;
pub use http::RestTlsFiles;
pub use local::LocalCluster;
pub use master::{start, start_on, MasterHandle, StartError};
pub use node::{now_ms, Node, LEADER_WAIT, VERSION};

/// A new random API token (`bst_…`): for an admin token file given to `--admin-token-file`.
pub fn generate_token() -> String {
    auth::token::Bearer::generate().1
}
