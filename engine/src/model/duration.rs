//! Human-readable durations in simulation files (`500ms`, `10s`, `1m30s`, or a bare number of seconds).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as `250ms`, `10s`, `1m 30s`, `2h`, or a bare number of seconds (`1.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DurationSpec(pub Duration);

impl DurationSpec {
    /// Builds a duration from whole milliseconds.
    pub fn from_millis(ms: u64) -> Self {
        DurationSpec(Duration::from_millis(ms))
    }

    /// Builds a duration from whole seconds.
    pub fn from_secs(s: u64) -> Self {
        DurationSpec(Duration::from_secs(s))
    }

    /// The underlying standard duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Parses the textual form; the error says what was expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if let Ok(secs) = trimmed.parse::<f64>() {
            return Self::from_secs_f64(secs);
        }
        humantime::parse_duration(trimmed)
            .map_err(|e| e.to_string())
            .and_then(|d| Self::within_limit(DurationSpec(d)))
            .map_err(|e| format!("invalid duration `{text}` ({e}); expected e.g. `500ms`, `10s`, `1m30s` or a number of seconds"))
    }

    /// The longest duration accepted (about 31 years): anything longer is a typo, and
    /// instants computed from it must not overflow.
    pub const MAX: Duration = Duration::from_secs(1_000_000_000);

    fn from_secs_f64(secs: f64) -> Result<Self, String> {
        if secs.is_finite() && (0.0..Self::MAX.as_secs_f64()).contains(&secs) {
            Ok(DurationSpec(Duration::from_secs_f64(secs)))
        } else {
            Err(format!(
                "invalid duration {secs}: expected a non-negative number of seconds below {}",
                Self::MAX.as_secs()
            ))
        }
    }

    fn within_limit(d: DurationSpec) -> Result<Self, String> {
        if d.0 < Self::MAX {
            Ok(d)
        } else {
            Err(format!(
                "longer than the limit of {} s",
                Self::MAX.as_secs()
            ))
        }
    }
}

impl From<Duration> for DurationSpec {
    fn from(d: Duration) -> Self {
        DurationSpec(d)
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = DurationSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `500ms`, `10s`, `1m30s` or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationSpec, E> {
                DurationSpec::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationSpec, E> {
                DurationSpec::within_limit(DurationSpec(Duration::from_secs(v)))
                    .map_err(|e| E::custom(format!("invalid duration {v}: {e}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationSpec, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "invalid duration {v}: must not be negative"
                    ))),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationSpec, E> {
                DurationSpec::from_secs_f64(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for DurationSpec {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: `500ms`, `10s`, `1m30s`, `2h`, or a number of seconds.",
            "anyOf": [
                { "type": "string", "pattern": "^\\s*[0-9]" },
                { "type": "number", "minimum": 0 }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_bare_seconds() {
        assert_eq!(
            DurationSpec::parse("250ms").unwrap().get(),
            Duration::from_millis(250)
        );
        assert_eq!(
            DurationSpec::parse("1m30s").unwrap().get(),
            Duration::from_secs(90)
        );
        assert_eq!(
            DurationSpec::parse("1.5").unwrap().get(),
            Duration::from_millis(1500)
        );
        assert!(DurationSpec::parse("-1").is_err());
        assert!(DurationSpec::parse("10000000000000000000").is_err());
        assert!(DurationSpec::parse("400000000000y").is_err());
        assert!(DurationSpec::parse("soon")
            .unwrap_err()
            .contains("expected"));
    }
}
