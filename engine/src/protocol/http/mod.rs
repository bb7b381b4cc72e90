//! HTTP/1.1 and HTTP/2 over hyper's connection API, with TLS (rustls), redirects, cookies and
//! per-user or shared connection pools.

mod conn;
mod cookies;
mod tls;
mod url;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, COOKIE, HOST, LOCATION};
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use parking_lot::Mutex;

pub use conn::Origin;
use conn::{ConnSet, ConnectSettings, Sender};
pub use cookies::CookieJar;
pub use url::{join_url, ParsedUrl};

use super::{PreparedRequest, Protocol, RequestError, Response, TargetPolicy};
use crate::model::{ConnectionMode, HttpProtocol as HttpSettings};

/// Bodies longer than this are read to the end but only this much is kept for checks.
pub const MAX_KEPT_BODY: usize = 16 * 1024 * 1024;

/// The HTTP protocol of a run.
#[derive(Debug)]
pub struct HttpProtocol {
    connect: ConnectSettings,
    follow_redirects: bool,
    max_redirects: u32,
    /// Lower-case names of the headers the simulation marks sensitive.
    sensitive: Vec<String>,
    shared: Option<Mutex<ConnSet>>,
}

/// A virtual user's HTTP state: its own connections (per-user mode) and its cookies.
#[derive(Debug, Default)]
pub struct HttpUser {
    conns: ConnSet,
    cookies: CookieJar,
    /// The last URL parsed: users often hit the same URL again and again.
    last_url: Option<Arc<ParsedUrl>>,
}

impl HttpUser {
    fn parse_url(&mut self, url: &str) -> Result<Arc<ParsedUrl>, RequestError> {
        if let Some(last) = &self.last_url {
            if last.absolute == url {
                return Ok(last.clone());
            }
        }
        let parsed = Arc::new(ParsedUrl::parse(url)?);
        self.last_url = Some(parsed.clone());
        Ok(parsed)
    }

    /// Open pooled connections of this user.
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }
}

impl HttpProtocol {
    /// Builds the protocol from the simulation's settings.
    pub fn new(settings: &HttpSettings, policy: TargetPolicy) -> Result<Self, String> {
        if settings.tls_insecure && !policy.insecure_tls {
            return Err(
                "the simulation sets `http.tls_insecure`, which this worker does not allow \
                        (its operator starts it with --allow-insecure-tls to allow it)"
                    .to_owned(),
            );
        }
        Ok(HttpProtocol {
            connect: ConnectSettings {
                version: settings.version,
                timeout: settings.connect_timeout.get(),
                policy,
                tls: Some(tls::client_config(settings.version, settings.tls_insecure)?),
            },
            follow_redirects: settings.follow_redirects,
            max_redirects: settings.max_redirects,
            sensitive: settings
                .sensitive_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            shared: (settings.connections == ConnectionMode::Shared)
                .then(|| Mutex::new(ConnSet::default())),
        })
    }

    async fn exchange(
        &self,
        user: &mut HttpUser,
        original: &PreparedRequest,
    ) -> Result<Response, RequestError> {
        let mut redirects = 0;
        // Only a redirect needs a modified copy of the request.
        let mut req = std::borrow::Cow::Borrowed(original);
        loop {
            let url = user.parse_url(&req.url)?;
            let response = self.exchange_once(user, &url, &req).await?;
            if !self.follow_redirects || !is_redirect(response.status) {
                return Ok(response);
            }
            let Some(location) = response.headers.get(LOCATION).and_then(|v| v.to_str().ok())
            else {
                return Ok(response);
            };
            if redirects >= self.max_redirects {
                return Err(RequestError::TooManyRedirects(self.max_redirects));
            }
            redirects += 1;
            let next = req.to_mut();
            next.url = url.resolve(location)?;
            if user.parse_url(&next.url)?.origin != url.origin {
                // Credentials meant for one origin are not handed to another, as browsers and
                // curl do (the user's cookie jar still answers for the new origin); nor are the
                // headers the simulation marks sensitive.
                next.headers.retain(|(name, _)| {
                    name != http::header::AUTHORIZATION
                        && name != http::header::PROXY_AUTHORIZATION
                        && name != COOKIE
                        && !self.sensitive.iter().any(|s| s == name.as_str())
                });
            }
            if (301..=303).contains(&response.status) && next.method != Method::HEAD {
                next.method = Method::GET;
                next.body = Bytes::new();
                next.headers.retain(|(name, _)| {
                    name != http::header::CONTENT_TYPE && name != http::header::CONTENT_LENGTH
                });
            }
        }
    }

    async fn exchange_once(
        &self,
        user: &mut HttpUser,
        url: &ParsedUrl,
        req: &PreparedRequest,
    ) -> Result<Response, RequestError> {
        let mut conn = match self.checkout(user, &url.origin) {
            Some(conn) => conn,
            None => self.connect(&url.origin).await?,
        };
        let result = match self.send_on(&mut conn, user, url, req).await {
            Err(e) if conn.reused && e.retryable(&req.method) => {
                // The server may have closed the idle connection: one retry on a fresh one.
                conn = self.connect(&url.origin).await?;
                self.send_on(&mut conn, user, url, req).await
            }
            other => other,
        };
        match result {
            Ok(response) => {
                self.checkin(user, conn);
                Ok(response)
            }
            Err(e) => Err(e.error),
        }
    }

    /// Opens a connection. Boxed: connecting (TCP, TLS, handshake) is rare next to reusing a
    /// connection, and keeping its large state out of the request future keeps every idle
    /// virtual user small.
    async fn connect(&self, origin: &Origin) -> Result<conn::Conn, RequestError> {
        Box::pin(conn::connect(origin, &self.connect)).await
    }

    fn checkout(&self, user: &mut HttpUser, origin: &Origin) -> Option<conn::Conn> {
        match &self.shared {
            Some(shared) => shared.lock().checkout(origin),
            None => user.conns.checkout(origin),
        }
    }

    fn checkin(&self, user: &mut HttpUser, conn: conn::Conn) {
        match &self.shared {
            Some(shared) => shared.lock().checkin(conn),
            None => user.conns.checkin(conn),
        }
    }

    async fn send_on(
        &self,
        conn: &mut conn::Conn,
        user: &mut HttpUser,
        url: &ParsedUrl,
        req: &PreparedRequest,
    ) -> Result<Response, SendError> {
        let h2 = matches!(conn.sender, Sender::H2(_));
        let uri = if h2 {
            url.absolute.as_str()
        } else {
            url.path_and_query.as_str()
        };
        let mut builder = Request::builder().method(req.method.clone()).uri(uri);
        if let Some(headers) = builder.headers_mut() {
            for (name, value) in &req.headers {
                headers.append(name.clone(), value.clone());
            }
            // A `host` set by the simulation (virtual hosts) wins over the URL's authority.
            if !h2 && !headers.contains_key(HOST) {
                if let Ok(host) = HeaderValue::from_str(&url.authority) {
                    headers.insert(HOST, host);
                }
            }
            // So does a `cookie` header set by the simulation over the user's jar.
            if !headers.contains_key(COOKIE) {
                if let Some(cookie) = user.cookies.header_for(&url.origin.host) {
                    headers.insert(COOKIE, cookie);
                }
            }
        }
        let request = builder
            .body(Full::new(req.body.clone()))
            .map_err(|e| SendError::fatal(RequestError::InvalidUrl(e.to_string())))?;
        match &mut conn.sender {
            Sender::H1(s, driver) => {
                let exchange = async {
                    s.ready().await.map_err(SendError::hyper)?;
                    let response = s.send_request(request).await.map_err(SendError::hyper)?;
                    read_response(response, user, url, req).await
                };
                conn::drive(driver, exchange).await
            }
            Sender::H2(s) => {
                s.ready().await.map_err(SendError::hyper)?;
                let response = s.send_request(request).await.map_err(SendError::hyper)?;
                read_response(response, user, url, req).await
            }
        }
    }
}

/// Reads a response to the end, storing cookies and keeping the body when asked to.
async fn read_response(
    response: http::Response<hyper::body::Incoming>,
    user: &mut HttpUser,
    url: &ParsedUrl,
    req: &PreparedRequest,
) -> Result<Response, SendError> {
    let (parts, mut body) = response.into_parts();
    if parts.headers.contains_key(http::header::SET_COOKIE) {
        user.cookies.store(&url.origin.host, &parts.headers);
    }
    let mut kept = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| SendError::fatal(RequestError::Io(hyper_message(&e))))?;
        if let Some(data) = frame.data_ref() {
            if req.keep_body && kept.len() < MAX_KEPT_BODY {
                let room = MAX_KEPT_BODY - kept.len();
                kept.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
    }
    Ok(Response {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: kept.freeze(),
    })
}

impl Protocol for HttpProtocol {
    type UserState = HttpUser;

    fn new_user(&self) -> HttpUser {
        HttpUser::default()
    }

    async fn send(
        &self,
        user: &mut HttpUser,
        request: &PreparedRequest,
    ) -> Result<Response, RequestError> {
        let timeout = request.timeout;
        match tokio::time::timeout(timeout, self.exchange(user, request)).await {
            Ok(result) => result,
            Err(_) => Err(RequestError::Timeout(timeout)),
        }
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

struct SendError {
    error: RequestError,
    /// Nothing was sent: the connection was already closed.
    unsent: bool,
    /// The connection closed before the response was complete: the server may have processed
    /// the request.
    cut_short: bool,
}

impl SendError {
    fn fatal(error: RequestError) -> Self {
        SendError {
            error,
            unsent: false,
            cut_short: false,
        }
    }

    fn hyper(e: hyper::Error) -> Self {
        SendError {
            unsent: e.is_canceled() || e.is_closed(),
            cut_short: e.is_incomplete_message(),
            error: RequestError::Io(hyper_message(&e)),
        }
    }

    /// Whether the request may be replayed on a fresh connection (after an idle keep-alive
    /// connection turned out to be closed): always when nothing was sent, and for idempotent
    /// methods when the response was cut short. A POST the server may have processed is never
    /// sent twice.
    fn retryable(&self, method: &Method) -> bool {
        self.unsent || (self.cut_short && method.is_idempotent())
    }
}

fn hyper_message(e: &hyper::Error) -> String {
    if e.is_timeout() {
        return "timeout".into();
    }
    if e.is_incomplete_message() {
        return "connection closed before the response was complete".into();
    }
    if e.is_canceled() || e.is_closed() {
        return "connection closed".into();
    }
    match std::error::Error::source(e).and_then(|s| s.downcast_ref::<std::io::Error>()) {
        Some(io) => conn::io_kind(io),
        None => e.to_string(),
    }
}
