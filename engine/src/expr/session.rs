//! The virtual user's session: its variables and its user number.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::secrets::Secrets;

/// Above this many variables, lookups go through a hash index instead of a linear scan.
const INDEX_THRESHOLD: usize = 24;

/// The state of one virtual user: named variables (JSON values) and the user number.
///
/// Variables live in a small vector searched linearly (faster than hashing for the handful of
/// variables a session usually holds); a hash index is added once a session grows past a few
/// dozen variables. Names are `Arc<str>`, so setting a variable from a shared name (a feeder
/// field, a `save_as`) does not allocate the name again.
#[derive(Debug, Clone, Default)]
pub struct Session {
    vars: Vec<(Arc<str>, Value)>,
    index: Option<HashMap<Arc<str>, usize>>,
    user_id: u64,
    secrets: Secrets,
}

impl Session {
    /// An empty session for user number `user_id`.
    pub fn new(user_id: u64) -> Self {
        Session {
            vars: Vec::new(),
            index: None,
            user_id,
            secrets: Secrets::default(),
        }
    }

    /// The session, reading `secrets` with `secret('name')`.
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// The value of the run's secret `name`.
    pub fn secret(&self, name: &str) -> Option<&str> {
        self.secrets.get(name)
    }

    /// The user number (what `userId()` returns).
    pub fn user_id(&self) -> u64 {
        self.user_id
    }

    fn position(&self, name: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(name).copied(),
            None => self.vars.iter().position(|(k, _)| &**k == name),
        }
    }

    /// The value of variable `name`, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name)
            .and_then(|i| self.vars.get(i))
            .map(|(_, v)| v)
    }

    /// The value of variable `name` for in-place changes, if set.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        let i = self.position(name)?;
        self.vars.get_mut(i).map(|(_, v)| v)
    }

    /// Whether variable `name` is set.
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Sets variable `name` to `value`, replacing any previous value.
    ///
    /// `name` may be a `&str`, a `String` or an `Arc<str>`; it is converted (and, for a
    /// `&str`, allocated) only when the variable is new.
    pub fn set<K>(&mut self, name: K, value: Value)
    where
        K: AsRef<str> + Into<Arc<str>>,
    {
        if let Some(slot) = self.get_mut(name.as_ref()) {
            *slot = value;
            return;
        }
        let name: Arc<str> = name.into();
        if let Some(index) = &mut self.index {
            index.insert(Arc::clone(&name), self.vars.len());
        }
        self.vars.push((name, value));
        if self.index.is_none() && self.vars.len() > INDEX_THRESHOLD {
            self.rebuild_index();
        }
    }

    /// Unsets variable `name`, returning its value if it was set.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.position(name)?;
        let (_, value) = self.vars.remove(i);
        if self.index.is_some() {
            self.rebuild_index();
        }
        Some(value)
    }

    fn rebuild_index(&mut self) {
        let index = self
            .vars
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (Arc::clone(k), i))
            .collect();
        self.index = Some(index);
    }

    /// Every variable, in the order they were first set.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        self.vars.iter().map(|(k, v)| (&**k, v))
    }

    /// Number of variables set.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether no variable is set.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Unsets every variable (the user number stays).
    pub fn clear(&mut self) {
        self.vars.clear();
        self.index = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_get_remove_keep_order() {
        let mut s = Session::new(7);
        assert_eq!(s.user_id(), 7);
        assert!(s.is_empty());
        s.set("a", json!(1));
        s.set(String::from("b"), json!("x"));
        s.set(Arc::<str>::from("c"), json!([1]));
        s.set("a", json!(2));
        assert_eq!(s.get("a"), Some(&json!(2)));
        assert_eq!(s.len(), 3);
        assert_eq!(s.remove("b"), Some(json!("x")));
        assert_eq!(s.remove("b"), None);
        assert!(!s.contains("b"));
        let names: Vec<&str> = s.vars().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "c"]);
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn large_sessions_use_the_index() {
        let mut s = Session::new(0);
        for i in 0..100 {
            s.set(format!("v{i}"), json!(i));
        }
        assert!(s.index.is_some());
        for i in 0..100 {
            assert_eq!(s.get(&format!("v{i}")), Some(&json!(i)));
        }
        assert_eq!(s.remove("v10"), Some(json!(10)));
        assert_eq!(s.get("v10"), None);
        assert_eq!(s.get("v11"), Some(&json!(11)));
        assert_eq!(s.get("v99"), Some(&json!(99)));
        s.set("v10", json!("back"));
        assert_eq!(s.get("v10"), Some(&json!("back")));
        assert_eq!(s.vars().last().map(|(k, _)| k), Some("v10"));
        if let Some(v) = s.get_mut("v0") {
            *v = json!(-1);
        }
        assert_eq!(s.get("v0"), Some(&json!(-1)));
    }
}
