//! The cluster port's TLS settings, shared by `broadside master` and `broadside worker`: the
//! cluster CA, this process's certificate and its key (`broadside certs` makes them).

use std::path::PathBuf;

use broadside_rpc::transport::{Security, TlsFiles};
use clap::Args;

/// Flags of the cluster port's TLS.
#[derive(Debug, Default, Args)]
pub struct ClusterTlsArgs {
    /// The cluster CA's certificate (PEM): the cluster port speaks TLS, and only peers whose
    /// certificates chain to it are trusted. Without it, plain TCP, allowed only when every
    /// listener and master address is on loopback.
    #[arg(long, env = "BROADSIDE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// This process's certificate (PEM, `broadside certs issue`): it names the master's node
    /// id or the worker's name.
    #[arg(long, env = "BROADSIDE_CERT")]
    pub cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "BROADSIDE_KEY")]
    pub key: Option<PathBuf>,
}

impl ClusterTlsArgs {
    /// These flags, each falling back to the configuration file's value.
    pub fn or(self, ca_cert: Option<PathBuf>, cert: Option<PathBuf>, key: Option<PathBuf>) -> Self {
        ClusterTlsArgs {
            ca_cert: self.ca_cert.or(ca_cert),
            cert: self.cert.or(cert),
            key: self.key.or(key),
        }
    }

    /// The security they describe: plain TCP when none is given, TLS when all three are, or
    /// TLS with the CA alone when `ca_only` is allowed (a worker that joins with a join token;
    /// whether it may is for its configuration's validation to say). The files are read again
    /// when they change (`Security::watch`).
    pub fn security(&self, ca_only: bool) -> Result<Security, String> {
        let (ca, identity) = match (&self.ca_cert, &self.cert, &self.key) {
            (None, None, None) => return Ok(Security::Plain),
            (Some(ca), Some(cert), Some(key)) => (ca.clone(), Some((cert.clone(), key.clone()))),
            (Some(ca), None, None) if ca_only => (ca.clone(), None),
            (None, _, _) => return Err("--cert and --key need --ca-cert (the cluster CA)".into()),
            (Some(_), _, _) => {
                return Err(
                    "--ca-cert needs --cert and --key (this process's identity), or a worker's \
                     --join-token"
                        .into(),
                )
            }
        };
        Security::from_files(TlsFiles { ca, identity })
    }
}
