//! The masters a run talks to: their REST addresses and the admin token to call them with.

use std::time::Duration;

use broadside_client::Client;
use broadside_harness::Cluster;

/// The masters' REST addresses and the token.
#[derive(Clone, Debug)]
pub struct Masters {
    addrs: Vec<String>,
    token: String,
}

impl Masters {
    /// The masters of `cluster`, with its admin token.
    pub fn of(cluster: &Cluster) -> Masters {
        Masters {
            addrs: cluster
                .http_addrs()
                .iter()
                .map(ToString::to_string)
                .collect(),
            token: cluster.admin_token().to_owned(),
        }
    }

    /// Their REST addresses.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// A client of every master (moving on from one that does not answer).
    pub fn all(&self, timeout: Duration) -> Client {
        Client::new(&self.addrs)
            .with_token(&self.token)
            .with_timeout(timeout)
    }

    /// A client of the master at `addr` only.
    pub fn one(&self, addr: &str, timeout: Duration) -> Client {
        Client::new([addr])
            .with_token(&self.token)
            .with_timeout(timeout)
    }
}
