//! Robustness: hostile nesting and arbitrary input never panic or overflow the stack.

use proptest::prelude::*;
use serde_json::json;

use super::{rng, session};
use crate::expr::{JsonTemplate, Template, MAX_DEPTH};

fn nested_too_deeply(text: &str) -> bool {
    Template::compile(text).is_err_and(|e| e.message.contains("nested too deeply"))
}

#[test]
fn deep_nesting_is_rejected_not_overflowed() {
    let n = 100_000;
    assert!(nested_too_deeply(&format!(
        "#{{{}1{}}}",
        "(".repeat(n),
        ")".repeat(n)
    )));
    assert!(nested_too_deeply(&format!("#{{{}1}}", "-".repeat(n))));
    assert!(nested_too_deeply(&format!("#{{{}t}}", "!".repeat(n))));
    assert!(nested_too_deeply(&format!("#{{1{}}}", " + 1".repeat(n))));
    assert!(nested_too_deeply(&format!(
        "#{{{}1{}}}",
        "size(".repeat(n),
        ")".repeat(n)
    )));
    assert!(nested_too_deeply(&format!(
        "#{{{}0{}}}",
        "list[".repeat(n),
        "]".repeat(n)
    )));
    // Long flat paths are fine: they are not nested.
    let path = format!("#{{user{}}}", ".x".repeat(1000));
    assert!(Template::compile(&path).is_ok());
}

#[test]
fn nesting_up_to_the_limit_works() {
    let depth = MAX_DEPTH - 2;
    let text = format!("#{{{}1{}}}", "(".repeat(depth), ")".repeat(depth));
    let t = Template::compile(&text).unwrap();
    assert_eq!(t.eval_value(&session(), &mut rng()).unwrap(), json!(1));
    let sum = format!("#{{1{}}}", " + 1".repeat(MAX_DEPTH - 1));
    let t = Template::compile(&sum).unwrap();
    assert_eq!(
        t.eval_value(&session(), &mut rng()).unwrap(),
        json!(MAX_DEPTH)
    );
}

/// Strings made of the language's own characters, to reach deep into the parser.
fn expression_text() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "#{",
        "}",
        "##{",
        "#",
        "(",
        ")",
        "[",
        "]",
        ",",
        ".",
        "!",
        "-",
        "+",
        "*",
        "/",
        "%",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "&&",
        "||",
        "'",
        "\"",
        "\\",
        "\\u",
        "0",
        "1",
        "-1",
        "2.5",
        "1e400",
        "999999999999999999999",
        "name",
        "n",
        "f",
        "num",
        "word",
        "list",
        "user",
        "items",
        "id",
        "nil",
        "big",
        "missing",
        "t",
        "true",
        "null",
        "randomInt",
        "randomString",
        "uuid",
        "now",
        "nowIso",
        "exists",
        "size",
        "int",
        "str",
        "jsonEncode",
        "urlEncode",
        "base64",
        "lower",
        "upper",
        "userId",
        " ",
        "é",
        "x",
    ]);
    prop::collection::vec(atoms, 0..40).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn compile_never_panics(text in any::<String>()) {
        let _ = Template::compile(&text);
    }

    #[test]
    fn compile_and_eval_never_panic(text in expression_text()) {
        if let Ok(t) = Template::compile(&text) {
            let s = session();
            let mut r = rng();
            let _ = t.render(&s, &mut r);
            let _ = t.eval_value(&s, &mut r);
            let _ = t.eval_bool(&s, &mut r);
            let _ = t.variables();
        }
    }

    #[test]
    fn wrapped_expressions_never_panic(text in expression_text()) {
        let text = format!("#{{{text}}}");
        if let Ok(t) = Template::compile(&text) {
            let _ = t.render(&session(), &mut rng());
        }
        if let Ok(t) = JsonTemplate::compile(&json!({"a": [text]})) {
            let _ = t.render(&session(), &mut rng());
        }
    }
}
