//! load (in progress)

/// Placeholder.
#[derive(Debug, thiserror::Error)]
#[error("load errors")]
pub struct LoadErrors;
