//! The scheduler: a pure decision core ([`core`]) and, on the leader, the driver that feeds it.

pub mod core;
pub mod driver;

#[cfg(test)]
mod tests;
