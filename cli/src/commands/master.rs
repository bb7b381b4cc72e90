//! `broadside master`: run one master of the highly available control plane.
//!
//! Settings come from a YAML file (`--config`), then environment variables, then flags, each
//! overriding the one before; the result is validated as a whole before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use broadside_engine::load::Document;
use broadside_master::config::parse_peers;
use broadside_master::{AuthConfig, MasterConfig, MasterFile, RestTlsFiles, Timings};
use clap::Args;

use super::cluster_tls::ClusterTlsArgs;

/// Arguments of `broadside master`.
#[derive(Debug, Args)]
#[command(after_help = "Example (three masters on one host):\n  \
broadside master --id 1 --listen-raft 127.0.0.1:7001 --listen-http 127.0.0.1:8081 \\\n    \
--peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --data /var/lib/broadside/m1\n\n\
A master that --peers does not name (or started without it) joins nobody by itself: add it\n\
to a running cluster with\n  \
broadside cluster add 4 HOST:PORT --master https://m1:8081\n\n\
Off loopback the cluster port needs TLS: --ca-cert ca.pem --cert master-1.pem --key\n\
master-1.key (made by `broadside certs init` and `broadside certs issue master 1`), and the\n\
REST API --tls-cert and --tls-key (that certificate, if issued with --dns/--ip for the names\n\
clients use, or any other).")]
pub struct MasterArgs {
    /// YAML file with any of these settings (keys as the flags: `listen-raft: ...`).
    #[arg(long, env = "BROADSIDE_CONFIG")]
    pub config: Option<PathBuf>,
    /// This master's node id (≥ 1).
    #[arg(long, env = "BROADSIDE_ID")]
    pub id: Option<u64>,
    /// Address of the tarpc listener (other masters and workers connect here).
    #[arg(long, env = "BROADSIDE_LISTEN_RAFT")]
    pub listen_raft: Option<SocketAddr>,
    /// Address of the REST API.
    #[arg(long, env = "BROADSIDE_LISTEN_HTTP")]
    pub listen_http: Option<SocketAddr>,
    /// Address others use to reach --listen-raft (default: that address).
    #[arg(long, env = "BROADSIDE_ADVERTISE_RAFT")]
    pub advertise_raft: Option<String>,
    /// Address clients are pointed to for the REST API (default: --listen-http).
    #[arg(long, env = "BROADSIDE_ADVERTISE_HTTP")]
    pub advertise_http: Option<String>,
    /// The founding members, `ID=HOST:PORT,...`; used once, to initialise a new cluster. A
    /// master not among them (or with none) waits to be added: `broadside cluster add`.
    #[arg(long, env = "BROADSIDE_PEERS")]
    pub peers: Option<String>,
    /// Data directory.
    #[arg(long, env = "BROADSIDE_DATA")]
    pub data: Option<PathBuf>,
    /// Raft heartbeat interval [default: 200ms].
    #[arg(long, env = "BROADSIDE_RAFT_HEARTBEAT", value_parser = humantime::parse_duration)]
    pub raft_heartbeat: Option<Duration>,
    /// Smallest election timeout [default: 800ms].
    #[arg(long, env = "BROADSIDE_ELECTION_MIN", value_parser = humantime::parse_duration)]
    pub election_min: Option<Duration>,
    /// Largest election timeout [default: 1s]. openraft starts an election no earlier than this
    /// plus a random timeout after the leader's last heartbeat.
    #[arg(long, env = "BROADSIDE_ELECTION_MAX", value_parser = humantime::parse_duration)]
    pub election_max: Option<Duration>,
    /// Worker heartbeat interval h [default: 1s].
    #[arg(long, env = "BROADSIDE_WORKER_HEARTBEAT", value_parser = humantime::parse_duration)]
    pub worker_heartbeat: Option<Duration>,
    /// Worker lease L [default: 5s].
    #[arg(long, env = "BROADSIDE_LEASE", value_parser = humantime::parse_duration)]
    pub lease: Option<Duration>,
    /// Worker stop budget K [default: 1s].
    #[arg(long, env = "BROADSIDE_STOP_BUDGET", value_parser = humantime::parse_duration)]
    pub stop_budget: Option<Duration>,
    /// Margin after L + K before a silent worker's tasks are reassigned [default: 2s].
    #[arg(long, env = "BROADSIDE_REASSIGN_MARGIN", value_parser = humantime::parse_duration)]
    pub reassign_margin: Option<Duration>,
    /// Failover grace F of a new leader [default: 15s].
    #[arg(long, env = "BROADSIDE_FAILOVER_GRACE", value_parser = humantime::parse_duration)]
    pub failover_grace: Option<Duration>,
    /// Largest file upload in bytes [default: 1073741824].
    #[arg(long, env = "BROADSIDE_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// File holding the first admin token of a fresh cluster (`bst_…`, e.g. from
    /// `broadside tokens generate`). Without it the master that initialises the cluster
    /// generates one into DATA/admin-token and prints it once.
    #[arg(long, env = "BROADSIDE_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// No authentication: every caller may do everything. Refused unless every listener is on
    /// loopback.
    #[arg(long, env = "BROADSIDE_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// A name clients reach this master by (the `Host` header; repeat or separate with
    /// commas; `*.domain` for names under a domain). Requests naming another host are refused,
    /// which stops DNS-rebinding pages. Without any: `localhost` when every listener is on
    /// loopback, any name otherwise. Address literals are always accepted.
    #[arg(
        long = "allowed-host",
        env = "BROADSIDE_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// An origin (`https://ui.example.com`) whose pages may call the API from a browser
    /// (CORS; repeat or separate with commas). Without any, no CORS header is sent.
    #[arg(
        long = "cors-origin",
        env = "BROADSIDE_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// The REST API's certificate (PEM chain): the API is served over HTTPS (HTTP/2 and
    /// HTTP/1.1). Reloaded when the file changes or on SIGHUP. Required when --listen-http is
    /// not on loopback.
    #[arg(long, env = "BROADSIDE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The REST certificate's private key (PEM).
    #[arg(long, env = "BROADSIDE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub cluster_tls: ClusterTlsArgs,
}

/// Reads the configuration file, if any, with located errors.
fn read_file(path: &std::path::Path) -> Result<MasterFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Document::parse(&text, &path.display().to_string())
        .and_then(|doc| doc.deserialize::<MasterFile>())
        .map_err(|e| e.to_string())
}

/// Merges file, environment and flags (clap already put environment under flags).
pub fn resolve(args: MasterArgs) -> Result<MasterConfig, String> {
    let file = match &args.config {
        Some(path) => read_file(path)?,
        None => MasterFile::default(),
    };
    let missing = |what: &str| format!("--{what} is required (flag, environment or config file)");
    let id = args.id.or(file.id).ok_or_else(|| missing("id"))?;
    let listen_raft = args
        .listen_raft
        .or(file.listen_raft)
        .ok_or_else(|| missing("listen-raft"))?;
    let listen_http = args
        .listen_http
        .or(file.listen_http)
        .ok_or_else(|| missing("listen-http"))?;
    let data = args.data.or(file.data).ok_or_else(|| missing("data"))?;
    let peers = match args.peers.or(file.peers) {
        Some(p) => parse_peers(&p).map_err(|e| format!("--peers: {e}"))?,
        None => Default::default(),
    };
    let cluster_tls = args
        .cluster_tls
        .or(file.ca_cert, file.cert, file.key)
        .security(false)?;
    let rest_tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(RestTlsFiles { cert, key }),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".to_owned()),
    };
    let d = Timings::default();
    let timings = Timings {
        raft_heartbeat: args
            .raft_heartbeat
            .or(file.raft_heartbeat)
            .unwrap_or(d.raft_heartbeat),
        election_min: args
            .election_min
            .or(file.election_min)
            .unwrap_or(d.election_min),
        election_max: args
            .election_max
            .or(file.election_max)
            .unwrap_or(d.election_max),
        worker_heartbeat: args
            .worker_heartbeat
            .or(file.worker_heartbeat)
            .unwrap_or(d.worker_heartbeat),
        lease: args.lease.or(file.lease).unwrap_or(d.lease),
        stop_budget: args
            .stop_budget
            .or(file.stop_budget)
            .unwrap_or(d.stop_budget),
        reassign_margin: args
            .reassign_margin
            .or(file.reassign_margin)
            .unwrap_or(d.reassign_margin),
        failover_grace: args
            .failover_grace
            .or(file.failover_grace)
            .unwrap_or(d.failover_grace),
    };
    let config = MasterConfig {
        id,
        listen_raft,
        listen_http,
        advertise_raft: args
            .advertise_raft
            .or(file.advertise_raft)
            .unwrap_or_else(|| listen_raft.to_string()),
        advertise_http: args
            .advertise_http
            .or(file.advertise_http)
            .unwrap_or_else(|| listen_http.to_string()),
        peers,
        data,
        timings,
        max_upload_bytes: args
            .max_upload_bytes
            .or(file.max_upload_bytes)
            .unwrap_or(1 << 30),
        auth: AuthConfig {
            required: !(args.insecure_no_auth || file.insecure_no_auth.unwrap_or(false)),
            admin_token_file: args.admin_token_file.or(file.admin_token_file),
            allowed_hosts: if args.allowed_hosts.is_empty() {
                file.allowed_hosts.unwrap_or_default()
            } else {
                args.allowed_hosts
            },
            cors_origins: if args.cors_origins.is_empty() {
                file.cors_origins.unwrap_or_default()
            } else {
                args.cors_origins
            },
        },
        rest_tls,
        cluster_tls,
    };
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// Runs a master until Ctrl-C or SIGTERM.
pub async fn execute(args: MasterArgs) -> u8 {
    let config = match resolve(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_BAD_INPUT;
        }
    };
    let (https, mutual) = (config.rest_tls.is_some(), config.cluster_tls.is_tls());
    let handle = match broadside_master::start(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_BAD_INPUT;
        }
    };
    println!(
        "broadside master {} serving REST on {}://{} and the cluster port on {} ({})",
        handle.node().id(),
        if https { "https" } else { "http" },
        handle.http_addr(),
        handle.raft_addr(),
        if mutual {
            "mutual TLS"
        } else {
            "plain TCP, loopback only"
        }
    );
    super::shutdown_signal().await;
    handle.shutdown().await;
    super::EXIT_OK
}
