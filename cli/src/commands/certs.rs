//! `broadside certs`: the cluster's certificates (`broadside-pki`) — a cluster CA, and
//! certificates for masters, workers and clients that name who they are.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use broadside_pki::{Ca, Identity, SubjectName, DEFAULT_VALIDITY};
use clap::{Args, Subcommand, ValueEnum};

/// Arguments of `broadside certs`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broadside certs init --dir certs\n  broadside certs issue master 1 --dir certs --dns m1.example.org --ip 127.0.0.1\n  broadside certs issue worker w1 --dir certs\n  broadside certs issue client ci --dir certs"
)]
pub struct CertsArgs {
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Create the cluster CA: DIR/ca.pem (every member trusts it) and DIR/ca.key (keep it
    /// private, ideally off the cluster's machines).
    Init {
        /// Where to write the CA.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// The cluster's name, in the CA's name.
        #[arg(long, default_value = "broadside")]
        cluster: String,
        /// Replace a CA already in DIR (every certificate it issued stops being trusted).
        #[arg(long)]
        force: bool,
    },
    /// Issue a certificate signed by the CA in DIR: DIR/ROLE-NAME.pem and DIR/ROLE-NAME.key.
    Issue {
        /// Whose: a master (serves and connects), a worker or a client (connect only).
        role: Role,
        /// The master's node id, or the worker's or client's name (lowercase letters, digits,
        /// `-`).
        name: String,
        /// Where the CA is, and where the certificate goes.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// A DNS name it is also valid for (where it is reached; repeat for several).
        #[arg(long)]
        dns: Vec<String>,
        /// An IP address it is also valid for (repeat for several).
        #[arg(long)]
        ip: Vec<std::net::IpAddr>,
        /// Validity in days.
        #[arg(long, default_value_t = DEFAULT_VALIDITY.as_secs() / 86_400)]
        days: u64,
        /// Replace a certificate already there.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Role {
    Master,
    Worker,
    Client,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Worker => "worker",
            Role::Client => "client",
        }
    }
}

/// Runs `broadside certs`.
pub fn execute(args: CertsArgs) -> u8 {
    let done = match args.command {
        CertsCommand::Init {
            dir,
            cluster,
            force,
        } => init(&dir, &cluster, force),
        CertsCommand::Issue {
            role,
            name,
            dir,
            dns,
            ip,
            days,
            force,
        } => {
            let mut names: Vec<SubjectName> = dns.into_iter().map(SubjectName::Dns).collect();
            names.extend(ip.into_iter().map(SubjectName::Ip));
            issue(&dir, role, &name, &names, days, force)
        }
    };
    match done {
        Ok(()) => super::EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_BAD_INPUT
        }
    }
}

fn init(dir: &Path, cluster: &str, force: bool) -> Result<(), String> {
    let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
    refuse_overwrite(&[&cert, &key], force)?;
    let ca = Ca::init(cluster).map_err(|e| e.to_string())?;
    write(&cert, ca.cert_pem(), false)?;
    write(&key, &ca.key_pem(), true)?;
    println!(
        "cluster CA written: {} (give it to every master, worker and client) and {} (private)",
        cert.display(),
        key.display()
    );
    Ok(())
}

fn issue(
    dir: &Path,
    role: Role,
    name: &str,
    names: &[SubjectName],
    days: u64,
    force: bool,
) -> Result<(), String> {
    let who = Identity::new(role.as_str(), name).map_err(|e| e.to_string())?;
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: {e} (create the CA first: broadside certs init --dir {})",
                path.display(),
                dir.display()
            )
        })
    };
    let ca = Ca::from_pem(&read("ca.pem")?, &read("ca.key")?).map_err(|e| e.to_string())?;
    let stem = who.file_stem();
    let (cert, key) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
    );
    refuse_overwrite(&[&cert, &key], force)?;
    let valid_for = std::time::Duration::from_secs(days.saturating_mul(86_400));
    let issued = ca
        .issue(&who, names, valid_for)
        .map_err(|e| e.to_string())?;
    write(&cert, &issued.cert_pem, false)?;
    write(&key, &issued.key_pem, true)?;
    println!(
        "certificate of {who} ({}) written: {} and {} (private), valid {days} days",
        who.dns_name(),
        cert.display(),
        key.display()
    );
    Ok(())
}

fn refuse_overwrite(paths: &[&Path], force: bool) -> Result<(), String> {
    match paths.iter().find(|p| p.exists()) {
        Some(p) if !force => Err(format!(
            "{} exists; pass --force to replace it",
            p.display()
        )),
        _ => Ok(()),
    }
}

/// Writes `text` to `path` (its directory created), readable by the owner only when `private`.
fn write(path: &Path, text: &str, private: bool) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
}
