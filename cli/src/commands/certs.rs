//! `broadside certs`: the cluster's certificates (`broadside-pki`) — a cluster CA, and
//! certificates for masters, workers and clients that name who they are.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use broadside_pki::{Ca, Identity, SubjectName, DEFAULT_VALIDITY};
use clap::{Args, Subcommand, ValueEnum};

use broadside_master::config::valid_host_port;

use super::files;

/// Arguments of `broadside certs`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  broadside certs bootstrap --dir certs --peers 1=m1:7001,2=m2:7001,3=m3:7001 --admin-token certs/admin-token\n  broadside certs init --dir certs\n  broadside certs issue master 1 --dir certs --dns m1.example.org --ip 127.0.0.1\n  broadside certs issue worker w1 --dir certs\n  broadside certs issue client ci --dir certs"
)]
pub struct CertsArgs {
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Prepare a new cluster's files in DIR, keeping every one that exists (so that it can run
    /// at each start of a container or host): the CA, a certificate for each master of --peers
    /// (valid for its host name and every --dns and --ip; issued again from the same CA when
    /// it expires within 30 days, does not work with its key and the CA, or lacks one of those
    /// names), and with --admin-token the first administrator's token.
    Bootstrap(BootstrapArgs),
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
        dns: Vec<SubjectName>,
        /// An IP address it is also valid for (repeat for several).
        #[arg(long)]
        ip: Vec<std::net::IpAddr>,
        /// Validity in days.
        #[arg(long, default_value_t = DEFAULT_VALIDITY.as_secs() / 86_400,
              value_parser = clap::value_parser!(u64).range(1..))]
        days: u64,
        /// Replace a certificate already there.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
struct BootstrapArgs {
    /// Where the CA, the certificates and the token go.
    #[arg(long, default_value = "certs")]
    dir: PathBuf,
    /// The cluster's name, in the CA's name.
    #[arg(long, default_value = "broadside")]
    cluster: String,
    /// The masters, `ID=HOST:PORT,...` as `broadside master --peers` takes them.
    #[arg(long, env = "BROADSIDE_PEERS")]
    peers: String,
    /// A DNS name every master's certificate is also valid for (repeat for several; an IP
    /// address given here counts as one).
    #[arg(long)]
    dns: Vec<SubjectName>,
    /// An IP address every master's certificate is also valid for (repeat for several).
    #[arg(long)]
    ip: Vec<IpAddr>,
    /// Validity of the certificates in days.
    #[arg(long, default_value_t = DEFAULT_VALIDITY.as_secs() / 86_400,
          value_parser = clap::value_parser!(u64).range(1..))]
    days: u64,
    /// Write a new administrator token here (owner-only), for `broadside master
    /// --admin-token-file`, unless the file exists.
    #[arg(long)]
    admin_token: Option<PathBuf>,
    /// Also put the CA certificate (public) in this directory: what workers and clients need,
    /// apart from the keys and tokens in DIR.
    #[arg(long, value_name = "DIR")]
    public: Option<PathBuf>,
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
        CertsCommand::Bootstrap(args) => bootstrap(&args),
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
            let mut names = dns;
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
    files::write(&cert, ca.cert_pem(), false)?;
    files::write(&key, &ca.key_pem(), true)?;
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
    let valid_for = Duration::from_secs(days.saturating_mul(86_400));
    let issued = ca
        .issue(&who, names, valid_for)
        .map_err(|e| e.to_string())?;
    files::write(&cert, &issued.cert_pem, false)?;
    files::write(&key, &issued.key_pem, true)?;
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

/// `broadside certs bootstrap`: what exists is kept, what is missing is made.
fn bootstrap(args: &BootstrapArgs) -> Result<(), String> {
    let peers =
        broadside_master::config::parse_peers(&args.peers).map_err(|e| format!("--peers: {e}"))?;
    if peers.is_empty() {
        return Err("--peers: no master named (expected ID=HOST:PORT,...)".to_owned());
    }
    if let Some((id, address)) = peers
        .iter()
        .find(|(id, address)| **id == 0 || !valid_host_port(address))
    {
        return Err(format!(
            "--peers: {id}={address}: expected an id of at least 1 and HOST:PORT"
        ));
    }
    let dir = &args.dir;
    if kept(&[&dir.join("ca.pem"), &dir.join("ca.key")])? {
        println!("kept the CA in {}", dir.display());
    } else {
        init(dir, &args.cluster, false)?;
    }
    for (id, address) in &peers {
        let who = Identity::Master(*id);
        let stem = who.file_stem();
        let files = [
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        ];
        let host = host_of(address);
        let mut names = vec![host
            .parse::<SubjectName>()
            .map_err(|e| format!("--peers: {id}={address}: {e}"))?];
        names.extend(args.dns.iter().cloned());
        names.extend(args.ip.iter().copied().map(SubjectName::Ip));
        let replace = if kept(&[&files[0], &files[1]])? {
            match outdated(dir, &who, &names, renew_before(args.days))? {
                None => {
                    println!("kept the certificate of master {id}");
                    continue;
                }
                Some(why) => {
                    println!("the certificate of master {id} {why}: issuing it again");
                    true
                }
            }
        } else {
            false
        };
        issue(
            dir,
            Role::Master,
            &id.to_string(),
            &names,
            args.days,
            replace,
        )?;
        if let Some(why) = outdated(dir, &who, &names, renew_before(args.days))? {
            return Err(format!(
                "the new certificate of master {id} {why}: are {} and {} a pair?",
                dir.join("ca.pem").display(),
                dir.join("ca.key").display()
            ));
        }
    }
    if let Some(public) = &args.public {
        let ca = std::fs::read_to_string(dir.join("ca.pem"))
            .map_err(|e| format!("{}: {e}", dir.join("ca.pem").display()))?;
        let copy = public.join("ca.pem");
        if std::fs::read_to_string(&copy).ok().as_deref() != Some(ca.as_str()) {
            files::write(&copy, &ca, false)?;
            println!("CA certificate copied to {}", copy.display());
        }
    }
    if let Some(path) = &args.admin_token {
        if path.exists() {
            println!("kept the administrator token in {}", path.display());
        } else {
            files::write(
                path,
                &format!("{}\n", broadside_master::generate_token()),
                true,
            )?;
            println!(
                "administrator token written: {} (private; the masters' --admin-token-file)",
                path.display()
            );
        }
    }
    Ok(())
}

/// Whether every one of `paths` exists (keep them); an error when only some do, which a
/// person must look at (a certificate without its key, say).
fn kept(paths: &[&Path]) -> Result<bool, String> {
    let present: Vec<&&Path> = paths.iter().filter(|p| p.exists()).collect();
    match present.len() {
        0 => Ok(false),
        n if n == paths.len() => Ok(true),
        _ => {
            let missing: Vec<String> = paths
                .iter()
                .filter(|p| !p.exists())
                .map(|p| p.display().to_string())
                .collect();
            Err(format!(
                "{} exists without {}: restore it, or remove it to make a new pair",
                present[0].display(),
                missing.join(", ")
            ))
        }
    }
}

/// Why the kept certificate of `who` in `dir` must be issued again, if it must: it does not
/// chain to the CA there, expires within `renew_before`, or lacks a name among `names`.
fn outdated(
    dir: &Path,
    who: &Identity,
    names: &[SubjectName],
    renew_before: Duration,
) -> Result<Option<String>, String> {
    let read = |file: String| {
        let path = dir.join(file);
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let stem = who.file_stem();
    let (ca_pem, cert_pem, key_pem) = (
        read("ca.pem".into())?,
        read(format!("{stem}.pem"))?,
        read(format!("{stem}.key"))?,
    );
    // Chains to the CA, names `who`, valid now, and its key is its own.
    if let Err(e) = broadside_pki::tls::ClusterTls::from_pem(&ca_pem, &cert_pem, &key_pem) {
        return Ok(Some(format!("does not work with its key and the CA ({e})")));
    }
    let der =
        |pem: &str| broadside_pki::first_cert_der(pem, "certificate").map_err(|e| e.to_string());
    let (ca, cert) = (der(&ca_pem)?, der(&cert_pem)?);
    let soon = std::time::SystemTime::now() + renew_before;
    if let Err(e) = broadside_pki::verify(&ca, &cert, who, soon) {
        return Ok(Some(format!(
            "does not hold for the next {} days ({e})",
            renew_before.as_secs() / 86_400
        )));
    }
    let missing = broadside_pki::names_missing(&cert, names).map_err(|e| e.to_string())?;
    Ok((!missing.is_empty()).then(|| {
        let missing: Vec<String> = missing.iter().map(|n| n.to_string()).collect();
        format!("is not valid for {}", missing.join(", "))
    }))
}

/// How long before it expires `bootstrap` issues a kept certificate again: 30 days, or half
/// its validity (`days`) when that is shorter, so that a fresh one is kept.
fn renew_before(days: u64) -> Duration {
    Duration::from_secs(days.min(60).saturating_mul(86_400) / 2)
}

/// The host of `host:port` (`[v6]:port` too).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> BootstrapArgs {
        BootstrapArgs {
            dir: dir.to_owned(),
            cluster: "test".to_owned(),
            peers: "1=master-1:7001,2=[::1]:7001,3=10.0.0.3:7001".to_owned(),
            dns: vec!["localhost".parse().unwrap()],
            ip: vec![],
            days: 365,
            admin_token: Some(dir.join("admin-token")),
            public: Some(dir.join("public")),
        }
    }

    #[test]
    fn bootstrap_makes_what_is_missing_and_keeps_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        let a = args(dir.path());
        bootstrap(&a).unwrap();
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        let (ca, cert, token) = (read("ca.pem"), read("master-1.pem"), read("admin-token"));
        assert_eq!(read("public/ca.pem"), ca, "the CA's copy for workers");
        let public: Vec<_> = std::fs::read_dir(dir.path().join("public"))
            .unwrap()
            .collect();
        assert_eq!(public.len(), 1, "no key or token among the public files");
        assert!(token.starts_with("bst_"), "{token}");
        for f in ["master-2.pem", "master-3.key"] {
            assert!(dir.path().join(f).exists(), "{f}");
        }
        // A second run changes nothing; a lost certificate is made again, from the same CA.
        std::fs::remove_file(dir.path().join("master-2.pem")).unwrap();
        std::fs::remove_file(dir.path().join("master-2.key")).unwrap();
        bootstrap(&a).unwrap();
        assert_eq!(read("ca.pem"), ca);
        assert_eq!(read("master-1.pem"), cert);
        assert_eq!(read("admin-token"), token);
        assert_ne!(read("master-2.pem"), "");
        // A name asked for that a kept certificate lacks: issued again, from the same CA.
        let renamed = BootstrapArgs {
            dns: vec!["localhost".parse().unwrap(), "lt.example".parse().unwrap()],
            ..args(dir.path())
        };
        bootstrap(&renamed).unwrap();
        assert_ne!(read("master-1.pem"), cert);
        let names = ["lt.example".parse().unwrap()];
        let der = broadside_pki::first_cert_der(&read("master-1.pem"), "test").unwrap();
        assert!(broadside_pki::names_missing(&der, &names)
            .unwrap()
            .is_empty());
        assert_eq!(read("ca.pem"), ca);
    }

    #[test]
    fn bootstrap_issues_again_what_expires_soon() {
        let dir = tempfile::tempdir().unwrap();
        let short = BootstrapArgs {
            days: 20,
            ..args(dir.path())
        };
        bootstrap(&short).unwrap();
        let cert = std::fs::read_to_string(dir.path().join("master-1.pem")).unwrap();
        // 20 days left: a fresh certificate of 20 days is kept, a 365-day run renews it.
        bootstrap(&short).unwrap();
        let read = || std::fs::read_to_string(dir.path().join("master-1.pem")).unwrap();
        assert_eq!(read(), cert);
        bootstrap(&args(dir.path())).unwrap();
        assert_ne!(read(), cert);
        assert_eq!(renew_before(365), Duration::from_secs(30 * 86_400));
        assert_eq!(renew_before(20), Duration::from_secs(10 * 86_400));
    }

    #[test]
    fn bootstrap_replaces_a_certificate_with_the_wrong_key_and_refuses_a_mixed_ca() {
        let dir = tempfile::tempdir().unwrap();
        let a = args(dir.path());
        bootstrap(&a).unwrap();
        let path = |f: &str| dir.path().join(f);
        let cert = std::fs::read_to_string(path("master-1.pem")).unwrap();
        std::fs::copy(path("master-2.key"), path("master-1.key")).unwrap();
        bootstrap(&a).unwrap();
        assert_ne!(std::fs::read_to_string(path("master-1.pem")).unwrap(), cert);
        // A CA key from elsewhere: what it signs does not verify against ca.pem.
        let other = Ca::init("other").unwrap();
        std::fs::write(path("ca.key"), other.key_pem()).unwrap();
        std::fs::remove_file(path("master-3.pem")).unwrap();
        std::fs::remove_file(path("master-3.key")).unwrap();
        let err = bootstrap(&a).unwrap_err();
        assert!(err.contains("master 3") && err.contains("a pair?"), "{err}");
    }

    #[test]
    fn bootstrap_refuses_half_a_pair_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = args(dir.path());
        bootstrap(&a).unwrap();
        std::fs::remove_file(dir.path().join("master-3.key")).unwrap();
        let err = bootstrap(&a).unwrap_err();
        assert!(
            err.contains("master-3.pem exists without") && err.contains("master-3.key"),
            "{err}"
        );
        let bad = BootstrapArgs {
            peers: "one=m:1".to_owned(),
            ..args(dir.path())
        };
        assert!(bootstrap(&bad).unwrap_err().starts_with("--peers: "));
        for peers in ["0=m:1", "1=m"] {
            let bad = BootstrapArgs {
                peers: peers.to_owned(),
                ..args(dir.path())
            };
            let err = bootstrap(&bad).unwrap_err();
            assert!(
                err.contains("expected an id of at least 1 and HOST:PORT"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_peer_host_is_a_dns_name_or_an_address() {
        assert_eq!(host_of("master-1:7001"), "master-1");
        assert_eq!(host_of("[::1]:7001"), "::1");
        assert!(matches!(
            host_of("[::1]:7001").parse(),
            Ok(SubjectName::Ip(_))
        ));
        assert!(matches!(
            host_of("master-1:7001").parse(),
            Ok(SubjectName::Dns(_))
        ));
    }
}
