//! How the API commands reach a cluster: the masters' addresses and the caller's token.

use std::path::{Path, PathBuf};

use broadside_client::Client;
use clap::Args;

/// Where the masters are and who calls. Its `Debug` form never shows the token.
#[derive(Args)]
pub struct Connection {
    /// Masters' REST URLs (any of them; repeat or separate with commas).
    #[arg(
        long = "master",
        env = "BROADSIDE_MASTER",
        value_delimiter = ',',
        required = true
    )]
    pub masters: Vec<String>,
    /// API token (`bst_…`); prefer BROADSIDE_TOKEN or --token-file, which stay out of the
    /// process list.
    #[arg(long, env = "BROADSIDE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the API token (its first line).
    #[arg(long, env = "BROADSIDE_TOKEN_FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) that `https://` masters' certificates must chain to, instead of
    /// the system's web roots (a cluster with its own CA: `broadside certs init`).
    #[arg(long, env = "BROADSIDE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("masters", &self.masters)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("token_file", &self.token_file)
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

/// `client` trusting the CA certificate in `ca_cert` (`--ca-cert`), when one is given.
pub fn trusting(client: Client, ca_cert: Option<&Path>) -> Result<Client, String> {
    let Some(path) = ca_cert else {
        return Ok(client);
    };
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("--ca-cert: cannot read {}: {e}", path.display()))?;
    client
        .with_ca_cert(&pem)
        .map_err(|e| format!("--ca-cert {}: {e}", path.display()))
}

impl Connection {
    /// A client of the masters with the token, if one is given.
    pub fn client(&self) -> Result<Client, String> {
        let client = trusting(Client::new(&self.masters), self.ca_cert.as_deref())?;
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => Some(token.trim().to_owned()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
                Some(text.lines().next().unwrap_or_default().trim().to_owned())
            }
            (None, None) => None,
        };
        Ok(match token {
            Some(token) => client.with_token(token),
            None => client,
        })
    }
}
