//! A master's configuration: addresses, peers, data directory and the timings of
//! `docs/design.md#timings`, validated as a whole before anything starts.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use broadside_pki::Identity;
use broadside_raft_store::NodeId;
use broadside_rpc::transport::{on_loopback, Security};

use crate::http::RestTlsFiles;
use serde::Deserialize;

/// Everything a master needs to start.
#[derive(Clone, Debug)]
pub struct MasterConfig {
    /// This node's Raft id (≥ 1).
    pub id: NodeId,
    /// Where the tarpc listener (Raft and workers) binds.
    pub listen_raft: SocketAddr,
    /// Where the REST API binds.
    pub listen_http: SocketAddr,
    /// Address other nodes and workers use to reach `listen_raft` (defaults to it).
    pub advertise_raft: String,
    /// Address clients are redirected to for this node's REST API (defaults to `listen_http`).
    pub advertise_http: String,
    /// The founding members: id → Raft address. Used once, to initialise a fresh cluster; a
    /// master not among them (one added later, `POST /cluster/members`) starts as one with
    /// none, and waits to be added.
    pub peers: BTreeMap<NodeId, String>,
    /// Data directory (the RocksDB store and snapshots).
    pub data: PathBuf,
    /// Raft and worker timings.
    pub timings: Timings,
    /// Largest file upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Who may call the API.
    pub auth: AuthConfig,
    /// The REST API's certificate and key: HTTPS when given; required when `listen_http` is
    /// not on loopback.
    pub rest_tls: Option<RestTlsFiles>,
    /// How the cluster port (Raft and workers) is secured: TLS with the cluster CA and this
    /// master's certificate, or plain TCP when it listens on loopback.
    pub cluster_tls: Security,
}

/// Who may call a master's API (`docs/design.md#security`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// Tokens are required (the default). Without them every caller may do everything: allowed
    /// only when every listener is on loopback.
    pub required: bool,
    /// A file holding the first admin token of a fresh cluster (`bst_…`). Without it, the
    /// master that initialises the cluster generates one into `DATA/admin-token` (mode 0600)
    /// and prints it once.
    pub admin_token_file: Option<PathBuf>,
    /// The names clients reach this master by (`Host`); empty: `localhost` when every
    /// listener is on loopback, any name otherwise. Address literals are always accepted.
    pub allowed_hosts: Vec<String>,
    /// Origins whose pages may call the API (CORS); empty: none.
    pub cors_origins: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            required: true,
            admin_token_file: None,
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
        }
    }
}

impl AuthConfig {
    /// Whether requests need tokens.
    pub fn tokens(&self) -> bool {
        self.required
    }
}

/// Raft and worker-liveness timings (`docs/design.md#timings`). Every value is validated
/// against the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timings {
    /// Raft heartbeat interval (leader → followers).
    pub raft_heartbeat: Duration,
    /// Smallest election timeout.
    pub election_min: Duration,
    /// Largest election timeout.
    pub election_max: Duration,
    /// Worker heartbeat interval `h`.
    pub worker_heartbeat: Duration,
    /// Worker lease `L`: a worker whose heartbeats go unacknowledged this long stops its load.
    pub lease: Duration,
    /// Stop budget `K`: how long a worker may take to stop once its lease ran out.
    pub stop_budget: Duration,
    /// Margin added to `L + K` before a silent worker's tasks are reassigned.
    pub reassign_margin: Duration,
    /// Failover grace `F`: a new leader waits this long before judging any worker.
    pub failover_grace: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            // openraft 0.9 starts an election no earlier than the leader lease (= election
            // max) plus a random election timeout after the last heartbeat: 1.8–2.0 s here.
            raft_heartbeat: Duration::from_millis(200),
            election_min: Duration::from_millis(800),
            election_max: Duration::from_millis(1000),
            worker_heartbeat: Duration::from_secs(1),
            lease: Duration::from_secs(5),
            stop_budget: Duration::from_secs(1),
            reassign_margin: Duration::from_secs(2),
            failover_grace: Duration::from_secs(15),
        }
    }
}

impl Timings {
    /// Timings that keep elections and worker verdicts quick on a loaded test machine:
    /// elections within about a second, a silent worker's tasks reassigned 3.2 s after its
    /// last heartbeat. For tests and local experiments.
    pub fn fast() -> Timings {
        Timings {
            raft_heartbeat: Duration::from_millis(150),
            election_min: Duration::from_millis(600),
            election_max: Duration::from_millis(900),
            worker_heartbeat: Duration::from_millis(200),
            lease: Duration::from_millis(2500),
            stop_budget: Duration::from_millis(300),
            reassign_margin: Duration::from_millis(400),
            failover_grace: Duration::from_millis(3200),
        }
    }

    /// These timings as the flags of `broadside master` (`--lease 2500ms`, …).
    pub fn to_flags(&self) -> Vec<String> {
        let flags = [
            ("--raft-heartbeat", self.raft_heartbeat),
            ("--election-min", self.election_min),
            ("--election-max", self.election_max),
            ("--worker-heartbeat", self.worker_heartbeat),
            ("--lease", self.lease),
            ("--stop-budget", self.stop_budget),
            ("--reassign-margin", self.reassign_margin),
            ("--failover-grace", self.failover_grace),
        ];
        flags
            .into_iter()
            .flat_map(|(flag, d)| [flag.to_owned(), format!("{}ms", d.as_millis())])
            .collect()
    }

    /// How long after the last received heartbeat a worker's tasks may be reassigned:
    /// `L + K + margin`.
    pub fn reassign_after(&self) -> Duration {
        self.lease + self.stop_budget + self.reassign_margin
    }

    /// Every problem with these timings (empty when they are consistent).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let ms = |d: Duration| d.as_millis();
        if self.raft_heartbeat.is_zero() || self.worker_heartbeat.is_zero() {
            out.push("heartbeat intervals must be positive".to_owned());
        }
        if self.election_min <= self.raft_heartbeat * 2 {
            out.push(format!(
                "election timeout min ({} ms) must exceed twice the Raft heartbeat ({} ms)",
                ms(self.election_min),
                ms(self.raft_heartbeat)
            ));
        }
        if self.election_max <= self.election_min {
            out.push(format!(
                "election timeout max ({} ms) must exceed min ({} ms)",
                ms(self.election_max),
                ms(self.election_min)
            ));
        }
        if self.lease < self.worker_heartbeat * 3 {
            out.push(format!(
                "lease ({} ms) must cover at least three worker heartbeats ({} ms each)",
                ms(self.lease),
                ms(self.worker_heartbeat)
            ));
        }
        // A failover (an election, plus one heartbeat to reach the new leader) must end well
        // inside the lease, or every election would stop every running task.
        if self.election_max * 2 + self.worker_heartbeat >= self.lease {
            out.push(format!(
                "lease ({} ms) must exceed two election timeouts plus a worker heartbeat ({} ms)",
                ms(self.lease),
                ms(self.election_max * 2 + self.worker_heartbeat)
            ));
        }
        if self.stop_budget.is_zero() {
            out.push("stop budget must be positive".to_owned());
        }
        if self.reassign_margin < self.worker_heartbeat {
            out.push(format!(
                "reassignment margin ({} ms) must be at least one worker heartbeat ({} ms)",
                ms(self.reassign_margin),
                ms(self.worker_heartbeat)
            ));
        }
        if self.failover_grace < self.reassign_after() {
            out.push(format!(
                "failover grace ({} ms) must be at least lease + stop budget + margin ({} ms)",
                ms(self.failover_grace),
                ms(self.reassign_after())
            ));
        }
        out
    }
}

/// The configuration was inconsistent; every problem is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid master configuration:")?;
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl MasterConfig {
    /// Checks the configuration as a whole.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = self.timings.problems();
        if self.id == 0 {
            problems.push("id must be at least 1".to_owned());
        }
        for (id, addr) in &self.peers {
            if *id == 0 {
                problems.push("peer ids must be at least 1".to_owned());
            }
            if !valid_host_port(addr) {
                problems.push(format!("peer {id}: {addr:?} is not host:port"));
            }
        }
        for (what, addr) in [
            ("advertise-raft", &self.advertise_raft),
            ("advertise-http", &self.advertise_http),
        ] {
            if !valid_host_port(addr) {
                problems.push(format!("{what}: {addr:?} is not host:port"));
            }
        }
        if self.listen_raft == self.listen_http && self.listen_raft.port() != 0 {
            problems.push("listen-raft and listen-http must differ".to_owned());
        }
        if self.max_upload_bytes == 0 {
            problems.push("max upload size must be positive".to_owned());
        }
        let exposed: Vec<&str> = [
            ("listen-raft", self.listen_raft),
            ("listen-http", self.listen_http),
        ]
        .into_iter()
        .filter(|(_, addr)| !addr.ip().is_loopback())
        .map(|(what, _)| what)
        .collect();
        for origin in &self.auth.cors_origins {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let ok = rest.is_some_and(|r| {
                !r.is_empty() && !r.contains(['/', '?', '#', ' ', '*'].as_slice())
            });
            if !ok {
                problems.push(format!(
                    "cors-origin {origin:?} is not an origin (scheme://host[:port], no path)"
                ));
            }
        }
        if self.rest_tls.is_none() && !self.listen_http.ip().is_loopback() {
            problems.push(format!(
                "listen-http {} is not on loopback: the REST API needs TLS (--tls-cert and \
                 --tls-key)",
                self.listen_http
            ));
        }
        match (&self.cluster_tls, self.cluster_tls.identity()) {
            (Security::Plain, _) if !self.listen_raft.ip().is_loopback() => {
                problems.push(format!(
                    "listen-raft {} is not on loopback: the cluster port needs TLS \
                     (--ca-cert, --cert and --key; `broadside certs` makes them)",
                    self.listen_raft
                ));
            }
            (Security::Plain, _) => {
                if let Some((id, far)) = self.peers.iter().find(|(_, a)| !on_loopback(a)) {
                    problems.push(format!(
                        "peer {id}: {far} is not on loopback: reaching it needs TLS \
                         (--ca-cert, --cert and --key)"
                    ));
                }
            }
            (Security::Tls(_), Some(Identity::Master(id))) if id == self.id => {}
            (Security::Tls(_), who) => problems.push(format!(
                "cert: the certificate is {}'s, not master {}'s \
                 (`broadside certs issue master {}`)",
                who.map_or_else(|| "nobody".to_owned(), |w| w.to_string()),
                self.id,
                self.id
            )),
        }
        if !self.auth.required && !exposed.is_empty() {
            problems.push(format!(
                "--insecure-no-auth needs every listener on loopback; {} is not",
                exposed.join(" and ")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }
}

/// `host:port` with a non-empty host and a numeric port.
pub fn valid_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.chars().any(|c| c.is_whitespace() || c == '/')
                && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

/// Parses `1=host:port,2=host:port`.
pub fn parse_peers(s: &str) -> Result<BTreeMap<NodeId, String>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected ID=HOST:PORT"))?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| format!("{part:?}: {id:?} is not a node id"))?;
        if out.insert(id, addr.trim().to_owned()).is_some() {
            return Err(format!("node id {id} appears twice"));
        }
    }
    Ok(out)
}

/// The keys a configuration file may hold (all optional; flags and environment override them).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MasterFile {
    /// See [`MasterConfig::id`].
    pub id: Option<NodeId>,
    /// See [`MasterConfig::listen_raft`].
    pub listen_raft: Option<SocketAddr>,
    /// See [`MasterConfig::listen_http`].
    pub listen_http: Option<SocketAddr>,
    /// See [`MasterConfig::advertise_raft`].
    pub advertise_raft: Option<String>,
    /// See [`MasterConfig::advertise_http`].
    pub advertise_http: Option<String>,
    /// `ID=HOST:PORT,...`, as the flag.
    pub peers: Option<String>,
    /// See [`MasterConfig::data`].
    pub data: Option<PathBuf>,
    /// Raft heartbeat, e.g. `250ms`.
    #[serde(default, with = "humantime_serde_opt")]
    pub raft_heartbeat: Option<Duration>,
    /// Election timeout minimum.
    #[serde(default, with = "humantime_serde_opt")]
    pub election_min: Option<Duration>,
    /// Election timeout maximum.
    #[serde(default, with = "humantime_serde_opt")]
    pub election_max: Option<Duration>,
    /// Worker heartbeat `h`.
    #[serde(default, with = "humantime_serde_opt")]
    pub worker_heartbeat: Option<Duration>,
    /// Lease `L`.
    #[serde(default, with = "humantime_serde_opt")]
    pub lease: Option<Duration>,
    /// Stop budget `K`.
    #[serde(default, with = "humantime_serde_opt")]
    pub stop_budget: Option<Duration>,
    /// Reassignment margin.
    #[serde(default, with = "humantime_serde_opt")]
    pub reassign_margin: Option<Duration>,
    /// Failover grace `F`.
    #[serde(default, with = "humantime_serde_opt")]
    pub failover_grace: Option<Duration>,
    /// Largest upload in bytes.
    pub max_upload_bytes: Option<u64>,
    /// See [`AuthConfig::admin_token_file`].
    pub admin_token_file: Option<PathBuf>,
    /// No authentication (every listener must be on loopback).
    pub insecure_no_auth: Option<bool>,
    /// See [`AuthConfig::allowed_hosts`].
    pub allowed_hosts: Option<Vec<String>>,
    /// See [`AuthConfig::cors_origins`].
    pub cors_origins: Option<Vec<String>>,
    /// The cluster CA's certificate (PEM file): TLS on the cluster port.
    pub ca_cert: Option<PathBuf>,
    /// This master's certificate (PEM file).
    pub cert: Option<PathBuf>,
    /// Its private key (PEM file).
    pub key: Option<PathBuf>,
    /// The REST API's certificate (PEM file).
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM file).
    pub tls_key: Option<PathBuf>,
}

/// Optional durations written the human way (`250ms`, `5s`).
mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => humantime::parse_duration(&s)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MasterConfig {
        MasterConfig {
            id: 1,
            listen_raft: "127.0.0.1:7001".parse().unwrap(),
            listen_http: "127.0.0.1:8080".parse().unwrap(),
            advertise_raft: "127.0.0.1:7001".into(),
            advertise_http: "127.0.0.1:8080".into(),
            peers: parse_peers("1=127.0.0.1:7001, 2=127.0.0.1:7002,3=127.0.0.1:7003").unwrap(),
            data: "/tmp/x".into(),
            timings: Timings::default(),
            max_upload_bytes: 1 << 30,
            auth: AuthConfig::default(),
            rest_tls: None,
            cluster_tls: Security::Plain,
        }
    }

    #[test]
    fn defaults_are_consistent() {
        assert_eq!(config().validate(), Ok(()));
        assert_eq!(Timings::default().reassign_after(), Duration::from_secs(8));
        assert_eq!(Timings::fast().problems(), Vec::<String>::new());
    }

    #[test]
    fn timings_become_flags_that_read_back_the_same() {
        let flags = Timings::fast().to_flags();
        assert_eq!(flags.len(), 16);
        assert_eq!(flags[8..10], ["--lease".to_owned(), "2500ms".to_owned()]);
        let read: Vec<Duration> = flags
            .iter()
            .skip(1)
            .step_by(2)
            .map(|v| humantime::parse_duration(v).expect("a duration"))
            .collect();
        let t = Timings::fast();
        assert_eq!(read[0], t.raft_heartbeat);
        assert_eq!(read[7], t.failover_grace);
    }

    #[test]
    fn a_master_outside_the_founders_is_valid() {
        let mut c = config();
        c.id = 4;
        assert!(c.validate().is_ok(), "master 4 joins when it is added");
    }

    #[test]
    fn every_problem_is_reported() {
        let mut c = config();
        c.id = 4;
        c.timings.lease = Duration::from_secs(2);
        c.timings.failover_grace = Duration::from_secs(1);
        c.advertise_http = "nohost".into();
        let err = c.validate().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("lease (2000 ms) must cover"), "{text}");
        assert!(text.contains("failover grace"), "{text}");
        assert!(text.contains("advertise-http"), "{text}");
    }

    #[test]
    fn no_authentication_only_on_loopback() {
        let mut c = config();
        c.auth.required = false;
        assert_eq!(c.validate(), Ok(()), "the test config listens on loopback");
        c.listen_http = "0.0.0.0:8080".parse().unwrap();
        let text = c.validate().unwrap_err().to_string();
        assert!(
            text.contains("--insecure-no-auth needs every listener on loopback; listen-http"),
            "{text}"
        );
    }

    #[test]
    fn plain_text_only_on_loopback() {
        let mut c = config();
        c.listen_http = "0.0.0.0:8080".parse().unwrap();
        c.listen_raft = "[::]:7001".parse().unwrap();
        let text = c.validate().unwrap_err().to_string();
        assert!(
            text.contains(
                "listen-http 0.0.0.0:8080 is not on loopback: the REST API needs TLS \
                 (--tls-cert and --tls-key)"
            ),
            "{text}"
        );
        assert!(
            text.contains("listen-raft [::]:7001 is not on loopback: the cluster port needs TLS"),
            "{text}"
        );
        c.rest_tls = Some(RestTlsFiles {
            cert: "rest.pem".into(),
            key: "rest.key".into(),
        });
        let text = c.validate().unwrap_err().to_string();
        assert!(!text.contains("listen-http"), "{text}");
    }

    #[test]
    fn lease_must_outlast_a_failover() {
        let mut c = config();
        c.timings.election_max = Duration::from_secs(3);
        let text = c.validate().unwrap_err().to_string();
        assert!(text.contains("two election timeouts"), "{text}");
    }

    #[test]
    fn peers_parse_with_clear_errors() {
        assert_eq!(parse_peers("").unwrap().len(), 0);
        assert!(parse_peers("1=a:1,1=b:2").unwrap_err().contains("twice"));
        assert!(parse_peers("x=a:1").unwrap_err().contains("not a node id"));
        assert!(parse_peers("a:1").unwrap_err().contains("ID=HOST:PORT"));
        assert!(valid_host_port("[::1]:7001"));
        assert!(!valid_host_port("host:port"));
    }
}
