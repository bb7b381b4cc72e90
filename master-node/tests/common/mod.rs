//! The in-process cluster sandbox: N masters on loopback ephemeral ports, each with its own data
//! directory and shutdown handle, and requests to one master through `broadside-client`. Every wait polls with a deadline.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use broadside_master::{MasterConfig, MasterHandle, Timings};
use bytes::Bytes;
use tokio::net::TcpListener;

/// Upper bound of any single wait in these tests.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `probe` until it yields a value, failing the test after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub use broadside_client::Reply;

/// Sends one request to the master at `addr` (no failover), failing the test when it does not
/// answer within [`DEADLINE`].
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    broadside_client::request_one(
        &addr.to_string(),
        method,
        path,
        headers,
        body.into(),
        DEADLINE,
    )
    .await
    .unwrap_or_else(|e| panic!("{method} {path} on {addr}: {e}"))
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[], Bytes::new()).await
}

pub async fn post_json(addr: SocketAddr, path: &str, body: serde_json::Value) -> Reply {
    request(
        addr,
        "POST",
        path,
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await
}

/// Upload limit of the sandbox's masters.
pub const UPLOAD_LIMIT: u64 = 4 << 20;

/// Timings that keep elections and worker verdicts quick on a loaded test machine
/// (a silent worker's tasks are reassigned 3.2 s after its last heartbeat).
pub fn test_timings() -> Timings {
    Timings {
        raft_heartbeat: Duration::from_millis(150),
        election_min: Duration::from_millis(600),
        election_max: Duration::from_millis(900),
        worker_heartbeat: Duration::from_millis(200),
        lease: Duration::from_millis(2500),
        stop_budget: Duration::from_millis(300),
        reassign_margin: Duration::from_millis(400),
        failover_grace: Duration::from_millis(3200),
    }
}

/// A cluster of masters in this process.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub configs: BTreeMap<u64, MasterConfig>,
    pub nodes: BTreeMap<u64, MasterHandle>,
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind")
}

impl Sandbox {
    /// Starts `n` masters (ids 1..=n) that initialise one cluster.
    pub async fn start(n: u64) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut listeners = BTreeMap::new();
        for id in 1..=n {
            listeners.insert(id, (bind().await, bind().await));
        }
        let peers: BTreeMap<u64, String> = listeners
            .iter()
            .map(|(id, (raft, _))| (*id, raft.local_addr().unwrap().to_string()))
            .collect();
        let mut sandbox = Sandbox {
            dir,
            configs: BTreeMap::new(),
            nodes: BTreeMap::new(),
        };
        for (id, (raft, http)) in listeners {
            let config = sandbox.config(id, &raft, &http, peers.clone());
            sandbox.launch(config, raft, http).await;
        }
        sandbox
    }

    fn config(
        &self,
        id: u64,
        raft: &TcpListener,
        http: &TcpListener,
        peers: BTreeMap<u64, String>,
    ) -> MasterConfig {
        let raft_addr = raft.local_addr().unwrap();
        let http_addr = http.local_addr().unwrap();
        MasterConfig {
            id,
            listen_raft: raft_addr,
            listen_http: http_addr,
            advertise_raft: raft_addr.to_string(),
            advertise_http: http_addr.to_string(),
            peers,
            data: self.dir.path().join(format!("m{id}")),
            timings: test_timings(),
            max_upload_bytes: UPLOAD_LIMIT,
        }
    }

    async fn launch(&mut self, config: MasterConfig, raft: TcpListener, http: TcpListener) {
        let id = config.id;
        self.configs.insert(id, config.clone());
        let handle = broadside_master::start_on(config, raft, http)
            .await
            .expect("master starts");
        self.nodes.insert(id, handle);
    }

    /// Starts a new master that joins nobody by itself (empty peers).
    pub async fn start_joiner(&mut self, id: u64) -> SocketAddr {
        let (raft, http) = (bind().await, bind().await);
        let config = self.config(id, &raft, &http, BTreeMap::new());
        let addr = raft.local_addr().unwrap();
        self.launch(config, raft, http).await;
        addr
    }

    /// REST address of master `id`.
    pub fn http(&self, id: u64) -> SocketAddr {
        self.configs[&id].listen_http
    }

    /// Ids of the running masters.
    pub fn running(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// Waits until every running master agrees on one leader, and returns it.
    pub async fn leader(&self) -> u64 {
        eventually("an agreed leader", || async {
            let leaders: Vec<Option<u64>> = self
                .nodes
                .values()
                .map(|h| h.node().status().leader)
                .collect();
            let first = leaders.first().copied().flatten()?;
            let agreed = leaders.iter().all(|l| *l == Some(first));
            (agreed && self.nodes.contains_key(&first)).then_some(first)
        })
        .await
    }

    /// A running master other than `id`.
    pub fn other_than(&self, id: u64) -> u64 {
        *self
            .nodes
            .keys()
            .find(|k| **k != id)
            .expect("another master")
    }

    /// Stops master `id` (its data stays).
    pub async fn stop(&mut self, id: u64) {
        let handle = self.nodes.remove(&id).expect("running master");
        handle.shutdown().await;
    }

    /// Restarts a stopped master on its old addresses and data.
    pub async fn restart(&mut self, id: u64) {
        let config = self.configs[&id].clone();
        let raft = eventually("the raft port to be free", || async {
            TcpListener::bind(config.listen_raft).await.ok()
        })
        .await;
        let http = eventually("the http port to be free", || async {
            TcpListener::bind(config.listen_http).await.ok()
        })
        .await;
        self.launch(config, raft, http).await;
    }

    pub async fn shutdown(mut self) {
        for id in self.running() {
            self.stop(id).await;
        }
    }
}
