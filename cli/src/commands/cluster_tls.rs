//! The cluster port's TLS settings, shared by `broadside master` and `broadside worker`: the
//! cluster CA, this process's certificate and its key (`broadside certs` makes them).

use std::path::{Path, PathBuf};

use broadside_pki::tls::ClusterTls;
use broadside_rpc::transport::Security;
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

fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("--{what}: cannot read {}: {e}", path.display()))
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

    /// The security they describe: plain TCP when none is given, TLS when all three are.
    pub fn security(&self) -> Result<Security, String> {
        let (ca, cert, key) = match (&self.ca_cert, &self.cert, &self.key) {
            (None, None, None) => return Ok(Security::Plain),
            (Some(ca), Some(cert), Some(key)) => (ca, cert, key),
            (None, _, _) => return Err("--cert and --key need --ca-cert (the cluster CA)".into()),
            (Some(_), _, _) => {
                return Err("--ca-cert needs --cert and --key (this process's identity)".into())
            }
        };
        let tls = ClusterTls::from_pem(
            &read(ca, "ca-cert")?,
            &read(cert, "cert")?,
            &read(key, "key")?,
        )
        .map_err(|e| format!("--cert {}: {e}", cert.display()))?;
        Security::tls(tls).map_err(|e| format!("--cert {}: {e}", cert.display()))
    }
}
