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
    /// TLS with the CA alone when `joining` (a worker with a join token). The files are read
    /// again when they change (`Security::watch`).
    pub fn security(&self, joining: bool) -> Result<Security, String> {
        let identity = match (&self.ca_cert, &self.cert, &self.key) {
            (None, None, None) => return Ok(Security::Plain),
            (Some(_), Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (Some(_), None, None) if joining => None,
            (None, _, _) => return Err("--cert and --key need --ca-cert (the cluster CA)".into()),
            (Some(_), _, _) => {
                return Err(
                    "--ca-cert needs --cert and --key (this process's identity), or a worker's \
                     --join-token"
                        .into(),
                )
            }
        };
        let ca = self.ca_cert.clone().unwrap_or_default();
        Security::from_files(TlsFiles { ca, identity })
    }
}
