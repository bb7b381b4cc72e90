//! `broadside workers`: list the workers; `drain` and `revoke` one. `broadside join-tokens`:
//! create, list and revoke the join tokens workers exchange for an identity.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use broadside_client::api::{CreatedJoinToken, NewJoinToken};
use broadside_client::{Client, ClientError};
use clap::{Args, Subcommand};

use super::access::client;
use super::connect::Connection;
use super::files;
use super::inspect::{self, cell, failed, opt, print_json, revoked, table, ApiArgs, ListArgs};
use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Arguments of `broadside workers`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct WorkersArgs {
    #[command(flatten)]
    list: ListArgs,
    #[command(subcommand)]
    command: Option<WorkersCommand>,
}

#[derive(Debug, Subcommand)]
enum WorkersCommand {
    /// Give the worker no new task; its running tasks finish.
    Drain(WorkerIdArgs),
    /// Refuse every later call made as this worker id (its certificate or its joined
    /// identity): its tasks stop with their lease and resume on other workers.
    Revoke(WorkerIdArgs),
}

#[derive(Debug, Args)]
struct WorkerIdArgs {
    #[command(flatten)]
    connection: Connection,
    /// Worker id.
    id: String,
}

/// Arguments of `broadside join-tokens`.
#[derive(Debug, Args)]
pub struct JoinTokensArgs {
    #[command(subcommand)]
    command: JoinTokensCommand,
}

#[derive(Debug, Subcommand)]
enum JoinTokensCommand {
    /// Create a join token for a pool; it is printed once.
    Create(CreateJoinTokenArgs),
    /// List join tokens.
    List(ApiArgs),
    /// Revoke a join token and every worker identity it gave.
    Revoke(JoinTokenIdArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
broadside join-tokens create fleet --pool default --expires-in 24h\n  \
broadside worker --masters m1.example.org:7001 --ca-cert ca.pem --join-token-file join-token\n  \
broadside join-tokens create fleet --out /etc/broadside/join-token --wait 2m   # once, at deployment")]
struct CreateJoinTokenArgs {
    #[command(flatten)]
    connection: Connection,
    /// A name for people.
    name: String,
    /// The pool its workers serve.
    #[arg(long, default_value = "default")]
    pool: String,
    /// How long workers may join with it, e.g. 24h (default: until revoked).
    #[arg(long, value_parser = humantime::parse_duration)]
    expires_in: Option<Duration>,
    /// Print the API's JSON.
    #[arg(long, conflicts_with = "out")]
    json: bool,
    /// Write only the token to this file (owner-only), for `broadside worker
    /// --join-token-file` — unless the file exists: then nothing is created (a deployment step
    /// that runs at every start makes one token, once).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep trying this long while no master answers, the cluster has no leader yet, or the
    /// masters do not know the token yet (a cluster that is starting), e.g. 2m.
    #[arg(long, value_parser = humantime::parse_duration)]
    wait: Option<Duration>,
}

#[derive(Debug, Args)]
struct JoinTokenIdArgs {
    #[command(flatten)]
    connection: Connection,
    /// Join token id.
    id: String,
}

/// `broadside workers`.
pub async fn workers(args: WorkersArgs) -> u8 {
    let (a, revoke) = match args.command {
        None => return inspect::workers(args.list).await,
        Some(WorkersCommand::Drain(a)) => (a, false),
        Some(WorkersCommand::Revoke(a)) => (a, true),
    };
    let client = match client(&a.connection) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let done = if revoke {
        client.revoke_worker(&a.id).await.map(|()| "revoked")
    } else {
        client.drain(&a.id).await.map(|_| "draining")
    };
    match done {
        Ok(what) => {
            println!("worker {} {what}", a.id);
            EXIT_OK
        }
        Err(e) => failed(e),
    }
}

/// Creates the join token, trying again for up to `wait` while the cluster cannot take the
/// write yet: no master answers, the one that answers has no leader (a 5xx), or it does not
/// know the token yet (a 401: a new cluster's first administrator token is known once the
/// cluster has formed and replicated it).
async fn create_waiting(
    client: &Client,
    new: &NewJoinToken,
    wait: Duration,
) -> Result<CreatedJoinToken, ClientError> {
    let deadline = Instant::now().checked_add(wait);
    let mut told = false;
    loop {
        match client.create_join_token(new).await {
            Err(e) if not_yet(&e) && deadline.is_none_or(|d| Instant::now() < d) => {
                if !told {
                    eprintln!("the cluster cannot take it yet ({e}); trying again for {wait:?}");
                    told = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            done => return done,
        }
    }
}

/// Whether `e` says the cluster is not (yet) able to answer, rather than that the request is
/// wrong.
fn not_yet(e: &ClientError) -> bool {
    match e {
        ClientError::Unreachable { .. } => true,
        ClientError::Api { status, .. } => *status >= 500 || *status == 401,
        ClientError::Decode(_) => false,
    }
}

/// `broadside join-tokens`.
pub async fn join_tokens(args: JoinTokensArgs) -> u8 {
    match args.command {
        JoinTokensCommand::Create(a) => {
            if let Some(out) = a.out.as_ref().filter(|out| out.exists()) {
                println!("kept the join token in {} (none created)", out.display());
                return EXIT_OK;
            }
            let client = match client(&a.connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let new = NewJoinToken {
                name: a.name,
                pool: a.pool,
                expires_in: a.expires_in,
            };
            let created = match create_waiting(&client, &new, a.wait.unwrap_or_default()).await {
                Ok(created) => created,
                Err(e) => return failed(e),
            };
            let (id, pool) = (&created.join_token.id, &created.join_token.pool);
            if let Some(out) = &a.out {
                return match files::write(out, &format!("{}\n", created.secret), true) {
                    Ok(()) => {
                        println!(
                            "join token {id} (pool {pool}) written to {} (private)",
                            out.display()
                        );
                        EXIT_OK
                    }
                    Err(e) => {
                        eprintln!("error: {e} (join token {id} was created: revoke it)");
                        EXIT_BAD_INPUT
                    }
                };
            }
            if a.json {
                print_json(&created);
            } else {
                println!("join token {id} (pool {pool}): {}", created.secret);
                eprintln!("keep it: it is not shown again");
            }
            EXIT_OK
        }
        JoinTokensCommand::List(a) => {
            let client = match client(&a.connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let tokens = match client.join_tokens().await {
                Ok(t) => t,
                Err(e) => return failed(e),
            };
            if a.json {
                print_json(&tokens);
                return EXIT_OK;
            }
            let rows = tokens
                .iter()
                .map(|t| {
                    vec![
                        cell(&t.id),
                        cell(&t.name),
                        cell(&t.pool),
                        cell(&t.created_by),
                        opt(t.expires_at_ms),
                        revoked(t.revoked_at_ms),
                    ]
                })
                .collect();
            table(
                &["id", "name", "pool", "created by", "expires", "revoked"],
                rows,
            );
            EXIT_OK
        }
        JoinTokensCommand::Revoke(a) => {
            let client = match client(&a.connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match client.revoke_join_token(&a.id).await {
                Ok(()) => {
                    println!("join token {} revoked, with the identities it gave", a.id);
                    EXIT_OK
                }
                Err(e) => failed(e),
            }
        }
    }
}
