//! `broadside health`: whether a master answers its readiness probe (`/readyz`: it is a member
//! of a cluster with a leader and has caught up) or, with `--live`, its liveness probe
//! (`/healthz`: the process serves). Exit 0 or 1, so that a container's `HEALTHCHECK` or a
//! supervisor needs no other tool than the binary itself.

use std::path::PathBuf;

use broadside_client::Client;
use clap::Args;

use super::connect::trusting;
use super::{EXIT_ASSERTION_FAILED, EXIT_BAD_INPUT, EXIT_OK};

/// How long the probe waits for an answer.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Arguments of `broadside health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The master's REST URL.
    #[arg(
        long = "master",
        env = "BROADSIDE_HEALTH_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub master: String,
    /// Ask whether the process serves (`/healthz`) rather than whether it is ready (`/readyz`).
    #[arg(long)]
    pub live: bool,
    /// CA certificate (PEM) an `https://` master's certificate must chain to.
    #[arg(long, env = "BROADSIDE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// `broadside health`.
pub async fn execute(args: HealthArgs) -> u8 {
    let client = match trusting(
        Client::new([args.master.as_str()]).with_timeout(PROBE_TIMEOUT),
        args.ca_cert.as_deref(),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let probe = if args.live { "/healthz" } else { "/readyz" };
    match client.call("GET", probe, &[], Vec::<u8>::new()).await {
        Ok(_) => {
            println!("{}{probe}: ok", args.master);
            EXIT_OK
        }
        Err(e) => {
            eprintln!("{}{probe}: {e}", args.master);
            EXIT_ASSERTION_FAILED
        }
    }
}
