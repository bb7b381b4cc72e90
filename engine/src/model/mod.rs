//! The simulation model: what a simulation file says, as plain data.
//!
//! The same types are produced by the YAML/JSON loader ([`crate::load`]) and can be built from
//! Rust code. They derive `JsonSchema`, which is what `broadside schema` prints. Unknown keys are
//! rejected everywhere (`deny_unknown_fields`); semantic rules that serde cannot express are
//! checked when the model is compiled into a plan (`crate::runtime::compile`).

mod assertion;
mod duration;
mod injection;
mod steps;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use assertion::{Assertion, AssertionMetric, Comparison};
pub use duration::DurationSpec;
pub use injection::{InjectionStep, ThrottleStep};
pub use steps::{
    Check, CountSpec, ForeachStep, GroupStep, IfStep, LoopStep, OneOrMany, PauseSpec, Request,
    Step, SwitchStep, TryMaxStep, WeightedBranch, WhileStep,
};

/// A whole simulation: protocol settings, feeders, scenarios with their injection profiles, and
/// assertions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    /// Name shown in reports.
    pub name: String,
    /// Free text shown in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// HTTP protocol settings shared by every scenario.
    #[serde(default)]
    pub http: HttpProtocol,
    /// Named feeders that `feed` steps draw records from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feeders: BTreeMap<String, FeederDef>,
    /// The scenarios; they run in parallel unless one names another in `start_after`.
    pub scenarios: Vec<Scenario>,
    /// Pass/fail criteria evaluated on the final result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<Assertion>,
    /// Hard stop: every virtual user is interrupted when this much time has elapsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<DurationSpec>,
    /// Caps the request rate of the whole simulation over time (requests per second).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttle: Vec<ThrottleStep>,
    /// Seed for every random choice (randomized injection, random feeders, random switches,
    /// random pauses); a fixed seed makes the schedule reproducible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// HTTP protocol settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpProtocol {
    /// Prefix for relative request URLs, e.g. `http://127.0.0.1:8088`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Several base URLs: each virtual user picks one, round robin by user number.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub base_urls: Vec<String>,
    /// Headers sent with every request (a request's own headers win).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Time allowed for a whole request, response body included.
    pub request_timeout: DurationSpec,
    /// Time allowed to open a connection (TCP and TLS).
    pub connect_timeout: DurationSpec,
    /// Protocol version: `http1` or `http2` (prior knowledge on `http://`, ALPN on `https://`).
    pub version: HttpVersion,
    /// Follow 301/302/303/307/308 responses.
    pub follow_redirects: bool,
    /// Redirects followed before the request fails.
    pub max_redirects: u32,
    /// `per_user` (default, like a browser per user) or `shared` (one pool for all users).
    pub connections: ConnectionMode,
    /// Accept any TLS certificate (for self-signed test servers).
    pub tls_insecure: bool,
    /// Headers whose values never appear in error samples or logs, besides the credential
    /// headers (`Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`), which never
    /// do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sensitive_headers: Vec<String>,
}

impl Default for HttpProtocol {
    fn default() -> Self {
        HttpProtocol {
            base_url: None,
            base_urls: Vec::new(),
            headers: BTreeMap::new(),
            request_timeout: DurationSpec::from_secs(60),
            connect_timeout: DurationSpec::from_secs(10),
            version: HttpVersion::Http1,
            follow_redirects: true,
            max_redirects: 10,
            connections: ConnectionMode::PerUser,
            tls_insecure: false,
            sensitive_headers: Vec::new(),
        }
    }
}

/// HTTP version spoken to the system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HttpVersion {
    /// HTTP/1.1 with keep-alive.
    Http1,
    /// HTTP/2.
    Http2,
}

/// How connections are pooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionMode {
    /// Every virtual user has its own connections.
    PerUser,
    /// All virtual users share one pool.
    Shared,
}

/// A source of records that `feed` steps copy into the user's session.
///
/// Exactly one of `csv`, `json` or `records` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeederDef {
    /// Path of a CSV file with a header line, relative to the simulation file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    /// Path of a JSON file holding an array of objects, relative to the simulation file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
    /// Records written inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Vec<BTreeMap<String, serde_json::Value>>>,
    /// How records are handed out.
    #[serde(default)]
    pub strategy: FeederStrategy,
}

/// How a feeder hands out records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeederStrategy {
    /// In file order, each record once; a user that finds the feeder empty stops.
    #[default]
    Queue,
    /// A random record each time (with replacement).
    Random,
    /// In a random order fixed by the seed, each record once.
    Shuffle,
    /// In file order, starting over at the end.
    Circular,
}

/// One scenario: a script of steps that each virtual user runs, and how users arrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name shown in reports; unique within the simulation.
    pub name: String,
    /// The injection profile: open steps (users arrive) or closed steps (users are kept
    /// concurrent), not both.
    pub injection: Vec<InjectionStep>,
    /// Start only once this other scenario's users have all finished (Gatling's `andThen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    /// The script each virtual user runs.
    pub steps: Vec<Step>,
}
