//! Serialization of [`Histogram`]s: the HdrHistogram V2 encoding, deflate-compressed.
//!
//! With serde, binary formats get the raw bytes and human-readable ones (JSON) a base64 string;
//! an empty histogram is an empty byte string / `""`. Deserialization accepts a base64 string,
//! bytes, a sequence of bytes, or `null`, and yields the compact form.

use std::fmt;

use base64::Engine as _;
use hdrhistogram::serialization::{
    Deserializer as HdrDeserializer, Serializer as _, V2DeflateSerializer,
};
use serde::{Deserialize, Serialize};

use super::histogram::{Hdr, Histogram};

impl Histogram {
    /// The HdrHistogram V2 deflate encoding (empty for an empty histogram).
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        if let Some(h) = self.to_hdr() {
            V2DeflateSerializer::new()
                .serialize(&*h, &mut out)
                .map_err(|e| format!("cannot encode histogram: {e:?}"))?;
        }
        Ok(out)
    }

    /// Decodes an HdrHistogram V2 encoding (plain or deflate; empty bytes give an empty
    /// histogram) into the compact form. Histograms of another resolution are re-bucketed,
    /// values above one hour saturate.
    pub fn from_bytes(bytes: &[u8]) -> Result<Histogram, String> {
        if bytes.is_empty() {
            return Ok(Histogram::default());
        }
        let mut reader = bytes;
        let h: Hdr = HdrDeserializer::new()
            .deserialize(&mut reader)
            .map_err(|e| format!("invalid histogram encoding: {e:?}"))?;
        let entries = h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        Ok(Histogram::from_entries(entries))
    }
}

impl Serialize for Histogram {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_bytes().map_err(serde::ser::Error::custom)?;
        if serializer.is_human_readable() {
            serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
        } else {
            serializer.serialize_bytes(&bytes)
        }
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(HistogramVisitor)
        } else {
            deserializer.deserialize_bytes(HistogramVisitor)
        }
    }
}

/// Accepts a base64 string, bytes, or a sequence of bytes.
struct HistogramVisitor;

impl<'de> serde::de::Visitor<'de> for HistogramVisitor {
    type Value = Histogram;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an HdrHistogram V2 encoding (bytes, or base64 text)")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Histogram, E> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .map_err(|e| E::custom(format!("invalid base64 histogram: {e}")))?;
        Histogram::from_bytes(&bytes).map_err(E::custom)
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Histogram, E> {
        Histogram::from_bytes(v).map_err(E::custom)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Histogram, E> {
        Ok(Histogram::default())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Histogram, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        Histogram::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}
