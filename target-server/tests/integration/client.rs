//! Minimal HTTP client helpers for the tests: HTTP/1.1 and HTTP/2 over any
//! IO (plain TCP or TLS), every wait bounded by a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use broadside_target::{StatsSnapshot, TargetHandle};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Upper bound for any single network step in the tests.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Awaits `future`, failing the test if it takes longer than [`DEADLINE`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("operation exceeded the test deadline")
}

/// Polls `condition` every few milliseconds until it holds, or fails after
/// [`DEADLINE`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls the handle's stats until `condition` holds; returns that snapshot.
pub async fn wait_for_stats(
    target: &TargetHandle,
    what: &str,
    condition: impl Fn(&StatsSnapshot) -> bool,
) -> StatsSnapshot {
    let stats = target.stats();
    let mut last = stats.snapshot();
    wait_until(what, || {
        last = stats.snapshot();
        condition(&last)
    })
    .await;
    last
}

/// A fully read response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    async fn read(response: Response<Incoming>) -> Reply {
        let (parts, body) = response.into_parts();
        let body = within(body.collect())
            .await
            .expect("response body")
            .to_bytes();
        Reply {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        }
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text ("" if absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }
}

/// Builds a request for `path` with an optional body and extra headers.
/// `authority` is used as Host (HTTP/1) or in the absolute URI (HTTP/2).
pub fn request(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(body.into())).expect("valid request")
}

/// A GET request for `path`.
pub fn get(path: &str) -> Request<Full<Bytes>> {
    request(Method::GET, path, &[], Bytes::new())
}

/// An HTTP/1.1 client connection.
pub struct H1 {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl H1 {
    /// Opens a plain-text connection to `addr`.
    pub async fn connect(addr: SocketAddr) -> H1 {
        let stream = within(TcpStream::connect(addr)).await.expect("connect");
        H1::over(stream, addr).await
    }

    /// Runs HTTP/1.1 over an established stream.
    pub async fn over<I>(io: I, addr: SocketAddr) -> H1
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = within(http1::handshake(TokioIo::new(io)))
            .await
            .expect("HTTP/1 handshake");
        tokio::spawn(connection);
        H1 {
            sender,
            host: addr.to_string(),
        }
    }

    /// Sends `request` (adding Host) and reads the whole response.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Reply {
        self.try_send(request).await.expect("HTTP/1 request")
    }

    /// Like [`H1::send`] but returns transport errors.
    pub async fn try_send(
        &mut self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Reply, hyper::Error> {
        let host = self.host.parse().expect("host header");
        request
            .headers_mut()
            .entry(http::header::HOST)
            .or_insert(host);
        within(self.sender.ready()).await?;
        let response = within(self.sender.send_request(request)).await?;
        Ok(Reply::read(response).await)
    }

    /// GETs `path`.
    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(get(path)).await
    }
}

/// An HTTP/2 client connection (cheap to clone; clones share the connection).
#[derive(Clone)]
pub struct H2 {
    sender: http2::SendRequest<Full<Bytes>>,
    base: String,
}

impl H2 {
    /// Opens a prior-knowledge (h2c) connection to `addr`.
    pub async fn connect(addr: SocketAddr) -> H2 {
        let stream = within(TcpStream::connect(addr)).await.expect("connect");
        H2::over(stream, format!("http://{addr}")).await
    }

    /// Runs HTTP/2 over an established stream; `base` is `scheme://authority`.
    pub async fn over<I>(io: I, base: String) -> H2
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = within(http2::handshake(TokioExecutor::new(), TokioIo::new(io)))
            .await
            .expect("HTTP/2 handshake");
        tokio::spawn(connection);
        H2 { sender, base }
    }

    /// Sends `request` (making its URI absolute) and reads the whole response.
    pub async fn send(&mut self, mut request: Request<Full<Bytes>>) -> Reply {
        let uri = format!("{}{}", self.base, request.uri());
        *request.uri_mut() = uri.parse().expect("absolute URI");
        *request.version_mut() = Version::HTTP_2;
        within(self.sender.ready()).await.expect("HTTP/2 ready");
        let response = within(self.sender.send_request(request))
            .await
            .expect("HTTP/2 request");
        Reply::read(response).await
    }

    /// GETs `path`.
    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(get(path)).await
    }
}

/// GETs `path` over a fresh HTTP/1.1 connection.
pub async fn get_once(addr: SocketAddr, path: &str) -> Reply {
    H1::connect(addr).await.get(path).await
}

/// Sends `request` over a fresh HTTP/1.1 connection.
pub async fn send_once(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    H1::connect(addr).await.send(request).await
}

/// Spawns a plain-text target on `127.0.0.1:0`.
pub async fn spawn_target() -> TargetHandle {
    broadside_target::Target::spawn(broadside_target::TargetConfig::ephemeral())
        .await
        .expect("spawn target")
}
