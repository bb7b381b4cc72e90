//! Scenario steps: requests, pauses, loops, conditions, groups, and the checks on responses.
//!
//! In a file every step is a one-key map (`- pause: 1s`, `- request: {...}`) or a bare word
//! for the steps without arguments (`- exit_here_if_failed`). Every string is a template in
//! which `#{...}` expressions are evaluated against the user's session.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::{de, Deserialize, Deserializer, Serialize};

use super::DurationSpec;

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Send a request and run its checks.
    Request(Box<Request>),
    /// Wait: `1s` (fixed), `{min: 1s, max: 3s}` (uniform) or `{mean: 2s}` (exponential).
    Pause(PauseSpec),
    /// Wait until this much time has passed since the previous `pace` of this user (keeps a
    /// loop's iteration rate constant).
    Pace(DurationSpec),
    /// Copy the next record of the named feeder into the session.
    Feed(String),
    /// Set session variables; values are templates (`count: "#{count + 1}"`).
    Set(BTreeMap<String, serde_json::Value>),
    /// Run `steps` a number of times.
    Repeat(LoopStep),
    /// Run `steps` again and again for a duration.
    During(LoopStep),
    /// Run `steps` once per element of a list held in the session.
    Foreach(ForeachStep),
    /// Run `steps` while a condition holds.
    AsLongAs(WhileStep),
    /// Run `then` or `else` depending on a condition.
    If(IfStep),
    /// Run the steps of the case matching a value.
    Switch(SwitchStep),
    /// Run one branch picked at random by weight (percent); the rest of 100 runs nothing.
    RandomSwitch(Vec<WeightedBranch>),
    /// Run steps as a named group: their cumulative time is reported under the group name.
    Group(GroupStep),
    /// Run steps, and retry them up to `times` in all while any request in them fails.
    TryMax(TryMaxStep),
    /// Stop this user here if any request in its run failed so far.
    ExitHereIfFailed,
    /// Stop this user here.
    ExitHere,
}

/// An HTTP request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Name in reports (not a template); defaults to `METHOD url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// HTTP method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Absolute URL or a path appended to the base URL.
    pub url: String,
    /// Request headers (templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Query parameters appended to the URL (templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// A raw body (template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A JSON body; every string inside is a template. Sets `content-type: application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// A form body (templates). Sets `content-type: application/x-www-form-urlencoded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<BTreeMap<String, String>>,
    /// A file sent as the body, relative to the simulation file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_file: Option<String>,
    /// Checks on the response; a failed check makes the request count as failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// Overrides the protocol's request timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
}

fn default_method() -> String {
    "GET".to_string()
}

/// A check on a response: one source (`status`, `header`, `body_contains`, `regex`,
/// `json_path`, `response_time`), optional matchers (`is`, `not`, `contains`, `matches`,
/// `exists`), and an optional `save_as` that stores what was found in the session.
///
/// Without a matcher a check passes when its source finds something (and `status` passes on
/// 2xx/3xx when it has no value).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The status code must be one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OneOrMany<u16>>,
    /// The value of this response header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The body must contain this text (template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// A regular expression searched in the body; finds capture group `group` (default 1, or
    /// the whole match when there is no group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// A JSONPath (RFC 9535) evaluated on the body, e.g. `$.items[0].id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// The response time must be at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time: Option<DurationSpec>,
    /// What was found must equal this (template when a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is: Option<serde_json::Value>,
    /// What was found must differ from this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<serde_json::Value>,
    /// What was found must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// What was found must match this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// `true`: something must be found; `false`: nothing may be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// Capture group of `regex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
    /// Keep every match (a list) instead of the first one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Store what was found in this session variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_as: Option<String>,
    /// A failed optional check neither fails the request nor saves anything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// A pause: fixed, uniform between bounds, or exponential around a mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum PauseSpec {
    /// Always this long.
    Fixed(DurationSpec),
    /// Uniformly distributed between `min` and `max`.
    Uniform {
        /// Shortest pause.
        min: DurationSpec,
        /// Longest pause.
        max: DurationSpec,
    },
    /// Exponentially distributed with this mean (capped at ten times the mean).
    Exponential {
        /// Mean pause.
        mean: DurationSpec,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseFields {
    min: Option<DurationSpec>,
    max: Option<DurationSpec>,
    mean: Option<DurationSpec>,
}

impl<'de> Deserialize<'de> for PauseSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = PauseSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration, `{min, max}` or `{mean}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PauseSpec, E> {
                DurationSpec::parse(v)
                    .map(PauseSpec::Fixed)
                    .map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PauseSpec, E> {
                Ok(PauseSpec::Fixed(DurationSpec::from_secs(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PauseSpec, E> {
                DurationSpec::parse(&v.to_string())
                    .map(PauseSpec::Fixed)
                    .map_err(E::custom)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<PauseSpec, A::Error> {
                let f = PauseFields::deserialize(MapAccessDeserializer::new(map))?;
                match (f.min, f.max, f.mean) {
                    (Some(min), Some(max), None) if min <= max => Ok(PauseSpec::Uniform { min, max }),
                    (Some(_), Some(_), None) => Err(de::Error::custom("pause `min` must not exceed `max`")),
                    (None, None, Some(mean)) => Ok(PauseSpec::Exponential { mean }),
                    _ => Err(de::Error::custom(
                        "a pause map needs either `min` and `max` (uniform) or `mean` (exponential)",
                    )),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A count: a number, or a template evaluated when the step starts (`"#{n}"`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum CountSpec {
    /// A fixed count.
    Fixed(u64),
    /// A template that must evaluate to a non-negative integer.
    Expr(String),
}

impl<'de> Deserialize<'de> for CountSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = CountSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a `#{...}` template")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<CountSpec, E> {
                Ok(CountSpec::Fixed(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<CountSpec, E> {
                u64::try_from(v)
                    .map(CountSpec::Fixed)
                    .map_err(|_| E::custom(format!("count {v} must not be negative")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CountSpec, E> {
                Ok(CountSpec::Expr(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One value or a list of values.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// Several values.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> de::Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::<T>::deserialize(SeqAccessDeserializer::new(seq)).map(OneOrMany::Many)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                T::deserialize(de::value::U64Deserializer::new(v)).map(OneOrMany::One)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                T::deserialize(de::value::I64Deserializer::new(v)).map(OneOrMany::One)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(de::value::StrDeserializer::new(v)).map(OneOrMany::One)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// `repeat` and `during`: a loop body with a bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoopStep {
    /// Iterations (`repeat` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<CountSpec>,
    /// Time bound (`during` only): no iteration starts after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationSpec>,
    /// Session variable holding the 0-based iteration number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<String>,
    /// The loop body.
    pub steps: Vec<Step>,
}

/// `foreach`: a loop over a list held in the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForeachStep {
    /// Expression giving the list, e.g. `"#{ids}"`.
    pub items: String,
    /// Session variable receiving each element.
    #[serde(rename = "as")]
    pub element: String,
    /// Session variable holding the 0-based index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<String>,
    /// The loop body.
    pub steps: Vec<Step>,
}

/// `as_long_as`: a loop guarded by a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhileStep {
    /// Condition checked before each iteration, e.g. `"#{page < 5}"`.
    pub condition: String,
    /// Safety bound on iterations (default 1,000,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// Session variable holding the 0-based iteration number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<String>,
    /// The loop body.
    pub steps: Vec<Step>,
}

/// `if`: a conditional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IfStep {
    /// Condition, e.g. `"#{exists(token)}"`.
    pub condition: String,
    /// Steps run when the condition holds.
    pub then: Vec<Step>,
    /// Steps run otherwise.
    #[serde(default, rename = "else", skip_serializing_if = "Vec::is_empty")]
    pub otherwise: Vec<Step>,
}

/// `switch`: pick the steps of the case equal to a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchStep {
    /// Template whose result selects the case.
    pub value: String,
    /// Steps per case value.
    pub cases: BTreeMap<String, Vec<Step>>,
    /// Steps run when no case matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default: Vec<Step>,
}

/// One branch of a `random_switch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedBranch {
    /// Probability in percent.
    pub weight: f64,
    /// The branch's steps.
    pub steps: Vec<Step>,
}

/// `group`: steps reported together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupStep {
    /// Group name in reports.
    pub name: String,
    /// The grouped steps.
    pub steps: Vec<Step>,
}

/// `try_max`: retry a block while it fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TryMaxStep {
    /// Attempts in all (at least 1).
    pub times: u32,
    /// Session variable holding the 0-based attempt number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<String>,
    /// The block.
    pub steps: Vec<Step>,
}
