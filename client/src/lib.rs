//! A client of the master REST API (`/api/v1`), for the CLI, tests and benchmarks.
//!
//! Every master answers the API (writes are forwarded to the leader), so a [`Client`] holds
//! the addresses of several masters and moves to the next one when a master cannot be reached,
//! times out or answers 503 (no leader known yet); it remembers the last one that answered.
//! Requests go through `reqwest` (pooled connections, a deadline per request).
//!
//! The typed methods ([`Client::submit`], [`Client::job`], [`Client::live`], …) speak the
//! resources of [`broadside_api`]; [`Client::send`] and [`Client::call`] are the raw form for
//! whatever they do not cover.
//!
//! Errors: [`ClientError::Unreachable`] when no master answered, [`ClientError::Api`] for an
//! error status (with the decoded `application/problem+json` body when there is one).

mod events;
mod resources;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;

pub use broadside_api as api;
pub use events::{Event, EventStream, LiveEvent, LiveStream, STREAM_SILENCE};

/// Default deadline of one request to one master.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of establishing a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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

    /// The body decoded as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ClientError::Decode(format!(
                "{e} in {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
            ))
        })
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

    /// The problem details of an error response, if it has them.
    pub fn problem(&self) -> Option<api::Problem> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The `detail` of a problem+json body, or the body text.
    pub fn detail(&self) -> String {
        match self.problem() {
            Some(p) => p.detail,
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

impl ClientError {
    /// The status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The problem details of an API error, if its body has them.
    pub fn problem(&self) -> Option<api::Problem> {
        match self {
            ClientError::Api { reply, .. } => reply.problem(),
            _ => None,
        }
    }

    fn from_reply(reply: Reply) -> ClientError {
        ClientError::Api {
            status: reply.status,
            detail: reply.detail(),
            reply: Box::new(reply),
        }
    }
}

/// rustls (ring) trusting only the certificates of `ca_pem` (PEM, one or more).
fn tls_trusting(ca_pem: &str) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("not a PEM certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("not a usable CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no certificate in it".to_owned());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// rustls (ring) with the web's root certificates, for `https://` masters; built once.
fn tls() -> Option<rustls::ClientConfig> {
    static TLS: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    TLS.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Some(config)
    })
    .clone()
}

/// An HTTP client with its own connection pool (a pool belongs to the tokio runtime that
/// opened its connections, so each [`Client`] has its own rather than sharing one per
/// process), verifying `https://` masters with `tls` (the web's roots by default).
fn http(tls: Option<rustls::ClientConfig>) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        // Below the masters' 15 s idle deadline, so that no pooled connection is one the
        // server is closing.
        .pool_idle_timeout(Duration::from_secs(5));
    let builder = match tls {
        Some(config) => builder.use_preconfigured_tls(config),
        None => builder,
    };
    builder.build().unwrap_or_else(|_| reqwest::Client::new())
}

/// A client of one cluster. Its `Debug` form never shows its token.
pub struct Client {
    http: reqwest::Client,
    /// Base URLs (`http://host:port`).
    masters: Vec<String>,
    timeout: Duration,
    /// `Bearer …` sent with every request, when the client has a token.
    authorization: Option<String>,
    /// Index of the master that answered last.
    current: AtomicUsize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("masters", &self.masters)
            .field("timeout", &self.timeout)
            .field("token", &self.authorization.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// The base URL of a master given as `host:port` or `http(s)://host:port[/]`.
fn base_url(master: &str) -> String {
    let master = master.trim().trim_end_matches('/');
    if master.starts_with("http://") || master.starts_with("https://") {
        master.to_owned()
    } else {
        format!("http://{master}")
    }
}

impl Client {
    /// A client of the masters at `masters` (`host:port` or `http(s)://host:port`).
    pub fn new<S: AsRef<str>>(masters: impl IntoIterator<Item = S>) -> Client {
        Client {
            http: http(tls()),
            masters: masters
                .into_iter()
                .filter(|m| !m.as_ref().trim().is_empty())
                .map(|m| base_url(m.as_ref()))
                .collect(),
            timeout: DEFAULT_TIMEOUT,
            authorization: None,
            current: AtomicUsize::new(0),
        }
    }

    /// The same client sending `token` (`bst_…`) with every request.
    pub fn with_token(mut self, token: impl AsRef<str>) -> Client {
        let token = token.as_ref().trim();
        self.authorization = (!token.is_empty()).then(|| format!("Bearer {token}"));
        self
    }

    /// The same client verifying `https://` masters against the CA certificate(s) `ca_pem`
    /// (PEM) only, instead of the web's roots: a cluster with its own CA.
    pub fn with_ca_cert(mut self, ca_pem: &str) -> Result<Client, String> {
        self.http = http(Some(tls_trusting(ca_pem)?));
        Ok(self)
    }

    /// The same client with another per-request deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The masters' base URLs.
    pub fn masters(&self) -> &[String] {
        &self.masters
    }

    /// The base URL of the master that answered last (the first one before any answer).
    pub fn current_master(&self) -> &str {
        let i = self.current.load(Ordering::Relaxed);
        self.masters.get(i).map_or("", String::as_str)
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

    fn unreachable(&self, last: String) -> ClientError {
        ClientError::Unreachable {
            tried: self.masters.join(", "),
            last,
        }
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
        let headers = self.with_authorization(headers);
        let mut last = String::from("no master address given");
        for (i, base) in self.rotation() {
            let sent = exchange(
                &self.http,
                base,
                method,
                path,
                &headers,
                body.clone(),
                self.timeout,
            );
            match sent.await {
                Ok(reply) if reply.status == 503 => last = format!("{base}: {}", reply.detail()),
                Ok(reply) => {
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(reply);
                }
                Err(e) => last = format!("{base}: {e}"),
            }
        }
        Err(self.unreachable(last))
    }

    /// `headers` and the client's `Authorization`, unless they carry their own.
    fn with_authorization<'a>(&'a self, headers: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut all = headers.to_vec();
        let own = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if let (Some(value), false) = (&self.authorization, own) {
            all.push(("authorization", value.as_str()));
        }
        all
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
            Err(ClientError::from_reply(reply))
        }
    }

    /// `GET path`, decoded from JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call("GET", path, &[], Bytes::new()).await?.decode()
    }

    /// `method path` with `body` as JSON (and an idempotency key when given), decoded from
    /// JSON.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &impl serde::Serialize,
        idempotency_key: Option<&str>,
    ) -> Result<T, ClientError> {
        let body =
            serde_json::to_vec(body).map_err(|e| ClientError::Decode(format!("request: {e}")))?;
        let mut headers = vec![("content-type", "application/json")];
        if let Some(key) = idempotency_key {
            headers.push((api::IDEMPOTENCY_KEY, key));
        }
        self.call(method, path, &headers, body).await?.decode()
    }
}

/// Builds and sends one request to `base`; its response with the body unread.
async fn start(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<reqwest::Response, String> {
    let method =
        reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| format!("method: {e}"))?;
    let mut request = http.request(method, format!("{base}{path}"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request: {}", chain(&e)))
}

/// An error with its sources, one sentence.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Reads a whole response.
async fn read_reply(response: reqwest::Response) -> Result<Reply, String> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("body: {}", chain(&e)))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// One whole exchange with `base`, within `timeout`.
async fn exchange(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    timeout: Duration,
) -> Result<Reply, String> {
    let exchange =
        async { read_reply(start(http, base, method, path, headers, body).await?).await };
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
        assert_eq!(
            c.masters(),
            ["http://127.0.0.1:8081", "http://127.0.0.1:8082"]
        );
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
