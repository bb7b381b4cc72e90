//! What a browser may do with a master's API besides call it with a token: the `Host` header
//! must name this master (a DNS-rebinding page cannot reach a master on loopback or on a
//! private network through a name of its own), and cross-origin calls are possible only from
//! the origins an operator configures (`--cors-origin`); without any, no CORS header is sent.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::Problem;
use crate::config::AuthConfig;
use crate::error::Error;

/// The names a request's `Host` may give.
#[derive(Clone, Debug)]
pub(crate) enum HostNames {
    /// Any name (a master reachable beyond loopback without `--allowed-host`).
    Any,
    /// These names (lower case); `*.domain` matches names under `domain`.
    Only(Vec<String>),
}

impl HostNames {
    /// The configured names; without any, `localhost` when every listener is on loopback (the
    /// case DNS rebinding attacks), any name otherwise.
    pub(crate) fn of(auth: &AuthConfig, loopback_only: bool) -> HostNames {
        if !auth.allowed_hosts.is_empty() {
            HostNames::Only(
                auth.allowed_hosts
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
            )
        } else if loopback_only {
            HostNames::Only(vec!["localhost".to_owned(), "*.localhost".to_owned()])
        } else {
            HostNames::Any
        }
    }

    /// Whether `host` (without its port) is acceptable. An address literal always is: no
    /// rebinding goes through one.
    fn allows(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.parse::<IpAddr>().is_ok() {
            return true;
        }
        match self {
            HostNames::Any => true,
            HostNames::Only(names) => names.iter().any(|name| match name.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => host == *name,
            }),
        }
    }
}

/// The host a request names (`:authority` for HTTP/2, `Host` otherwise), without its port.
fn requested_host(request: &Request) -> Option<String> {
    let authority = match request.uri().authority() {
        Some(a) => a.as_str().to_owned(),
        None => request
            .headers()
            .get(header::HOST)?
            .to_str()
            .ok()?
            .to_owned(),
    };
    let host = match authority.rsplit_once(':') {
        // `[::1]:8080`, `name:8080`; a bare IPv6 literal has more than one colon.
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':') => {
            host.to_owned()
        }
        _ => authority,
    };
    Some(host)
}

/// Middleware: refuses a request whose `Host` is not one of this master's names.
pub(crate) async fn check_host(
    State(names): State<Arc<HostNames>>,
    request: Request,
    next: Next,
) -> Response {
    match requested_host(&request) {
        Some(host) if !names.allows(&host) => Problem::from(Error::BadRequest(format!(
            "Host `{host}` is not a name of this master (its operator lists them with \
             --allowed-host)"
        )))
        .into_response(),
        _ => next.run(request).await,
    }
}

/// The CORS layer for the configured origins (none: no layer, no CORS header).
pub(crate) fn cors(auth: &AuthConfig) -> Option<CorsLayer> {
    if auth.cors_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = auth
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::HeaderName::from_static(broadside_api::IDEMPOTENCY_KEY),
            ])
            .expose_headers([header::HeaderName::from_static(super::REQUEST_ID)]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str) -> Request {
        Request::builder()
            .uri("/api/v1/jobs")
            .header(header::HOST, host)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    #[test]
    fn hosts_are_names_of_this_master_or_addresses() {
        let loopback = HostNames::of(&AuthConfig::default(), true);
        for (host, ok) in [
            ("localhost:8080", true),
            ("LOCALHOST", true),
            ("ui.localhost:1", true),
            ("127.0.0.1:8080", true),
            ("[::1]:8080", true),
            ("rebind.attacker.test:8080", false),
            ("localhost.attacker.test", false),
        ] {
            let host = requested_host(&request(host)).unwrap();
            assert_eq!(loopback.allows(&host), ok, "{host}");
        }
        let listed = HostNames::of(
            &AuthConfig {
                allowed_hosts: vec!["broadside.example.test".into(), "*.svc.test".into()],
                ..AuthConfig::default()
            },
            false,
        );
        assert!(listed.allows("broadside.example.test"));
        assert!(listed.allows("m1.svc.test"));
        assert!(listed.allows("127.1.2.3"));
        assert!(!listed.allows("svc.test"));
        assert!(!listed.allows("localhost"));
        assert!(HostNames::of(&AuthConfig::default(), false).allows("anything.test"));
    }
}
