//! Paths naming a node of a document: `scenarios[0].steps[2].request.headers["content-type"]`.
//!
//! Map keys are joined with `.`; sequence indices are written `[i]`; keys that are not
//! identifiers (`[A-Za-z_][A-Za-z0-9_]*`) are written as JSON strings in brackets
//! (`["content-type"]`, `["200"]`); the root is the empty string. Non-string keys read as their
//! YAML text (`200`, `true`, `null`). When reading a path back, a bare key may be anything up to
//! the next `.` or `[` (`headers.content-type` is understood).

use std::borrow::Cow;
use std::fmt::Write as _;

use super::node::{Node, NodeValue};
use super::problem::Location;

/// The text a scalar key reads as in a path.
pub(crate) fn value_text(value: &NodeValue) -> Cow<'_, str> {
    match value {
        NodeValue::Str(s) => Cow::Borrowed(s),
        NodeValue::Null => Cow::Borrowed("null"),
        NodeValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        NodeValue::Int(i) => Cow::Owned(i.to_string()),
        NodeValue::UInt(u) => Cow::Owned(u.to_string()),
        NodeValue::Float(f) => Cow::Owned(float_text(*f)),
        NodeValue::Seq(_) => Cow::Borrowed("[...]"),
        NodeValue::Map(_) => Cow::Borrowed("{...}"),
    }
}

/// A float as YAML writes it.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_owned()
    } else {
        format!("{f:?}")
    }
}

/// The text a key node reads as in a path.
pub(crate) fn key_text(key: &Node) -> Cow<'_, str> {
    value_text(&key.value)
}

/// Whether `text` can follow a `.` unquoted.
fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Appends `[index]`.
pub(crate) fn push_index(out: &mut String, index: usize) {
    let _ = write!(out, "[{index}]");
}

/// Appends a key that reads `text`.
pub(crate) fn push_key_text(out: &mut String, text: &str) {
    if is_identifier(text) {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(text);
    } else {
        let quoted = serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"));
        out.push('[');
        out.push_str(&quoted);
        out.push(']');
    }
}

/// `path` extended with the map key `key`, quoted when it is not an identifier:
/// `path_with_key("http.headers", "content-type")` is `http.headers["content-type"]`.
pub fn path_with_key(path: &str, key: &str) -> String {
    let mut out = path.to_owned();
    push_key_text(&mut out, key);
    out
}

/// `path` extended with the sequence index `index`: `scenarios[3]`.
pub fn path_with_index(path: &str, index: usize) -> String {
    let mut out = path.to_owned();
    push_index(&mut out, index);
    out
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// A map key, by its text.
    Key(String),
    /// A sequence index (or an integer map key).
    Index(usize),
}

/// Splits a path into segments; stops at the first malformed part (the boolean says whether
/// the whole path was understood).
pub(crate) fn parse(path: &str) -> (Vec<Segment>, bool) {
    let mut segments = Vec::new();
    let mut rest = path;
    let mut first = true;
    while !rest.is_empty() {
        let parsed = if let Some(after) = rest.strip_prefix('[') {
            bracket(after)
        } else if let Some(after) = rest.strip_prefix('.').filter(|_| !first) {
            bare_key(after)
        } else if first {
            bare_key(rest)
        } else {
            None
        };
        let Some((segment, after)) = parsed else {
            return (segments, false);
        };
        segments.push(segment);
        rest = after;
        first = false;
    }
    (segments, true)
}

/// A bare key at the start of `text`: an identifier, or leniently anything up to the next `.`
/// or `[` (so that `headers.content-type` is understood too).
fn bare_key(text: &str) -> Option<(Segment, &str)> {
    let end = text.find(['.', '[']).unwrap_or(text.len());
    let (name, rest) = text.split_at(end);
    (!name.is_empty()).then(|| (Segment::Key(name.to_owned()), rest))
}

/// `digits]` or `"json string"]` at the start of `text`.
fn bracket(text: &str) -> Option<(Segment, &str)> {
    if text.starts_with('"') {
        let mut escaped = false;
        for (i, c) in text.char_indices().skip(1) {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    let key: String = serde_json::from_str(&text[..=i]).ok()?;
                    let rest = text[i + 1..].strip_prefix(']')?;
                    return Some((Segment::Key(key), rest));
                }
                _ => {}
            }
        }
        return None;
    }
    let end = text.find(']')?;
    let index = text[..end].parse::<usize>().ok()?;
    Some((Segment::Index(index), &text[end + 1..]))
}

/// The node at `segments` below `root`, or its nearest existing ancestor.
pub(crate) fn nearest<'a>(root: &'a Node, segments: &[Segment]) -> &'a Node {
    let mut node = root;
    for segment in segments {
        let next = match (&node.value, segment) {
            (NodeValue::Seq(items), Segment::Index(i)) => items.get(*i),
            (NodeValue::Map(_), Segment::Key(key)) => node.get(key),
            (NodeValue::Map(_), Segment::Index(i)) => node.get(&i.to_string()),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node
}

/// The location of the node at `path` below `root`, or of its nearest existing ancestor.
pub(crate) fn locate(root: &Node, path: &str) -> Location {
    let (segments, _) = parse(path);
    nearest(root, &segments).loc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(segments: &[Segment]) -> String {
        let mut out = String::new();
        for s in segments {
            match s {
                Segment::Key(k) => push_key_text(&mut out, k),
                Segment::Index(i) => push_index(&mut out, *i),
            }
        }
        out
    }

    #[test]
    fn paths_render_and_parse_back() {
        let segments = vec![
            Segment::Key("scenarios".into()),
            Segment::Index(0),
            Segment::Key("steps".into()),
            Segment::Index(2),
            Segment::Key("request".into()),
            Segment::Key("headers".into()),
            Segment::Key("content-type".into()),
            Segment::Key("a\"b]".into()),
        ];
        let text = render(&segments);
        assert_eq!(
            text,
            r#"scenarios[0].steps[2].request.headers["content-type"]["a\"b]"]"#
        );
        assert_eq!(parse(&text), (segments, true));
    }

    #[test]
    fn root_and_odd_keys() {
        assert_eq!(parse(""), (vec![], true));
        assert_eq!(render(&[Segment::Key("200".into())]), r#"["200"]"#);
        assert_eq!(render(&[Segment::Index(3)]), "[3]");
        assert_eq!(render(&[Segment::Key(String::new())]), r#"[""]"#);
        assert_eq!(
            render(&[Segment::Key("é".into()), Segment::Key("_x1".into())]),
            r#"["é"]._x1"#
        );
    }

    #[test]
    fn malformed_paths_stop_early() {
        assert!(!parse("a.[0]").1);
        assert_eq!(parse("a..b"), (vec![Segment::Key("a".into())], false));
        assert_eq!(parse("a[x]"), (vec![Segment::Key("a".into())], false));
        assert!(!parse(".a").1);
        assert!(!parse("a[\"b").1);
        assert!(!parse("a[1]x").1);
    }

    #[test]
    fn bare_keys_are_read_leniently() {
        let key = |k: &str| Segment::Key(k.into());
        assert_eq!(
            parse("http.headers.content-type"),
            (vec![key("http"), key("headers"), key("content-type")], true)
        );
        assert_eq!(parse("é[0]"), (vec![key("é"), Segment::Index(0)], true));
    }

    #[test]
    fn path_builders_quote_as_needed() {
        assert_eq!(path_with_key("", "http"), "http");
        assert_eq!(path_with_key("http", "headers"), "http.headers");
        assert_eq!(
            path_with_key("http.headers", "content-type"),
            "http.headers[\"content-type\"]"
        );
        assert_eq!(path_with_index("scenarios", 3), "scenarios[3]");
        assert_eq!(path_with_index("", 0), "[0]");
    }
}
