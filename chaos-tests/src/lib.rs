//! Fault injection against real Broadside processes, with an oracle (in the manner of etcd's
//! robustness tests and Jepsen).
//!
//! - [`history`]: clients create projects and upload files through random masters, recording
//!   every outcome — ok, failed (a definite refusal) or unknown (no answer) — and read every
//!   acknowledged write back linearizably through another master;
//! - [`jobs`]: clients submit (and sometimes abort) jobs that workers run against the
//!   in-process target, which attributes every request to its task attempt;
//! - [`nemesis`]: seeded faults — kills, pauses, partitions (two-way and one-way), latency,
//!   whole-cluster crashes, on masters and on workers — recorded with their times;
//! - [`oracle`] and [`jobs::check_jobs`]: after the faults heal, nothing acknowledged is lost,
//!   nothing refused appears, every master holds the same state, every job ends, no two
//!   attempts of a task overlap, every request is counted once, no worker died spuriously;
//! - [`run`]: one run — workloads, schedule, healing, verdicts, figures;
//! - [`partition`]: one measured partition of a worker (the figures of `docs/benchmarks.md`).
//!
//! The processes come from `broadside-harness`; the scenarios that run in CI are in
//! `cli/tests/chaos.rs` (they need the `broadside` binary), the long profile is this crate's
//! binary (`cargo run -p broadside-chaos-tests --release -- --duration 30m --seed 42`).

pub mod history;
pub mod jobs;
pub mod masters;
pub mod nemesis;
pub mod oracle;
pub mod partition;
pub mod run;

pub use history::{History, Outcome, Write};
pub use jobs::{JobTolerances, JobVerdict};
pub use masters::Masters;
pub use nemesis::{inject, schedule, Fault, Injected};
pub use oracle::{check, Verdict};
pub use run::{run_under_load, Figures, Run};
