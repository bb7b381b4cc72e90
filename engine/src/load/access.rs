//! The `serde` access types behind [`NodeDe`]: sequences, maps and externally tagged enums.
//!
//! Each hands its elements to `Deserialize` impls through a [`NodeDe`] carrying the element's
//! path, and attaches the element's location to errors that come back without one.

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

use super::de::{unexpected, DeError, NodeDe, Path};
use super::node::{Node, NodeValue};

/// The elements of a sequence.
pub(crate) struct SeqDe<'a, 'de> {
    items: &'de [Node],
    index: usize,
    path: &'a Path<'a>,
}

impl<'a, 'de> SeqDe<'a, 'de> {
    /// Hands `items` to `visitor`, then rejects elements it left unread.
    pub(crate) fn visit<V: Visitor<'de>>(
        items: &'de [Node],
        path: &'a Path<'a>,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let mut seq = SeqDe {
            items,
            index: 0,
            path,
        };
        let value = visitor.visit_seq(&mut seq)?;
        if seq.index < items.len() {
            return Err(de::Error::custom(format_args!(
                "expected a sequence of {} elements; found {}",
                seq.index,
                items.len()
            )));
        }
        Ok(value)
    }
}

impl<'de> SeqAccess<'de> for SeqDe<'_, 'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.get(self.index) else {
            return Ok(None);
        };
        let path = Path::Index(self.path, self.index);
        self.index += 1;
        let de = NodeDe::new(node, &path);
        de.attach(seed.deserialize(de)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len().saturating_sub(self.index))
    }
}

/// The entries of a map.
pub(crate) struct MapDe<'a, 'de> {
    entries: &'de [(Node, Node)],
    index: usize,
    path: &'a Path<'a>,
}

impl<'a, 'de> MapDe<'a, 'de> {
    /// Access to `entries`, a map at `path`.
    pub(crate) fn new(entries: &'de [(Node, Node)], path: &'a Path<'a>) -> Self {
        MapDe {
            entries,
            index: 0,
            path,
        }
    }
}

impl<'de> MapAccess<'de> for MapDe<'_, 'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, _)) = self.entries.get(self.index) else {
            return Ok(None);
        };
        // A key's errors (unknown field, ...) are located at the key, under the map's path.
        let de = NodeDe {
            node: key,
            path: self.path,
            key: true,
        };
        de.attach(seed.deserialize(de)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((key, value)) = self.entries.get(self.index) else {
            return Err(de::Error::custom(
                "a map value was requested after the last entry",
            ));
        };
        self.index += 1;
        let path = Path::Key(self.path, key);
        let de = NodeDe::new(value, &path);
        de.attach(seed.deserialize(de))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len().saturating_sub(self.index))
    }
}

/// An externally tagged enum: a string naming a unit variant, or `{variant: content}`.
pub(crate) struct EnumDe<'a, 'de> {
    /// The enum's node (the string, or the single-key map).
    outer: NodeDe<'a, 'de>,
    /// The node naming the variant (the string itself, or the map's key).
    name: &'de Node,
    /// The content, for the single-key map form.
    content: Option<&'de Node>,
}

impl<'a, 'de> EnumDe<'a, 'de> {
    /// A variant named by the string `outer`.
    pub(crate) fn unit(outer: NodeDe<'a, 'de>) -> Self {
        EnumDe {
            outer,
            name: outer.node,
            content: None,
        }
    }

    /// A variant written as the single-key map `outer`: `{name: content}`.
    pub(crate) fn tagged(outer: NodeDe<'a, 'de>, name: &'de Node, content: &'de Node) -> Self {
        EnumDe {
            outer,
            name,
            content: Some(content),
        }
    }

    /// The variant's name as written, for messages.
    fn variant_name(&self) -> String {
        super::path::key_text(self.name).into_owned()
    }

    /// The error for a variant written without content that needs some.
    fn needs_content(&self, what: &str) -> DeError {
        let name = self.variant_name();
        DeError {
            message: format!("variant `{name}` needs {what}; write it as a map: `{name}: ...`"),
            path: Some(self.outer.path.render()),
            loc: Some(self.name.loc),
        }
    }

    /// Runs `f` on a deserializer for the content, located under the variant's key.
    fn with_content<T>(
        self,
        what: &str,
        f: impl FnOnce(NodeDe<'_, 'de>) -> Result<T, DeError>,
    ) -> Result<T, DeError> {
        let Some(content) = self.content else {
            return Err(self.needs_content(what));
        };
        let path = Path::Key(self.outer.path, self.name);
        let de = NodeDe::new(content, &path);
        de.attach(f(de))
    }
}

impl<'a, 'de> EnumAccess<'de> for EnumDe<'a, 'de> {
    type Error = DeError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), DeError> {
        let de = NodeDe {
            node: self.name,
            path: self.outer.path,
            key: true,
        };
        let value = de.attach(seed.deserialize(de))?;
        Ok((value, self))
    }
}

impl<'de> VariantAccess<'de> for EnumDe<'_, 'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.content {
            None => Ok(()),
            Some(content) if content.value == NodeValue::Null => Ok(()),
            Some(content) => {
                let name = self.variant_name();
                let path = Path::Key(self.outer.path, self.name);
                let de = NodeDe::new(content, &path);
                de.attach(Err(de::Error::invalid_type(
                    unexpected(&content.value),
                    &format!("nothing (null): variant `{name}` takes no value").as_str(),
                )))
            }
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        self.with_content("a value", |de| seed.deserialize(de))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.with_content("a sequence", |de| {
            de::Deserializer::deserialize_tuple(de, len, visitor)
        })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.with_content("a map", |de| {
            de::Deserializer::deserialize_struct(de, "", fields, visitor)
        })
    }
}
