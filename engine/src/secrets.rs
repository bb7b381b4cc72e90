//! A run's secrets: values a simulation reads with `#{secret('name')}` and that no report,
//! error sample or log line may show (see [`crate::redact`]). In a cluster they are the
//! project's secrets, delivered by the masters with each task; `broadside run` reads them from
//! the environment. Their `Debug` form names them and never shows a value.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Secret values by name; cheap to clone (shared).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(Arc<BTreeMap<String, String>>);

impl Secrets {
    /// Secrets from `(name, value)` pairs.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Secrets {
        Secrets(Arc::new(pairs.into_iter().collect()))
    }

    /// The value of secret `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_secrets_and_never_shows_a_value() {
        let s = Secrets::new([("api_key".to_owned(), "hunter2-value".to_owned())]);
        assert_eq!(s.get("api_key"), Some("hunter2-value"));
        let shown = format!("{s:?}");
        assert_eq!(shown, r#"{"api_key"}"#);
    }
}
