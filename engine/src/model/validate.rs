//! validation (in progress)
