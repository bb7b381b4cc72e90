//! Starting and stopping a master: the store, the Raft node, the application context, the
//! tarpc listener, the REST API, the scheduler and the bootstrap task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use broadside_rpc::transport::{self, Caller};
use broadside_rpc::{RaftRpc, ServiceKind, WorkerRpc};
use futures::StreamExt;
use tarpc::server::{BaseChannel, Channel};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::callers;
use crate::config::{ConfigError, MasterConfig};
use crate::node::Node;
use crate::peers::Peers;
use crate::raft::network::NetworkFactory;
use crate::raft::service::RaftServer;
use crate::raft::{openraft_config, Raft};
use crate::worker_service::WorkerServer;

/// How long a stopping master waits for its tasks (requests in flight) to finish.
const DRAIN: Duration = Duration::from_secs(3);

/// Why a master could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener could not bind.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A file of the master could not be written.
    #[error("cannot write {path}: {source}")]
    File {
        /// Which file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("cannot open the store in {dir}: {source}")]
    Store {
        /// Directory.
        dir: String,
        /// Why.
        source: broadside_raft_store::Error,
    },
    /// openraft refused to start.
    #[error("raft: {0}")]
    Raft(String),
    /// The REST API's certificate or key does not load.
    #[error("--tls-cert/--tls-key: {0}")]
    Tls(String),
}

/// A running master.
pub struct MasterHandle {
    node: Arc<Node>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    raft_addr: SocketAddr,
    http_addr: SocketAddr,
}

impl MasterHandle {
    /// The node's shared state.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Where the tarpc listener is bound.
    pub fn raft_addr(&self) -> SocketAddr {
        self.raft_addr
    }

    /// Where the REST API is bound.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Resolves when the master was asked to stop.
    pub async fn stopped(&self) {
        self.stop.cancelled().await;
    }

    /// Stops serving, shuts Raft down and closes the store.
    ///
    /// The REST server stops accepting and lets requests in flight finish (live streams end
    /// at once) for up to [`DRAIN`]; whatever is left is aborted, so that no connection task
    /// outlives the handle holding the store open.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(e) = self.node.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        for mut task in self.tasks {
            if tokio::time::timeout(DRAIN, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
            }
        }
        tracing::info!(id = self.node.id, "master stopped");
    }
}

/// Binds the configured addresses and starts a master.
pub async fn start(config: MasterConfig) -> Result<MasterHandle, StartError> {
    let raft = TcpListener::bind(config.listen_raft)
        .await
        .map_err(|source| StartError::Bind {
            what: "raft",
            addr: config.listen_raft,
            source,
        })?;
    let http = TcpListener::bind(config.listen_http)
        .await
        .map_err(|source| StartError::Bind {
            what: "http",
            addr: config.listen_http,
            source,
        })?;
    start_on(config, raft, http).await
}

/// Starts a master on listeners bound by the caller (tests bind ephemeral ports first).
pub async fn start_on(
    config: MasterConfig,
    raft_listener: TcpListener,
    http_listener: TcpListener,
) -> Result<MasterHandle, StartError> {
    config.validate()?;
    let rest_tls = match &config.rest_tls {
        Some(files) => Some(crate::http::RestTls::load(files.clone()).map_err(StartError::Tls)?),
        None => None,
    };
    let raft_addr = local_addr(&raft_listener, "raft", config.listen_raft)?;
    let http_addr = local_addr(&http_listener, "http", config.listen_http)?;

    let dir = config.data.join("store");
    let opened = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || broadside_raft_store::open(&dir))
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?
    };
    let (log_store, state_machine) = opened.map_err(|source| StartError::Store {
        dir: dir.display().to_string(),
        source,
    })?;
    let reader = state_machine.reader();
    let peers = Arc::new(Peers::new(config.cluster_tls.clone()));
    let raft_config =
        Arc::new(openraft_config(&config.timings).map_err(|e| StartError::Raft(e.to_string()))?);
    let network = NetworkFactory {
        id: config.id,
        peers: peers.clone(),
    };
    let raft = Raft::new(config.id, raft_config, network, log_store, state_machine)
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
    let node = Arc::new(Node {
        id: config.id,
        config,
        raft,
        reader,
        peers,
        forwarded: Default::default(),
    });

    let stop = CancellationToken::new();
    let app = App::new(node.clone(), stop.clone());
    let mut tasks = vec![
        tokio::spawn(crate::leaders::follow(
            node.raft.clone(),
            app.leaders.clone(),
            stop.clone(),
        )),
        tokio::spawn(accept_loop(raft_listener, app.clone(), stop.clone())),
        tokio::spawn(crate::scheduler::driver::run(app.clone(), stop.clone())),
        tokio::spawn(crate::http::serve(
            http_listener,
            crate::http::router(app),
            rest_tls.clone(),
            stop.clone(),
        )),
        tokio::spawn(crate::bootstrap::bootstrap(node.clone(), stop.clone())),
        tokio::spawn(crate::bootstrap::admin_token(node.clone(), stop.clone())),
    ];
    if let Some(tls) = rest_tls {
        tasks.push(tokio::spawn(tls.watch(stop.clone())));
    }
    let cluster_stop = stop.clone();
    tasks.push(tokio::spawn(
        node.config
            .cluster_tls
            .clone()
            .watch(async move { cluster_stop.cancelled().await }),
    ));
    let rest = if node.config.rest_tls.is_some() {
        "https"
    } else {
        "http"
    };
    let cluster = if node.config.cluster_tls.is_tls() {
        "mutual TLS"
    } else {
        "plain TCP"
    };
    if node.config.auth.tokens() {
        tracing::info!(id = node.id, %raft_addr, %http_addr, rest, cluster, "master started");
    } else {
        tracing::warn!(
            id = node.id, %raft_addr, %http_addr, rest, cluster,
            "master started WITHOUT AUTHENTICATION: every caller may do everything (loopback only)"
        );
    }
    if !node.config.cluster_tls.is_tls() || node.config.rest_tls.is_none() {
        tracing::warn!(
            id = node.id,
            rest,
            cluster,
            "plain-text transport: allowed because every listener is on loopback"
        );
    }
    Ok(MasterHandle {
        node,
        stop,
        tasks,
        raft_addr,
        http_addr,
    })
}

fn local_addr(
    listener: &TcpListener,
    what: &'static str,
    addr: SocketAddr,
) -> Result<SocketAddr, StartError> {
    listener
        .local_addr()
        .map_err(|source| StartError::Bind { what, addr, source })
}

/// Most connections the cluster port holds at once; a connection beyond it is closed at once
/// (each worker holds one, each peer one or two, so this is far above a real cluster's need).
pub const MAX_CLUSTER_CONNECTIONS: usize = 4096;

/// How long a worker-service connection may go without a request before it is closed (the
/// worker dials again when it has something to say): a live worker speaks every heartbeat.
/// Master↔master connections, between members only, are not closed when idle (a candidate's
/// first vote request must not meet a connection closed in a quiet spell).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Most connections at once without a certificate or credential (workers joining), held apart
/// from the connection cap so that strangers cannot take the slots of masters and workers.
pub const MAX_JOINING_CONNECTIONS: usize = 64;

/// How long a connection without a certificate or credential stays open: time for a join.
pub const JOINING_LIFETIME: Duration = Duration::from_secs(30);

/// Spawns one request of a connection, noting that the connection is in use.
fn spawn_request<F>(last_request: &parking_lot::Mutex<tokio::time::Instant>, request: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    *last_request.lock() = tokio::time::Instant::now();
    tokio::spawn(request);
}

/// Completes once no request arrived for [`IDLE_TIMEOUT`].
async fn idle(last_request: &parking_lot::Mutex<tokio::time::Instant>) {
    loop {
        let deadline = *last_request.lock() + IDLE_TIMEOUT;
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// Most requests one connection may have in flight: a master↔master connection carries the
/// peer's pipelined appends and its forwarded writes, a worker's a handful of calls.
fn max_in_flight(kind: ServiceKind) -> usize {
    match kind {
        ServiceKind::Raft => 1024,
        ServiceKind::Worker => 64,
    }
}

/// Accepts connections on the tarpc port and serves each with the service its preamble asks
/// for, as its caller, until `stop`.
async fn accept_loop(listener: TcpListener, app: Arc<App>, stop: CancellationToken) {
    let security = app.node.config.cluster_tls.clone();
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_CLUSTER_CONNECTIONS));
    let joining = Arc::new(tokio::sync::Semaphore::new(MAX_JOINING_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = stop.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "refused a connection: {MAX_CLUSTER_CONNECTIONS} are open");
            continue;
        };
        let app = app.clone();
        let stop = stop.clone();
        let security = security.clone();
        let joining = joining.clone();
        tokio::spawn(async move {
            let accepted = match transport::accept(stream, &security).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "refused a connection");
                    return;
                }
            };
            let (kind, caller) = (accepted.kind, accepted.caller);
            if !callers::may_open(kind, &caller) {
                tracing::debug!(%peer, ?kind, ?caller, "refused a connection: wrong identity");
                return;
            }
            // A caller without a certificate may only join: it gives up its slot for one of
            // the few kept for joining, for a short while. A credential is checked now, so
            // that a made-up one keeps no slot either.
            let (_permit, lifetime) = match &caller {
                Caller::Verified(None) => match joining.try_acquire_owned() {
                    Ok(joining) => (joining, Some(JOINING_LIFETIME)),
                    Err(_) => {
                        tracing::debug!(%peer, "refused a connection: too many joining");
                        return;
                    }
                },
                Caller::Claims(c) => {
                    let claimed = c.worker_id.clone();
                    if let Err(e) = callers::worker(&app, &caller, &claimed).await {
                        tracing::debug!(%peer, error = %e, "refused a connection: credential");
                        return;
                    }
                    (permit, None)
                }
                _ => (permit, None),
            };
            let stream = accepted.stream;
            let last_request = parking_lot::Mutex::new(tokio::time::Instant::now());
            let served = async {
                match kind {
                    ServiceKind::Raft => {
                        BaseChannel::with_defaults(transport::framed(stream, kind))
                            .max_concurrent_requests(max_in_flight(kind))
                            .execute(RaftServer { app, caller }.serve())
                            .for_each(|request| {
                                spawn_request(&last_request, request);
                                std::future::ready(())
                            })
                            .await;
                    }
                    ServiceKind::Worker => {
                        BaseChannel::with_defaults(transport::framed(stream, kind))
                            .max_concurrent_requests(max_in_flight(kind))
                            .execute(WorkerServer { app, caller }.serve())
                            .for_each(|request| {
                                spawn_request(&last_request, request);
                                std::future::ready(())
                            })
                            .await;
                    }
                }
            };
            let idle = async {
                match kind {
                    ServiceKind::Worker => idle(&last_request).await,
                    ServiceKind::Raft => std::future::pending().await,
                }
            };
            let expired = async {
                match lifetime {
                    Some(lifetime) => tokio::time::sleep(lifetime).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = served => {}
                () = idle => tracing::debug!(%peer, ?kind, "closed an idle connection"),
                () = expired => tracing::debug!(%peer, "closed a joining connection"),
                () = stop.cancelled() => {}
            }
        });
    }
}
