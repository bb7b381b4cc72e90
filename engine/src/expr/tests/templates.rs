//! Templates: rendering, raw values, conditions, variables, JSON templates and compile errors.

use std::borrow::Cow;

use serde_json::{json, Value};

use super::{compile_err, render, rng, session};
use crate::expr::{EvalError, JsonTemplate, Template};

#[test]
fn static_templates_borrow() {
    let t = Template::compile("plain text # and #x and trailing #").unwrap();
    assert!(t.is_static());
    assert_eq!(t.as_static(), Some("plain text # and #x and trailing #"));
    assert!(matches!(
        t.render(&session(), &mut rng()),
        Ok(Cow::Borrowed(_))
    ));
    let empty = Template::compile("").unwrap();
    assert_eq!(empty.as_static(), Some(""));
    assert!(matches!(
        empty.render(&session(), &mut rng()),
        Ok(Cow::Borrowed(""))
    ));
    let escaped = Template::compile("a ##{b} c ##{").unwrap();
    assert_eq!(escaped.as_static(), Some("a #{b} c #{"));
    assert!(!Template::compile("#{n}").unwrap().is_static());
}

#[test]
fn renders_values_as_text() {
    let text = "Hello #{name}, #{n} #{f} #{t} #{nil} #{list} #{user.tags} #{'}'}!";
    assert_eq!(
        render(text).unwrap(),
        "Hello Ada, 3 1.5 true null [1,2,3] {} }!"
    );
    assert_eq!(render("#{n}#{n}").unwrap(), "33");
    assert_eq!(render("é#{name}é").unwrap(), "éAdaé");
    assert_eq!(render("##{name} #{name}").unwrap(), "#{name} Ada");
    assert_eq!(
        render("a #{missing} b"),
        Err(EvalError::MissingVariable("missing".into()))
    );
    assert_eq!(
        render("#{missing}").unwrap_err().to_string(),
        "no session variable `missing`"
    );
    let t = Template::compile("/users/#{user.id}").unwrap();
    let mut out = String::from("http://h");
    t.render_into(&mut out, &session(), &mut rng()).unwrap();
    assert_eq!(out, "http://h/users/7");
}

#[test]
fn eval_value_keeps_raw_types() {
    let s = session();
    let value = |text: &str| {
        Template::compile(text)
            .unwrap()
            .eval_value(&s, &mut rng())
            .unwrap()
    };
    assert_eq!(value("#{list}"), json!([1, 2, 3]));
    assert_eq!(value("#{n}"), json!(3));
    assert_eq!(value("#{ n + 1 }"), json!(4));
    assert_eq!(value("#{user}")["items"][0]["id"], json!("a"));
    assert_eq!(value("#{nil}"), Value::Null);
    assert_eq!(value(" #{n}"), json!(" 3"));
    assert_eq!(value("#{n}#{n}"), json!("33"));
    assert_eq!(value("abc"), json!("abc"));
    assert_eq!(value(""), json!(""));
}

#[test]
fn eval_bool_requires_booleans() {
    let s = session();
    let cond = |text: &str| Template::compile(text).unwrap().eval_bool(&s, &mut rng());
    assert_eq!(cond("#{n > 1}"), Ok(true));
    assert_eq!(cond("#{t}"), Ok(true));
    assert_eq!(cond("#{'false'}"), Ok(false));
    assert_eq!(cond("true"), Ok(true));
    assert_eq!(cond("#{t}#{''}"), Ok(true));
    assert_eq!(
        cond("#{n}").unwrap_err().to_string(),
        "expected a boolean, found number 3"
    );
    assert_eq!(
        cond("x#{t}").unwrap_err().to_string(),
        "expected a boolean, found string \"xtrue\""
    );
    assert_eq!(
        cond("#{nil}").unwrap_err().to_string(),
        "expected a boolean, found null"
    );
    assert_eq!(
        cond("#{list}").unwrap_err().to_string(),
        "expected a boolean, found array"
    );
    assert!(matches!(
        cond("#{missing}"),
        Err(EvalError::MissingVariable(_))
    ));
}

#[test]
fn variables_lists_roots_once() {
    let t =
        Template::compile("#{a + b.c[d]} #{exists(e[g])} #{a} #{size(h)} #{(i)[0]} #{userId()}")
            .unwrap();
    assert_eq!(t.variables(), ["a", "b", "d", "g", "h", "i"]);
    assert!(Template::compile("static").unwrap().variables().is_empty());
}

/// Compile errors: message and 1-based character column.
#[test]
fn compile_errors_have_columns() {
    let cases: &[(&str, &str, usize)] = &[
        ("ab #{name", "unterminated `#{` (missing `}`)", 4),
        ("#{}", "empty expression", 3),
        ("#{  }", "empty expression", 5),
        ("#{a @ b}", "unexpected character `@`", 5),
        ("x #{foo(1)}", "unknown function `foo`", 5),
        (
            "#{randomInt(1)}",
            "`randomInt` takes 2 arguments, found 1",
            3,
        ),
        ("#{uuid(1)}", "`uuid` takes 0 arguments, found 1", 3),
        ("#{size()}", "`size` takes 1 argument, found 0", 3),
        (
            "#{exists(size(a))}",
            "`exists` takes a variable path, e.g. `exists(user.id)`",
            10,
        ),
        (
            "#{exists(1)}",
            "`exists` takes a variable path, e.g. `exists(user.id)`",
            10,
        ),
        ("#{a b}", "unexpected `b` after the expression", 5),
        (
            "#{1 +}",
            "expected an expression, found the end of the expression",
            6,
        ),
        ("#{'abc}", "unterminated string", 3),
        ("#{a = b}", "unexpected `=` (did you mean `==`?)", 5),
        ("#{a & b}", "unexpected `&` (did you mean `&&`?)", 5),
        ("#{a | b}", "unexpected `|` (did you mean `||`?)", 5),
        ("#{(1}", "expected `)`, found the end of the expression", 5),
        (
            "#{a.1}",
            "expected a field name after `.`, found number 1",
            5,
        ),
        (
            "#{list[0}",
            "expected `]`, found the end of the expression",
            9,
        ),
        (
            "#{size(a b)}",
            "expected `,` or `)` in the arguments of `size`, found `b`",
            10,
        ),
        ("é#{@}", "unexpected character `@`", 4),
        ("#{'\\q'}", "invalid escape `\\q`", 4),
        (
            "#{'\\u12'}",
            "invalid unicode escape (expected `\\uXXXX` or `\\u{X…}`)",
            4,
        ),
        (
            "#{'\\u{D800}'}",
            "invalid unicode escape (expected `\\uXXXX` or `\\u{X…}`)",
            4,
        ),
        ("#{1e999}", "number `1e999` is out of range", 3),
        ("#{)}", "expected an expression, found `)`", 3),
        (
            "ok #{n} then #{n +* 2}",
            "expected an expression, found `*`",
            19,
        ),
    ];
    for (text, message, column) in cases {
        let e = compile_err(text);
        assert_eq!(
            (e.message.as_str(), e.column),
            (*message, *column),
            "{text}"
        );
    }
    assert_eq!(
        compile_err("x #{foo(1)}").to_string(),
        "unknown function `foo` at column 5"
    );
}

#[test]
fn json_templates_keep_types() {
    let s = session();
    let body = json!({
        "id": "#{n}", "name": "#{name}", "list": "#{list}", "text": "n=#{n}", "lit": "##{x}",
        "nested": [{"k": "#{t}"}, 1, null], "plain": {"a": [1, "b"]}, "#{keys}": "are not templates"
    });
    let t = JsonTemplate::compile(&body).unwrap();
    assert!(!t.is_static());
    let mut variables = t.variables();
    variables.sort();
    assert_eq!(variables, ["list", "n", "name", "t"]);
    let expected = json!({
        "id": 3, "name": "Ada", "list": [1, 2, 3], "text": "n=3", "lit": "#{x}",
        "nested": [{"k": true}, 1, null], "plain": {"a": [1, "b"]}, "#{keys}": "are not templates"
    });
    assert_eq!(t.render(&s, &mut rng()).unwrap(), expected);
    let fixed = JsonTemplate::compile(&json!({"a": ["##{b}", 2]})).unwrap();
    assert_eq!(fixed.as_static(), Some(&json!({"a": ["#{b}", 2]})));
    assert_eq!(
        fixed.render(&s, &mut rng()).unwrap(),
        json!({"a": ["#{b}", 2]})
    );
    let missing = JsonTemplate::compile(&json!(["#{missing}"])).unwrap();
    assert_eq!(
        missing.render(&s, &mut rng()),
        Err(EvalError::MissingVariable("missing".into()))
    );
    assert_eq!(
        JsonTemplate::compile(&json!("#{n}"))
            .unwrap()
            .render(&s, &mut rng()),
        Ok(json!(3))
    );
}

#[test]
fn json_template_errors_have_locations() {
    let e = JsonTemplate::compile(&json!({"a": [1, {"b/c~": "x#{foo()}"}]})).unwrap_err();
    assert_eq!(e.location.as_deref(), Some("/a/1/b~1c~0"));
    assert_eq!(e.column, 4);
    assert_eq!(
        e.to_string(),
        "unknown function `foo` at column 4 in `/a/1/b~1c~0`"
    );
    assert_eq!(
        JsonTemplate::compile(&json!("#{"))
            .unwrap_err()
            .location
            .as_deref(),
        Some("/")
    );
    let mut deep = json!("#{n}");
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let e = JsonTemplate::compile(&deep).unwrap_err();
    assert!(e.message.contains("nested too deeply"), "{e}");
}

#[test]
fn compiled_types_are_shareable() {
    fn shared<T: Send + Sync + Clone + std::fmt::Debug>() {}
    shared::<Template>();
    shared::<JsonTemplate>();
    shared::<crate::expr::Session>();
    shared::<EvalError>();
    shared::<crate::expr::ExprError>();
}
