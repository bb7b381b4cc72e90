//! Tests of deserialization from the located tree: values, and located errors.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{assert_problem, at, de_problem, doc, Request, Scenario, Sim, Step};

const VALID: &str = r#"name: demo
port: 8080
headers:
  content-type: application/json
  200: ok
extra: {a: [1, -2, 2.5, null, true, "s"]}
scenarios:
  - name: browse
    weight: 2
    steps:
      - exit_here_if_failed
      - pause: 1s
      - request:
          name: home
          method: GET
          url: /
      - repeat:
          times: 3
          steps:
            - exit_here_if_failed: null
            - exit_here_if_failed:
            - pair: [1, 2]
"#;

#[test]
fn valid_document_deserializes() {
    let sim: Sim = doc(VALID).deserialize().unwrap_or_else(|e| panic!("{e}"));
    let expected = Sim {
        name: "demo".into(),
        port: Some(8080),
        headers: BTreeMap::from([
            ("content-type".to_owned(), "application/json".to_owned()),
            ("200".to_owned(), "ok".to_owned()),
        ]),
        extra: Some(serde_json::json!({"a": [1, -2, 2.5, null, true, "s"]})),
        scenarios: vec![Scenario {
            name: "browse".into(),
            weight: Some(2.0),
            steps: vec![
                Step::ExitHereIfFailed,
                Step::Pause("1s".into()),
                Step::Request(Request {
                    name: "home".into(),
                    method: "GET".into(),
                    url: "/".into(),
                    timeout_ms: None,
                }),
                Step::Repeat {
                    times: 3,
                    steps: vec![
                        Step::ExitHereIfFailed,
                        Step::ExitHereIfFailed,
                        Step::Pair(1, 2),
                    ],
                },
            ],
        }],
    };
    assert_eq!(sim, expected);
}

#[test]
fn json_document_deserializes() {
    let text = r#"{"name": "x", "port": null, "scenarios": [{"name": "s", "steps": ["exit_here_if_failed", {"pause": "2s"}]}]}"#;
    let sim: Sim = doc(text).deserialize().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.port, None);
    assert_eq!(
        sim.scenarios[0].steps,
        vec![Step::ExitHereIfFailed, Step::Pause("2s".into())]
    );
    let p = de_problem::<Sim>(r#"{"name": "x", "n": [1,2]}"#);
    assert_problem(
        &p,
        "",
        at(1, 15),
        "unknown field `n`, expected one of `name`, `port`",
    );
}

#[test]
fn wrong_type_is_located_at_the_value() {
    let p = de_problem::<Sim>("name: demo\nport: abc\n");
    assert_problem(
        &p,
        "port",
        at(2, 7),
        "invalid type: string \"abc\", expected u16",
    );
    let p = de_problem::<Sim>("name: [x]\n");
    assert_problem(
        &p,
        "name",
        at(1, 7),
        "invalid type: sequence, expected a string",
    );
    let p = de_problem::<Sim>("- a\n");
    assert_problem(
        &p,
        "",
        at(1, 1),
        "invalid type: sequence, expected struct Sim",
    );
    let p = de_problem::<Sim>("name: d\nheaders:\n  content-type: 5\n");
    assert_problem(
        &p,
        "headers[\"content-type\"]",
        at(3, 17),
        "invalid type: integer `5`, expected a string",
    );
}

#[test]
fn integer_out_of_range_is_located() {
    let p = de_problem::<Sim>("name: demo\nport: 70000\n");
    assert_problem(
        &p,
        "port",
        at(2, 7),
        "integer `70000` is out of range, expected u16",
    );
    let p = de_problem::<Sim>("name: demo\nport: -1\n");
    assert_problem(&p, "port", at(2, 7), "integer `-1` is out of range");
    let p = de_problem::<Sim>("name: demo\nport: 1.5\n");
    assert_problem(
        &p,
        "port",
        at(2, 7),
        "invalid type: floating point `1.5`, expected u16",
    );
    let p = de_problem::<Step>("pair: [1, 300]\n");
    assert_problem(
        &p,
        "pair[1]",
        at(1, 11),
        "integer `300` is out of range, expected u8",
    );
}

const STEPS: &str = "name: demo\nscenarios:\n  - name: s\n    steps:\n";

#[test]
fn unknown_key_is_located_at_the_key() {
    let text = format!(
        "{STEPS}      - request:\n          name: r\n          method: GET\n          urll: /\n"
    );
    let p = de_problem::<Sim>(&text);
    assert_eq!(
        p.to_string(),
        "sim.yaml:8:11: scenarios[0].steps[0].request: unknown field `urll`, \
         expected one of `name`, `method`, `url`, `timeout_ms`"
    );
    let p = de_problem::<Sim>("name: d\nbogus: 1\n");
    assert_problem(&p, "", at(2, 1), "unknown field `bogus`");
}

#[test]
fn missing_key_is_located_at_the_map() {
    let text = format!("{STEPS}      - request:\n          name: r\n          method: GET\n");
    let p = de_problem::<Sim>(&text);
    assert_problem(
        &p,
        "scenarios[0].steps[0].request",
        at(6, 11),
        "missing field `url`",
    );
    let p = de_problem::<Sim>("port: 1\n");
    assert_problem(&p, "", at(1, 1), "missing field `name`");
}

#[test]
fn bad_enum_variant_is_located_at_its_name() {
    let p = de_problem::<Sim>(&format!("{STEPS}      - jump: 3\n"));
    assert_problem(
        &p,
        "scenarios[0].steps[0]",
        at(5, 9),
        "unknown variant `jump`, expected one of `exit_here_if_failed`, `pause`, `request`, \
         `repeat`, `pair`",
    );
    let p = de_problem::<Sim>(&format!("{STEPS}      - exit_here\n"));
    assert_problem(
        &p,
        "scenarios[0].steps[0]",
        at(5, 9),
        "unknown variant `exit_here`",
    );
    let p = de_problem::<Sim>(&format!("{STEPS}      - 5\n"));
    assert_problem(
        &p,
        "scenarios[0].steps[0]",
        at(5, 9),
        "invalid type: integer `5`, expected a variant name or a single-key map naming one of \
         `exit_here_if_failed`",
    );
}

#[test]
fn enum_map_with_two_keys_is_an_error() {
    let p = de_problem::<Sim>(&format!(
        "{STEPS}      - pause: 1s\n        exit_here_if_failed:\n"
    ));
    assert_problem(
        &p,
        "scenarios[0].steps[0]",
        at(5, 9),
        "expected a single-key map naming one of `exit_here_if_failed`, `pause`, `request`, \
         `repeat`, `pair`; found a map with 2 keys",
    );
    let p = de_problem::<Step>("{}");
    assert_problem(&p, "", at(1, 1), "found a map with 0 keys");
}

#[test]
fn variant_content_errors_are_located() {
    let p = de_problem::<Sim>(&format!("{STEPS}      - exit_here_if_failed: 3\n"));
    assert_problem(
        &p,
        "scenarios[0].steps[0].exit_here_if_failed",
        at(5, 30),
        "variant `exit_here_if_failed` takes no value",
    );
    let p = de_problem::<Sim>(&format!("{STEPS}      - pause\n"));
    assert_problem(
        &p,
        "scenarios[0].steps[0]",
        at(5, 9),
        "variant `pause` needs a value",
    );
    let text = format!(
        "{STEPS}      - repeat:\n          times: 3\n          steps:\n            - pause: [1]\n"
    );
    let p = de_problem::<Sim>(&text);
    assert_problem(
        &p,
        "scenarios[0].steps[0].repeat.steps[0].pause",
        at(8, 22),
        "invalid type: sequence, expected a string",
    );
    let p = de_problem::<Step>("repeat: {steps: []}\n");
    assert_problem(&p, "repeat", at(1, 9), "missing field `times`");
    let p = de_problem::<Step>("pair: [1, 2, 3]\n");
    assert_problem(
        &p,
        "pair",
        at(1, 7),
        "expected a sequence of 2 elements; found 3",
    );
    let p = de_problem::<Step>("pair: [1]\n");
    assert_problem(&p, "pair", at(1, 7), "invalid length 1");
}

fn nonzero<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v == 0 {
        return Err(de::Error::custom("must be positive"));
    }
    Ok(v)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Limits {
    #[serde(deserialize_with = "nonzero")]
    max: u32,
    #[serde(default)]
    letter: Option<char>,
    #[serde(default)]
    codes: BTreeMap<u16, String>,
}

#[test]
fn custom_errors_are_located_at_their_value() {
    let p = de_problem::<Limits>("max: 0\n");
    assert_problem(&p, "max", at(1, 6), "must be positive");
    let p = de_problem::<Limits>("max: 1\nletter: ab\n");
    assert_problem(
        &p,
        "letter",
        at(2, 9),
        "invalid value: string \"ab\", expected a character",
    );
}

#[test]
fn keys_convert_between_strings_and_integers() {
    let d = doc("max: 1\ncodes: {\"200\": ok, 404: missing}\n");
    let limits: Limits = d.deserialize().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(limits.codes.get(&200).map(String::as_str), Some("ok"));
    assert_eq!(limits.codes.get(&404).map(String::as_str), Some("missing"));
    let p = de_problem::<Limits>("max: 1\ncodes: {x: y}\n");
    assert_problem(
        &p,
        "codes",
        at(2, 9),
        "invalid type: string \"x\", expected u16",
    );
}

#[test]
fn values_to_json() {
    let d = doc("a: [1, -1, 18446744073709551615, 0x10, 1e2, .inf, ~, yes, '2']\nb: {c: d}\n");
    let v: serde_json::Value = d.deserialize().unwrap_or_else(|e| panic!("{e}"));
    // serde_json turns the infinite float into null.
    assert_eq!(
        v,
        serde_json::json!({"a": [1, -1, 18446744073709551615u64, 16, 100.0, null, null, "yes", "2"], "b": {"c": "d"}})
    );
}

/// Records which visitor method each element reached.
#[derive(Debug, PartialEq)]
struct Kind(&'static str);

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Kind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("anything")
            }
            fn visit_str<E>(self, _: &str) -> Result<Kind, E> {
                Ok(Kind("str"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Kind, E> {
                Ok(Kind("u64"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Kind, E> {
                Ok(Kind("i64"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Kind, E> {
                Ok(Kind("f64"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Kind, E> {
                Ok(Kind("bool"))
            }
            fn visit_unit<E>(self) -> Result<Kind, E> {
                Ok(Kind("unit"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Kind, A::Error> {
                while a.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Kind("seq"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Kind, A::Error> {
                while a.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Kind("map"))
            }
        }
        d.deserialize_any(V)
    }
}

#[test]
fn deserialize_any_reaches_every_visitor_method() {
    let kinds: Vec<Kind> = doc("[a, 1, -1, 1.5, true, null, [1], {a: 1}, \"\"]")
        .deserialize()
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = kinds.iter().map(|k| k.0).collect();
    assert_eq!(
        names,
        ["str", "u64", "i64", "f64", "bool", "unit", "seq", "map", "str"]
    );
}

#[test]
fn problem_for_deserialize_error_serializes() {
    let p = de_problem::<Sim>("name: demo\nport: abc\n");
    let json = serde_json::to_value(&p).unwrap_or_default();
    assert_eq!(
        json["location"],
        serde_json::json!({"line": 2, "column": 7})
    );
    assert_eq!(json["path"], "port");
    assert_eq!(json["file"], "sim.yaml");
}

#[test]
fn demo_simulation_loads_into_the_model() {
    let text = include_str!("../../../../examples/demo.yaml");
    let d = super::super::Document::parse(text, "demo.yaml").unwrap_or_else(|e| panic!("{e}"));
    let sim: crate::model::Simulation = d.deserialize().unwrap_or_else(|e| panic!("{e}"));
    assert!(!sim.name.is_empty());
    // A typo in a step of the real model is located at the key, with serde's message.
    let typo = text.replacen("method:", "methd:", 1);
    if typo != text {
        let d = super::super::Document::parse(&typo, "demo.yaml").unwrap_or_else(|e| panic!("{e}"));
        let err = d
            .deserialize::<crate::model::Simulation>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown field `methd`"), "{err}");
    }
}
