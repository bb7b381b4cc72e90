//! The transport shared by every service: one listener per master carries both the
//! master↔master and the worker→master services, over TLS with the cluster CA
//! ([`Security::Tls`]) or, when every listener is on loopback, plain TCP ([`Security::Plain`]).
//!
//! A connection (after the TLS handshake) opens with a 4-byte preamble — `B`, `S`, the
//! protocol version and the service tag — and then carries tarpc messages, length-delimited
//! and bincode-encoded (tarpc's codec is bincode 1; the store's records use bincode 2 — see
//! ARCHITECTURE.md). Frames are limited per service ([`ServiceKind::max_frame_bytes`]) on both
//! sides; every message the cluster sends (append batches, snapshot chunks, file chunks) is
//! kept below it. The handshake and the preamble must arrive within [`HANDSHAKE_TIMEOUT`].
//!
//! Who called is the [`Caller`] of an accepted connection: the identity its certificate names
//! (verified against the CA by the handshake), none when it presented no certificate, or
//! unchecked in plain mode. The services decide what each may do.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use broadside_pki::tls::{master_server_name, peer_identity, ClusterTls, ANY_MASTER};
use broadside_pki::Identity;
use rustls::pki_types::ServerName;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tarpc::tokio_serde::formats::Bincode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::codec::LengthDelimitedCodec;
use tokio_util::either::Either;

/// Largest frame of the master↔master service (append batches and snapshot chunks).
pub const MAX_FRAME_BYTES: usize = 96 << 20;

/// Largest frame of the worker→master service (heartbeats with their deltas, 1 MiB file
/// chunks, assignments).
pub const MAX_WORKER_FRAME_BYTES: usize = 16 << 20;

/// Version of the preamble and message formats; a peer speaking another version is refused.
pub const PROTOCOL_VERSION: u8 = 4;

/// How long a new connection may take to finish the TLS handshake and send its preamble.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which service a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// Master ↔ master: Raft, forwarded writes, status.
    Raft,
    /// Worker → master: registration, pull, heartbeats, completion, file chunks.
    Worker,
}

impl ServiceKind {
    fn tag(self) -> u8 {
        match self {
            ServiceKind::Raft => b'R',
            ServiceKind::Worker => b'W',
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            b'R' => Some(ServiceKind::Raft),
            b'W' => Some(ServiceKind::Worker),
            _ => None,
        }
    }

    /// The largest frame this service sends or accepts.
    pub fn max_frame_bytes(self) -> usize {
        match self {
            ServiceKind::Raft => MAX_FRAME_BYTES,
            ServiceKind::Worker => MAX_WORKER_FRAME_BYTES,
        }
    }
}

/// How a process's cluster connections are secured.
#[derive(Clone)]
pub enum Security {
    /// Plain TCP, for a process whose every listener and peer is on loopback (the tests, a
    /// one-machine cluster): nobody is authenticated.
    Plain,
    /// TLS with the cluster CA.
    Tls(Arc<Tls>),
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Security::Plain => f.write_str("Plain"),
            Security::Tls(tls) => write!(f, "Tls({:?})", tls.material.identity()),
        }
    }
}

/// The TLS side of [`Security`]: the material and the configurations built from it once.
pub struct Tls {
    material: ClusterTls,
    acceptor: Option<TlsAcceptor>,
    connector: TlsConnector,
}

impl Security {
    /// TLS with this material; a process with a master's certificate can also accept.
    pub fn tls(material: ClusterTls) -> Result<Security, broadside_pki::Error> {
        let acceptor = match material.identity() {
            Some(Identity::Master(_)) => Some(TlsAcceptor::from(material.server_config()?)),
            _ => None,
        };
        let connector = TlsConnector::from(material.client_config()?);
        Ok(Security::Tls(Arc::new(Tls {
            material,
            acceptor,
            connector,
        })))
    }

    /// Whether connections are encrypted and authenticated.
    pub fn is_tls(&self) -> bool {
        matches!(self, Security::Tls(_))
    }

    /// Who this process's certificate says it is.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Security::Plain => None,
            Security::Tls(tls) => tls.material.identity(),
        }
    }
}

/// Which master a connection must reach: with TLS, a server whose certificate names another
/// identity is refused during the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Master `id` and no other (a peer, a leader hint).
    Master(u64),
    /// Any master of the cluster (a seed address whose node id is not known).
    AnyMaster,
}

/// Who is at the other end of an accepted connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Plain mode: nobody is authenticated, everything is allowed (loopback only).
    Unchecked,
    /// TLS: the identity the caller's verified certificate names, or none when it presented
    /// no certificate (or one naming no broadside identity).
    Verified(Option<Identity>),
}

/// A connection, encrypted or not.
pub type Stream = Either<TcpStream, tokio_rustls::TlsStream<TcpStream>>;

/// A tarpc transport over one connection.
pub type Transport<Item, SinkItem> =
    tarpc::serde_transport::Transport<Stream, Item, SinkItem, Bincode<Item, SinkItem>>;

/// Wraps a connected stream (preamble already exchanged) into a tarpc transport for `kind`.
pub fn framed<Item, SinkItem>(stream: Stream, kind: ServiceKind) -> Transport<Item, SinkItem>
where
    Item: DeserializeOwned,
    SinkItem: Serialize,
{
    let framed = LengthDelimitedCodec::builder()
        .max_frame_length(kind.max_frame_bytes())
        .new_framed(stream);
    tarpc::serde_transport::new(framed, Bincode::default())
}

/// Environment variable of the dial map, a fault-injection hook for tests: `A=B,C=D` makes
/// this process connect to `B` whenever it means `A`, so that a test can put a proxy that
/// delays, drops or cuts traffic on every link between two processes. Read only in builds with
/// the `dial-map` feature (the harness's), never by the shipped binary.
pub const DIAL_MAP_ENV: &str = "BROADSIDE_DIAL_MAP";

/// Where to connect to reach `addr`: itself.
#[cfg(not(feature = "dial-map"))]
fn dial_target(addr: &str) -> String {
    addr.to_owned()
}

/// Where to connect to reach `addr` (itself unless the dial map says otherwise).
#[cfg(feature = "dial-map")]
fn dial_target(addr: &str) -> String {
    static MAP: std::sync::OnceLock<std::collections::HashMap<String, String>> =
        std::sync::OnceLock::new();
    let map = MAP.get_or_init(|| {
        std::env::var(DIAL_MAP_ENV)
            .unwrap_or_default()
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(from, to)| (from.trim().to_owned(), to.trim().to_owned()))
            .collect()
    });
    map.get(addr).cloned().unwrap_or_else(|| addr.to_owned())
}

/// Whether `host:port` names a loopback address (an IP literal or `localhost`): where plain
/// TCP is allowed.
pub fn on_loopback(host_port: &str) -> bool {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn timed_out(what: String) -> impl FnOnce(tokio::time::error::Elapsed) -> io::Error {
    move |_| io::Error::new(io::ErrorKind::TimedOut, what)
}

/// Connects to `addr` for `kind` within `timeout`, authenticates the master there as `reach`
/// says (with TLS), and sends the preamble.
pub async fn connect(
    addr: &str,
    kind: ServiceKind,
    reach: Reach,
    security: &Security,
    timeout: Duration,
) -> io::Result<Stream> {
    let target = dial_target(addr);
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(target.as_str()))
        .await
        .map_err(timed_out(format!("connect to {addr}")))??;
    tcp.set_nodelay(true)?;
    let mut stream = match security {
        Security::Plain => Either::Left(tcp),
        Security::Tls(tls) => {
            let name = match reach {
                Reach::Master(id) => master_server_name(id),
                Reach::AnyMaster => ANY_MASTER.to_owned(),
            };
            let name = ServerName::try_from(name)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            let handshake = tls.connector.connect(name, tcp);
            let stream = tokio::time::timeout(timeout, handshake)
                .await
                .map_err(timed_out(format!("TLS handshake with {addr}")))??;
            Either::Right(tokio_rustls::TlsStream::Client(stream))
        }
    };
    stream
        .write_all(&[b'B', b'S', PROTOCOL_VERSION, kind.tag()])
        .await?;
    stream.flush().await?;
    Ok(stream)
}

/// An accepted connection, ready for [`framed`].
#[derive(Debug)]
pub struct Accepted {
    /// The connection.
    pub stream: Stream,
    /// The service it asked for.
    pub kind: ServiceKind,
    /// Who called.
    pub caller: Caller,
}

/// Finishes accepting a new connection: the TLS handshake (with TLS) and the preamble, within
/// [`HANDSHAKE_TIMEOUT`].
pub async fn accept(tcp: TcpStream, security: &Security) -> io::Result<Accepted> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, accept_now(tcp, security))
        .await
        .map_err(timed_out("no handshake or preamble in time".to_owned()))?
}

async fn accept_now(tcp: TcpStream, security: &Security) -> io::Result<Accepted> {
    tcp.set_nodelay(true)?;
    let (mut stream, caller) = match security {
        Security::Plain => (Either::Left(tcp), Caller::Unchecked),
        Security::Tls(tls) => {
            let acceptor = tls.acceptor.as_ref().ok_or_else(|| {
                io::Error::new(io::ErrorKind::Unsupported, "this process does not accept")
            })?;
            let stream = acceptor.accept(tcp).await?;
            let caller = Caller::Verified(peer_identity(stream.get_ref().1.peer_certificates()));
            (
                Either::Right(tokio_rustls::TlsStream::Server(stream)),
                caller,
            )
        }
    };
    let mut preamble = [0u8; 4];
    stream.read_exact(&mut preamble).await?;
    if preamble[..2] != *b"BS" {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a broadside connection",
        ));
    }
    if preamble[2] != PROTOCOL_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "protocol version {} (this node speaks {PROTOCOL_VERSION})",
                preamble[2]
            ),
        ));
    }
    let kind = ServiceKind::from_tag(preamble[3])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown service tag"))?;
    Ok(Accepted {
        stream,
        kind,
        caller,
    })
}

/// A tarpc context whose deadline is `timeout` from now.
pub fn context_with_timeout(timeout: Duration) -> tarpc::context::Context {
    let mut ctx = tarpc::context::current();
    ctx.deadline = std::time::Instant::now() + timeout;
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use broadside_pki::{Ca, DEFAULT_VALIDITY};
    use tokio::net::TcpListener;

    fn security(ca: &Ca, who: Identity) -> Security {
        let issued = ca.issue(&who, &[], DEFAULT_VALIDITY).unwrap();
        let tls = ClusterTls::from_pem(ca.cert_pem(), &issued.cert_pem, &issued.key_pem).unwrap();
        Security::tls(tls).unwrap()
    }

    /// Connects `client` to a listener accepting as `server`: what each side got.
    async fn exchange(
        server: &Security,
        client: &Security,
        reach: Reach,
    ) -> (io::Result<Stream>, io::Result<Accepted>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = server.clone();
        let accepted = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            accept(tcp, &server).await
        });
        let connected = connect(
            &addr,
            ServiceKind::Worker,
            reach,
            client,
            Duration::from_secs(5),
        )
        .await;
        (connected, accepted.await.unwrap())
    }

    #[tokio::test]
    async fn plain_connections_are_unchecked() {
        let (c, a) = exchange(&Security::Plain, &Security::Plain, Reach::AnyMaster).await;
        assert!(c.is_ok());
        let a = a.unwrap();
        assert_eq!((a.kind, a.caller), (ServiceKind::Worker, Caller::Unchecked));
    }

    #[tokio::test]
    async fn tls_names_the_caller_and_the_master_reached() {
        let ca = Ca::init("t").unwrap();
        let master = security(&ca, Identity::Master(1));
        let worker = security(&ca, Identity::Worker("w1".into()));
        for reach in [Reach::Master(1), Reach::AnyMaster] {
            let (c, a) = exchange(&master, &worker, reach).await;
            assert!(c.is_ok(), "{reach:?}: {c:?}");
            let caller = a.unwrap().caller;
            assert_eq!(
                caller,
                Caller::Verified(Some(Identity::Worker("w1".into())))
            );
        }
        // A caller with only the CA is verified as nobody.
        let anonymous = Security::tls(ClusterTls::anonymous(ca.cert_pem()).unwrap()).unwrap();
        let (_, a) = exchange(&master, &anonymous, Reach::AnyMaster).await;
        assert_eq!(a.unwrap().caller, Caller::Verified(None));
    }

    #[tokio::test]
    async fn a_client_refuses_another_master_than_the_one_it_meant() {
        let ca = Ca::init("t").unwrap();
        let master = security(&ca, Identity::Master(1));
        let worker = security(&ca, Identity::Worker("w1".into()));
        let (c, a) = exchange(&master, &worker, Reach::Master(2)).await;
        assert!(c.is_err(), "reached master 1 when meaning master 2");
        assert!(a.is_err());
        // A master of another CA is nobody's master.
        let elsewhere = security(&Ca::init("u").unwrap(), Identity::Master(1));
        let (c, a) = exchange(&elsewhere, &worker, Reach::AnyMaster).await;
        assert!(c.is_err() && a.is_err());
        // A plain client gets nowhere with a TLS master.
        let (_, a) = exchange(&master, &Security::Plain, Reach::AnyMaster).await;
        assert!(a.is_err());
    }
}
