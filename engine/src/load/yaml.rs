//! A located YAML tree: [`Node`]s built from `saphyr-parser` events.
//!
//! Plain scalars are resolved with the YAML 1.2 core schema, quoted ones are strings, tags are
//! ignored. Anchors are shared while parsing and aliases are expanded afterwards, under a cap
//! on the number of nodes expansion may create (against "billion laughs"). Duplicate or
//! non-scalar map keys, a second document, nesting deeper than [`MAX_DEPTH`] and inputs larger
//! than [`MAX_INPUT_BYTES`] are errors, each with the position of the offending text.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::node::{Node, NodeValue};
use super::path;
use super::problem::Location;
use super::scalar::resolve_plain;

/// The largest input accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 8 * 1024 * 1024;
/// The deepest nesting of sequences and maps accepted (aliases included).
pub const MAX_DEPTH: usize = 64;
/// The most nodes alias expansion may create in one document.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// Why the text could not be turned into a tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParseError {
    /// Where the problem is.
    pub loc: Location,
    /// The path of the node involved (empty when unknown or the root).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    fn new(loc: Location, path: String, message: impl Into<String>) -> Self {
        ParseError {
            loc,
            path,
            message: message.into(),
        }
    }
}

/// Parses one YAML document into a located tree.
pub(crate) fn parse(text: &str) -> Result<Node, ParseError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(ParseError::new(
            location_of_byte(text, MAX_INPUT_BYTES),
            String::new(),
            format!(
                "the file is {} bytes, larger than the limit of {MAX_INPUT_BYTES} bytes (8 MiB)",
                text.len()
            ),
        ));
    }
    // saphyr-parser 0.0.6 reads a byte-order mark as part of the first scalar; editors do not
    // count it as a column either.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The parser is young: should it ever panic on some input, report that input as invalid
    // rather than take the caller down.
    let built = std::panic::catch_unwind(AssertUnwindSafe(|| Builder::default().run(text)));
    let Ok(tree) = built else {
        return Err(ParseError::new(
            Location::START,
            String::new(),
            "invalid YAML: the YAML parser failed on this input",
        ));
    };
    let tree = tree?;
    let mut expander = Expander { alias_nodes: 0 };
    expander.expand(&tree, 0, None)
}

/// The location of byte `offset` of `text` (or of the char containing it).
fn location_of_byte(text: &str, offset: usize) -> Location {
    let mut loc = Location::START;
    for (i, c) in text.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            loc.line += 1;
            loc.column = 1;
        } else {
            loc.column += 1;
        }
    }
    loc
}

/// Whether `text` holds nothing but blank lines, comments, directives and document markers.
fn is_blank(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').lines().all(|line| {
        let line = line.trim();
        let rest = line
            .strip_prefix("---")
            .or_else(|| line.strip_prefix("..."))
            .map(str::trim_start);
        match rest {
            Some(rest) => rest.is_empty() || rest.starts_with('#'),
            None => line.is_empty() || line.starts_with('#') || line.starts_with('%'),
        }
    })
}

/// A node while parsing: anchored nodes are shared, aliases point at them.
#[derive(Debug)]
struct Tmp {
    kind: TmpKind,
    loc: Location,
}

#[derive(Debug)]
enum TmpKind {
    Scalar(NodeValue),
    Seq(Vec<Tmp>),
    Map(Vec<(Tmp, Tmp)>),
    /// An anchored node, in the place it is written.
    Shared(Rc<Tmp>),
    /// An alias of an anchored node.
    Alias(Rc<Tmp>),
}

impl Tmp {
    /// The node itself, through anchors and aliases.
    fn target(&self) -> &Tmp {
        match &self.kind {
            TmpKind::Shared(rc) | TmpKind::Alias(rc) => rc,
            _ => self,
        }
    }
}

/// A key's identity for duplicate detection.
#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyId {
    Null,
    Bool(bool),
    Int(i128),
    Float(u64),
    Str(String),
}

impl KeyId {
    fn of(value: &NodeValue) -> Option<KeyId> {
        Some(match value {
            NodeValue::Null => KeyId::Null,
            NodeValue::Bool(b) => KeyId::Bool(*b),
            NodeValue::Int(i) => KeyId::Int(i128::from(*i)),
            NodeValue::UInt(u) => KeyId::Int(i128::from(*u)),
            NodeValue::Float(f) => KeyId::Float(f.to_bits()),
            NodeValue::Str(s) => KeyId::Str(s.clone()),
            NodeValue::Seq(_) | NodeValue::Map(_) => return None,
        })
    }
}

/// An open sequence or map.
#[derive(Debug)]
struct Frame {
    loc: Location,
    anchor: usize,
    kind: FrameKind,
}

#[derive(Debug)]
enum FrameKind {
    Seq(Vec<Tmp>),
    Map {
        entries: Vec<(Tmp, Tmp)>,
        key: Option<Tmp>,
        seen: HashMap<KeyId, Location>,
    },
}

/// Builds a [`Tmp`] tree from parser events.
#[derive(Debug, Default)]
struct Builder {
    frames: Vec<Frame>,
    anchors: HashMap<usize, Rc<Tmp>>,
    root: Option<Tmp>,
    documents: usize,
}

impl Builder {
    fn run(mut self, text: &str) -> Result<Tmp, ParseError> {
        let mut parser = Parser::new_from_str(text);
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| {
                ParseError::new(
                    Location::from_marker(e.marker()),
                    String::new(),
                    format!("invalid YAML: {}", e.info()),
                )
            })?;
            if !self.on_event(event, span)? {
                break;
            }
        }
        match self.root {
            Some(root)
                if !(matches!(root.kind, TmpKind::Scalar(NodeValue::Null)) && is_blank(text)) =>
            {
                Ok(root)
            }
            _ => Err(ParseError::new(
                Location::START,
                String::new(),
                "the file is empty; expected a simulation mapping",
            )),
        }
    }

    /// Handles one event; `false` at the end of the stream.
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<bool, ParseError> {
        let loc = Location::from_marker(&span.start);
        match event {
            Event::StreamEnd => return Ok(false),
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(ParseError::new(
                        loc,
                        String::new(),
                        "a second YAML document starts here; expected a single document",
                    ));
                }
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id).cloned() else {
                    return Err(ParseError::new(
                        loc,
                        self.child_path(),
                        "this alias refers to a node that contains it; recursive aliases are not supported",
                    ));
                };
                self.add(Tmp {
                    kind: TmpKind::Alias(target),
                    loc,
                })?;
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let value = if style == ScalarStyle::Plain {
                    resolve_plain(&text)
                } else {
                    NodeValue::Str(text.into_owned())
                };
                self.finish(
                    Tmp {
                        kind: TmpKind::Scalar(value),
                        loc,
                    },
                    anchor,
                )?;
            }
            Event::SequenceStart(anchor, _) => {
                self.open(loc, anchor, FrameKind::Seq(Vec::new()))?
            }
            Event::MappingStart(anchor, _) => self.open(
                loc,
                anchor,
                FrameKind::Map {
                    entries: Vec::new(),
                    key: None,
                    seen: HashMap::new(),
                },
            )?,
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.frames.pop() {
                    let kind = match frame.kind {
                        FrameKind::Seq(items) => TmpKind::Seq(items),
                        FrameKind::Map { entries, .. } => TmpKind::Map(entries),
                    };
                    let node = Tmp {
                        kind,
                        loc: frame.loc,
                    };
                    self.finish(node, frame.anchor)?;
                }
            }
        }
        Ok(true)
    }

    fn open(&mut self, loc: Location, anchor: usize, kind: FrameKind) -> Result<(), ParseError> {
        if self.frames.len() >= MAX_DEPTH {
            return Err(ParseError::new(
                loc,
                self.child_path(),
                format!("nesting is deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.frames.push(Frame { loc, anchor, kind });
        Ok(())
    }

    /// Registers a complete node's anchor, then adds it to its parent.
    fn finish(&mut self, node: Tmp, anchor: usize) -> Result<(), ParseError> {
        if anchor == 0 {
            return self.add(node);
        }
        let loc = node.loc;
        let shared = Rc::new(node);
        self.anchors.insert(anchor, Rc::clone(&shared));
        self.add(Tmp {
            kind: TmpKind::Shared(shared),
            loc,
        })
    }

    /// Adds a complete node to the innermost open collection (or makes it the root).
    fn add(&mut self, node: Tmp) -> Result<(), ParseError> {
        let map_path = self.map_path();
        let Some(frame) = self.frames.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        match &mut frame.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map { entries, key, seen } => match key.take() {
                Some(k) => entries.push((k, node)),
                None => {
                    let target = node.target();
                    let TmpKind::Scalar(value) = &target.kind else {
                        return Err(ParseError::new(
                            node.loc,
                            map_path,
                            "a map key must be a scalar (string, number, boolean or null); \
                             found a sequence or map",
                        ));
                    };
                    if let Some(id) = KeyId::of(value) {
                        if let Some(first) = seen.get(&id) {
                            return Err(ParseError::new(
                                node.loc,
                                map_path,
                                format!(
                                    "duplicate key `{}` (first defined at line {}, column {})",
                                    path::value_text(value),
                                    first.line,
                                    first.column
                                ),
                            ));
                        }
                        seen.insert(id, node.loc);
                    }
                    *key = Some(node);
                }
            },
        }
        Ok(())
    }

    /// The path of the innermost open collection.
    fn map_path(&self) -> String {
        let n = self.frames.len().saturating_sub(1);
        frames_path(&self.frames[..n])
    }

    /// The path of the next node to be added.
    fn child_path(&self) -> String {
        frames_path(&self.frames)
    }
}

/// The path leading to the next child of the last frame.
fn frames_path(frames: &[Frame]) -> String {
    let mut out = String::new();
    for frame in frames {
        match &frame.kind {
            FrameKind::Seq(items) => path::push_index(&mut out, items.len()),
            FrameKind::Map { key: Some(k), .. } => match &k.target().kind {
                TmpKind::Scalar(value) => path::push_key_text(&mut out, &path::value_text(value)),
                _ => break,
            },
            FrameKind::Map { key: None, .. } => break,
        }
    }
    out
}

/// Turns a [`Tmp`] tree into [`Node`]s, expanding aliases within the limits.
struct Expander {
    alias_nodes: usize,
}

impl Expander {
    /// `depth` counts the collections around `tmp`; `alias` is the outermost alias being
    /// expanded, if any.
    fn expand(
        &mut self,
        tmp: &Tmp,
        depth: usize,
        alias: Option<Location>,
    ) -> Result<Node, ParseError> {
        let value = match &tmp.kind {
            TmpKind::Shared(rc) => return self.expand(rc, depth, alias),
            TmpKind::Alias(rc) => {
                let mut node = self.expand(rc, depth, Some(alias.unwrap_or(tmp.loc)))?;
                node.loc = tmp.loc;
                return Ok(node);
            }
            TmpKind::Seq(_) | TmpKind::Map(_) if depth >= MAX_DEPTH => {
                return Err(ParseError::new(
                    alias.unwrap_or(tmp.loc),
                    String::new(),
                    format!("nesting is deeper than {MAX_DEPTH} levels once aliases are expanded"),
                ));
            }
            TmpKind::Scalar(value) => {
                self.count(alias)?;
                value.clone()
            }
            TmpKind::Seq(items) => {
                self.count(alias)?;
                NodeValue::Seq(
                    items
                        .iter()
                        .map(|item| self.expand(item, depth + 1, alias))
                        .collect::<Result<_, _>>()?,
                )
            }
            TmpKind::Map(entries) => {
                self.count(alias)?;
                NodeValue::Map(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            Ok((
                                self.expand(k, depth + 1, alias)?,
                                self.expand(v, depth + 1, alias)?,
                            ))
                        })
                        .collect::<Result<_, ParseError>>()?,
                )
            }
        };
        Ok(Node {
            value,
            loc: tmp.loc,
        })
    }

    /// Counts one node created by expanding the alias at `alias`, if any.
    fn count(&mut self, alias: Option<Location>) -> Result<(), ParseError> {
        let Some(at) = alias else {
            return Ok(());
        };
        self.alias_nodes += 1;
        if self.alias_nodes > MAX_ALIAS_NODES {
            return Err(ParseError::new(
                at,
                String::new(),
                format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
            ));
        }
        Ok(())
    }
}
