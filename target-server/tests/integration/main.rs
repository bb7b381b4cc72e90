//! Integration tests: a real target on `127.0.0.1:0`, driven by hyper's
//! low-level client connections (and raw TCP where useful).
//!
//! All modules share one test binary to keep link times down.

mod auth;
mod client;
mod endpoints;
mod lifecycle;
mod protocols;
mod stats;
