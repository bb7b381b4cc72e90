//! `broadside cluster`: the masters (leader, roles, terms, applied indexes); `add` and `remove`
//! change the membership (docs/operations.md: replacing a master, growing to five).

use std::time::Duration;

use clap::{Args, Subcommand};

use super::access::client;
use super::connect::Connection;
use super::inspect::{self, failed, ListArgs};
use super::EXIT_OK;

/// How long `add` waits for its answer: the leader answers once the new master has caught up
/// and votes (a master that forwards the call to the leader gives up after 120 s).
const ADD_TIMEOUT: Duration = Duration::from_secs(150);

/// Arguments of `broadside cluster`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  \
broadside cluster --master https://m1:8081\n  \
broadside cluster remove 3 --master https://m1:8081      # a dead master, first\n  \
broadside cluster add 4 m4.example.org:7001 --master https://m1:8081"
)]
pub struct ClusterArgs {
    #[command(flatten)]
    list: ListArgs,
    #[command(subcommand)]
    command: Option<MembersCommand>,
}

#[derive(Debug, Subcommand)]
enum MembersCommand {
    /// Add a running master that belongs to no cluster (started with an empty data directory
    /// and without --peers, or with --peers that do not name it): it catches up as a learner,
    /// then votes; the answer comes once it votes.
    Add(AddArgs),
    /// Remove a master from the voters and the members (a dead one, before adding its
    /// replacement); its data directory must never be started again as this cluster's.
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
struct AddArgs {
    #[command(flatten)]
    connection: Connection,
    /// The new master's node id (its `--id`, not a member's).
    id: u64,
    /// Its cluster address, `host:port` (its `--advertise-raft`).
    raft_addr: String,
}

#[derive(Debug, Args)]
struct RemoveArgs {
    #[command(flatten)]
    connection: Connection,
    /// The master's node id.
    id: u64,
}

/// `broadside cluster`.
pub async fn execute(args: ClusterArgs) -> u8 {
    let (id, changed, done) = match args.command {
        None => return inspect::cluster(args.list).await,
        Some(MembersCommand::Add(a)) => match client(&a.connection) {
            Ok(c) => (
                a.id,
                "added",
                c.with_timeout(ADD_TIMEOUT)
                    .add_member(a.id, &a.raft_addr)
                    .await,
            ),
            Err(code) => return code,
        },
        Some(MembersCommand::Remove(a)) => match client(&a.connection) {
            Ok(c) => (a.id, "removed", c.remove_member(a.id).await),
            Err(code) => return code,
        },
    };
    match done {
        Ok(view) => {
            let voters: Vec<String> = view
                .members
                .iter()
                .filter(|m| m.voter)
                .map(|m| m.id.to_string())
                .collect();
            println!("master {id} {changed}; voters: {}", voters.join(", "));
            EXIT_OK
        }
        Err(e) => failed(e),
    }
}
