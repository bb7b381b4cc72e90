//! Checks on responses: compiled once, evaluated per response.
//!
//! A check has one source (status, header, body text, regex, JSON path, response time), which
//! finds zero or more values; matchers (`is`, `not`, `contains`, `matches`, `exists`) decide
//! whether the check passes; `save_as` stores the first value (or all, with `all: true`) in the
//! session. A request without a status check gets Gatling's implicit one (status < 400).

use std::time::Duration;

use http::HeaderName;
use rand::Rng;
use regex::Regex;
use serde_json::Value;
use serde_json_path::JsonPath;

use crate::expr::{JsonTemplate, Session, Template};
use crate::model::Check;
use crate::protocol::Response;

/// Where a check looks.
#[derive(Debug)]
pub enum CheckSource {
    /// Status code in the list; an empty list means the implicit check (status < 400).
    Status(Vec<u16>),
    /// A response header's values.
    Header(HeaderName),
    /// The body contains the rendered text.
    BodyContains(Template),
    /// Regex captures in the body.
    Regex(Regex, usize),
    /// JSONPath nodes of the body.
    JsonPath(Box<JsonPath>, String),
    /// The response time must be at most this.
    ResponseTime(Duration),
}

/// A compiled check.
#[derive(Debug)]
pub struct CompiledCheck {
    /// Its source.
    pub source: CheckSource,
    is: Option<JsonTemplate>,
    not: Option<JsonTemplate>,
    contains: Option<String>,
    matches: Option<Regex>,
    exists: Option<bool>,
    all: bool,
    save_as: Option<String>,
    optional: bool,
    label: String,
}

impl CompiledCheck {
    /// The implicit check added to requests without a status check.
    pub fn implicit_status() -> Self {
        CompiledCheck::bare(CheckSource::Status(Vec::new()), "status".into())
    }

    fn bare(source: CheckSource, label: String) -> Self {
        CompiledCheck {
            source,
            is: None,
            not: None,
            contains: None,
            matches: None,
            exists: None,
            all: false,
            save_as: None,
            optional: false,
            label,
        }
    }

    /// Compiles a check; the error says what is wrong with it.
    pub fn compile(check: &Check) -> Result<Self, String> {
        let mut sources = Vec::new();
        if let Some(s) = &check.status {
            sources.push((CheckSource::Status(s.to_vec()), "status".to_string()));
        }
        if let Some(h) = &check.header {
            let name = HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| format!("invalid header name `{h}`"))?;
            sources.push((CheckSource::Header(name), format!("header `{h}`")));
        }
        if let Some(b) = &check.body_contains {
            let t = Template::compile(b)
                .map_err(|e| format!("body_contains: invalid template: {e}"))?;
            sources.push((CheckSource::BodyContains(t), "body_contains".to_string()));
        }
        if let Some(r) = &check.regex {
            let re = Regex::new(r).map_err(|e| format!("invalid regex: {}", regex_error(&e)))?;
            let group = check
                .group
                .unwrap_or(if re.captures_len() > 1 { 1 } else { 0 });
            if group >= re.captures_len() {
                return Err(format!("regex has no capture group {group}"));
            }
            sources.push((CheckSource::Regex(re, group), format!("regex `{r}`")));
        }
        if let Some(p) = &check.json_path {
            let path = JsonPath::parse(p).map_err(|e| format!("invalid JSON path `{p}`: {e}"))?;
            sources.push((
                CheckSource::JsonPath(Box::new(path), p.clone()),
                format!("json_path `{p}`"),
            ));
        }
        if let Some(t) = &check.response_time {
            sources.push((
                CheckSource::ResponseTime(t.get()),
                "response_time".to_string(),
            ));
        }
        if sources.len() != 1 {
            return Err(format!(
                "a check needs exactly one of status, header, body_contains, regex, json_path, response_time (found {})",
                sources.len()
            ));
        }
        if check.group.is_some() && check.regex.is_none() {
            return Err("`group` only applies to `regex` checks".into());
        }
        let (source, label) = sources.remove(0);
        let is = check
            .is
            .as_ref()
            .map(JsonTemplate::compile)
            .transpose()
            .map_err(|e| format!("is: {e}"))?;
        let not = check
            .not
            .as_ref()
            .map(JsonTemplate::compile)
            .transpose()
            .map_err(|e| format!("not: {e}"))?;
        let matches = check
            .matches
            .as_deref()
            .map(Regex::new)
            .transpose()
            .map_err(|e| format!("matches: invalid regex: {}", regex_error(&e)))?;
        if let Some(name) = &check.save_as {
            let ok = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(format!("invalid save_as variable name `{name}`"));
            }
        }
        Ok(CompiledCheck {
            source,
            is,
            not,
            contains: check.contains.clone(),
            matches,
            exists: check.exists,
            all: check.all,
            save_as: check.save_as.clone(),
            optional: check.optional,
            label,
        })
    }

    /// Whether evaluating the check reads the body.
    pub fn needs_body(&self) -> bool {
        matches!(
            self.source,
            CheckSource::BodyContains(_) | CheckSource::Regex(..) | CheckSource::JsonPath(..)
        )
    }

    /// Evaluates the check; on success stores `save_as`, on failure returns the message.
    /// An optional check never fails.
    pub fn run(
        &self,
        response: &Response,
        latency: Duration,
        session: &mut Session,
        rng: &mut impl Rng,
    ) -> Result<(), String> {
        match self.evaluate(response, latency, session, rng) {
            Ok(Some(value)) => {
                if let Some(name) = &self.save_as {
                    session.set(name.clone(), value);
                }
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(_) if self.optional => Ok(()),
            Err(message) => Err(format!("check {} failed: {message}", self.label)),
        }
    }

    fn evaluate(
        &self,
        response: &Response,
        latency: Duration,
        session: &Session,
        rng: &mut impl Rng,
    ) -> Result<Option<Value>, String> {
        let found = self.find(response, latency, session, rng)?;
        if let CheckSource::Status(codes) = &self.source {
            if self.is.is_none() && self.not.is_none() {
                let ok = if codes.is_empty() {
                    response.status < 400
                } else {
                    codes.contains(&response.status)
                };
                if !ok {
                    return Err(if codes.is_empty() {
                        format!("expected a status < 400, found {}", response.status)
                    } else {
                        format!("expected {}, found {}", list(codes), response.status)
                    });
                }
            }
        }
        if let CheckSource::ResponseTime(max) = &self.source {
            if latency > *max {
                return Err(format!(
                    "expected at most {} ms, took {} ms",
                    max.as_millis(),
                    latency.as_millis()
                ));
            }
        }
        let exists = self.exists.unwrap_or(true);
        if found.is_empty() {
            return if exists {
                Err("found nothing".into())
            } else {
                Ok(None)
            };
        }
        if !exists {
            return Err(format!("expected nothing, found {}", short(&found[0])));
        }
        let first = &found[0];
        if let Some(expected) = &self.is {
            let expected = expected.render(session, rng).map_err(|e| e.to_string())?;
            if !loosely_equal(first, &expected) {
                return Err(format!(
                    "expected {}, found {}",
                    short(&expected),
                    short(first)
                ));
            }
        }
        if let Some(unexpected) = &self.not {
            let unexpected = unexpected.render(session, rng).map_err(|e| e.to_string())?;
            if loosely_equal(first, &unexpected) {
                return Err(format!("expected anything but {}", short(&unexpected)));
            }
        }
        if let Some(text) = &self.contains {
            if !as_text(first).contains(text.as_str()) {
                return Err(format!(
                    "expected to contain `{}`, found {}",
                    truncate(text),
                    short(first)
                ));
            }
        }
        if let Some(re) = &self.matches {
            if !re.is_match(&as_text(first)) {
                return Err(format!(
                    "expected to match `{}`, found {}",
                    re.as_str(),
                    short(first)
                ));
            }
        }
        Ok(Some(if self.all {
            Value::Array(found)
        } else {
            found.into_iter().next().unwrap_or(Value::Null)
        }))
    }

    fn find(
        &self,
        response: &Response,
        latency: Duration,
        session: &Session,
        rng: &mut impl Rng,
    ) -> Result<Vec<Value>, String> {
        Ok(match &self.source {
            CheckSource::Status(_) => vec![Value::from(response.status)],
            CheckSource::Header(name) => response
                .headers
                .get_all(name)
                .iter()
                .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            CheckSource::BodyContains(t) => {
                let needle = t.render(session, rng).map_err(|e| e.to_string())?;
                let hay = String::from_utf8_lossy(&response.body);
                if hay.contains(needle.as_ref()) {
                    vec![Value::String(needle.into_owned())]
                } else {
                    Vec::new()
                }
            }
            CheckSource::Regex(re, group) => {
                let hay = String::from_utf8_lossy(&response.body);
                let caps = re
                    .captures_iter(&hay)
                    .filter_map(|c| c.get(*group))
                    .map(|m| Value::String(m.as_str().to_string()));
                if self.all {
                    caps.collect()
                } else {
                    caps.take(1).collect()
                }
            }
            CheckSource::JsonPath(path, text) => {
                let doc: Value = serde_json::from_slice(&response.body)
                    .map_err(|e| format!("body is not JSON ({e}), so `{text}` cannot apply"))?;
                path.query(&doc).all().into_iter().cloned().collect()
            }
            CheckSource::ResponseTime(_) => vec![Value::from(latency.as_secs_f64() * 1000.0)],
        })
    }
}

/// The regex crate's error as one line (its display spans several, with a caret).
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("invalid");
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

/// Equality that forgives `"42"` vs `42` (CSV feeders give strings).
fn loosely_equal(found: &Value, expected: &Value) -> bool {
    if found == expected {
        return true;
    }
    match (found, expected) {
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => s
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(a, b)| a == b),
        _ => false,
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn short(v: &Value) -> String {
    format!("`{}`", truncate(&as_text(v)))
}

fn truncate(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

fn list(codes: &[u16]) -> String {
    codes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn response(status: u16, body: &str) -> Response {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        Response {
            status,
            headers,
            body: bytes::Bytes::from(body.to_string()),
        }
    }

    fn check(yaml: serde_json::Value) -> CompiledCheck {
        let check: Check = serde_json::from_value(yaml).expect("check parses");
        CompiledCheck::compile(&check).expect("check compiles")
    }

    fn run(c: &CompiledCheck, r: &Response, session: &mut Session) -> Result<(), String> {
        c.run(
            r,
            Duration::from_millis(5),
            session,
            &mut SmallRng::seed_from_u64(1),
        )
    }

    #[test]
    fn status_checks() {
        let mut s = Session::new(0);
        let implicit = CompiledCheck::implicit_status();
        assert!(run(&implicit, &response(302, ""), &mut s).is_ok());
        assert!(run(&implicit, &response(404, ""), &mut s)
            .unwrap_err()
            .contains("< 400"));
        let listed = check(serde_json::json!({"status": [200, 201]}));
        assert!(run(&listed, &response(201, ""), &mut s).is_ok());
        assert_eq!(
            run(&listed, &response(500, ""), &mut s).unwrap_err(),
            "check status failed: expected 200 or 201, found 500"
        );
    }

    #[test]
    fn extraction_and_matchers() {
        let body = r#"{"items":[{"id":1},{"id":2}],"token":"abc","n":"42"}"#;
        let r = response(200, body);
        let mut s = Session::new(0);
        run(
            &check(
                serde_json::json!({"json_path": "$.items[*].id", "all": true, "save_as": "ids"}),
            ),
            &r,
            &mut s,
        )
        .unwrap();
        assert_eq!(s.get("ids"), Some(&serde_json::json!([1, 2])));
        run(
            &check(serde_json::json!({"json_path": "$.token", "save_as": "token"})),
            &r,
            &mut s,
        )
        .unwrap();
        assert_eq!(s.get("token"), Some(&serde_json::json!("abc")));
        assert!(run(
            &check(serde_json::json!({"json_path": "$.n", "is": 42})),
            &r,
            &mut s
        )
        .is_ok());
        assert!(run(
            &check(serde_json::json!({"json_path": "$.token", "is": "#{token}"})),
            &r,
            &mut s
        )
        .is_ok());
        assert!(run(
            &check(serde_json::json!({"json_path": "$.token", "not": "abc"})),
            &r,
            &mut s
        )
        .is_err());
        assert!(run(
            &check(serde_json::json!({"json_path": "$.missing", "exists": false})),
            &r,
            &mut s
        )
        .is_ok());
        assert!(run(
            &check(serde_json::json!({"json_path": "$.missing"})),
            &r,
            &mut s
        )
        .unwrap_err()
        .contains("found nothing"));
        assert!(run(
            &check(serde_json::json!({"json_path": "$.missing", "optional": true})),
            &r,
            &mut s
        )
        .is_ok());
        run(
            &check(serde_json::json!({"regex": "\"id\":(\\d)", "all": true, "save_as": "found"})),
            &r,
            &mut s,
        )
        .unwrap();
        assert_eq!(s.get("found"), Some(&serde_json::json!(["1", "2"])));
        assert!(run(
            &check(serde_json::json!({"header": "content-type", "contains": "json"})),
            &r,
            &mut s
        )
        .is_ok());
        assert!(run(
            &check(serde_json::json!({"header": "content-type", "matches": "^text/"})),
            &r,
            &mut s
        )
        .is_err());
        assert!(run(
            &check(serde_json::json!({"body_contains": "#{token}"})),
            &r,
            &mut s
        )
        .is_ok());
        assert!(run(
            &check(serde_json::json!({"response_time": "1ms"})),
            &r,
            &mut s
        )
        .unwrap_err()
        .contains("at most 1 ms"));
        let not_json = response(200, "<html>");
        assert!(run(
            &check(serde_json::json!({"json_path": "$.x"})),
            &not_json,
            &mut s
        )
        .unwrap_err()
        .contains("not JSON"));
    }

    #[test]
    fn bad_checks_are_refused() {
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"status": 200, "regex": "x"}),
            serde_json::json!({"regex": "("}),
            serde_json::json!({"regex": "x", "group": 1}),
            serde_json::json!({"json_path": "$["}),
            serde_json::json!({"status": 200, "group": 1}),
            serde_json::json!({"status": 200, "save_as": "1x"}),
        ] {
            let check: Check = serde_json::from_value(bad.clone()).unwrap();
            assert!(
                CompiledCheck::compile(&check).is_err(),
                "{bad} must be refused"
            );
        }
    }
}
