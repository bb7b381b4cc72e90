//! Redaction: what a run reports about its requests (error samples, messages, log lines) never
//! carries credentials. Credential headers (`Authorization`, `Proxy-Authorization`, `Cookie`,
//! `Set-Cookie`) and the headers a simulation marks sensitive (`http.sensitive_headers`) keep
//! their name and lose their value; secret values given to a run are replaced by
//! `[secret:NAME]` wherever they appear in text.

use std::borrow::Cow;
use std::collections::BTreeSet;

/// Headers whose values are credentials in every protocol use.
pub const CREDENTIAL_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// What follows a value a message cut short.
pub const CUT: char = '…';

/// What stands for a redacted header value.
pub const REDACTED: &str = "[redacted]";

/// Shortest secret value that is replaced in text: shorter ones would blank out ordinary words
/// (a one-letter secret is no secret worth hiding, and is refused where secrets are set).
pub const MIN_SECRET_LEN: usize = 4;

/// The redaction rules of one run.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Lower-case names of headers whose values are hidden.
    headers: BTreeSet<String>,
    /// `(value, name)` of secrets, longest value first (so that a secret containing another is
    /// replaced whole).
    secrets: Vec<(String, String)>,
}

impl Redactor {
    /// Rules hiding the credential headers, `sensitive` headers and the `secrets`
    /// (`name → value`).
    pub fn new<'a>(
        sensitive: impl IntoIterator<Item = &'a str>,
        secrets: impl IntoIterator<Item = (String, String)>,
    ) -> Redactor {
        let headers = CREDENTIAL_HEADERS
            .into_iter()
            .map(str::to_owned)
            .chain(sensitive.into_iter().map(str::to_ascii_lowercase))
            .collect();
        // A value is also looked for as a query or form encodes it and as JSON escapes it.
        let mut secrets: Vec<(String, String)> = secrets
            .into_iter()
            .filter(|(_, value)| value.len() >= MIN_SECRET_LEN)
            .flat_map(|(name, value)| {
                let encoded = crate::expr::url_encode(&value);
                let escaped = serde_json::to_string(&value)
                    .map(|s| s[1..s.len() - 1].to_owned())
                    .unwrap_or_default();
                let mut forms = vec![value];
                for form in [encoded, escaped] {
                    if !forms.contains(&form) && form.len() >= MIN_SECRET_LEN {
                        forms.push(form);
                    }
                }
                forms.into_iter().map(move |form| (form, name.clone()))
            })
            .collect();
        secrets.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Redactor { headers, secrets }
    }

    /// Whether the value of header `name` is hidden.
    pub fn hides_header(&self, name: &str) -> bool {
        self.headers.contains(&name.to_ascii_lowercase())
    }

    /// The value of header `name` as it may be shown.
    pub fn header_value<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if self.hides_header(name) {
            Cow::Borrowed(REDACTED)
        } else {
            self.text(value)
        }
    }

    /// The values of `headers` that this redactor hides (long enough to be worth searching
    /// for): a response may echo them, in its body or its own headers.
    pub fn hidden_values<'a>(
        &self,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<String> {
        headers
            .into_iter()
            .filter(|(name, value)| self.hides_header(name) && value.len() >= MIN_SECRET_LEN)
            .map(|(_, value)| value.to_owned())
            .collect()
    }

    /// `text` with every secret value replaced by `[secret:NAME]` — also the start of one cut
    /// short where a message shortened a quoted value (`…` follows it).
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for (value, name) in &self.secrets {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), &format!("[secret:{name}]")));
            }
        }
        if out.contains(CUT) {
            for (value, name) in &self.secrets {
                let cuts = value
                    .char_indices()
                    .map(|(i, _)| i)
                    .filter(|i| *i >= MIN_SECRET_LEN)
                    .rev();
                for end in cuts {
                    let partial = format!("{}{CUT}", &value[..end]);
                    if out.contains(&partial) {
                        out = Cow::Owned(out.replace(&partial, &format!("[secret:{name}]{CUT}")));
                    }
                }
            }
        }
        out
    }

    /// [`Redactor::text`] for an owned string (no copy when there is nothing to hide).
    pub fn text_owned(&self, text: String) -> String {
        if let Cow::Owned(hidden) = self.text(&text) {
            return hidden;
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_marked_headers_lose_their_values() {
        let r = Redactor::new(["X-Api-Key"], []);
        assert_eq!(r.header_value("Authorization", "Bearer abc"), REDACTED);
        assert_eq!(r.header_value("set-cookie", "sid=1"), REDACTED);
        assert_eq!(r.header_value("x-api-key", "k"), REDACTED);
        assert_eq!(r.header_value("accept", "text/plain"), "text/plain");
        let hidden = r.hidden_values([("Cookie", "sid=12345"), ("accept", "text/html")]);
        assert_eq!(hidden, ["sid=12345"]);
    }

    #[test]
    fn encoded_and_cut_secrets_are_replaced_too() {
        let value = "p@ss word/\"quoted\"-0123456789";
        let r = Redactor::new([], [("pw".to_owned(), value.to_owned())]);
        let query = format!("GET /x?p={}", crate::expr::url_encode(value));
        assert_eq!(r.text(&query), "GET /x?p=[secret:pw]");
        let json = serde_json::json!({ "p": value }).to_string();
        assert_eq!(r.text(&json), r#"{"p":"[secret:pw]"}"#);
        let cut = format!("expected `x`, found `{}…`", &value[..12]);
        assert_eq!(r.text(&cut), "expected `x`, found `[secret:pw]…`");
        assert_eq!(r.text("a short cut `p@s…`"), "a short cut `p@s…`");
    }

    #[test]
    fn secret_values_are_replaced_wherever_they_appear() {
        let r = Redactor::new(
            [],
            [
                ("token".to_owned(), "s3cr3t-value".to_owned()),
                ("inner".to_owned(), "s3cr3t".to_owned()),
                ("short".to_owned(), "ab".to_owned()),
            ],
        );
        assert_eq!(
            r.text("GET /x?k=s3cr3t-value and s3cr3t, ab"),
            "GET /x?k=[secret:token] and [secret:inner], ab"
        );
        assert!(matches!(r.text("nothing here"), Cow::Borrowed(_)));
        assert_eq!(r.header_value("x-other", "v=s3cr3t"), "v=[secret:inner]");
    }
}
