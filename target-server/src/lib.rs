//! `broadside-target`: Broadside's built-in system under test.
//!
//! A small, fast HTTP server that serves HTTP/1.1 and HTTP/2 (prior-knowledge
//! h2c, or ALPN `h2` over TLS with a self-signed certificate) on one port, and
//! counts everything it receives so that tests can compare what a load run sent
//! with what actually arrived.
//!
//! # Endpoints
//!
//! | Endpoint | Behaviour |
//! |---|---|
//! | `GET /` | small fixed text body, the fastest path |
//! | `/delay/{ms}` | waits `ms` (capped at 60 s), then 200 JSON |
//! | `/status/{code}` | answers with that status (400 for an invalid code) |
//! | `GET /json` | a JSON document with ids to extract |
//! | `GET /items/{id}` | one item as JSON (404 JSON for non-numeric ids) |
//! | `/echo` | any method; echoes method, path, query, headers and body |
//! | `POST /login` | JSON or form `username`/`password` → `{"token": …}` |
//! | `GET /account`, `GET /orders` | need `Authorization: Bearer <token>` |
//! | `/redirect/{n}` | 302 to `/redirect/{n-1}`; `/redirect/0` → `/` |
//! | `GET /stats` | [`StatsSnapshot`] as JSON (not counted) |
//! | `POST /stats/reset` | zeroes the counters (not counted) |
//! | `POST /admin/stall?ms=N` | requests arriving in the next N ms wait until the stall ends (not counted) |
//!
//! Anything else gets a 404 JSON body; a wrong method gets 405 JSON.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use broadside_target::{Target, TargetConfig};
//!
//! let handle = Target::spawn(TargetConfig::ephemeral()).await?;
//! println!("target at {}", handle.base_url());
//! // … send load …
//! let snapshot = handle.stats().snapshot();
//! println!("received {} requests", snapshot.total);
//! handle.shutdown().await?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod auth;
mod counters;
mod handlers;
mod routes;
mod server;
mod state;
pub mod stats;
pub mod tls;

use std::net::{Ipv4Addr, SocketAddr};

pub use routes::Route;
pub use server::{Target, TargetHandle, DEFAULT_SHUTDOWN_GRACE};
pub use stats::{AttributionStats, Stats, StatsSnapshot};

/// Optional request header naming who sent a request (e.g. a task attempt).
///
/// The target keeps, per distinct value, a count, the first and last arrival
/// time and per-second arrival counts (see [`AttributionStats`]).
pub const ATTRIBUTION_HEADER: &str = "x-broadside-attribution";

/// The default listen address, `127.0.0.1:8088`.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8088);

/// How to run a [`Target`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// Address to listen on; defaults to [`DEFAULT_LISTEN`] (`127.0.0.1:8088`).
    /// Port 0 picks a free port (see [`Target::local_addr`]).
    pub listen: SocketAddr,
    /// Serve TLS with a freshly generated self-signed certificate (ALPN `h2`
    /// and `http/1.1`) instead of plain-text HTTP.
    pub tls: bool,
}

impl Default for TargetConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            tls: false,
        }
    }
}

impl TargetConfig {
    /// Plain-text config listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self { listen, tls: false }
    }

    /// Plain-text config on `127.0.0.1:0` (a free loopback port), for tests.
    pub fn ephemeral() -> Self {
        Self::new(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0))
    }

    /// Returns this config with TLS switched on or off.
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
}
