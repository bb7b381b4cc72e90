//! Broadside's load engine.
//!
//! A [`model::Simulation`] (loaded from YAML/JSON by [`load`] or built in Rust) is compiled
//! into an executable plan and run by [`runtime`]: virtual users are tokio tasks that walk the
//! scenario's steps, send requests through a [`protocol`], run checks, and record every outcome
//! in [`metrics`]. [`schedule`] turns injection profiles into exact arrival schedules (and
//! splits them into segments for distributed runs); [`feeder`] hands out data records;
//! [`expr`] evaluates `#{...}` templates; [`report`] renders summaries, HTML and JUnit XML.
//!
//! The engine knows nothing of the cluster: a distributed task is just a run of one segment.

pub mod error;
pub mod expr;
pub mod feeder;
pub mod load;
pub mod metrics;
pub mod model;
pub mod protocol;
pub mod redact;
pub mod report;
pub mod runtime;
pub mod schedule;
pub mod secrets;
pub mod segment;
pub mod simulation;
pub mod wire;

pub use error::{Error, Result};
pub use segment::Segment;
