//! Protocols: how a prepared request reaches the system under test.
//!
//! The runtime is protocol-agnostic (architecture invariant 6): it renders a
//! [`PreparedRequest`], hands it to a [`Protocol`] together with the virtual user's connection
//! state, and runs checks on the protocol-neutral [`Response`]. HTTP ([`http`]) is the one
//! protocol today.

pub mod http;
mod policy;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

pub use policy::{AddressPolicy, AllowedTargets, TargetPolicy};

/// A request with every template rendered, ready to send.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// Method (`GET`, `POST`, …).
    pub method: ::http::Method,
    /// Absolute URL.
    pub url: String,
    /// Headers in order.
    pub headers: Vec<(::http::HeaderName, ::http::HeaderValue)>,
    /// Body (empty for none).
    pub body: Bytes,
    /// Time allowed for the whole exchange.
    pub timeout: Duration,
    /// Whether the caller needs the response body (checks read it); otherwise it is drained.
    pub keep_body: bool,
}

/// A response as checks see it.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: ::http::HeaderMap,
    /// Body, when the request asked to keep it (truncated at [`http::MAX_KEPT_BODY`]).
    pub body: Bytes,
}

/// Why a request got no response. Messages are short and stable so that errors aggregate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The URL could not be used.
    #[error("invalid url: {0}")]
    InvalidUrl(String),
    /// The policy forbids the resolved address.
    #[error("address not allowed (see --allow-remote-targets): {0}")]
    NotAllowed(String),
    /// Name resolution failed.
    #[error("dns: {0}")]
    Dns(String),
    /// The TCP or TLS connection could not be opened.
    #[error("connect: {0}")]
    Connect(String),
    /// The exchange took longer than the request timeout.
    #[error("request timeout after {0:?}")]
    Timeout(Duration),
    /// The connection failed during the exchange.
    #[error("i/o: {0}")]
    Io(String),
    /// Too many redirects in a row.
    #[error("too many redirects (max {0})")]
    TooManyRedirects(u32),
}

/// A protocol: opens and reuses connections per virtual user and performs exchanges.
pub trait Protocol: Send + Sync + 'static {
    /// Per-user connection state (a user's own pool, cookies, …).
    type UserState: Send + 'static;

    /// Fresh state for a new virtual user.
    fn new_user(&self) -> Self::UserState;

    /// Sends one request and returns its response (the caller keeps the request, e.g. to
    /// describe it in an error sample).
    fn send<'a>(
        &'a self,
        user: &'a mut Self::UserState,
        request: &'a PreparedRequest,
    ) -> impl Future<Output = Result<Response, RequestError>> + Send + 'a;
}
