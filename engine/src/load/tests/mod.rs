//! Tests of the load module: test structs shared by the test files, and helpers.

mod deser;
mod parse;
mod prop;

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Document, Location, Problem};

/// A small simulation-like structure exercising most serde shapes.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Sim {
    name: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    scenarios: Vec<Scenario>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    extra: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    #[serde(default)]
    weight: Option<f64>,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Step {
    ExitHereIfFailed,
    Pause(String),
    Request(Request),
    Repeat { times: u32, steps: Vec<Step> },
    Pair(u8, u8),
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Request {
    name: String,
    method: String,
    url: String,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// Parses `text` as `sim.yaml`, panicking (in tests only) on failure.
fn doc(text: &str) -> Document {
    match Document::parse(text, "sim.yaml") {
        Ok(d) => d,
        Err(e) => panic!("parse failed: {e}"),
    }
}

/// The single problem of parsing `text`.
fn parse_problem(text: &str) -> Problem {
    match Document::parse(text, "sim.yaml") {
        Ok(d) => panic!("expected a parse error, got {d:?}"),
        Err(mut e) => {
            assert_eq!(e.problems.len(), 1, "{e}");
            e.problems.remove(0)
        }
    }
}

/// The single problem of deserializing `text` into `T`.
fn de_problem<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> Problem {
    match doc(text).deserialize::<T>() {
        Ok(v) => panic!("expected a deserialize error, got {v:?}"),
        Err(mut e) => {
            assert_eq!(e.problems.len(), 1, "{e}");
            e.problems.remove(0)
        }
    }
}

/// A location, briefly.
fn at(line: usize, column: usize) -> Option<Location> {
    Some(Location { line, column })
}

/// Asserts a problem's path, location, and that its message contains `needle`.
#[track_caller]
fn assert_problem(p: &Problem, path: &str, loc: Option<Location>, needle: &str) {
    assert_eq!(p.file, "sim.yaml", "{p}");
    assert_eq!(p.path, path, "{p}");
    assert_eq!(p.location, loc, "{p}");
    assert!(
        p.message.contains(needle),
        "{p}\n  does not contain: {needle}"
    );
}
