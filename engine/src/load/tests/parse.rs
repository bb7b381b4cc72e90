//! Tests of the located tree: scalars, locations, anchors, and every parse-time error.

use super::{assert_problem, at, doc, parse_problem};
use crate::load::{Document, Node, NodeValue, MAX_INPUT_BYTES};

fn value(node: &Node) -> &NodeValue {
    &node.value
}

#[test]
fn block_yaml_builds_a_located_tree() {
    let d = doc("name: demo\nlist:\n  - 1\n  - 'two'\n  - 3.5\n  - ~\n  - true\n");
    let root = d.root();
    assert_eq!(Some(root.loc), at(1, 1));
    let NodeValue::Map(entries) = value(root) else {
        panic!("not a map: {root:?}");
    };
    let keys: Vec<_> = entries.iter().map(|(k, _)| k.value.clone()).collect();
    assert_eq!(
        keys,
        vec![NodeValue::Str("name".into()), NodeValue::Str("list".into())]
    );
    let list = root.get("list").map(value);
    let Some(NodeValue::Seq(items)) = list else {
        panic!("not a seq: {list:?}");
    };
    let values: Vec<_> = items.iter().map(|n| n.value.clone()).collect();
    assert_eq!(
        values,
        vec![
            NodeValue::Int(1),
            NodeValue::Str("two".into()),
            NodeValue::Float(3.5),
            NodeValue::Null,
            NodeValue::Bool(true),
        ]
    );
    let locs: Vec<_> = items.iter().map(|n| (n.loc.line, n.loc.column)).collect();
    assert_eq!(locs, vec![(3, 5), (4, 5), (5, 5), (6, 5), (7, 5)]);
    assert_eq!(d.locate("list[1]"), at(4, 5));
}

#[test]
fn quoted_scalars_are_strings_and_tags_are_ignored() {
    let d = doc("a: '1'\nb: \"true\"\nc: !!str 12\nd: \"\"\ne:\n");
    let get = |k: &str| d.root().get(k).map(|n| n.value.clone());
    assert_eq!(get("a"), Some(NodeValue::Str("1".into())));
    assert_eq!(get("b"), Some(NodeValue::Str("true".into())));
    assert_eq!(get("c"), Some(NodeValue::Int(12)));
    assert_eq!(get("d"), Some(NodeValue::Str(String::new())));
    assert_eq!(get("e"), Some(NodeValue::Null));
}

#[test]
fn json_input_is_accepted_with_locations() {
    let d = doc("{\"name\": \"x\", \"n\": [1,2]}");
    assert_eq!(d.locate(""), at(1, 1));
    assert_eq!(d.locate("name"), at(1, 10));
    assert_eq!(d.locate("n"), at(1, 20));
    assert_eq!(d.locate("n[1]"), at(1, 23));
    let pretty = "{\n\t\"a\": {\"b\": [true, null, -1.5e3]},\n\t\"c\": \"d\"\n}\n";
    let d = doc(pretty);
    assert_eq!(d.locate("a.b[2]"), at(2, 26));
    let v: serde_json::Value = d.deserialize().unwrap_or_default();
    assert_eq!(
        v,
        serde_json::json!({"a": {"b": [true, null, -1500.0]}, "c": "d"})
    );
}

#[test]
fn byte_order_mark_is_skipped() {
    let d = doc("\u{feff}name: x\n");
    assert_eq!(d.root().get("name").map(|n| n.loc), at(1, 7));
}

#[test]
fn columns_count_characters() {
    let d = doc("é: [1, \"ü\", x]\n");
    assert_eq!(d.locate("[\"é\"][2]"), at(1, 13));
}

#[test]
fn anchors_and_aliases_expand() {
    let d = doc("base: &b\n  x: 1\n  y: [a, b]\nuse: *b\nscalar: &s hi\nagain: *s\n");
    let v: serde_json::Value = d.deserialize().unwrap_or_default();
    assert_eq!(
        v,
        serde_json::json!({
            "base": {"x": 1, "y": ["a", "b"]},
            "use": {"x": 1, "y": ["a", "b"]},
            "scalar": "hi",
            "again": "hi",
        })
    );
    // The expanded alias sits where it is written; its insides where they were defined.
    assert_eq!(d.locate("use"), at(4, 6));
    assert_eq!(d.locate("use.y"), at(3, 6));
}

#[test]
fn billion_laughs_is_capped() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let p = parse_problem(&text);
    assert!(p.message.contains("aliases expand to more than"), "{p}");
    assert!(p.location.is_some(), "{p}");
}

#[test]
fn recursive_alias_is_an_error() {
    let p = parse_problem("x: &a [1, *a]\n");
    assert_problem(&p, "x[1]", at(1, 11), "recursive aliases are not supported");
}

#[test]
fn syntax_error_is_located() {
    let p = parse_problem("a: [1\nb: 2\n");
    assert_problem(&p, "", at(2, 2), "invalid YAML: ");
    let p = parse_problem("a:\n  b: 1\n c: 2\n");
    assert_problem(&p, "", at(3, 2), "did not find expected key");
}

#[test]
fn duplicate_key_is_located_at_the_second_key() {
    let p = parse_problem("name: a\nheaders:\n  x: 1\n  \"x\": 2\n");
    assert_problem(
        &p,
        "headers",
        at(4, 3),
        "duplicate key `x` (first defined at line 3, column 3)",
    );
    let p = parse_problem("{\"a\": 1, \"a\": 2}");
    assert_problem(&p, "", at(1, 10), "duplicate key `a`");
}

#[test]
fn non_scalar_key_is_an_error() {
    let p = parse_problem("top:\n  ? [a]\n  : b\n");
    assert_problem(&p, "top", at(2, 5), "a map key must be a scalar");
    let p = parse_problem("k: &m {a: 1}\n*m : 2\n");
    assert_problem(&p, "", at(2, 1), "a map key must be a scalar");
}

#[test]
fn second_document_is_an_error() {
    let p = parse_problem("a: 1\n---\nb: 2\n");
    assert_problem(&p, "", at(2, 1), "a second YAML document starts here");
    let p = parse_problem("---\na: 1\n...\n---\nb: 2\n");
    assert_problem(&p, "", at(4, 1), "a second YAML document");
}

#[test]
fn too_deep_is_an_error() {
    let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
    assert!(Document::parse(&ok, "sim.yaml").is_ok());
    let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    let p = parse_problem(&deep);
    let path = "[0]".repeat(64);
    assert_problem(&p, &path, at(1, 65), "nesting is deeper than 64 levels");
    let mut block = String::new();
    for i in 0..70 {
        block.push_str(&" ".repeat(i));
        block.push_str("k:\n");
    }
    let p = parse_problem(&block);
    assert_problem(&p, &".k".repeat(64)[1..], at(65, 65), "deeper than 64");
}

#[test]
fn too_deep_through_aliases_is_an_error() {
    let nest = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let text = format!("a: &a {}\nb: {}\n", nest(40), nest(30).replace('1', "*a"));
    let p = parse_problem(&text);
    assert_problem(
        &p,
        "",
        at(2, 34),
        "deeper than 64 levels once aliases are expanded",
    );
}

#[test]
fn too_large_is_an_error() {
    let mut text = String::from("a: b\n");
    text.push_str(&"#".repeat(MAX_INPUT_BYTES));
    let p = parse_problem(&text);
    assert_problem(&p, "", at(2, MAX_INPUT_BYTES - 4), "larger than the limit");
}

#[test]
fn empty_documents_are_errors() {
    for text in [
        "",
        "\n\n",
        "# just a comment\n",
        "---\n",
        "--- # c\n...\n",
        "\u{feff}%YAML 1.2\n---\n",
    ] {
        let p = parse_problem(text);
        assert_problem(
            &p,
            "",
            at(1, 1),
            "the file is empty; expected a simulation mapping",
        );
    }
    // An explicit null is a value, not an empty file: the type decides whether it fits.
    let p = super::de_problem::<super::Sim>("--- null\n");
    assert_problem(&p, "", at(1, 5), "invalid type: null, expected struct Sim");
}

#[test]
fn locate_existing_and_missing_paths() {
    let d = doc("scenarios:\n  - name: s\n    steps:\n      - pause: 1s\nheaders:\n  content-type: json\n  200: ok\n");
    assert_eq!(d.locate(""), at(1, 1));
    assert_eq!(d.locate("scenarios"), at(2, 3));
    assert_eq!(d.locate("scenarios[0].steps[0].pause"), at(4, 16));
    assert_eq!(d.locate("headers[\"content-type\"]"), at(6, 17));
    assert_eq!(d.locate("headers[\"200\"]"), at(7, 8));
    assert_eq!(d.locate("headers[200]"), at(7, 8));
    assert_eq!(d.locate("headers.content-type"), at(6, 17));
    // Missing: the nearest existing ancestor.
    assert_eq!(d.locate("scenarios[0].steps[5].pause"), at(4, 7));
    assert_eq!(d.locate("scenarios[3]"), at(2, 3));
    assert_eq!(d.locate("nope.deeper"), at(1, 1));
    assert_eq!(d.locate("scenarios[0].name.x"), at(2, 11));
    // Malformed tails stop at what was understood.
    assert_eq!(d.locate("scenarios[0]..x"), at(2, 5));
    let p = d.problem("scenarios[0].steps[0]", "bad step");
    assert_eq!(
        p.to_string(),
        "sim.yaml:4:9: scenarios[0].steps[0]: bad step"
    );
    assert_eq!(d.file(), "sim.yaml");
}
