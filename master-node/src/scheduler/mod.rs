//! The scheduler: a pure decision core ([`core`]) and, on the leader, the driver that feeds it
//! snapshots ([`snapshot`]) and commits its decisions.

pub mod core;
pub(crate) mod driver;
pub(crate) mod snapshot;

#[cfg(test)]
mod tests;
