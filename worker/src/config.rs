//! A worker's settings, validated as a whole.

use std::path::PathBuf;

use broadside_engine::protocol::AddressPolicy;
use broadside_pki::Identity;
use broadside_rpc::transport::{on_loopback, Security};

/// Everything a worker needs to run.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Tarpc addresses (`host:port`) of some masters; the worker finds the leader from them.
    pub masters: Vec<String>,
    /// Pool it serves.
    pub pool: String,
    /// Tasks it runs at once.
    pub slots: u32,
    /// Data directory: id, file cache, task directories.
    pub data: PathBuf,
    /// Free labels reported at registration.
    pub labels: Vec<(String, String)>,
    /// Where its load may go.
    pub policy: AddressPolicy,
    /// Whether a simulation's `http.tls_insecure` is honoured (`--allow-insecure-tls`).
    pub allow_insecure_tls: bool,
    /// Where it runs, for operators (host name and process id by default).
    pub address: String,
    /// How it connects to the masters: TLS with the cluster CA and its worker certificate
    /// (which names its worker id) or a join token, or plain TCP when every master is on
    /// loopback.
    pub security: Security,
    /// A join token to exchange for an identity (with TLS and no certificate).
    pub join_token: Option<JoinToken>,
}

/// A join token's text; its `Debug` form hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken(pub String);

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinToken([redacted])")
    }
}

impl std::str::FromStr for JoinToken {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(JoinToken(s.trim().to_owned()))
    }
}

impl WorkerConfig {
    /// Whether it joins (or joined) with a join token rather than holding a certificate: a
    /// token is given, or the data directory keeps a credential from an earlier join.
    pub fn joins(&self) -> bool {
        self.join_token.is_some() || crate::join::has_credential(&self.data)
    }
}

impl WorkerConfig {
    /// Every problem with these settings (empty when they are usable).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.masters.is_empty() {
            out.push("masters: give at least one master address (host:port)".to_owned());
        }
        for m in &self.masters {
            let ok = m.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !ok {
                out.push(format!("masters: {m:?} is not host:port"));
            }
        }
        let name_ok = !self.pool.is_empty()
            && self.pool.len() <= 128
            && self
                .pool
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            out.push(format!(
                "pool: {:?} must be 1-128 letters, digits, '-', '_' or '.'",
                self.pool
            ));
        }
        match (&self.security, self.security.identity()) {
            (Security::Plain, _) => {
                if self.join_token.is_some() {
                    out.push(
                        "join-token: joining needs TLS (--ca-cert, the cluster CA), or the token \
                         would cross the network in clear"
                            .to_owned(),
                    );
                }
                if let Some(far) = self.masters.iter().find(|m| !on_loopback(m)) {
                    out.push(format!(
                        "masters: {far} is not on loopback: connecting to it needs TLS \
                         (--ca-cert, --cert and --key; `broadside certs` makes them)"
                    ));
                }
            }
            (Security::Tls(_), Some(Identity::Worker(_))) if self.join_token.is_some() => out.push(
                "join-token: a worker with a certificate needs no join token (give one or the \
                 other)"
                    .to_owned(),
            ),
            (Security::Tls(_), Some(Identity::Worker(_))) => {}
            (Security::Tls(_), None) if self.joins() => {}
            (Security::Tls(_), None) => out.push(
                "cert: a worker presents its certificate (--cert and --key) or joins with a \
                 join token (--join-token; `broadside join-tokens create`)"
                    .to_owned(),
            ),
            (Security::Tls(_), who) => out.push(format!(
                "cert: the certificate is {}'s, not a worker's \
                 (`broadside certs issue worker NAME`)",
                who.map_or_else(|| "nobody".to_owned(), |w| w.to_string())
            )),
        }
        if !(1..=1024).contains(&self.slots) {
            out.push(format!("slots: {} must be between 1 and 1024", self.slots));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WorkerConfig {
        WorkerConfig {
            masters: vec!["127.0.0.1:7001".into()],
            pool: "default".into(),
            slots: 1,
            data: PathBuf::from("/tmp/w"),
            labels: vec![],
            policy: AddressPolicy::LoopbackOnly,
            allow_insecure_tls: false,
            address: "test".into(),
            security: Security::Plain,
            join_token: None,
        }
    }

    #[test]
    fn every_problem_is_listed() {
        assert!(config().problems().is_empty());
        let mut c = config();
        c.masters = vec!["nohost".into(), "h:0".into()];
        c.pool = "a b".into();
        c.slots = 0;
        let problems = c.problems();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[0].contains("\"nohost\""));
        assert!(problems[3].contains("nohost is not on loopback"));
        c.masters.clear();
        assert!(c.problems()[0].contains("at least one"));
    }

    #[test]
    fn plain_tcp_only_to_masters_on_loopback() {
        let mut c = config();
        c.masters = vec!["localhost:7001".into(), "[::1]:7002".into()];
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        c.masters.push("master-3.example:7003".into());
        let problems = c.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("master-3.example:7003 is not on loopback")
                && problems[0].contains("--ca-cert"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_join_token_needs_tls_and_no_certificate() {
        let mut c = config();
        c.join_token = Some(JoinToken("bsj_x".into()));
        assert!(!format!("{c:?}").contains("bsj_x"));
        let problems = c.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("joining needs TLS"), "{problems:?}");
        let ca = broadside_pki::Ca::init("t").unwrap();
        let anonymous = broadside_pki::tls::ClusterTls::anonymous(ca.cert_pem()).unwrap();
        c.security = Security::tls(anonymous).unwrap();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        c.join_token = None;
        assert!(
            c.problems()[0].contains("--join-token"),
            "{:?}",
            c.problems()
        );
        let issued = ca
            .issue(
                &Identity::Worker("w1".into()),
                &[],
                broadside_pki::DEFAULT_VALIDITY,
            )
            .unwrap();
        let tls = broadside_pki::tls::ClusterTls::from_pem(
            ca.cert_pem(),
            &issued.cert_pem,
            &issued.key_pem,
        )
        .unwrap();
        c.security = Security::tls(tls).unwrap();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        c.join_token = Some(JoinToken("bsj_x".into()));
        assert!(
            c.problems()[0].contains("needs no join token"),
            "{:?}",
            c.problems()
        );
    }
}
