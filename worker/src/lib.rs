//! A Broadside worker (`docs/design.md#pull-protocol`): it follows the leading master ([`link`]),
//! pulls tasks, fetches their pinned files into a content-addressed cache ([`cache`]), starts each
//! task at its job's coordinated instant (corrected by the measured clock offset to the leader),
//! runs the segment with the engine ([`task`]), heartbeats progress and numbered metrics deltas
//! until a commit acknowledges them, fences itself when its lease runs out, and drains on shutdown
//! by handing its tasks back ([`worker`]). Every delta is written to the data directory before it
//! is sent, and an attempt's unacknowledged deltas outlive the attempt (fenced, handed back,
//! stopped) and the process: they are delivered as late deltas until acknowledged.

pub mod cache;
pub mod config;
pub mod join;
mod journal;
pub mod link;
mod outbox;
pub mod task;
pub mod worker;

pub use config::WorkerConfig;
pub use worker::{identity, run, WorkerError};

/// This build's version, reported at registration.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
