//! A worker's settings, validated as a whole.

use std::path::PathBuf;

use broadside_engine::protocol::AddressPolicy;

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
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("\"nohost\""));
        c.masters.clear();
        assert!(c.problems()[0].contains("at least one"));
    }
}
