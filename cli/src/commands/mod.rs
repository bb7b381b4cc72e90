//! Command-line interface: one module per subcommand.

mod access;
mod certs;
mod cluster_tls;
mod compare;
mod connect;
mod demo;
mod files;
mod health;
mod inspect;
mod master;
mod members;
mod run;
mod schema;
mod submit;
mod target;
mod validate;
mod worker;
mod workers;

use clap::{Parser, Subcommand};

/// Exit code: every assertion passed.
pub const EXIT_OK: u8 = 0;
/// Exit code: an assertion failed.
pub const EXIT_ASSERTION_FAILED: u8 = 1;
/// Exit code: the simulation could not run (bad input, setup failure).
pub const EXIT_BAD_INPUT: u8 = 2;

/// Broadside: load testing with scenarios in files, virtual users as async tasks, exact
/// percentiles and HTML reports.
#[derive(Debug, Parser)]
#[command(
    name = "broadside",
    version,
    about = "Broadside: load testing with scenarios in files, virtual users as async tasks, exact percentiles and HTML reports",
    after_help = "Examples:\n  broadside demo                        the built-in demo\n  broadside target                      the built-in system under test\n  broadside run sim.yaml --out report   run a simulation, write a report\n  broadside run sim.yaml --segment 2/3  run segment 2 of 3\n  broadside validate sim.yaml           check a file without running it",
    propagate_version = true
)]
pub struct Cli {
    /// More logging (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a simulation file on this machine (exit 0: assertions pass, 1: an assertion failed,
    /// 2: the simulation could not run).
    Run(run::RunArgs),
    /// Check a simulation file without running it; every problem is listed with its location.
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema of the simulation format (for editor completion).
    Schema(schema::SchemaArgs),
    /// Serve the built-in target, the system under test for tests, demos and benchmarks.
    Target(target::TargetArgs),
    /// Run the built-in demo: the target and a sample simulation against it, report included.
    Demo(demo::DemoArgs),
    /// Run one master of the highly available control plane (3 or more form a cluster).
    Master(Box<master::MasterArgs>),
    /// Run a worker: it pulls tasks from the leading master and runs them (drains on SIGTERM).
    Worker(worker::WorkerArgs),
    /// Run a simulation on a cluster: upload, submit, and with --wait follow it to its verdict
    /// (exit 0/1/2 like run).
    Submit(Box<submit::SubmitArgs>),
    /// List a project's jobs.
    Jobs(inspect::JobsArgs),
    /// Show a job and its tasks.
    Job(inspect::JobArgs),
    /// Abort a job.
    Abort(inspect::JobArgs),
    /// Compare two jobs request by request; exit 1 when the candidate regressed beyond the
    /// thresholds (for CI).
    Compare(compare::CompareArgs),
    /// Probe a master: exit 0 when it is ready (or, with --live, serving), 1 otherwise (for
    /// container health checks and supervisors).
    Health(health::HealthArgs),
    /// List the workers with their state and last heartbeat; drain or revoke one.
    Workers(workers::WorkersArgs),
    /// Show the masters: leader, roles, terms, applied indexes; add or remove one.
    Cluster(members::ClusterArgs),
    /// Create, list and revoke API tokens.
    Tokens(access::TokensArgs),
    /// Create, list and revoke join tokens (a worker exchanges one for an identity).
    JoinTokens(workers::JoinTokensArgs),
    /// Set, list and delete project secrets.
    Secrets(access::SecretsArgs),
    /// Read the audit log of accepted writes.
    Audit(access::AuditArgs),
    /// Show the caller's token and roles.
    Whoami(access::WhoamiArgs),
    /// Create the cluster CA and issue certificates for masters, workers and clients.
    Certs(certs::CertsArgs),
}

impl Cli {
    /// Whether the command is a long-running server (logs at info level by default).
    pub fn is_server(&self) -> bool {
        matches!(
            self.command,
            Command::Master(_) | Command::Target(_) | Command::Worker(_)
        )
    }
}

/// Sets up logging on stderr.
pub fn init_tracing(verbose: u8, server: bool) {
    // openraft warns about routine election races; its errors still show.
    let default = match verbose {
        0 if server => "info,openraft=error",
        0 => "warn,openraft=error",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the chosen command and returns the process exit code.
pub async fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Run(args) => run::execute(args).await,
        Command::Validate(args) => validate::execute(args),
        Command::Schema(args) => schema::execute(args),
        Command::Target(args) => target::execute(args).await,
        Command::Demo(args) => demo::execute(args).await,
        Command::Master(args) => master::execute(*args).await,
        Command::Worker(args) => worker::execute(args).await,
        Command::Submit(args) => submit::execute(*args).await,
        Command::Jobs(args) => inspect::jobs(args).await,
        Command::Job(args) => inspect::job(args).await,
        Command::Abort(args) => inspect::abort(args).await,
        Command::Compare(args) => compare::execute(args).await,
        Command::Health(args) => health::execute(args).await,
        Command::Workers(args) => workers::workers(args).await,
        Command::Cluster(args) => members::execute(args).await,
        Command::Tokens(args) => access::tokens(args).await,
        Command::JoinTokens(args) => workers::join_tokens(args).await,
        Command::Secrets(args) => access::secrets(args).await,
        Command::Audit(args) => access::audit(args).await,
        Command::Whoami(args) => access::whoami(args).await,
        Command::Certs(args) => certs::execute(args),
    }
}

/// Resolves on the first Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
