//! Listening, accepting and serving connections, and graceful shutdown.
//!
//! Each accepted connection runs in its own task inside a [`JoinSet`] owned by
//! [`Target::run`]. hyper-util's auto builder serves HTTP/1.1 and HTTP/2
//! (prior knowledge, or ALPN `h2` over TLS) on the same port. On shutdown the
//! listener is closed first, every connection is asked to shut down gracefully
//! (HTTP/1 finishes the request in progress, HTTP/2 sends GOAWAY and finishes
//! open streams), and whatever is still running after the grace period is
//! aborted.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::state::AppState;
use crate::stats::Stats;
use crate::tls::SelfSigned;
use crate::TargetConfig;

/// How long [`Target::run`] lets in-flight requests finish after shutdown is
/// requested, unless changed with [`Target::with_shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Time a client gets to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time an HTTP/1 client gets to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Listen backlog: load tests open many connections at once.
const BACKLOG: u32 = 4096;
/// Concurrent streams allowed per HTTP/2 connection.
const MAX_H2_STREAMS: u32 = 1024;

/// A bound, not yet running, target server.
pub struct Target {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<SelfSigned>,
    state: Arc<AppState>,
    shutdown_grace: Duration,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .field("shutdown_grace", &self.shutdown_grace)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Binds the listening socket now (so port 0 works and the address is
    /// known before serving) and, with TLS, generates the certificate.
    pub async fn bind(config: TargetConfig) -> io::Result<Target> {
        let socket = if config.listen.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(config.listen)?;
        let listener = socket.listen(BACKLOG)?;
        let local_addr = listener.local_addr()?;
        let tls = if config.tls {
            Some(SelfSigned::generate(local_addr)?)
        } else {
            None
        };
        Ok(Target {
            listener,
            local_addr,
            tls,
            state: Arc::new(AppState::new()),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        })
    }

    /// Binds and starts serving in a tokio task; see [`TargetHandle`].
    pub async fn spawn(config: TargetConfig) -> io::Result<TargetHandle> {
        Ok(Self::bind(config).await?.start())
    }

    /// Sets how long in-flight requests may take to finish on shutdown.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://IP:PORT` or `https://IP:PORT` (an unspecified listen address is
    /// replaced by the loopback address of the same family).
    pub fn base_url(&self) -> String {
        base_url(self.local_addr, self.tls.is_some())
    }

    /// The live counters.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.state.stats)
    }

    /// The self-signed certificate, when serving TLS.
    pub fn tls(&self) -> Option<&SelfSigned> {
        self.tls.as_ref()
    }

    /// Runs the server in a new tokio task and returns a handle to it.
    ///
    /// Must be called from within a tokio runtime.
    pub fn start(self) -> TargetHandle {
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let addr = self.local_addr;
        let base_url = self.base_url();
        let stats = self.stats();
        let tls = self.tls.clone();
        let task = tokio::spawn(self.run(async {
            // Resolves on an explicit shutdown or when the handle is dropped.
            let _ = shutdown_rx.await;
        }));
        TargetHandle {
            addr,
            base_url,
            stats,
            tls,
            shutdown_tx: Some(shutdown_tx),
            task: Some(task),
        }
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests finish (for at most the shutdown grace period) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let Target {
            listener,
            local_addr,
            tls,
            state,
            shutdown_grace,
        } = self;
        let acceptor = tls.map(|tls| TlsAcceptor::from(tls.server_config()));
        let builder = Arc::new(http_builder());
        let (stop_tx, stop_rx) = watch::channel(());
        let mut connections = JoinSet::new();
        tracing::info!(%local_addr, tls = acceptor.is_some(), "target listening");

        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        connections.spawn(serve_connection(
                            stream,
                            acceptor.clone(),
                            Arc::clone(&builder),
                            Arc::clone(&state),
                            stop_rx.clone(),
                        ));
                    }
                    Err(error) => {
                        // Usually transient (e.g. out of file descriptors):
                        // back off briefly instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
            }
        }

        drop(listener);
        // Receivers see this as a change (and also if the sender is gone).
        stop_tx.send_replace(());
        drop(stop_tx);
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(shutdown_grace, drain).await.is_err() {
            tracing::warn!(
                remaining = connections.len(),
                "shutdown grace period over; aborting connections"
            );
            connections.shutdown().await;
        }
        tracing::info!(%local_addr, "target stopped");
        Ok(())
    }
}

fn base_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

fn http_builder() -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS);
    builder
}

/// Serves one accepted connection until it closes or shutdown is requested.
async fn serve_connection(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    builder: Arc<Builder<TokioExecutor>>,
    state: Arc<AppState>,
    mut stop: watch::Receiver<()>,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        serve_http(&builder, TokioIo::new(stream), state, stop).await;
        return;
    };
    let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls_stream)) => serve_http(&builder, TokioIo::new(tls_stream), state, stop).await,
            Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        },
        _ = stop.changed() => {}
    }
}

async fn serve_http<I>(
    builder: &Builder<TokioExecutor>,
    io: I,
    state: Arc<AppState>,
    mut stop: watch::Receiver<()>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(crate::routes::handle(state, request).await) }
    });
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// A target running in a tokio task (see [`Target::spawn`]).
///
/// Dropping the handle requests a graceful shutdown without waiting for it;
/// call [`TargetHandle::shutdown`] to wait.
pub struct TargetHandle {
    /// The address the target listens on.
    pub addr: SocketAddr,
    base_url: String,
    stats: Arc<Stats>,
    tls: Option<SelfSigned>,
    shutdown_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for TargetHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetHandle")
            .field("addr", &self.addr)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl TargetHandle {
    /// The address the target listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` or `https://IP:PORT`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// `base_url()` followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The live counters.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// The self-signed certificate, when serving TLS.
    pub fn tls(&self) -> Option<&SelfSigned> {
        self.tls.as_ref()
    }

    /// Requests a graceful shutdown and waits for the server task to finish.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for TargetHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let v4: SocketAddr = "127.0.0.1:8088".parse().expect("addr");
        assert_eq!(base_url(v4, false), "http://127.0.0.1:8088");
        let any: SocketAddr = "0.0.0.0:80".parse().expect("addr");
        assert_eq!(base_url(any, true), "https://127.0.0.1:80");
        let v6: SocketAddr = "[::]:9".parse().expect("addr");
        assert_eq!(base_url(v6, false), "http://[::1]:9");
    }
}
