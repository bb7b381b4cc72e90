//! A Broadside master: an openraft node on the RocksDB store ([`broadside_raft_store`]), the
//! master↔master tarpc service, and the REST API served by every master.
//!
//! The leader also runs the [`scheduler`] and serves workers over tarpc (`worker_service`).
//!
//! Three or more masters form the control plane (DESIGN §3–5). [`start`] runs one; its
//! [`MasterHandle`] stops it. Writes entering any master are committed through the leader
//! ([`Node::write`]); reads come from the local replica, after a read barrier when they must be
//! linearizable ([`Node::read_barrier`]).

mod bootstrap;
pub mod config;
pub mod http;
pub mod jobs;
mod master;
mod node;
mod peers;
mod raft;
pub mod results;
pub mod scheduler;
mod worker_service;

pub use config::{ConfigError, MasterConfig, MasterFile, Timings};
pub use master::{start, start_on, MasterHandle, StartError};
pub use node::{now_ms, Node, LEADER_WAIT, VERSION};
