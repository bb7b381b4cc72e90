//! `broadside workers`: list the workers; `drain` and `revoke` one. `broadside join-tokens`:
//! create, list and revoke the join tokens workers exchange for an identity.

use std::time::Duration;

use broadside_client::api::NewJoinToken;
use clap::{Args, Subcommand};

use super::access::client;
use super::connect::Connection;
use super::inspect::{self, cell, failed, opt, print_json, revoked, table, ApiArgs, ListArgs};
use super::EXIT_OK;

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
#[command(after_help = "Example:\n  \
broadside join-tokens create fleet --pool default --expires-in 24h\n  \
broadside worker --masters m1.example.org:7001 --ca-cert ca.pem --join-token-file join-token")]
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
    #[arg(long)]
    json: bool,
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

/// `broadside join-tokens`.
pub async fn join_tokens(args: JoinTokensArgs) -> u8 {
    match args.command {
        JoinTokensCommand::Create(a) => {
            let client = match client(&a.connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let new = NewJoinToken {
                name: a.name,
                pool: a.pool,
                expires_in: a.expires_in,
            };
            match client.create_join_token(&new).await {
                Ok(created) if a.json => {
                    print_json(&created);
                    EXIT_OK
                }
                Ok(created) => {
                    println!(
                        "join token {} (pool {}): {}",
                        created.join_token.id, created.join_token.pool, created.secret
                    );
                    eprintln!("keep it: it is not shown again");
                    EXIT_OK
                }
                Err(e) => failed(e),
            }
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
