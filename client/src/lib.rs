//! A client of the master REST API (`/api/v1`), for the CLI, tests and benchmarks.
//!
//! Every master answers the API (writes are forwarded to the leader), so a [`Client`] holds
//! the addresses of several masters and moves to the next one when a master cannot be reached,
//! times out or answers 503 (no leader known yet); it remembers the last one that answered.
//! Each request runs over a fresh HTTP/1.1 connection with a deadline — the API is not chatty
//! enough for pooling to matter, and a fresh connection never talks to a dead peer.
//!
//! Errors: [`ClientError::Unreachable`] when no master answered, [`ClientError::Api`] for an
//! error status (with the decoded `application/problem+json` detail when there is one).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

/// Longest silence of an event stream before it counts as broken.
pub const STREAM_SILENCE: Duration = Duration::from_secs(45);

/// Default deadline of one request to one master.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Whole body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `content-type` header ("" without one).
    pub fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `detail` of a problem+json body, or the body text.
    pub fn detail(&self) -> String {
        match self.json()["detail"].as_str() {
            Some(d) => d.to_owned(),
            None => self.text(),
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No master could be reached (every address refused, timed out or had no leader).
    #[error("no master answered ({tried}): {last}")]
    Unreachable {
        /// Addresses tried.
        tried: String,
        /// The last failure.
        last: String,
    },
    /// A master answered with an error status.
    #[error("{status}: {detail}")]
    Api {
        /// Status code.
        status: u16,
        /// Problem detail or body text.
        detail: String,
        /// The whole reply (e.g. the located `errors` of a 422).
        reply: Box<Reply>,
    },
    /// A 2xx body that is not the expected JSON.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

/// A client of one cluster.
#[derive(Debug)]
pub struct Client {
    masters: Vec<String>,
    timeout: Duration,
    /// Index of the master that answered last.
    current: AtomicUsize,
}

/// `host:port` from an address or an `http://host:port[/]` URL.
fn authority(master: &str) -> String {
    master
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

impl Client {
    /// A client of the masters at `masters` (`host:port` or `http://host:port`).
    pub fn new<S: AsRef<str>>(masters: impl IntoIterator<Item = S>) -> Client {
        Client {
            masters: masters
                .into_iter()
                .map(|m| authority(m.as_ref()))
                .filter(|m| !m.is_empty())
                .collect(),
            timeout: DEFAULT_TIMEOUT,
            current: AtomicUsize::new(0),
        }
    }

    /// The same client with another per-request deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The master addresses.
    pub fn masters(&self) -> &[String] {
        &self.masters
    }

    /// Every master once, with its index, starting with the one that answered last.
    fn rotation(&self) -> impl Iterator<Item = (usize, &String)> {
        let n = self.masters.len();
        let start = self.current.load(Ordering::Relaxed);
        (0..n).map(move |k| {
            let i = (start + k) % n;
            (i, &self.masters[i])
        })
    }

    /// Sends a request to the masters in turn, starting with the last one that answered,
    /// until one answers with anything but 503; returns its reply whatever the status.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, ClientError> {
        let body = body.into();
        let mut last = String::from("no master address given");
        for (i, addr) in self.rotation() {
            match request_one(addr, method, path, headers, body.clone(), self.timeout).await {
                Ok(reply) if reply.status == 503 => last = format!("{addr}: {}", reply.detail()),
                Ok(reply) => {
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(reply);
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(ClientError::Unreachable {
            tried: self.masters.join(", "),
            last,
        })
    }

    /// [`Client::send`], with an error for any status outside 2xx.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, ClientError> {
        let reply = self.send(method, path, headers, body).await?;
        if (200..300).contains(&reply.status) {
            Ok(reply)
        } else {
            Err(ClientError::Api {
                status: reply.status,
                detail: reply.detail(),
                reply: Box::new(reply),
            })
        }
    }

    /// `GET path`, decoded from JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let reply = self.call("GET", path, &[], Bytes::new()).await?;
        serde_json::from_slice(&reply.body).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// The state of job `id` (`completed`, `running`, …), or an empty string when it cannot
    /// be read.
    pub async fn job_state(&self, id: u64) -> String {
        self.get_json::<serde_json::Value>(&format!("/api/v1/jobs/{id}"))
            .await
            .ok()
            .and_then(|j| j["state"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// `method path` with a JSON body (and an idempotency key when given), decoded from JSON.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> Result<T, ClientError> {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(key) = idempotency_key {
            headers.push(("idempotency-key", key));
        }
        let reply = self
            .call(method, path, &headers, Bytes::from(body.to_string()))
            .await?;
        serde_json::from_slice(&reply.body).map_err(|e| ClientError::Decode(e.to_string()))
    }
}

/// Whether a job in `state` has ended (completed, failed or aborted).
pub fn job_ended(state: &str) -> bool {
    matches!(state, "completed" | "failed" | "aborted")
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `event:` (empty for unnamed events).
    pub event: String,
    /// `data:` lines joined with newlines.
    pub data: String,
}

/// A stream of Server-Sent Events from one master.
pub struct EventStream {
    body: hyper::body::Incoming,
    buffer: String,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    /// The next event; `None` when the server ended the stream (or the connection broke).
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Event {
                    event: String::new(),
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event.event = v.trim_start().to_owned();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !event.data.is_empty() {
                            event.data.push('\n');
                        }
                        event.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                // Comments (keep-alives) carry nothing.
                if any {
                    return Some(event);
                }
                continue;
            }
            // Servers send a keep-alive comment every 15 s: a stream silent for much longer
            // than that is broken (a paused or cut-off master), and ends here.
            let frame = tokio::time::timeout(STREAM_SILENCE, self.body.frame())
                .await
                .ok()??
                .ok()?;
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }
}

impl Client {
    /// Opens an event stream (`GET path`, `text/event-stream`) on the first master that
    /// answers 200.
    pub async fn events(&self, path: &str) -> Result<EventStream, ClientError> {
        let mut last = String::from("no master address given");
        for (_, addr) in self.rotation() {
            match open_stream(addr, path, self.timeout).await {
                Ok(Ok(body)) => {
                    return Ok(EventStream {
                        body,
                        buffer: String::new(),
                    })
                }
                Ok(Err(reply)) if reply.status != 503 => {
                    return Err(ClientError::Api {
                        status: reply.status,
                        detail: reply.detail(),
                        reply: Box::new(reply),
                    })
                }
                Ok(Err(reply)) => last = format!("{addr}: {}", reply.detail()),
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(ClientError::Unreachable {
            tried: self.masters.join(", "),
            last,
        })
    }
}

/// Sends one request to `addr` over a fresh connection; the response with its body unread.
async fn send_one(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, addr);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let request = builder
        .body(Full::new(body))
        .map_err(|e| format!("request: {e}"))?;
    sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))
}

/// Reads a whole response.
async fn read_reply(response: hyper::Response<hyper::body::Incoming>) -> Result<Reply, String> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Opens `GET path` and returns the body to read on, or the whole reply of an error status.
async fn open_stream(
    addr: &str,
    path: &str,
    timeout: Duration,
) -> Result<Result<hyper::body::Incoming, Reply>, String> {
    let headers = [("accept", "text/event-stream")];
    let response =
        tokio::time::timeout(timeout, send_one(addr, "GET", path, &headers, Bytes::new()))
            .await
            .map_err(|_| format!("no answer within {timeout:?}"))??;
    if response.status().as_u16() == 200 {
        return Ok(Ok(response.into_body()));
    }
    tokio::time::timeout(timeout, read_reply(response))
        .await
        .map_err(|_| "body timed out".to_owned())?
        .map(Err)
}

/// One request to one master over a fresh connection, whatever the status (no failover).
pub async fn request_one(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    timeout: Duration,
) -> Result<Reply, String> {
    let exchange = async { read_reply(send_one(addr, method, path, headers, body).await?).await };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_urls_are_accepted() {
        let c = Client::new(["http://127.0.0.1:8081/", "127.0.0.1:8082", " "]);
        assert_eq!(c.masters(), ["127.0.0.1:8081", "127.0.0.1:8082"]);
    }

    #[tokio::test]
    async fn an_unreachable_cluster_is_a_clear_error() {
        // A port nobody listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let c = Client::new([format!("127.0.0.1:{port}")]).with_timeout(Duration::from_secs(2));
        let err = c
            .get_json::<serde_json::Value>("/api/v1/cluster")
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("connect"), "{err}");
        assert!(matches!(
            Client::new(Vec::<String>::new())
                .send("GET", "/", &[], Bytes::new())
                .await,
            Err(ClientError::Unreachable { .. })
        ));
    }
}
