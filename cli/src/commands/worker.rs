//! `broadside worker`: run a worker that pulls tasks from the leading master.
//!
//! Settings come from a YAML file (`--config`), then environment variables, then flags, each
//! overriding the one before; the result is validated as a whole before anything starts.

use std::path::PathBuf;

use broadside_engine::load::Document;
use broadside_engine::protocol::AddressPolicy;
use broadside_worker::config::JoinToken;
use broadside_worker::WorkerConfig;
use clap::Args;

use super::cluster_tls::ClusterTlsArgs;
use serde::Deserialize;

/// Arguments of `broadside worker`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
broadside worker --masters 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 --pool default \\\n    \
--slots 1 --data /var/lib/broadside/w1\n\n\
The masters are their tarpc addresses (--listen-raft); any of them leads the worker to the\n\
leader. On SIGTERM or Ctrl-C the worker drains: its tasks are handed back and resume on\n\
other workers at once. Masters off loopback need TLS: --ca-cert ca.pem --cert worker-w1.pem\n\
--key worker-w1.key (`broadside certs issue worker w1`); the certificate's name is the\n\
worker's id. Or, without a certificate: --ca-cert ca.pem --join-token-file FILE (`broadside\n\
join-tokens create`): the worker exchanges the token for an identity kept in its data\n\
directory.")]
pub struct WorkerArgs {
    /// YAML file with any of these settings (keys as the flags: `masters: ...`).
    #[arg(long, env = "BROADSIDE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Masters' tarpc addresses, comma-separated (host:port,...).
    #[arg(long, env = "BROADSIDE_MASTERS")]
    pub masters: Option<String>,
    /// Pool this worker serves [default: default].
    #[arg(long, env = "BROADSIDE_POOL")]
    pub pool: Option<String>,
    /// Tasks it runs at once [default: 1].
    #[arg(long, env = "BROADSIDE_SLOTS")]
    pub slots: Option<u32>,
    /// Data directory: the worker's id, its file cache and task directories
    /// [default: ./broadside-worker].
    #[arg(long, env = "BROADSIDE_DATA")]
    pub data: Option<PathBuf>,
    /// Labels reported to the masters, comma-separated key=value pairs.
    #[arg(long, env = "BROADSIDE_LABELS")]
    pub labels: Option<String>,
    /// Let tasks send load to non-loopback addresses.
    #[arg(long, env = "BROADSIDE_ALLOW_REMOTE_TARGETS")]
    pub allow_remote_targets: bool,
    /// Honour `http.tls_insecure` in simulations (certificate checks off); refused otherwise.
    #[arg(long, env = "BROADSIDE_ALLOW_INSECURE_TLS")]
    pub allow_insecure_tls: bool,
    #[command(flatten)]
    pub cluster_tls: ClusterTlsArgs,
    /// A join token (`bsj_…`, `broadside join-tokens create`) to exchange for an identity on
    /// first start, with --ca-cert and no certificate; prefer --join-token-file or the
    /// environment, which stay out of the process list.
    #[arg(long, env = "BROADSIDE_JOIN_TOKEN", hide_env_values = true)]
    pub join_token: Option<JoinToken>,
    /// File holding the join token (its first line).
    #[arg(long, env = "BROADSIDE_JOIN_TOKEN_FILE", conflicts_with = "join_token")]
    pub join_token_file: Option<PathBuf>,
}

/// The configuration file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct WorkerFile {
    #[serde(default)]
    masters: Option<String>,
    #[serde(default)]
    pool: Option<String>,
    #[serde(default)]
    slots: Option<u32>,
    #[serde(default)]
    data: Option<PathBuf>,
    #[serde(default)]
    labels: Option<String>,
    #[serde(default)]
    allow_remote_targets: Option<bool>,
    #[serde(default)]
    allow_insecure_tls: Option<bool>,
    #[serde(default)]
    ca_cert: Option<PathBuf>,
    #[serde(default)]
    cert: Option<PathBuf>,
    #[serde(default)]
    key: Option<PathBuf>,
    #[serde(default)]
    join_token_file: Option<PathBuf>,
}

fn read_file(path: &std::path::Path) -> Result<WorkerFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Document::parse(&text, &path.display().to_string())
        .and_then(|doc| doc.deserialize::<WorkerFile>())
        .map_err(|e| e.to_string())
}

fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(format!("--labels: {l:?} is not key=value")),
        })
        .collect()
}

/// Merges file, environment and flags (clap already put environment under flags).
pub fn resolve(args: WorkerArgs) -> Result<WorkerConfig, String> {
    let file = match &args.config {
        Some(path) => read_file(path)?,
        None => WorkerFile::default(),
    };
    let masters = args
        .masters
        .or(file.masters)
        .ok_or("--masters is required (flag, environment or config file)")?;
    let join_token = match (
        args.join_token,
        args.join_token_file.or(file.join_token_file),
    ) {
        (Some(token), _) => Some(token),
        (None, Some(path)) => Some(JoinToken(
            std::fs::read_to_string(&path)
                .map_err(|e| format!("--join-token-file: cannot read {}: {e}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        )),
        (None, None) => None,
    };
    let data = args
        .data
        .or(file.data)
        .unwrap_or_else(|| PathBuf::from("broadside-worker"));
    // The CA alone is for a worker that joins (with a token, or earlier: its credential is in
    // its data directory); `WorkerConfig::problems` says so when it does not.
    let security = args
        .cluster_tls
        .or(file.ca_cert, file.cert, file.key)
        .security(true)?;
    let config = WorkerConfig {
        masters: masters
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect(),
        pool: args.pool.or(file.pool).unwrap_or_else(|| "default".into()),
        slots: args.slots.or(file.slots).unwrap_or(1),
        data,
        labels: parse_labels(&args.labels.or(file.labels).unwrap_or_default())?,
        policy: if args.allow_remote_targets || file.allow_remote_targets == Some(true) {
            AddressPolicy::Any
        } else {
            AddressPolicy::LoopbackOnly
        },
        allow_insecure_tls: args.allow_insecure_tls || file.allow_insecure_tls == Some(true),
        address: format!(
            "{} (pid {})",
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".into()),
            std::process::id()
        ),
        security,
        join_token,
    };
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(format!(
            "the worker configuration has {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        ));
    }
    Ok(config)
}

/// Runs a worker until Ctrl-C or SIGTERM, then drains.
pub async fn execute(args: WorkerArgs) -> u8 {
    let config = match resolve(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_BAD_INPUT;
        }
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        super::shutdown_signal().await;
        signal.cancel();
    });
    match broadside_worker::run(config, shutdown).await {
        Ok(()) => super::EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_BAD_INPUT
        }
    }
}
