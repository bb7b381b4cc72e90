//! The transport shared by every service: one listener per master carries both the
//! master↔master and the worker→master services, over TLS with the cluster CA
//! ([`Security::Tls`]) or, when every listener is on loopback, plain TCP ([`Security::Plain`]).
//!
//! A connection (after the TLS handshake) opens with a preamble — `B`, `S`, the protocol
//! version, the service tag, then a 2-byte length and that many bytes of a joined worker's
//! [`Credential`] (length 0: none) — and then carries tarpc messages, length-delimited
//! and bincode-encoded (tarpc's codec is bincode 1; the store's records use bincode 2 — see
//! ARCHITECTURE.md). Frames are limited per service ([`ServiceKind::max_frame_bytes`]) on both
//! sides; every message the cluster sends (append batches, snapshot chunks, file chunks) is
//! kept below it. The handshake and the preamble must arrive within [`HANDSHAKE_TIMEOUT`].
//!
//! Who called is the [`Caller`] of an accepted connection: the identity its certificate names
//! (verified against the CA by the handshake), the credential a joined worker presented (which
//! the masters check against their replicated identities), none when it presented neither, or
//! unchecked in plain mode. The services decide what each may do.

use std::io;
use std::path::PathBuf;
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
pub const PROTOCOL_VERSION: u8 = 5;

/// Longest credential a preamble may carry.
pub const MAX_CREDENTIAL_BYTES: usize = 512;

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
            Security::Tls(tls) => write!(f, "Tls({:?})", tls.current().material.identity()),
        }
    }
}

/// The TLS side of [`Security`]: the material in service (replaced whole when its files are
/// read again) and the credential presented with it.
pub struct Tls {
    state: Arc<TlsState>,
    credential: Option<Credential>,
}

/// The material in service, and the files it is read from (none when it was given in memory).
struct TlsState {
    current: parking_lot::RwLock<Arc<Material>>,
    files: Option<TlsFiles>,
}

/// The material and the configurations built from it once.
struct Material {
    material: ClusterTls,
    acceptor: Option<TlsAcceptor>,
    connector: TlsConnector,
}

impl Material {
    fn new(material: ClusterTls) -> Result<Material, broadside_pki::Error> {
        let acceptor = match material.identity() {
            Some(Identity::Master(_)) => Some(TlsAcceptor::from(material.server_config()?)),
            _ => None,
        };
        let connector = TlsConnector::from(material.client_config()?);
        Ok(Material {
            material,
            acceptor,
            connector,
        })
    }
}

impl Tls {
    fn current(&self) -> Arc<Material> {
        self.state.current.read().clone()
    }
}

/// Where a process's cluster TLS material is on disk: the CA, and its certificate and key
/// (none for a worker that joins with a join token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The cluster CA's certificate.
    pub ca: PathBuf,
    /// This process's certificate and its key.
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl TlsFiles {
    /// The material the files hold now.
    fn read(&self) -> Result<ClusterTls, String> {
        let read = |path: &PathBuf, what: &str| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("--{what}: cannot read {}: {e}", path.display()))
        };
        let ca = read(&self.ca, "ca-cert")?;
        match &self.identity {
            None => ClusterTls::anonymous(&ca).map_err(|e| format!("--ca-cert: {e}")),
            Some((cert, key)) => {
                ClusterTls::from_pem(&ca, &read(cert, "cert")?, &read(key, "key")?)
                    .map_err(|e| format!("--cert {}: {e}", cert.display()))
            }
        }
    }

    fn paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.ca.clone()];
        if let Some((cert, key)) = &self.identity {
            paths.extend([cert.clone(), key.clone()]);
        }
        paths
    }
}

/// What a worker that joined with a join token presents instead of a certificate: the worker
/// id the masters bound to it and the secret they gave it. Its `Debug` form hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The worker id.
    pub worker_id: String,
    /// The secret.
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, secret hidden)", self.worker_id)
    }
}

impl Credential {
    /// `worker_id`, a NUL, the secret.
    fn encode(&self) -> Vec<u8> {
        [self.worker_id.as_bytes(), b"\0", self.secret.as_bytes()].concat()
    }

    fn decode(bytes: &[u8]) -> Option<Credential> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (worker_id, secret) = text.split_once('\0')?;
        (!worker_id.is_empty() && !secret.is_empty()).then(|| Credential {
            worker_id: worker_id.to_owned(),
            secret: secret.to_owned(),
        })
    }
}

impl Security {
    /// TLS with this material; a process with a master's certificate can also accept.
    pub fn tls(material: ClusterTls) -> Result<Security, broadside_pki::Error> {
        Ok(Security::with_state(Material::new(material)?, None))
    }

    /// TLS with the material in `files`, read again when they change ([`Security::watch`]).
    pub fn from_files(files: TlsFiles) -> Result<Security, String> {
        let material = Material::new(files.read()?).map_err(|e| e.to_string())?;
        Ok(Security::with_state(material, Some(files)))
    }

    fn with_state(material: Material, files: Option<TlsFiles>) -> Security {
        Security::Tls(Arc::new(Tls {
            state: Arc::new(TlsState {
                current: parking_lot::RwLock::new(Arc::new(material)),
                files,
            }),
            credential: None,
        }))
    }

    /// Puts `material` in service for the connections made or accepted from now on. It must
    /// name the same identity (a renewed certificate), or it is refused.
    pub fn reload(&self, material: ClusterTls) -> Result<(), String> {
        let Security::Tls(tls) = self else {
            return Err("plain TCP has no certificate to reload".to_owned());
        };
        let name =
            |who: Option<&Identity>| who.map_or_else(|| "nobody".to_owned(), ToString::to_string);
        let before = tls.current();
        if material.identity() != before.material.identity() {
            return Err(format!(
                "the new certificate names {}, this process is {}",
                name(material.identity()),
                name(before.material.identity())
            ));
        }
        let material = Material::new(material).map_err(|e| e.to_string())?;
        *tls.state.current.write() = Arc::new(material);
        Ok(())
    }

    /// Reads the files this security came from again whenever they change or the process
    /// receives SIGHUP, until `stop` completes (at once without files).
    pub async fn watch(self, stop: impl std::future::Future<Output = ()>) {
        let files = match &self {
            Security::Tls(tls) => tls.state.files.clone(),
            Security::Plain => None,
        };
        let Some(files) = files else {
            return;
        };
        let paths = files.paths();
        let watched =
            crate::reload::Watched::new("cluster port", paths, move || self.reload(files.read()?));
        watched.watch(stop).await;
    }

    /// The same, presenting `credential` on every connection (a worker that joined with a
    /// join token and holds no certificate); it shares the material, reloads included. Plain
    /// mode checks nobody and sends none.
    pub fn with_credential(&self, credential: Credential) -> Security {
        match self {
            Security::Plain => Security::Plain,
            Security::Tls(tls) => Security::Tls(Arc::new(Tls {
                state: tls.state.clone(),
                credential: Some(credential),
            })),
        }
    }

    /// The credential this process presents, if it joined with a join token.
    pub fn credential(&self) -> Option<&Credential> {
        match self {
            Security::Plain => None,
            Security::Tls(tls) => tls.credential.as_ref(),
        }
    }

    /// Whether connections are encrypted and authenticated.
    pub fn is_tls(&self) -> bool {
        matches!(self, Security::Tls(_))
    }

    /// Who this process's certificate says it is.
    pub fn identity(&self) -> Option<Identity> {
        match self {
            Security::Plain => None,
            Security::Tls(tls) => tls.current().material.identity().cloned(),
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
    /// no certificate (or one naming no broadside identity) and no credential.
    Verified(Option<Identity>),
    /// TLS without a certificate, presenting a joined worker's credential: who it claims to be,
    /// not yet checked (the masters hold the identities).
    Claims(Credential),
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
            let handshake = tls.current().connector.connect(name, tcp);
            let stream = tokio::time::timeout(timeout, handshake)
                .await
                .map_err(timed_out(format!("TLS handshake with {addr}")))??;
            Either::Right(tokio_rustls::TlsStream::Client(stream))
        }
    };
    let credential = security
        .credential()
        .map(Credential::encode)
        .unwrap_or_default();
    if credential.len() > MAX_CREDENTIAL_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the credential is too long",
        ));
    }
    let mut preamble = vec![b'B', b'S', PROTOCOL_VERSION, kind.tag()];
    preamble.extend_from_slice(&(credential.len() as u16).to_be_bytes());
    preamble.extend_from_slice(&credential);
    stream.write_all(&preamble).await?;
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
            let acceptor = tls.current().acceptor.clone().ok_or_else(|| {
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
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).await?;
    let length = u16::from_be_bytes(length) as usize;
    if length > MAX_CREDENTIAL_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "credential too long",
        ));
    }
    let mut credential = vec![0u8; length];
    stream.read_exact(&mut credential).await?;
    let caller = match caller {
        Caller::Verified(None) if length > 0 => Caller::Claims(
            Credential::decode(&credential)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad credential"))?,
        ),
        other => other,
    };
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
        // One presenting a joined worker's credential claims that worker (the masters check
        // the claim); a certificate's name wins over a credential.
        let credential = Credential {
            worker_id: "joined-1".into(),
            secret: "s3cret".into(),
        };
        assert!(!format!("{credential:?}").contains("s3cret"));
        let joined = anonymous.with_credential(credential.clone());
        let (_, a) = exchange(&master, &joined, Reach::AnyMaster).await;
        assert_eq!(a.unwrap().caller, Caller::Claims(credential.clone()));
        let both = worker.with_credential(credential);
        let (_, a) = exchange(&master, &both, Reach::AnyMaster).await;
        assert_eq!(
            a.unwrap().caller,
            Caller::Verified(Some(Identity::Worker("w1".into())))
        );
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
