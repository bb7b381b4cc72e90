//! The engine's error type.

use std::path::PathBuf;

/// Errors the engine reports to its callers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The simulation (or a file it names) is invalid; every problem is listed with its location.
    #[error("{0}")]
    Invalid(#[from] crate::load::LoadErrors),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Anything else that stops a run from starting.
    #[error("{0}")]
    Setup(String),
}

/// The engine's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
