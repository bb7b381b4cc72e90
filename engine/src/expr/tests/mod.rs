//! Tests of the expression language: operators, functions, templates and robustness.

mod functions;
mod fuzz;
mod operators;
mod templates;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde_json::{json, Value};

use super::{EvalError, ExprError, Session, Template};

/// A session with a bit of everything.
fn session() -> Session {
    let mut s = Session::new(42);
    s.set("name", json!("Ada"));
    s.set("n", json!(3));
    s.set("f", json!(1.5));
    s.set("num", json!("5"));
    s.set("word", json!("abc"));
    s.set("list", json!([1, 2, 3]));
    s.set("t", json!(true));
    s.set("nil", Value::Null);
    s.set("big", json!(u64::MAX));
    s.set(
        "user",
        json!({"id": 7, "items": [{"id": "a"}, {"id": "b"}], "some key": 1, "tags": {}}),
    );
    s
}

fn rng() -> SmallRng {
    SmallRng::seed_from_u64(1)
}

/// Evaluates the expression `expr` (without `#{}`) against [`session`].
fn eval(expr: &str) -> Result<Value, EvalError> {
    let template =
        Template::compile(&format!("#{{{expr}}}")).unwrap_or_else(|e| panic!("`{expr}`: {e}"));
    template.eval_value(&session(), &mut rng())
}

/// The value of `expr`, which must evaluate.
fn ev(expr: &str) -> Value {
    eval(expr).unwrap_or_else(|e| panic!("`{expr}`: {e}"))
}

/// The message of the evaluation error of `expr`.
fn eval_err(expr: &str) -> String {
    match eval(expr) {
        Ok(v) => panic!("`{expr}` evaluated to {v}"),
        Err(e) => e.to_string(),
    }
}

/// The compile error of template `text`.
fn compile_err(text: &str) -> ExprError {
    match Template::compile(text) {
        Ok(t) => panic!("`{text}` compiled: {t:?}"),
        Err(e) => e,
    }
}

/// Renders template `text` against [`session`].
fn render(text: &str) -> Result<String, EvalError> {
    let template = Template::compile(text).unwrap_or_else(|e| panic!("`{text}`: {e}"));
    template
        .render(&session(), &mut rng())
        .map(|c| c.into_owned())
}
