//! Every class of bad simulation gets a located message; semantic problems are all reported
//! together.

use broadside_engine::runtime::NoFiles;
use broadside_engine::simulation::load_text;

fn problems(yaml: &str) -> Vec<String> {
    match load_text(yaml, "sim.yaml", &NoFiles) {
        Ok(_) => panic!("expected problems in:\n{yaml}"),
        Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
    }
}

fn assert_has(all: &[String], location: &str, fragment: &str) {
    assert!(
        all.iter()
            .any(|p| p.starts_with(&format!("sim.yaml:{location}:")) && p.contains(fragment)),
        "expected a problem at {location} containing `{fragment}`, got:\n{}",
        all.join("\n")
    );
}

#[test]
fn semantic_problems_are_all_located() {
    let yaml = r##"name: bad
http:
  base_url: "ftp://nowhere"
scenarios:
  - name: s
    injection:
      - at_once: 1
      - constant_concurrent_users: { users: 2, during: 1s }
    steps:
      - feed: nobody
      - request:
          url: "/items/#{id"
          checks:
            - regex: "(unclosed"
            - json_path: "$[?"
            - status: 200
              header: x
      - random_switch:
          - { weight: 80, steps: [] }
          - { weight: 30, steps: [] }
      - try_max: { times: 0, steps: [] }
  - name: s
    injection: []
    start_after: ghost
    steps: []
assertions:
  - { metric: p42x, lt: 1 }
  - { request: nothing, metric: count }
"##;
    let all = problems(yaml);
    assert_has(&all, "3:13", "http");
    assert_has(&all, "7:7", "either open steps");
    assert_has(&all, "10:15", "no feeder named `nobody`");
    assert_has(&all, "12:16", "template");
    assert_has(&all, "14:15", "invalid regex: unclosed group");
    assert_has(&all, "15:15", "JSON path");
    assert_has(&all, "16:15", "exactly one of");
    assert_has(&all, "19:11", "more than 100");
    assert_has(&all, "21:27", "times");
    assert_has(&all, "22:11", "duplicate scenario name");
    assert_has(&all, "24:18", "no other scenario named `ghost`");
    assert_has(&all, "27:15", "unknown metric");
    assert_has(&all, "28:16", "no request named `nothing`");
    assert_has(&all, "28:5", "at least one of lt");
}

#[test]
fn structural_problems_are_located() {
    let cases = [
        ("name: x\nscenarios: 3\n", "2:12", "expected a sequence"),
        ("name: x\nscenarios:\n  - name: s\n    injection: [ { at_twice: 1 } ]\n    steps: []\n", "4:20", "at_twice"),
        ("name: x\nscenarios:\n  - name: s\n    injection: [ { at_once: -1 } ]\n    steps: []\n", "4:29", "-1"),
        ("name: x\nscenarios:\n  - name: s\n    steps: []\n", "3:5", "injection"),
        ("name: x\nscenarios:\n  - name: s\n    injection: []\n    steps:\n      - pause: soon\n", "6:16", "invalid duration"),
        ("name: [unclosed\n", "2:1", ""),
        ("", "1:1", "empty"),
    ];
    for (yaml, location, fragment) in cases {
        let all = problems(yaml);
        assert_has(&all, location, fragment);
    }
}

#[test]
fn json_is_accepted() {
    let json = r#"{"name": "j", "scenarios": [{"name": "s", "injection": [{"at_once": 1}],
        "steps": [{"request": {"url": "http://127.0.0.1:1/"}}]}]}"#;
    let (sim, plan) = load_text(json, "sim.json", &NoFiles).expect("valid JSON simulation");
    assert_eq!(sim.name, "j");
    assert_eq!(
        plan.request_names,
        vec!["GET http://127.0.0.1:1/".to_string()]
    );
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    const DEMO: &str = include_str!("../../examples/demo.yaml");

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Mutations of a valid simulation reach deep into deserialization and compilation;
        /// whatever they produce, loading returns a result, never a panic.
        #[test]
        fn mutated_simulations_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, "[ -~\n]{0,4}"), 1..6)
        ) {
            let mut text = DEMO.to_string();
            for (at, kind, insert) in edits {
                let mut cut = at.index(text.len() + 1);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                match kind {
                    0 => text.insert_str(cut, &insert),
                    1 => {
                        let mut end = (cut + insert.len().max(1)).min(text.len());
                        while !text.is_char_boundary(end) {
                            end -= 1;
                        }
                        text.replace_range(cut..end, "");
                    }
                    _ => {
                        let mut end = (cut + insert.len()).min(text.len());
                        while !text.is_char_boundary(end) {
                            end -= 1;
                        }
                        text.replace_range(cut..end, &insert);
                    }
                }
            }
            let _ = load_text(&text, "fuzz.yaml", &NoFiles);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = load_text(&text, "fuzz.yaml", &NoFiles);
        }
    }
}

#[test]
fn regression_runs_that_could_never_end_or_overflow_are_refused() {
    let never = "name: x\nthrottle: [ { reach_rps: { target: 10, in: 1s } }, { reach_rps: { target: 0, in: 1s } } ]\nscenarios:\n  - name: s\n    injection: [ { at_once: 1 } ]\n    steps: []\n";
    assert_has(&problems(never), "2:11", "ends at 0 requests/s");
    let huge = "name: x\nmax_duration: 10000000000000000000\nscenarios:\n  - name: s\n    injection: [ { at_once: 1 } ]\n    steps: []\n";
    assert_has(&problems(huge), "2:15", "invalid duration");
}
