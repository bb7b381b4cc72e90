//! Real `broadside` processes on loopback, for process-level tests and benchmarks.
//!
//! A [`Cluster`] starts masters (each with its own data directory and log file under one
//! temporary directory), finds the leader through the REST API, kills a master with SIGKILL
//! and restarts it on the same ports and data. Every wait polls with a deadline; when a check
//! fails, [`Cluster::logs`] gives the masters' logs to print. Processes are killed on drop.
//!
//! The binary's path is given by the caller (`env!("CARGO_BIN_EXE_broadside")` in the CLI
//! package's tests and benchmarks).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use broadside_client::Client;

/// Upper bound of any single wait.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Master timings that keep elections quick on a loaded test machine (the flags of
/// `broadside master`).
pub const FAST_TIMINGS: [&str; 16] = [
    "--raft-heartbeat",
    "150ms",
    "--election-min",
    "600ms",
    "--election-max",
    "900ms",
    "--worker-heartbeat",
    "200ms",
    "--lease",
    "2500ms",
    "--stop-budget",
    "300ms",
    "--reassign-margin",
    "400ms",
    "--failover-grace",
    "3200ms",
];

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One master process.
#[derive(Debug)]
pub struct Master {
    /// Raft id.
    pub id: u64,
    /// REST address.
    pub http: SocketAddr,
    /// Raft/worker tarpc address.
    pub raft: SocketAddr,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Master {
    /// Whether the process runs (was started and not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn spawn(&mut self, binary: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(binary)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start broadside master");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Masters of one cluster.
#[derive(Debug)]
pub struct Cluster {
    binary: PathBuf,
    dir: tempfile::TempDir,
    /// The masters, by id order (id = index + 1).
    pub masters: Vec<Master>,
}

impl Cluster {
    /// Starts `n` masters (ids 1..=n) that initialise one cluster, with `extra` flags each.
    pub fn start(binary: &Path, n: u64, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let raft: Vec<SocketAddr> = (0..n)
            .map(|_| SocketAddr::from(([127, 0, 0, 1], free_port())))
            .collect();
        let peers = raft
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let masters = (1..=n)
            .map(|id| {
                let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
                let mut args: Vec<String> = vec![
                    "master".into(),
                    "--id".into(),
                    id.to_string(),
                    "--listen-raft".into(),
                    raft[id as usize - 1].to_string(),
                    "--listen-http".into(),
                    http.to_string(),
                    "--peers".into(),
                    peers.clone(),
                    "--data".into(),
                    dir.path().join(format!("m{id}")).display().to_string(),
                ];
                args.extend(extra.iter().map(|a| a.to_string()));
                Master {
                    id,
                    http,
                    raft: raft[id as usize - 1],
                    args,
                    log: dir.path().join(format!("m{id}.log")),
                    child: None,
                }
            })
            .collect();
        let mut cluster = Cluster {
            binary: binary.to_owned(),
            dir,
            masters,
        };
        for i in 0..cluster.masters.len() {
            cluster.masters[i].spawn(&cluster.binary);
        }
        cluster
    }

    /// The temporary directory holding data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Master `id`.
    pub fn master(&self, id: u64) -> &Master {
        &self.masters[id as usize - 1]
    }

    /// REST addresses of every master.
    pub fn http_addrs(&self) -> Vec<SocketAddr> {
        self.masters.iter().map(|m| m.http).collect()
    }

    /// A client of every master.
    pub fn client(&self) -> Client {
        Client::new(self.http_addrs().iter().map(|a| a.to_string()))
    }

    /// The leader as master `id` sees it, if it answers and knows one.
    pub async fn leader_seen_by(&self, id: u64) -> Option<u64> {
        let client =
            Client::new([self.master(id).http.to_string()]).with_timeout(Duration::from_secs(2));
        let view: serde_json::Value = client.get_json("/api/v1/cluster").await.ok()?;
        view["leader"].as_u64()
    }

    /// Waits until a running master names a leader that is running too; returns its id.
    pub async fn leader(&self) -> u64 {
        let deadline = Instant::now() + PATIENCE;
        loop {
            for m in self.masters.iter().filter(|m| m.is_running()) {
                if let Some(id) = self.leader_seen_by(m.id).await {
                    if self.master(id).is_running() {
                        return id;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no leader elected within {PATIENCE:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills master `id` with SIGKILL.
    pub fn kill(&mut self, id: u64) {
        self.masters[id as usize - 1].kill();
    }

    /// Starts master `id` again on its ports and data, and waits until it knows a leader.
    pub async fn restart(&mut self, id: u64) {
        let binary = self.binary.clone();
        self.masters[id as usize - 1].spawn(&binary);
        let deadline = Instant::now() + PATIENCE;
        while self.leader_seen_by(id).await.is_none() {
            assert!(
                Instant::now() < deadline,
                "master {id} did not rejoin\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The logs of every master, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for m in &self.masters {
            let text = std::fs::read_to_string(&m.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            out.push_str(&format!(
                "---- master {} ({}) ----\n",
                m.id,
                m.log.display()
            ));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.masters {
            m.kill();
        }
    }
}
