//! A `serde` [`Deserializer`] over a located [`Node`] tree.
//!
//! Errors carry the path and location of the innermost node involved: whenever an error leaves
//! a `deserialize_*` call, or the `Deserialize` impl of a sequence element, map key, map value
//! or enum content, without a location yet, that node's location and path are attached.
//! Enums are externally tagged the way `serde_yaml` does it: a string names a unit variant,
//! a single-key map `{variant: content}` any variant.

use std::fmt;

use serde::de::{self, Deserializer, Expected, Unexpected, Visitor};

use super::access::{EnumDe, MapDe, SeqDe};
use super::node::{Node, NodeValue};
use super::path;
use super::problem::Location;

/// A deserialization error, with the path and location of the node it is about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeError {
    /// What is wrong.
    pub message: String,
    /// The path of the node involved, once known.
    pub path: Option<String>,
    /// The location of the node involved, once known.
    pub loc: Option<Location>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            path: None,
            loc: None,
        }
    }
}

/// Where a node sits in the document, as a chain of parents (rendered only on error).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Path<'a> {
    /// The document's root.
    Root,
    /// An element of a sequence.
    Index(&'a Path<'a>, usize),
    /// A value of a map, by its key.
    Key(&'a Path<'a>, &'a Node),
}

impl Path<'_> {
    /// The path as text (see [`path`](super::path)).
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }

    fn write_to(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Index(parent, i) => {
                parent.write_to(out);
                path::push_index(out, *i);
            }
            Path::Key(parent, key) => {
                parent.write_to(out);
                path::push_key_text(out, &path::key_text(key));
            }
        }
    }
}

/// Deserializes one node; `key` is set for map keys, which may be read as strings or
/// integers whatever their YAML type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeDe<'a, 'de> {
    pub node: &'de Node,
    pub path: &'a Path<'a>,
    pub key: bool,
}

impl<'a, 'de> NodeDe<'a, 'de> {
    /// A deserializer for a node that is not a map key.
    pub(crate) fn new(node: &'de Node, path: &'a Path<'a>) -> Self {
        NodeDe {
            node,
            path,
            key: false,
        }
    }

    /// Gives an error without a location this node's location and path.
    pub(crate) fn attach<T>(&self, result: Result<T, DeError>) -> Result<T, DeError> {
        result.map_err(|mut e| {
            if e.loc.is_none() {
                e.loc = Some(self.node.loc);
                e.path = Some(self.path.render());
            }
            e
        })
    }

    /// "invalid type: ..., expected ..." for this node.
    pub(crate) fn invalid_type(&self, exp: &dyn Expected) -> DeError {
        de::Error::invalid_type(unexpected(&self.node.value), exp)
    }

    /// The node as an integer, range-checked against `min..=max`.
    fn integer(&self, min: i128, max: i128, exp: &dyn Expected) -> Result<i128, DeError> {
        let value = match &self.node.value {
            NodeValue::Int(i) => i128::from(*i),
            NodeValue::UInt(u) => i128::from(*u),
            NodeValue::Str(s) if self.key => match s.parse::<i128>() {
                Ok(v) => v,
                Err(_) => return Err(self.invalid_type(exp)),
            },
            _ => return Err(self.invalid_type(exp)),
        };
        if value < min || value > max {
            return Err(de::Error::custom(format_args!(
                "invalid value: integer `{value}` is out of range, expected {exp} \
                 (from {min} to {max})"
            )));
        }
        Ok(value)
    }

    /// The node as a string for a map key that is a non-string scalar.
    fn key_text(&self) -> Option<String> {
        match &self.node.value {
            v @ (NodeValue::Null
            | NodeValue::Bool(_)
            | NodeValue::Int(_)
            | NodeValue::UInt(_)
            | NodeValue::Float(_))
                if self.key =>
            {
                Some(path::value_text(v).into_owned())
            }
            _ => None,
        }
    }
}

/// How serde should describe a node's value in "invalid type" messages.
pub(crate) fn unexpected(value: &NodeValue) -> Unexpected<'_> {
    match value {
        NodeValue::Null => Unexpected::Other("null"),
        NodeValue::Bool(b) => Unexpected::Bool(*b),
        NodeValue::Int(i) => Unexpected::Signed(*i),
        NodeValue::UInt(u) => Unexpected::Unsigned(*u),
        NodeValue::Float(f) => Unexpected::Float(*f),
        NodeValue::Str(s) => Unexpected::Str(s),
        NodeValue::Seq(_) => Unexpected::Seq,
        NodeValue::Map(_) => Unexpected::Map,
    }
}

/// One `deserialize_<int>` method: range-checked, then handed to `visit_<int>`.
macro_rules! integer_method {
    ($method:ident, $ty:ty, $visit:ident) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let result = self
                .integer(i128::from(<$ty>::MIN), i128::from(<$ty>::MAX), &visitor)
                .and_then(|v| <$ty>::try_from(v).map_err(de::Error::custom))
                .and_then(|v| visitor.$visit(v));
            self.attach(result)
        }
    };
}

impl<'de> Deserializer<'de> for NodeDe<'_, 'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            NodeValue::Null => visitor.visit_unit(),
            NodeValue::Bool(b) => visitor.visit_bool(*b),
            NodeValue::Int(i) => match u64::try_from(*i) {
                Ok(u) => visitor.visit_u64(u),
                Err(_) => visitor.visit_i64(*i),
            },
            NodeValue::UInt(u) => visitor.visit_u64(*u),
            NodeValue::Float(f) => visitor.visit_f64(*f),
            NodeValue::Str(s) => visitor.visit_borrowed_str(s),
            NodeValue::Seq(items) => SeqDe::visit(items, self.path, visitor),
            NodeValue::Map(entries) => visitor.visit_map(MapDe::new(entries, self.path)),
        };
        self.attach(result)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            NodeValue::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.invalid_type(&visitor)),
        };
        self.attach(result)
    }

    integer_method!(deserialize_i8, i8, visit_i8);
    integer_method!(deserialize_i16, i16, visit_i16);
    integer_method!(deserialize_i32, i32, visit_i32);
    integer_method!(deserialize_i64, i64, visit_i64);
    integer_method!(deserialize_i128, i128, visit_i128);
    integer_method!(deserialize_u8, u8, visit_u8);
    integer_method!(deserialize_u16, u16, visit_u16);
    integer_method!(deserialize_u32, u32, visit_u32);
    integer_method!(deserialize_u64, u64, visit_u64);

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = self
            .integer(0, i128::MAX, &visitor)
            .and_then(|v| u128::try_from(v).map_err(de::Error::custom))
            .and_then(|v| visitor.visit_u128(v));
        self.attach(result)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            NodeValue::Float(f) => visitor.visit_f64(*f),
            NodeValue::Int(i) => visitor.visit_f64(*i as f64),
            NodeValue::UInt(u) => visitor.visit_f64(*u as f64),
            _ => Err(self.invalid_type(&visitor)),
        };
        self.attach(result)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            NodeValue::Str(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => visitor.visit_char(c),
                    _ => Err(de::Error::invalid_value(Unexpected::Str(s), &visitor)),
                }
            }
            _ => Err(self.invalid_type(&visitor)),
        };
        self.attach(result)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match (&self.node.value, self.key_text()) {
            (NodeValue::Str(s), _) => visitor.visit_borrowed_str(s),
            (_, Some(text)) => visitor.visit_string(text),
            _ => Err(self.invalid_type(&visitor)),
        };
        self.attach(result)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            NodeValue::Str(s) => visitor.visit_borrowed_bytes(s.as_bytes()),
            NodeValue::Seq(items) => SeqDe::visit(items, self.path, visitor),
            _ => Err(self.invalid_type(&visitor)),
        };
        self.attach(result)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            NodeValue::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        };
        self.attach(result)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            NodeValue::Null => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        };
        self.attach(result)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = visitor.visit_newtype_struct(self);
        self.attach(result)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            NodeValue::Seq(items) => SeqDe::visit(items, self.path, visitor),
            _ => Err(self.invalid_type(&visitor)),
        };
        self.attach(result)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            NodeValue::Map(entries) => visitor.visit_map(MapDe::new(entries, self.path)),
            _ => Err(self.invalid_type(&visitor)),
        };
        self.attach(result)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            NodeValue::Str(_) => visitor.visit_enum(EnumDe::unit(self)),
            NodeValue::Map(entries) => match entries.as_slice() {
                [(key, value)] => visitor.visit_enum(EnumDe::tagged(self, key, value)),
                _ => Err(de::Error::custom(format_args!(
                    "expected a single-key map naming one of {}; found a map with {} keys",
                    one_of(variants),
                    entries.len()
                ))),
            },
            _ => Err(de::Error::invalid_type(
                unexpected(&self.node.value),
                &format!(
                    "a variant name or a single-key map naming one of {}",
                    one_of(variants)
                )
                .as_str(),
            )),
        };
        self.attach(result)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match (&self.node.value, self.key_text()) {
            (NodeValue::Str(s), _) => visitor.visit_borrowed_str(s),
            (_, Some(text)) => visitor.visit_string(text),
            _ => Err(self.invalid_type(&visitor)),
        };
        self.attach(result)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

/// "`a`, `b` or `c`" style list of names.
pub(crate) fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    if quoted.is_empty() {
        "no variant".to_owned()
    } else {
        quoted.join(", ")
    }
}
