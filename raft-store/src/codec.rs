//! Versioned record encoding and key layout helpers.
//!
//! Every value this crate writes (log entries, state-machine records, snapshot records) is one
//! version byte followed by bincode (serde, standard config). Reading a record whose version byte
//! is newer than [`RECORD_VERSION`] fails with [`Error::FutureFormat`] instead of misreading it.
//! Byte payloads (blob chunks, deltas, results) are serde byte strings, copied in one piece.
//! Keys are raw bytes: integers big-endian so that RocksDB's byte order is numeric order, strings
//! joined by a `0` byte (validated names and paths never contain one).

use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Result};

/// Version byte written in front of every stored record.
pub const RECORD_VERSION: u8 = 1;

/// Bincode limit on one decoded record, a guard against corrupt length prefixes.
const DECODE_LIMIT: usize = 256 << 20;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes `value` with the version byte in front.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = vec![RECORD_VERSION];
    bincode::serde::encode_into_std_write(value, &mut out, config())?;
    Ok(out)
}

/// Length of [`encode`]'s output, computed without allocating it.
pub(crate) fn encoded_len<T: Serialize>(value: &T) -> Result<usize> {
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(value, &mut size, config())?;
    Ok(1 + size.bytes_written)
}

/// Decodes a record written by [`encode`], checking its version byte.
pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
    let Some((&version, body)) = bytes.split_first() else {
        return Err(Error::corrupt(what, "empty record"));
    };
    if version > RECORD_VERSION {
        return Err(Error::FutureFormat {
            what,
            found: u32::from(version),
            supported: u32::from(RECORD_VERSION),
        });
    }
    if version == 0 {
        return Err(Error::corrupt(what, "record version 0"));
    }
    let cfg = config().with_limit::<DECODE_LIMIT>();
    let (value, used) = bincode::serde::decode_from_slice(body, cfg)
        .map_err(|source| Error::Decode { what, source })?;
    if used != body.len() {
        return Err(Error::corrupt(
            what,
            format!("{} trailing bytes", body.len() - used),
        ));
    }
    Ok(value)
}

/// Appends a big-endian `u64`.
pub(crate) fn put_u64(key: &mut Vec<u8>, v: u64) {
    key.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian `u32`.
pub(crate) fn put_u32(key: &mut Vec<u8>, v: u32) {
    key.extend_from_slice(&v.to_be_bytes());
}

/// Appends a string and the `0` separator.
pub(crate) fn put_str(key: &mut Vec<u8>, s: &str) {
    key.extend_from_slice(s.as_bytes());
    key.push(0);
}

/// Reads a big-endian `u64` at `at`.
pub(crate) fn read_u64(what: &'static str, key: &[u8], at: usize) -> Result<u64> {
    key.get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| {
            Error::corrupt(
                what,
                format!("key of {} bytes has no u64 at {at}", key.len()),
            )
        })
}

/// The smallest key greater than every key starting with `prefix` (`None`: no such key).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_future_version() {
        let bytes = encode(&("a", 7u64)).unwrap();
        let back: (String, u64) = decode("t", &bytes).unwrap();
        assert_eq!(back, ("a".to_owned(), 7));
        let mut future = bytes.clone();
        future[0] = RECORD_VERSION + 1;
        assert!(matches!(
            decode::<(String, u64)>("t", &future),
            Err(Error::FutureFormat { .. })
        ));
        assert!(matches!(
            decode::<(String, u64)>("t", &[]),
            Err(Error::Corrupt { .. })
        ));
        assert!(decode::<(String, u64)>("t", &bytes[..2]).is_err());
    }

    #[test]
    fn prefix_end_orders_after_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
        assert_eq!(prefix_end(&[255, 255]), None);
    }
}
