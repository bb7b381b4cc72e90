//! Several masters in this process, on loopback ports the system chooses, each with its own
//! data directory under one base directory: the demo's cluster, the in-process test sandbox
//! and the capacity benchmark. A stopped master restarts on its old ports and data.
//!
//! With [`LocalCluster::start_tls`] (the demo) the cluster port speaks TLS, as in production:
//! a throw-away cluster CA is made in memory, each master gets a certificate for
//! its node id, and [`LocalCluster::worker_security`] issues a worker's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use broadside_pki::tls::ClusterTls;
use broadside_pki::{Ca, Identity, DEFAULT_VALIDITY};
use broadside_rpc::transport::Security;
use tokio::net::TcpListener;

use crate::config::{AuthConfig, MasterConfig, Timings};
use crate::master::{start_on, MasterHandle, StartError};

/// How long a restart waits for its old ports to be free.
const PORT_WAIT: Duration = Duration::from_secs(30);
/// How long a new cluster may take to elect a leader and commit its admin token.
const READY_WAIT: Duration = Duration::from_secs(30);

/// Masters on loopback in this process.
pub struct LocalCluster {
    dir: PathBuf,
    admin_token: String,
    timings: Timings,
    max_upload_bytes: u64,
    configs: BTreeMap<u64, MasterConfig>,
    handles: BTreeMap<u64, MasterHandle>,
    /// The throw-away cluster CA, when the cluster port speaks TLS.
    ca: Option<Ca>,
}

fn pki_error(e: broadside_pki::Error) -> StartError {
    StartError::Raft(format!("cluster certificates: {e}"))
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl LocalCluster {
    /// Starts `n` masters (ids `1..=n`) that initialise one cluster, with their data under
    /// `dir/master-ID` and a new admin token ([`LocalCluster::admin_token`]).
    pub async fn start(
        n: u64,
        dir: &Path,
        timings: Timings,
        max_upload_bytes: u64,
    ) -> Result<LocalCluster, StartError> {
        let (_, token) = crate::auth::token::Bearer::generate();
        Self::start_with_token(n, dir, timings, max_upload_bytes, token).await
    }

    /// [`LocalCluster::start`] with TLS on the cluster port, from a throw-away CA.
    pub async fn start_tls(
        n: u64,
        dir: &Path,
        timings: Timings,
        max_upload_bytes: u64,
    ) -> Result<LocalCluster, StartError> {
        let (_, token) = crate::auth::token::Bearer::generate();
        let ca = Ca::init("local").map_err(pki_error)?;
        Self::start_inner(n, dir, timings, max_upload_bytes, token, Some(ca)).await
    }

    /// [`LocalCluster::start`] with this admin token (`bst_…`, e.g. one a test suite shares).
    pub async fn start_with_token(
        n: u64,
        dir: &Path,
        timings: Timings,
        max_upload_bytes: u64,
        admin_token: String,
    ) -> Result<LocalCluster, StartError> {
        Self::start_inner(n, dir, timings, max_upload_bytes, admin_token, None).await
    }

    async fn start_inner(
        n: u64,
        dir: &Path,
        timings: Timings,
        max_upload_bytes: u64,
        admin_token: String,
        ca: Option<Ca>,
    ) -> Result<LocalCluster, StartError> {
        let mut listeners = BTreeMap::new();
        for id in 1..=n {
            let raft = bind(loopback(), "raft").await?;
            let http = bind(loopback(), "http").await?;
            listeners.insert(id, (raft, http));
        }
        let mut peers = BTreeMap::new();
        for (id, (raft, _)) in &listeners {
            let addr = raft.local_addr().map_err(|source| StartError::Bind {
                what: "raft",
                addr: loopback(),
                source,
            })?;
            peers.insert(*id, addr.to_string());
        }
        // The first admin token, known here so that its user can call the API.
        std::fs::create_dir_all(dir)
            .and_then(|()| crate::bootstrap::write_token(&dir.join("admin-token"), &admin_token))
            .map_err(|source| StartError::File {
                path: dir.join("admin-token").display().to_string(),
                source,
            })?;
        let mut cluster = LocalCluster {
            dir: dir.to_path_buf(),
            admin_token,
            timings,
            max_upload_bytes,
            configs: BTreeMap::new(),
            handles: BTreeMap::new(),
            ca,
        };
        for (id, (raft, http)) in listeners {
            cluster.launch(id, raft, http, peers.clone()).await?;
        }
        cluster.wait_for_admin_token().await?;
        Ok(cluster)
    }

    /// Waits until every master's replica holds the admin token (the cluster elected a leader
    /// and committed it), so that the token works on whichever master is asked.
    async fn wait_for_admin_token(&self) -> Result<(), StartError> {
        let id = crate::auth::token::Bearer::parse(&self.admin_token)
            .map(|b| b.id)
            .unwrap_or_default();
        let deadline = Instant::now() + READY_WAIT;
        loop {
            let everywhere = self
                .handles
                .values()
                .all(|h| h.node().reader().token(&id).is_ok_and(|t| t.is_some()));
            if everywhere {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartError::Raft(format!(
                    "the cluster did not commit its admin token within {READY_WAIT:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts master `id` on bound listeners.
    async fn launch(
        &mut self,
        id: u64,
        raft: TcpListener,
        http: TcpListener,
        peers: BTreeMap<u64, String>,
    ) -> Result<(), StartError> {
        let local = |l: &TcpListener, what| {
            l.local_addr().map_err(|source| StartError::Bind {
                what,
                addr: loopback(),
                source,
            })
        };
        let (raft_addr, http_addr) = (local(&raft, "raft")?, local(&http, "http")?);
        let config = MasterConfig {
            id,
            listen_raft: raft_addr,
            listen_http: http_addr,
            advertise_raft: raft_addr.to_string(),
            advertise_http: http_addr.to_string(),
            peers,
            data: self.dir.join(format!("master-{id}")),
            timings: self.timings.clone(),
            max_upload_bytes: self.max_upload_bytes,
            auth: AuthConfig {
                required: true,
                admin_token_file: Some(self.dir.join("admin-token")),
                ..AuthConfig::default()
            },
            rest_tls: None,
            cluster_tls: self.security(&Identity::Master(id))?,
        };
        let handle = start_on(config.clone(), raft, http).await?;
        self.configs.insert(id, config);
        self.handles.insert(id, handle);
        Ok(())
    }

    /// Starts a new master `id` that joins nobody by itself (it waits to be added); returns
    /// its Raft address.
    pub async fn start_joiner(&mut self, id: u64) -> Result<SocketAddr, StartError> {
        let raft = bind(loopback(), "raft").await?;
        let http = bind(loopback(), "http").await?;
        self.launch(id, raft, http, BTreeMap::new()).await?;
        Ok(self.configs[&id].listen_raft)
    }

    /// Security for a process of this cluster with identity `who`: plain TCP, or TLS with a
    /// certificate issued now by the throw-away CA.
    fn security(&self, who: &Identity) -> Result<Security, StartError> {
        let Some(ca) = &self.ca else {
            return Ok(Security::Plain);
        };
        let issued = ca.issue(who, &[], DEFAULT_VALIDITY).map_err(pki_error)?;
        let tls = ClusterTls::from_pem(ca.cert_pem(), &issued.cert_pem, &issued.key_pem)
            .map_err(pki_error)?;
        Security::tls(tls).map_err(pki_error)
    }

    /// How worker `name` connects to this cluster (its certificate names it, with TLS).
    pub fn worker_security(&self, name: &str) -> Result<Security, StartError> {
        let who = Identity::new("worker", name).map_err(pki_error)?;
        self.security(&who)
    }

    /// The cluster's admin token (`bst_…`).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The configuration of master `id` (started at least once).
    pub fn config(&self, id: u64) -> &MasterConfig {
        &self.configs[&id]
    }

    /// The running master `id`.
    pub fn handle(&self, id: u64) -> Option<&MasterHandle> {
        self.handles.get(&id)
    }

    /// Every running master.
    pub fn handles(&self) -> impl Iterator<Item = (&u64, &MasterHandle)> {
        self.handles.iter()
    }

    /// Ids of the running masters.
    pub fn running(&self) -> Vec<u64> {
        self.handles.keys().copied().collect()
    }

    /// REST addresses of the running masters.
    pub fn http_addrs(&self) -> Vec<SocketAddr> {
        self.handles.values().map(MasterHandle::http_addr).collect()
    }

    /// tarpc addresses of the running masters.
    pub fn raft_addrs(&self) -> Vec<SocketAddr> {
        self.handles.values().map(MasterHandle::raft_addr).collect()
    }

    /// Stops master `id` (its data stays).
    pub async fn stop(&mut self, id: u64) {
        if let Some(handle) = self.handles.remove(&id) {
            handle.shutdown().await;
        }
    }

    /// Restarts a stopped master on its old addresses and data, once its ports are free.
    pub async fn restart(&mut self, id: u64) -> Result<(), StartError> {
        let config = self.configs[&id].clone();
        let deadline = Instant::now() + PORT_WAIT;
        let (raft, http) = loop {
            match (
                TcpListener::bind(config.listen_raft).await,
                TcpListener::bind(config.listen_http).await,
            ) {
                (Ok(raft), Ok(http)) => break (raft, http),
                (Err(source), _) | (_, Err(source)) if Instant::now() >= deadline => {
                    return Err(StartError::Bind {
                        what: "restart",
                        addr: config.listen_raft,
                        source,
                    });
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.launch(id, raft, http, config.peers.clone()).await
    }

    /// Stops every master.
    pub async fn shutdown(mut self) {
        for id in self.running() {
            self.stop(id).await;
        }
    }
}
