//! The in-process cluster sandbox: N masters on loopback ephemeral ports, each with its own data
//! directory and shutdown handle, and raw requests to one master — sent byte for byte as
//! written, over a fresh HTTP/1.1 connection, so that tests can send what a well-behaved client
//! never would (`%2e%2e` segments, bad bodies). Every wait polls with a deadline.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use broadside_master::{LocalCluster, MasterConfig, Timings};
use bytes::Bytes;

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

/// Whether [`exchange`] reads the body of an event stream (which lasts as long as its job).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// Read every response whole.
    Whole,
    /// Of an event stream, only the status and headers.
    HeadOnly,
}

/// One request over a fresh connection, the path sent as it is; the whole response (see
/// [`Streams`]).
async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    streams: Streams,
) -> Result<Reply, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let mut request = http::Request::builder().method(method).uri(path);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request = request.header(http::header::HOST, addr.to_string());
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request
        .body(http_body_util::Full::new(body))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if streams == Streams::HeadOnly
        && headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"))
    {
        return Ok(Reply {
            status,
            headers,
            body: Bytes::new(),
        });
    }
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// The admin token of every sandbox (see [`Sandbox::start`]).
pub fn admin_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(broadside_master::generate_token)
}

/// Sends one request to the master at `addr` (no failover) as the sandbox's admin — unless
/// `headers` carry their own `authorization` (an empty one sends none) — failing the test when
/// it does not answer within [`DEADLINE`].
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    request_reading(addr, method, path, headers, body, Streams::Whole).await
}

/// [`request`], reading event streams as `streams` says.
pub async fn request_reading(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
    streams: Streams,
) -> Reply {
    let bearer = format!("Bearer {}", admin_token());
    let mut headers: Vec<(&str, &str)> = headers.to_vec();
    match headers
        .iter()
        .position(|(k, _)| k.eq_ignore_ascii_case("authorization"))
    {
        None => headers.push(("authorization", &bearer)),
        Some(i) if headers[i].1.is_empty() => {
            headers.remove(i);
        }
        Some(_) => {}
    }
    tokio::time::timeout(
        DEADLINE,
        exchange(addr, method, path, &headers, body.into(), streams),
    )
    .await
    .unwrap_or_else(|_| panic!("{method} {path} on {addr}: no answer within {DEADLINE:?}"))
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
    Timings::fast()
}

/// A cluster of masters in this process ([`LocalCluster`] in a temporary directory).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub cluster: LocalCluster,
}

impl Sandbox {
    /// Starts `n` masters (ids 1..=n) that initialise one cluster.
    pub async fn start(n: u64) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let cluster = LocalCluster::start_with_token(
            n,
            dir.path(),
            test_timings(),
            UPLOAD_LIMIT,
            admin_token().to_owned(),
        )
        .await
        .expect("masters start");
        Sandbox { dir, cluster }
    }

    /// Starts a new master that joins nobody by itself (empty peers); its Raft address.
    pub async fn start_joiner(&mut self, id: u64) -> SocketAddr {
        self.cluster.start_joiner(id).await.expect("master starts")
    }

    /// The configuration of master `id`.
    pub fn config(&self, id: u64) -> &MasterConfig {
        self.cluster.config(id)
    }

    /// REST address of master `id`.
    pub fn http(&self, id: u64) -> SocketAddr {
        self.config(id).listen_http
    }

    /// Ids of the running masters.
    pub fn running(&self) -> Vec<u64> {
        self.cluster.running()
    }

    /// Waits until every running master agrees on one leader, and returns it.
    pub async fn leader(&self) -> u64 {
        eventually("an agreed leader", || async {
            let leaders: Vec<Option<u64>> = self
                .cluster
                .handles()
                .map(|(_, h)| h.node().status().leader)
                .collect();
            let first = leaders.first().copied().flatten()?;
            let agreed = leaders.iter().all(|l| *l == Some(first));
            (agreed && self.running().contains(&first)).then_some(first)
        })
        .await
    }

    /// A running master other than `id`.
    pub fn other_than(&self, id: u64) -> u64 {
        self.running()
            .into_iter()
            .find(|k| *k != id)
            .expect("another master")
    }

    /// Stops master `id` (its data stays).
    pub async fn stop(&mut self, id: u64) {
        self.cluster.stop(id).await;
    }

    /// Restarts a stopped master on its old addresses and data.
    pub async fn restart(&mut self, id: u64) {
        self.cluster.restart(id).await.expect("master restarts");
    }

    pub async fn shutdown(self) {
        self.cluster.shutdown().await;
    }
}
