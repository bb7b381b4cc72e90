//! Starting and stopping a master: the store, the Raft node, the application context, the
//! tarpc listener, the REST API, the scheduler and the bootstrap task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use broadside_rpc::transport;
use broadside_rpc::{RaftRpc, ServiceKind, WorkerRpc};
use futures::StreamExt;
use tarpc::server::{BaseChannel, Channel};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::App;
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
    let peers = Arc::new(Peers::default());
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
    let tasks = vec![
        tokio::spawn(accept_loop(raft_listener, app.clone(), stop.clone())),
        tokio::spawn(crate::scheduler::driver::run(app.clone(), stop.clone())),
        tokio::spawn(crate::http::serve(
            http_listener,
            crate::http::router(app),
            stop.clone(),
        )),
        tokio::spawn(crate::bootstrap::bootstrap(node.clone(), stop.clone())),
        tokio::spawn(crate::bootstrap::admin_token(node.clone(), stop.clone())),
    ];
    if node.config.auth.tokens() {
        tracing::info!(id = node.id, %raft_addr, %http_addr, "master started");
    } else {
        tracing::warn!(
            id = node.id, %raft_addr, %http_addr,
            "master started WITHOUT AUTHENTICATION: every caller may do everything (loopback only)"
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

/// Accepts connections on the tarpc port and serves each with the service its preamble asks
/// for, until `stop`.
async fn accept_loop(listener: TcpListener, app: Arc<App>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = stop.cancelled() => return,
        };
        let (mut stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            match transport::accept(&mut stream).await {
                Ok(ServiceKind::Raft) => {
                    let requests = BaseChannel::with_defaults(transport::framed(stream))
                        .execute(RaftServer { app }.serve())
                        .for_each(|request| async {
                            tokio::spawn(request);
                        });
                    tokio::select! {
                        () = requests => {}
                        () = stop.cancelled() => {}
                    }
                }
                Ok(ServiceKind::Worker) => {
                    let requests = BaseChannel::with_defaults(transport::framed(stream))
                        .execute(WorkerServer { app }.serve())
                        .for_each(|request| async {
                            tokio::spawn(request);
                        });
                    tokio::select! {
                        () = requests => {}
                        () = stop.cancelled() => {}
                    }
                }
                Err(e) => tracing::debug!(%peer, error = %e, "refused a connection"),
            }
        });
    }
}
