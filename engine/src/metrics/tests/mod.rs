//! Tests of the metrics module: histogram exactness, mergeable results, the recorder under
//! concurrency, and assertions.

mod assertions;
mod histogram;
mod recorder;
mod stats;
