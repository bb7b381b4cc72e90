//! expr (in progress)
