//! schedule (in progress)
