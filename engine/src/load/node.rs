//! The located YAML tree: [`Node`] and [`NodeValue`].
//!
//! Every node knows where it starts in the source; maps keep their keys in source order.

use super::path;
use super::problem::Location;

/// A YAML node and where it starts in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's value.
    pub value: NodeValue,
    /// Where the node starts (for an expanded alias, where the alias is written).
    pub loc: Location,
}

/// The value of a YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `null`, `~` or nothing at all.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits an `i64`.
    Int(i64),
    /// A positive integer too large for an `i64`.
    UInt(u64),
    /// A floating-point number (also integers too large for a `u64`).
    Float(f64),
    /// A string (every quoted scalar, and plain scalars that are nothing else).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order; keys are scalars and unique.
    Map(Vec<(Node, Node)>),
}

impl NodeValue {
    /// What kind of value this is, for messages: "null", "a boolean", "a sequence", ...
    pub fn kind(&self) -> &'static str {
        match self {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) | NodeValue::UInt(_) => "an integer",
            NodeValue::Float(_) => "a floating-point number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a sequence",
            NodeValue::Map(_) => "a map",
        }
    }

    /// Whether this is neither a sequence nor a map.
    pub fn is_scalar(&self) -> bool {
        !matches!(self, NodeValue::Seq(_) | NodeValue::Map(_))
    }
}

impl Node {
    /// In a map, the value of the entry whose key reads `key` (keys that are not strings read
    /// as their YAML text: `200`, `true`, `null`).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| path::key_text(k) == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }
}
