//! Connections: opening (TCP, TLS, HTTP/1.1 or HTTP/2 handshake) and pooling.
//!
//! A [`ConnSet`] holds the open connections of one pool: a virtual user's own (the default) or
//! the run's shared pool. HTTP/1.1 connections are checked out for one exchange at a time and
//! returned when the response body has been read; HTTP/2 connections multiplex, so a checkout
//! clones the sender and leaves it in the set.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::super::{RequestError, TargetPolicy};
use crate::model::HttpVersion;

/// Scheme, host and port: what a connection is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `https`?
    pub tls: bool,
    /// Host name or address literal (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// The I/O half of an HTTP/1.1 connection. It is polled by the task that uses the connection,
/// alongside the exchange ([`drive`]), instead of running as a task of its own: one task per
/// virtual user, and no cross-task wake-ups per request.
pub type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// The request-sending half of an open connection.
pub enum Sender {
    /// An HTTP/1.1 connection: one exchange at a time; `None` once the driver has finished.
    H1(http1::SendRequest<Full<Bytes>>, Option<Driver>),
    /// An HTTP/2 connection: many exchanges at once (its driver is a task of its own).
    H2(http2::SendRequest<Full<Bytes>>),
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::H1(s, d) => f.debug_tuple("H1").field(s).field(&d.is_some()).finish(),
            Sender::H2(s) => f.debug_tuple("H2").field(s).finish(),
        }
    }
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s, driver) => driver.is_none() || s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

/// Runs `exchange` while polling the connection's driver, so the request is written and the
/// response read by this task. When the driver finishes (the connection closed), the exchange
/// runs alone and sees the closed connection as its error.
pub async fn drive<F: Future>(driver: &mut Option<Driver>, exchange: F) -> F::Output {
    tokio::pin!(exchange);
    loop {
        let Some(d) = driver.as_mut() else {
            return exchange.await;
        };
        tokio::select! {
            biased;
            _ = d.as_mut() => *driver = None,
            out = &mut exchange => return out,
        }
    }
}

/// An open connection.
#[derive(Debug)]
pub struct Conn {
    /// Where it goes.
    pub origin: Origin,
    /// Its sender.
    pub sender: Sender,
    /// Whether it has carried an exchange before (a failure on a reused connection is retried
    /// once on a fresh one: the server may have closed it while idle).
    pub reused: bool,
}

/// The open connections of one pool.
#[derive(Debug, Default)]
pub struct ConnSet {
    idle: Vec<Conn>,
}

impl ConnSet {
    /// Takes a usable connection to `origin`, if the set has one.
    pub fn checkout(&mut self, origin: &Origin) -> Option<Conn> {
        self.idle.retain(|c| !c.sender.is_closed());
        let pos = self.idle.iter().position(|c| &c.origin == origin)?;
        match &self.idle[pos].sender {
            Sender::H2(s) => Some(Conn {
                origin: origin.clone(),
                sender: Sender::H2(s.clone()),
                reused: true,
            }),
            Sender::H1(..) => {
                let mut conn = self.idle.swap_remove(pos);
                conn.reused = true;
                Some(conn)
            }
        }
    }

    /// Returns a connection after an exchange (an HTTP/2 connection is already in the set).
    pub fn checkin(&mut self, conn: Conn) {
        let open = !conn.sender.is_closed();
        let h2_pooled = matches!(conn.sender, Sender::H2(_))
            && self
                .idle
                .iter()
                .any(|c| c.origin == conn.origin && matches!(c.sender, Sender::H2(_)));
        if open && !h2_pooled {
            self.idle.push(conn);
        }
    }

    /// Number of pooled connections.
    pub fn len(&self) -> usize {
        self.idle.len()
    }
}

/// What [`connect`] needs besides the origin.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// Protocol version.
    pub version: HttpVersion,
    /// TCP + TLS + handshake time limit.
    pub timeout: Duration,
    /// Where connections may go, checked on every resolved address.
    pub policy: TargetPolicy,
    /// TLS configuration for `https` origins.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// Opens a connection to `origin`.
pub async fn connect(origin: &Origin, settings: &ConnectSettings) -> Result<Conn, RequestError> {
    match tokio::time::timeout(settings.timeout, connect_inner(origin, settings)).await {
        Ok(result) => result,
        Err(_) => Err(RequestError::Connect(format!(
            "timeout after {:?}",
            settings.timeout
        ))),
    }
}

async fn connect_inner(origin: &Origin, settings: &ConnectSettings) -> Result<Conn, RequestError> {
    let addr = resolve(origin, &settings.policy).await?;
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| RequestError::Connect(io_kind(&e)))?;
    // Small requests must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let sender = if origin.tls {
        let config = settings
            .tls
            .clone()
            .ok_or_else(|| RequestError::Connect("tls is not configured".into()))?;
        let name = ServerName::try_from(origin.host.clone()).map_err(|_| {
            RequestError::InvalidUrl(format!("bad tls server name `{}`", origin.host))
        })?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await
            .map_err(|e| RequestError::Connect(format!("tls: {e}")))?;
        handshake(TokioIo::new(tls), settings.version).await?
    } else {
        handshake(TokioIo::new(stream), settings.version).await?
    };
    Ok(Conn {
        origin: origin.clone(),
        sender,
        reused: false,
    })
}

async fn resolve(origin: &Origin, policy: &TargetPolicy) -> Result<SocketAddr, RequestError> {
    let addrs: Vec<SocketAddr> = match origin.host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, origin.port)],
        Err(_) => tokio::net::lookup_host((origin.host.as_str(), origin.port))
            .await
            .map_err(|e| RequestError::Dns(format!("{}: {}", origin.host, io_kind(&e))))?
            .collect(),
    };
    let mut refusal = None;
    for addr in addrs {
        match policy.refusal(&origin.host, addr.ip(), origin.port) {
            None => return Ok(addr),
            Some(why) => {
                refusal.get_or_insert(why);
            }
        }
    }
    Err(match refusal {
        Some(why) => RequestError::NotAllowed(why),
        None => RequestError::Dns(format!("{}: no address", origin.host)),
    })
}

async fn handshake<I>(io: I, version: HttpVersion) -> Result<Sender, RequestError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    match version {
        HttpVersion::Http1 => {
            let (sender, conn) = http1::Builder::new()
                .handshake(io)
                .await
                .map_err(|e| RequestError::Connect(format!("http/1.1 handshake: {e}")))?;
            Ok(Sender::H1(sender, Some(Box::pin(conn))))
        }
        HttpVersion::Http2 => {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await
                .map_err(|e| RequestError::Connect(format!("http/2 handshake: {e}")))?;
            // The connection task ends by itself when every sender is dropped or the peer
            // closes: it lives as long as the pooled senders, as hyper's API intends.
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Sender::H2(sender))
        }
    }
}

/// A short, stable description of an I/O error (so error counts aggregate).
pub fn io_kind(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        ConnectionAborted => "connection aborted".into(),
        TimedOut => "timed out".into(),
        AddrNotAvailable => "address not available".into(),
        _ => e.to_string(),
    }
}
