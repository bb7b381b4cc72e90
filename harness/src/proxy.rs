//! A fault-injecting TCP proxy for one link (one direction of dialling: A connects to B).
//!
//! Processes started with a dial map ([`broadside_rpc`]'s `BROADSIDE_DIAL_MAP`) connect
//! through a proxy per link, so a test can cut a link (a partition: existing connections are
//! torn down, new ones are accepted and then black-holed, so calls time out as with lost
//! packets), add latency, or heal it — independently for every pair of processes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What a link does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Forwards everything.
    Pass,
    /// Forwards everything, each chunk delayed.
    Delay(Duration),
    /// Forwards nothing (a partition).
    Cut,
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    /// Where processes connect.
    pub listen: SocketAddr,
    /// Where it forwards to.
    pub target: SocketAddr,
    state: Arc<watch::Sender<LinkState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `target` on an ephemeral loopback port.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        Proxy::start_on(listener, target)
    }

    /// A proxy to `target` listening on `listener`.
    pub fn start_on(listener: TcpListener, target: SocketAddr) -> Proxy {
        let listen = listener.local_addr().expect("proxy address");
        let state = Arc::new(watch::Sender::new(LinkState::Pass));
        let task = tokio::spawn(accept(listener, target, state.clone()));
        Proxy {
            listen,
            target,
            state,
            task,
        }
    }

    /// Changes what the link does (connections in flight follow at once).
    pub fn set(&self, state: LinkState) {
        self.state.send_replace(state);
    }

    /// What the link does now.
    pub fn state(&self) -> LinkState {
        *self.state.borrow()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, state: Arc<watch::Sender<LinkState>>) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let state = state.subscribe();
        tasks.spawn(connection(client, target, state));
        while tasks.try_join_next().is_some() {}
    }
}

/// One proxied connection: black-holed while the link is cut, torn down when it gets cut.
async fn connection(client: TcpStream, target: SocketAddr, mut state: watch::Receiver<LinkState>) {
    // A connection made while the link is cut hangs (its packets are "lost") until healed,
    // then it is closed: the dialler sees a timeout, then a reset, as after a partition.
    if *state.borrow_and_update() == LinkState::Cut {
        let _ = state.wait_for(|s| *s != LinkState::Cut).await;
        return;
    }
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, state.clone());
    let down = pump(server_read, client_write, state.clone());
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = state.wait_for(|s| *s == LinkState::Cut) => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: watch::Receiver<LinkState>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let current = *state.borrow();
        match current {
            LinkState::Cut => return,
            LinkState::Delay(d) => tokio::time::sleep(d).await,
            LinkState::Pass => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(addr: SocketAddr) -> Option<Vec<u8>> {
        let exchange = async {
            let mut s = TcpStream::connect(addr).await.ok()?;
            s.write_all(b"ping").await.ok()?;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.ok()?;
            Some(buf.to_vec())
        };
        tokio::time::timeout(Duration::from_millis(500), exchange)
            .await
            .ok()
            .flatten()
    }

    #[tokio::test]
    async fn a_link_passes_is_cut_and_heals() {
        let proxy = Proxy::start(echo_server().await).await;
        assert_eq!(
            round_trip(proxy.listen).await.as_deref(),
            Some(&b"ping"[..])
        );
        // An open connection is torn down when the link is cut.
        let mut open = TcpStream::connect(proxy.listen).await.unwrap();
        open.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        open.read_exact(&mut buf).await.unwrap();
        proxy.set(LinkState::Cut);
        assert_eq!(proxy.state(), LinkState::Cut);
        let read = tokio::time::timeout(Duration::from_secs(2), open.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
        assert_eq!(
            round_trip(proxy.listen).await,
            None,
            "a cut link forwards nothing"
        );
        proxy.set(LinkState::Delay(Duration::from_millis(100)));
        let started = std::time::Instant::now();
        assert_eq!(
            round_trip(proxy.listen).await.as_deref(),
            Some(&b"ping"[..])
        );
        assert!(started.elapsed() >= Duration::from_millis(200));
        proxy.set(LinkState::Pass);
        assert_eq!(
            round_trip(proxy.listen).await.as_deref(),
            Some(&b"ping"[..])
        );
    }
}
