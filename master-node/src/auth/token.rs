//! The bearer strings of API tokens (`bst_`) and join tokens (`bsj_`): the prefix + a
//! 16-hex-digit public id + `_` + a secret of 256 random bits (base64url). The store keeps the
//! id and the SHA-256 of the secret; the whole string is shown once, when the token is created.
//! A joined worker's secret is such a secret alone.

use base64::Engine;
use broadside_raft_store::Sha256;
use sha2::Digest;

/// The prefix of every API token.
pub(crate) const PREFIX: &str = "bst_";
/// The prefix of every join token.
pub(crate) const JOIN_PREFIX: &str = "bsj_";
/// Length of the public id.
const ID_LEN: usize = 16;
/// Bytes of randomness in a secret.
const SECRET_BYTES: usize = 32;
/// Characters of a secret: 32 bytes in base64url without padding.
const SECRET_LEN: usize = 43;

/// A bearer string split into its parts.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Bearer {
    /// The token's public id.
    pub(crate) id: String,
    /// The secret part.
    secret: String,
}

impl std::fmt::Debug for Bearer {
    /// Never shows the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bearer({}…)", self.id)
    }
}

/// A new random secret of 256 bits, base64url.
fn new_secret() -> String {
    let secret_bytes: [u8; SECRET_BYTES] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes)
}

/// Whether `secret` is exactly 256 bits, base64url without padding: a token typed by hand or
/// cut short is refused, the bootstrap token of `--admin-token-file` included, and a joining
/// worker's secret is as strong as one the masters make.
pub(crate) fn valid_secret(secret: &str) -> bool {
    secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The SHA-256 of a secret, as the store keeps it.
pub(crate) fn secret_sha256(secret: &str) -> Sha256 {
    Sha256(sha2::Sha256::digest(secret.as_bytes()).into())
}

/// Whether `stored` is the hash of `secret` (compared in constant time).
pub(crate) fn secret_matches(secret: &str, stored: &Sha256) -> bool {
    secret_sha256(secret)
        .0
        .iter()
        .zip(stored.0.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

impl Bearer {
    /// A new random API token: its id, secret and the string to hand out.
    pub(crate) fn generate() -> (Bearer, String) {
        Bearer::generate_with(PREFIX)
    }

    /// A new random token with `prefix`.
    pub(crate) fn generate_with(prefix: &str) -> (Bearer, String) {
        let id: String = (0..ID_LEN / 2)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let secret = new_secret();
        let text = format!("{prefix}{id}_{secret}");
        (Bearer { id, secret }, text)
    }

    /// Parses an API token; `None` when it is not one this cluster could have made.
    pub(crate) fn parse(text: &str) -> Option<Bearer> {
        Bearer::parse_with(text, PREFIX)
    }

    /// Parses a token with `prefix`; `None` when it is not one this cluster could have made.
    pub(crate) fn parse_with(text: &str, prefix: &str) -> Option<Bearer> {
        let rest = text.trim().strip_prefix(prefix)?;
        let (id, secret) = rest.split_at_checked(ID_LEN)?;
        let secret = secret.strip_prefix('_')?;
        let valid_id = id.bytes().all(|b| b.is_ascii_hexdigit());
        (valid_id && valid_secret(secret)).then(|| Bearer {
            id: id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The SHA-256 of the secret, as the store keeps it.
    pub(crate) fn secret_sha256(&self) -> Sha256 {
        secret_sha256(&self.secret)
    }

    /// Whether `stored` is this secret's hash (compared in constant time).
    pub(crate) fn matches(&self, stored: &Sha256) -> bool {
        secret_matches(&self.secret, stored)
    }

    /// The anti-forgery value of a browser session signed in with this token: derived from
    /// the secret (so every master gives the same, and no one without the token can make it),
    /// 128 bits in hex.
    pub(crate) fn csrf(&self) -> String {
        let digest = sha2::Sha256::new()
            .chain_update(b"broadside csrf v1\n")
            .chain_update(self.id.as_bytes())
            .chain_update(b"_")
            .chain_update(self.secret.as_bytes())
            .finalize();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `value` is [`Bearer::csrf`] (compared in constant time).
    pub(crate) fn csrf_matches(&self, value: &str) -> bool {
        let expected = self.csrf();
        expected.len() == value.len()
            && expected
                .bytes()
                .zip(value.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_and_match_only_their_hash() {
        let (bearer, text) = Bearer::generate();
        assert!(text.starts_with(PREFIX));
        assert!(text.len() >= 4 + 16 + 1 + 43, "{text}");
        let parsed = Bearer::parse(&text).expect("parses");
        assert_eq!(parsed, bearer);
        assert!(parsed.matches(&bearer.secret_sha256()));
        let (other, _) = Bearer::generate();
        assert!(!parsed.matches(&other.secret_sha256()));
        // A join token is no API token, and the other way round.
        let (join, join_text) = Bearer::generate_with(JOIN_PREFIX);
        assert!(join_text.starts_with(JOIN_PREFIX));
        assert!(Bearer::parse(&join_text).is_none());
        assert!(Bearer::parse_with(&text, JOIN_PREFIX).is_none());
        assert_eq!(Bearer::parse_with(&join_text, JOIN_PREFIX), Some(join));
        assert!(
            !format!("{parsed:?}").contains(&text[21..]),
            "Debug shows the secret"
        );
    }

    #[test]
    fn the_csrf_value_is_the_tokens_own_and_checked_exactly() {
        let (a, text) = Bearer::generate();
        let (b, _) = Bearer::generate();
        assert_eq!(a.csrf().len(), 32);
        assert_eq!(a.csrf(), Bearer::parse(&text).expect("parses").csrf());
        assert_ne!(a.csrf(), b.csrf());
        assert!(a.csrf_matches(&a.csrf()));
        assert!(!a.csrf_matches(&b.csrf()));
        assert!(!a.csrf_matches(""));
        assert!(!a.csrf_matches(&a.csrf()[..31]));
        assert!(!text.contains(&a.csrf()));
    }

    #[test]
    fn anything_else_is_not_a_token() {
        for text in [
            "",
            "bst_",
            "Bearer bst_0123456789abcdef_x",
            "bst_0123456789abcdeX_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "bst_0123456789abcdef-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "bst_0123456789abcdef_short",
            "bst_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "bst_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "bst_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!a",
        ] {
            assert!(Bearer::parse(text).is_none(), "{text:?}");
        }
    }
}
