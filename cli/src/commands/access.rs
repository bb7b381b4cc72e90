//! `broadside tokens`, `secrets`, `audit`, `whoami`: who may do what on a cluster.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use broadside_client::api::{NewToken, PageQuery, ProjectRole, TokenInfo};
use broadside_client::Client;
use clap::{Args, Subcommand};

use super::connect::Connection;
use super::inspect::{cell, failed, opt, print_json, revoked, table};
use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Arguments of `broadside tokens`.
#[derive(Debug, Args)]
pub struct TokensArgs {
    #[command(subcommand)]
    command: TokensCommand,
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Create a token; its secret is printed once.
    Create(CreateArgs),
    /// List tokens (every token; with --project, those with a role on it).
    List(ListTokensArgs),
    /// Revoke a token: every master refuses it within a second.
    Revoke(RevokeArgs),
    /// Print a new random token, e.g. for `broadside master --admin-token-file` (no cluster).
    Generate,
}

#[derive(Debug, Args)]
struct CreateArgs {
    #[command(flatten)]
    connection: Connection,
    /// A name for people.
    name: String,
    /// A cluster administrator.
    #[arg(long)]
    admin: bool,
    /// A role on a project: PROJECT=viewer|runner|maintainer (repeat for several).
    #[arg(long = "role", value_parser = parse_grant)]
    roles: Vec<(String, ProjectRole)>,
    /// Lifetime, e.g. 30d (default: until revoked).
    #[arg(long, value_parser = humantime::parse_duration)]
    expires_in: Option<Duration>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ListTokensArgs {
    #[command(flatten)]
    connection: Connection,
    /// Only the tokens with a role on this project.
    #[arg(long)]
    project: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RevokeArgs {
    #[command(flatten)]
    connection: Connection,
    /// Token id.
    id: String,
}

fn parse_grant(s: &str) -> Result<(String, ProjectRole), String> {
    let (project, role) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected PROJECT=ROLE"))?;
    let role = match role {
        "viewer" => ProjectRole::Viewer,
        "runner" => ProjectRole::Runner,
        "maintainer" => ProjectRole::Maintainer,
        other => return Err(format!("{other:?}: viewer, runner or maintainer")),
    };
    Ok((project.to_owned(), role))
}

pub(super) fn client(connection: &Connection) -> Result<Client, u8> {
    connection.client().map_err(|e| {
        eprintln!("error: {e}");
        EXIT_BAD_INPUT
    })
}

fn roles(t: &TokenInfo) -> String {
    let mut parts: Vec<String> = t
        .projects
        .iter()
        .map(|(p, r)| {
            format!(
                "{p}={}",
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )
        })
        .collect();
    if t.admin {
        parts.insert(0, "admin".to_owned());
    }
    parts.join(" ")
}

/// `broadside tokens`.
pub async fn tokens(args: TokensArgs) -> u8 {
    match args.command {
        TokensCommand::Generate => {
            println!("{}", broadside_master::generate_token());
            EXIT_OK
        }
        TokensCommand::Create(a) => {
            let client = match client(&a.connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let new = NewToken {
                name: a.name,
                admin: a.admin,
                projects: a.roles.into_iter().collect::<BTreeMap<_, _>>(),
                expires_in: a.expires_in,
            };
            match client.create_token(&new).await {
                Ok(created) if a.json => {
                    print_json(&created);
                    EXIT_OK
                }
                Ok(created) => {
                    println!(
                        "token {} ({}): {}",
                        created.token.id,
                        roles(&created.token),
                        created.secret
                    );
                    eprintln!("keep it: the secret is not shown again");
                    EXIT_OK
                }
                Err(e) => failed(e),
            }
        }
        TokensCommand::List(a) => {
            let client = match client(&a.connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let listed = match &a.project {
                Some(p) => client.project_tokens(p).await,
                None => client.tokens().await,
            };
            let tokens = match listed {
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
                        cell(roles(t)),
                        cell(&t.created_by),
                        opt(t.expires_at_ms),
                        revoked(t.revoked_at_ms),
                    ]
                })
                .collect();
            table(
                &["id", "name", "roles", "created by", "expires", "revoked"],
                rows,
            );
            EXIT_OK
        }
        TokensCommand::Revoke(a) => {
            let client = match client(&a.connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match client.revoke_token(&a.id).await {
                Ok(()) => {
                    println!("token {} revoked", a.id);
                    EXIT_OK
                }
                Err(e) => failed(e),
            }
        }
    }
}

/// Arguments of `broadside secrets`.
#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    command: SecretsCommand,
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Set a project secret, read from standard input or a file (never from the command line).
    Set(SetSecretArgs),
    /// List a project's secrets (names only: values are never shown).
    List(ProjectArgs),
    /// Delete a project secret.
    Delete(SecretArgs),
}

#[derive(Debug, Args)]
struct ProjectArgs {
    #[command(flatten)]
    connection: Connection,
    /// Project.
    project: String,
}

#[derive(Debug, Args)]
struct SecretArgs {
    #[command(flatten)]
    connection: Connection,
    /// Project.
    project: String,
    /// Secret name.
    name: String,
}

#[derive(Debug, Args)]
struct SetSecretArgs {
    #[command(flatten)]
    secret: SecretArgs,
    /// Read the value from this file (default: standard input); one trailing newline is
    /// dropped.
    #[arg(long)]
    from_file: Option<PathBuf>,
}

fn read_value(file: Option<&PathBuf>) -> Result<String, String> {
    let mut text = String::new();
    match file {
        Some(path) => {
            text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
        }
    }
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// `broadside secrets`.
pub async fn secrets(args: SecretsArgs) -> u8 {
    match args.command {
        SecretsCommand::Set(a) => {
            let value = match read_value(a.from_file.as_ref()) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_BAD_INPUT;
                }
            };
            let s = &a.secret;
            let client = match client(&s.connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match client.put_secret(&s.project, &s.name, &value).await {
                Ok(()) => {
                    println!("secret {} of project {} set", s.name, s.project);
                    EXIT_OK
                }
                Err(e) => failed(e),
            }
        }
        SecretsCommand::List(a) => {
            let client = match client(&a.connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match client.secrets(&a.project).await {
                Ok(names) => {
                    for name in names {
                        println!("{name}");
                    }
                    EXIT_OK
                }
                Err(e) => failed(e),
            }
        }
        SecretsCommand::Delete(a) => {
            let client = match client(&a.connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match client.delete_secret(&a.project, &a.name).await {
                Ok(()) => {
                    println!("secret {} of project {} deleted", a.name, a.project);
                    EXIT_OK
                }
                Err(e) => failed(e),
            }
        }
    }
}

/// Arguments of `broadside audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    connection: Connection,
    /// Only the writes that concern this project (a maintainer's view).
    #[arg(long)]
    project: Option<String>,
    /// Most entries listed.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// The `next` cursor of the previous page.
    #[arg(long)]
    after: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// `broadside audit`.
pub async fn audit(args: AuditArgs) -> u8 {
    let client = match client(&args.connection) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let page = PageQuery {
        limit: Some(args.limit),
        after: args.after.clone(),
    };
    let found = match client.audit(args.project.as_deref(), &page).await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    if args.json {
        print_json(&found);
        return EXIT_OK;
    }
    let rows = found
        .items
        .iter()
        .map(|a| {
            vec![
                cell(a.seq),
                cell(a.at_ms),
                cell(&a.actor.name),
                cell(&a.action),
                opt(a.project.as_ref()),
                cell(&a.target),
                cell(&a.actor.request),
            ]
        })
        .collect();
    table(
        &[
            "seq",
            "at (unix ms)",
            "who",
            "action",
            "project",
            "target",
            "request",
        ],
        rows,
    );
    if let Some(next) = found.next {
        println!("more: --after {next}");
    }
    EXIT_OK
}

/// Arguments of `broadside whoami`.
#[derive(Debug, Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    connection: Connection,
}

/// `broadside whoami`.
pub async fn whoami(args: WhoamiArgs) -> u8 {
    let client = match client(&args.connection) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match client.whoami().await {
        Ok(me) => {
            match &me.token {
                Some(t) => println!("token {} ({}): {}", t.id, t.name, roles(t)),
                None => println!("no token: the master runs without authentication"),
            }
            EXIT_OK
        }
        Err(e) => failed(e),
    }
}
