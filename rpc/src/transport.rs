//! The framed TCP transport shared by every service: one listener per master carries both
//! the master↔master and the worker→master services.
//!
//! A connection opens with a 4-byte preamble — `B`, `S`, the protocol version and the
//! service tag — and then carries tarpc messages, length-delimited and bincode-encoded
//! (tarpc's codec is bincode 1; the store's records use bincode 2 — see ARCHITECTURE.md).
//! Frames are limited to [`MAX_FRAME_BYTES`] on both sides; every message the cluster sends
//! (append batches, snapshot chunks, file chunks) is kept below it.

use std::io;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tarpc::tokio_serde::formats::Bincode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::LengthDelimitedCodec;

/// Largest frame either side accepts.
pub const MAX_FRAME_BYTES: usize = 96 << 20;

/// Version of the preamble and message formats; a peer speaking another version is refused.
pub const PROTOCOL_VERSION: u8 = 3;

/// How long a new connection may take to send its preamble.
pub const PREAMBLE_TIMEOUT: Duration = Duration::from_secs(5);

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
}

/// A tarpc transport over one TCP connection.
pub type Transport<Item, SinkItem> =
    tarpc::serde_transport::Transport<TcpStream, Item, SinkItem, Bincode<Item, SinkItem>>;

/// Wraps a connected stream (preamble already exchanged) into a tarpc transport.
pub fn framed<Item, SinkItem>(stream: TcpStream) -> Transport<Item, SinkItem>
where
    Item: DeserializeOwned,
    SinkItem: Serialize,
{
    let framed = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME_BYTES)
        .new_framed(stream);
    tarpc::serde_transport::new(framed, Bincode::default())
}

/// Environment variable of the dial map, a fault-injection hook for tests: `A=B,C=D` makes
/// this process connect to `B` whenever it means `A`, so that a test can put a proxy that
/// delays, drops or cuts traffic on every link between two processes.
pub const DIAL_MAP_ENV: &str = "BROADSIDE_DIAL_MAP";

/// Where to connect to reach `addr` (itself unless the dial map says otherwise).
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

/// Connects to `addr` for `kind` within `timeout` and sends the preamble.
pub async fn connect(addr: &str, kind: ServiceKind, timeout: Duration) -> io::Result<TcpStream> {
    let target = dial_target(addr);
    let mut stream = tokio::time::timeout(timeout, TcpStream::connect(target.as_str()))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr}")))??;
    stream.set_nodelay(true)?;
    stream
        .write_all(&[b'B', b'S', PROTOCOL_VERSION, kind.tag()])
        .await?;
    Ok(stream)
}

/// Reads a new connection's preamble and returns the service it asks for.
pub async fn accept(stream: &mut TcpStream) -> io::Result<ServiceKind> {
    stream.set_nodelay(true)?;
    let mut preamble = [0u8; 4];
    tokio::time::timeout(PREAMBLE_TIMEOUT, stream.read_exact(&mut preamble))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no preamble"))??;
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
    ServiceKind::from_tag(preamble[3])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown service tag"))
}

/// A tarpc context whose deadline is `timeout` from now.
pub fn context_with_timeout(timeout: Duration) -> tarpc::context::Context {
    let mut ctx = tarpc::context::current();
    ctx.deadline = std::time::Instant::now() + timeout;
    ctx
}
