//! A per-user cookie jar, as a browser (and Gatling) keeps one per virtual user.
//!
//! Deliberately small: cookies are scoped to the exact host that set them; `Max-Age=0` and
//! an empty value delete; `Path`, `Domain` and `Expires` are not interpreted.

use http::{HeaderMap, HeaderValue};

/// Cookies of one virtual user.
#[derive(Debug, Default, Clone)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

#[derive(Debug, Clone)]
struct Cookie {
    host: String,
    name: String,
    value: String,
}

impl CookieJar {
    /// Stores the cookies set by a response from `host`.
    pub fn store(&mut self, host: &str, headers: &HeaderMap) {
        for header in headers.get_all(http::header::SET_COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            let mut parts = text.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() {
                continue;
            }
            let expired = parts.any(|attr| attr.trim().eq_ignore_ascii_case("max-age=0"));
            self.cookies.retain(|c| !(c.host == host && c.name == name));
            if !expired && !value.is_empty() {
                self.cookies.push(Cookie {
                    host: host.to_string(),
                    name: name.to_string(),
                    value: value.to_string(),
                });
            }
        }
    }

    /// The `cookie` header value for a request to `host`, if any cookie applies.
    pub fn header_for(&self, host: &str) -> Option<HeaderValue> {
        let mut text = String::new();
        for c in self.cookies.iter().filter(|c| c.host == host) {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(&c.name);
            text.push('=');
            text.push_str(&c.value);
        }
        if text.is_empty() {
            None
        } else {
            HeaderValue::from_str(&text).ok()
        }
    }

    /// Whether the jar holds no cookie.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_replaces_and_deletes() {
        let mut jar = CookieJar::default();
        let mut h = HeaderMap::new();
        h.append(
            "set-cookie",
            HeaderValue::from_static("sid=abc; Path=/; HttpOnly"),
        );
        h.append("set-cookie", HeaderValue::from_static("theme=dark"));
        jar.store("a", &h);
        assert_eq!(jar.header_for("a").unwrap(), "sid=abc; theme=dark");
        assert!(jar.header_for("b").is_none());
        let mut h = HeaderMap::new();
        h.append("set-cookie", HeaderValue::from_static("sid=; Max-Age=0"));
        jar.store("a", &h);
        assert_eq!(jar.header_for("a").unwrap(), "theme=dark");
    }
}
