//! Login tokens and the small parsers `/login` needs (JSON or
//! `application/x-www-form-urlencoded` credentials, percent-decoding).
//!
//! Tokens are stateless: `bt1.<hex username>.<32 hex digits>` where the digits
//! are a keyed hash of the username with keys chosen at random when the target
//! starts. A token is therefore deterministic per user for the lifetime of a
//! target, verifiable without storing anything, and not valid on another
//! target instance. This is a test fixture, not real security.

use std::hash::{BuildHasher, Hasher, RandomState};

/// Longest accepted username, in bytes.
pub(crate) const MAX_USERNAME_LEN: usize = 1024;

const TOKEN_PREFIX: &str = "bt1.";

/// Issues and verifies bearer tokens.
pub(crate) struct Auth {
    keys: [RandomState; 2],
}

impl Auth {
    /// A token issuer with fresh random keys.
    pub(crate) fn new() -> Self {
        Self {
            keys: [RandomState::new(), RandomState::new()],
        }
    }

    fn mac(&self, username: &str) -> String {
        let [a, b] = self.keys.each_ref().map(|key| {
            let mut hasher = key.build_hasher();
            hasher.write(b"broadside-target-token");
            hasher.write(username.as_bytes());
            hasher.finish()
        });
        format!("{a:016x}{b:016x}")
    }

    /// The token for `username`.
    pub(crate) fn issue(&self, username: &str) -> String {
        format!(
            "{TOKEN_PREFIX}{}.{}",
            hex_encode(username.as_bytes()),
            self.mac(username)
        )
    }

    /// The username a token was issued for, if it was issued by this target.
    pub(crate) fn verify(&self, token: &str) -> Option<String> {
        let rest = token.strip_prefix(TOKEN_PREFIX)?;
        let (user_hex, mac) = rest.split_once('.')?;
        let username = String::from_utf8(hex_decode(user_hex)?).ok()?;
        (!username.is_empty() && self.mac(&username) == mac).then_some(username)
    }

    /// The username behind an `Authorization: Bearer <token>` header value.
    pub(crate) fn verify_header(&self, header: Option<&http::HeaderValue>) -> Option<String> {
        let value = header?.to_str().ok()?.trim();
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        self.verify(token.trim())
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| Some(hex_value(pair[0])? << 4 | hex_value(pair[1])?))
        .collect()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`), replacing
/// invalid UTF-8 with U+FFFD. Malformed escapes are kept literally.
pub(crate) fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let escaped = bytes
                    .get(i + 1..i + 3)
                    .and_then(|pair| Some(hex_value(pair[0])? << 4 | hex_value(pair[1])?));
                if let Some(byte) = escaped {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Iterates the decoded `key=value` pairs of a query or form body.
pub(crate) fn form_pairs(text: &str) -> impl Iterator<Item = (String, String)> + '_ {
    text.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key, true), percent_decode(value, true))
    })
}

/// Why credentials could not be read from a login body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LoginError {
    /// The body is neither valid JSON nor a form (400).
    Malformed,
    /// No username, or an empty one (401).
    MissingUsername,
    /// Username longer than [`MAX_USERNAME_LEN`] (400).
    UsernameTooLong,
}

/// Extracts the username from a `/login` body. `content_type` decides the
/// format; without one, JSON is tried first and then a form.
pub(crate) fn login_username(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<String, LoginError> {
    let content_type = content_type.unwrap_or("").to_ascii_lowercase();
    let username = if content_type.contains("json") {
        username_from_json(body)?
    } else if content_type.contains("x-www-form-urlencoded") {
        username_from_form(body)
    } else {
        match username_from_json(body) {
            Ok(found) => found,
            Err(_) => username_from_form(body),
        }
    };
    match username {
        Some(name) if name.len() > MAX_USERNAME_LEN => Err(LoginError::UsernameTooLong),
        Some(name) if !name.is_empty() => Ok(name),
        _ => Err(LoginError::MissingUsername),
    }
}

fn username_from_json(body: &[u8]) -> Result<Option<String>, LoginError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| LoginError::Malformed)?;
    Ok(value
        .get("username")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned))
}

fn username_from_form(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let username = form_pairs(&text)
        .find(|(k, _)| k == "username")
        .map(|(_, v)| v);
    username
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_forgeries() {
        let auth = Auth::new();
        let token = auth.issue("ünïcode user");
        assert_eq!(auth.issue("ünïcode user"), token, "deterministic per user");
        assert_eq!(auth.verify(&token).as_deref(), Some("ünïcode user"));
        assert_eq!(auth.verify(&auth.issue("bob")).as_deref(), Some("bob"));

        let other = Auth::new();
        assert_eq!(other.verify(&token), None, "another target's token");
        let forged = format!("{TOKEN_PREFIX}{}.{}", hex_encode(b"eve"), "0".repeat(32));
        assert_eq!(auth.verify(&forged), None);
        for junk in ["", "bt1.", "bt1..", "bt1.zz.00", "bt1.6.00", "nope"] {
            assert_eq!(auth.verify(junk), None, "{junk:?}");
        }
        let header = http::HeaderValue::from_str(&format!("bearer {token}")).expect("header");
        assert!(auth.verify_header(Some(&header)).is_some());
        let basic = http::HeaderValue::from_static("Basic abc");
        assert_eq!(auth.verify_header(Some(&basic)), None);
        assert_eq!(auth.verify_header(None), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c", true), "a b c");
        assert_eq!(percent_decode("a%20b+c", false), "a b+c");
        assert_eq!(percent_decode("100%", true), "100%");
        assert_eq!(percent_decode("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode("%C3%A9", true), "é");
        assert_eq!(percent_decode("%FF", true), "\u{FFFD}");
    }

    #[test]
    fn login_bodies() {
        let json = br#"{"username":"alice","password":"x"}"#;
        assert_eq!(
            login_username(Some("application/json"), json),
            Ok("alice".into())
        );
        assert_eq!(login_username(None, json), Ok("alice".into()));
        let form = b"password=x&username=bob%40example";
        assert_eq!(
            login_username(Some("application/x-www-form-urlencoded"), form),
            Ok("bob@example".into())
        );
        assert_eq!(login_username(None, form), Ok("bob@example".into()));
        assert_eq!(
            login_username(Some("application/json"), b"{nope"),
            Err(LoginError::Malformed)
        );
        for (ct, body) in [
            (Some("application/json"), &br#"{"username":""}"#[..]),
            (Some("application/json"), br#"{"password":"x"}"#),
            (Some("application/json"), br#"{"username":7}"#),
            (Some("application/json"), b""),
            (None, b""),
            (None, b"username="),
        ] {
            assert_eq!(
                login_username(ct, body),
                Err(LoginError::MissingUsername),
                "{body:?}"
            );
        }
        let long = format!(r#"{{"username":"{}"}}"#, "x".repeat(MAX_USERNAME_LEN + 1));
        assert_eq!(
            login_username(None, long.as_bytes()),
            Err(LoginError::UsernameTooLong)
        );
    }
}
