//! URL handling for requests: splitting into origin, authority and path, joining a relative
//! path to a base URL, and resolving redirect locations.

use http::Uri;

use super::conn::Origin;
use crate::protocol::RequestError;

/// An absolute `http`/`https` URL split for sending.
#[derive(Debug, Clone)]
pub struct ParsedUrl {
    /// The whole URL.
    pub absolute: String,
    /// Scheme, host and port.
    pub origin: Origin,
    /// `host[:port]` as written, for the `Host` header.
    pub authority: String,
    /// Path and query, `/` at least.
    pub path_and_query: String,
}

impl ParsedUrl {
    /// Parses an absolute URL.
    pub fn parse(text: &str) -> Result<ParsedUrl, RequestError> {
        let uri: Uri = text
            .parse()
            .map_err(|e| RequestError::InvalidUrl(format!("`{text}`: {e}")))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(RequestError::InvalidUrl(format!(
                    "`{text}`: unsupported scheme `{other}`"
                )))
            }
            None => {
                return Err(RequestError::InvalidUrl(format!(
                    "`{text}`: not absolute (set http.base_url)"
                )))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| RequestError::InvalidUrl(format!("`{text}`: no host")))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/");
        Ok(ParsedUrl {
            absolute: text.to_string(),
            origin: Origin { tls, host, port },
            authority: authority.as_str().to_string(),
            path_and_query: path_and_query.to_string(),
        })
    }

    /// Resolves a redirect `Location` against this URL.
    pub fn resolve(&self, location: &str) -> Result<String, RequestError> {
        if location.starts_with("http://") || location.starts_with("https://") {
            return Ok(location.to_string());
        }
        let scheme = if self.origin.tls { "https" } else { "http" };
        if let Some(rest) = location.strip_prefix("//") {
            return Ok(format!("{scheme}://{rest}"));
        }
        if location.starts_with('/') {
            return Ok(format!("{scheme}://{}{location}", self.authority));
        }
        let path = self.path_and_query.split('?').next().unwrap_or("/");
        if location.starts_with('?') {
            return Ok(format!("{scheme}://{}{path}{location}", self.authority));
        }
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        Ok(format!("{scheme}://{}{dir}{location}", self.authority))
    }
}

/// Joins a request URL to a base URL: absolute URLs are kept, paths are appended.
pub fn join_url(base: Option<&str>, url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        return url.to_string();
    }
    match base {
        Some(base) => {
            let base = base.trim_end_matches('/');
            if url.is_empty() {
                base.to_string()
            } else if url.starts_with('/') {
                format!("{base}{url}")
            } else {
                format!("{base}/{url}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_resolves() {
        let u = ParsedUrl::parse("http://127.0.0.1:8088/a/b?x=1").unwrap();
        assert_eq!(
            u.origin,
            Origin {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8088
            }
        );
        assert_eq!(u.authority, "127.0.0.1:8088");
        assert_eq!(u.path_and_query, "/a/b?x=1");
        assert_eq!(u.resolve("/c").unwrap(), "http://127.0.0.1:8088/c");
        assert_eq!(u.resolve("c").unwrap(), "http://127.0.0.1:8088/a/c");
        assert_eq!(u.resolve("?y=2").unwrap(), "http://127.0.0.1:8088/a/b?y=2");
        assert_eq!(
            u.resolve("https://localhost/").unwrap(),
            "https://localhost/"
        );
        let v6 = ParsedUrl::parse("https://[::1]/").unwrap();
        assert_eq!(
            v6.origin,
            Origin {
                tls: true,
                host: "::1".into(),
                port: 443
            }
        );
        assert!(ParsedUrl::parse("/relative").is_err());
        assert!(ParsedUrl::parse("ftp://x/").is_err());
    }

    #[test]
    fn joins_base_and_path() {
        assert_eq!(join_url(Some("http://h:1/"), "/x"), "http://h:1/x");
        assert_eq!(join_url(Some("http://h:1"), "x"), "http://h:1/x");
        assert_eq!(join_url(Some("http://h:1"), "http://o/"), "http://o/");
        assert_eq!(join_url(None, "/x"), "/x");
    }
}
