//! feeder (in progress)
