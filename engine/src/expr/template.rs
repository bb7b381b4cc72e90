//! Templates: text with `#{...}` expressions, and JSON values whose strings are templates.

use std::borrow::Cow;

use rand::Rng;
use serde_json::{Map, Value};

use super::eval::eval;
use super::parser::{Base, Expr, Path, Seg};
use super::session::Session;
use super::value::{describe, truth, write_text};
use super::{lexer, parser, EvalError, ExprError, MAX_DEPTH};

/// A piece of a template.
#[derive(Debug, Clone)]
enum Part {
    Text(Box<str>),
    Expr(Expr),
}

/// A compiled template: literal text and `#{...}` expressions.
///
/// Compile once, render per request. Cloning copies the compiled tree.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Box<[Part]>,
    /// Total length of the literal text, to size the output.
    text_len: usize,
}

/// Room reserved per expression when sizing the output of [`Template::render`].
const EXPR_RESERVE: usize = 16;

impl Template {
    /// Compiles `text`. `##{` stands for a literal `#{`; a `#` not followed by `{` is literal.
    pub fn compile(text: &str) -> Result<Template, ExprError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while let Some(offset) = text.get(i..).and_then(|rest| rest.find('#')) {
            let hash = i + offset;
            literal.push_str(text.get(i..hash).unwrap_or(""));
            let rest = text.get(hash..).unwrap_or("");
            if rest.starts_with("##{") {
                literal.push_str("#{");
                i = hash + 3;
            } else if rest.starts_with("#{") {
                let (tokens, end) = lexer::lex(text, hash + 2, hash)?;
                let expr = parser::parse(text, &tokens)?;
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal).into()));
                }
                parts.push(Part::Expr(expr));
                i = end;
            } else {
                literal.push('#');
                i = hash + 1;
            }
        }
        literal.push_str(text.get(i..).unwrap_or(""));
        if !literal.is_empty() {
            parts.push(Part::Text(literal.into()));
        }
        let text_len = parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.len(),
                Part::Expr(_) => 0,
            })
            .sum();
        Ok(Template {
            parts: parts.into(),
            text_len,
        })
    }

    /// Whether the template holds no expression.
    pub fn is_static(&self) -> bool {
        self.as_static().is_some()
    }

    /// The text of a template without expressions (with `##{` already turned into `#{`).
    pub fn as_static(&self) -> Option<&str> {
        match &*self.parts {
            [] => Some(""),
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// The single expression of a template that is exactly `#{e}`.
    fn single(&self) -> Option<&Expr> {
        match &*self.parts {
            [Part::Expr(e)] => Some(e),
            _ => None,
        }
    }

    /// Renders the template as text. A static template is borrowed (no allocation).
    pub fn render<R: Rng + ?Sized>(
        &self,
        session: &Session,
        rng: &mut R,
    ) -> Result<Cow<'_, str>, EvalError> {
        if let Some(text) = self.as_static() {
            return Ok(Cow::Borrowed(text));
        }
        let mut out = String::with_capacity(self.text_len + EXPR_RESERVE * self.parts.len());
        self.render_into(&mut out, session, rng)?;
        Ok(Cow::Owned(out))
    }

    /// Appends the rendered text to `out`. On error `out` may hold part of the output.
    pub fn render_into<R: Rng + ?Sized>(
        &self,
        out: &mut String,
        session: &Session,
        rng: &mut R,
    ) -> Result<(), EvalError> {
        for part in &*self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expr(expr) => write_text(out, &*eval(expr, session, rng)?),
            }
        }
        Ok(())
    }

    /// The value of the template: for exactly one `#{e}` and no literal text, the raw value of
    /// `e` (a list stays a list, a number a number); otherwise the rendered string.
    pub fn eval_value<R: Rng + ?Sized>(
        &self,
        session: &Session,
        rng: &mut R,
    ) -> Result<Value, EvalError> {
        match self.single() {
            Some(expr) => eval(expr, session, rng).map(Cow::into_owned),
            None => self
                .render(session, rng)
                .map(|text| Value::String(text.into_owned())),
        }
    }

    /// The value of a condition: it must be a bool, or the string `"true"` or `"false"`.
    pub fn eval_bool<R: Rng + ?Sized>(
        &self,
        session: &Session,
        rng: &mut R,
    ) -> Result<bool, EvalError> {
        let value = match self.single() {
            Some(expr) => eval(expr, session, rng)?,
            None => Cow::Owned(Value::String(self.render(session, rng)?.into_owned())),
        };
        truth(&value).ok_or_else(|| {
            EvalError::invalid(format!("expected a boolean, found {}", describe(&value)))
        })
    }

    /// The root session variables the template reads, each once, in order of appearance.
    ///
    /// Variables only tested by `exists(...)` are left out: they may legitimately be unset.
    pub fn variables(&self) -> Vec<String> {
        let mut names = Vec::new();
        for part in &*self.parts {
            if let Part::Expr(expr) = part {
                collect_variables(expr, &mut names);
            }
        }
        names
    }
}

fn collect_variables(expr: &Expr, names: &mut Vec<String>) {
    match expr {
        Expr::Lit(_) | Expr::Secret(_) => {}
        Expr::Path(path) => collect_path(path, names),
        Expr::Exists(path) => {
            for seg in &*path.segs {
                if let Seg::Index(index) = seg {
                    collect_variables(index, names);
                }
            }
        }
        Expr::Not(x) | Expr::Neg(x) => collect_variables(x, names),
        Expr::Binary(_, a, b) => {
            collect_variables(a, names);
            collect_variables(b, names);
        }
        Expr::Call(_, args) => args.iter().for_each(|arg| collect_variables(arg, names)),
    }
}

fn collect_path(path: &Path, names: &mut Vec<String>) {
    match &path.base {
        Base::Var(name) => {
            if !names.iter().any(|n| **n == **name) {
                names.push(name.to_string());
            }
        }
        Base::Expr(expr) => collect_variables(expr, names),
    }
    for seg in &*path.segs {
        if let Seg::Index(index) = seg {
            collect_variables(index, names);
        }
    }
}

/// A compiled JSON value whose strings (not keys) are templates.
///
/// A string that is exactly one `#{e}` yields the raw value of `e`, so `{"id": "#{id}"}` keeps
/// a number a number. Parts without templates are kept as ready-made values.
#[derive(Debug, Clone)]
pub struct JsonTemplate {
    root: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Const(Value),
    Template(Template),
    Array(Box<[Node]>),
    Object(Box<[(String, Node)]>),
}

impl JsonTemplate {
    /// Compiles every string in `value`. Errors give the JSON pointer of the faulty string.
    pub fn compile(value: &Value) -> Result<JsonTemplate, ExprError> {
        let mut pointer = String::new();
        Ok(JsonTemplate {
            root: compile_node(value, &mut pointer, 0)?,
        })
    }

    /// Whether no string in the value holds an expression.
    pub fn is_static(&self) -> bool {
        matches!(self.root, Node::Const(_))
    }

    /// The value of a template without expressions.
    pub fn as_static(&self) -> Option<&Value> {
        match &self.root {
            Node::Const(v) => Some(v),
            _ => None,
        }
    }

    /// Renders the value.
    pub fn render<R: Rng + ?Sized>(
        &self,
        session: &Session,
        rng: &mut R,
    ) -> Result<Value, EvalError> {
        render_node(&self.root, session, rng)
    }

    /// The root session variables read by the templates inside, each once.
    pub fn variables(&self) -> Vec<String> {
        let mut names = Vec::new();
        variables_of(&self.root, &mut names);
        names
    }
}

fn variables_of(node: &Node, names: &mut Vec<String>) {
    match node {
        Node::Const(_) => {}
        Node::Template(t) => {
            for name in t.variables() {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        Node::Array(items) => items.iter().for_each(|n| variables_of(n, names)),
        Node::Object(fields) => fields.iter().for_each(|(_, n)| variables_of(n, names)),
    }
}

/// Appends one JSON pointer token to `pointer` (RFC 6901 escaping).
fn push_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    pointer.push_str(&token.replace('~', "~0").replace('/', "~1"));
}

fn compile_node(value: &Value, pointer: &mut String, depth: usize) -> Result<Node, ExprError> {
    if depth > MAX_DEPTH {
        let message = format!("JSON template nested too deeply (more than {MAX_DEPTH} levels)");
        return Err(ExprError {
            message,
            column: 0,
            location: Some(pointer.clone()),
        });
    }
    let node = match value {
        Value::String(s) => {
            let template = Template::compile(s).map_err(|mut e| {
                e.location = Some(if pointer.is_empty() {
                    "/".to_string()
                } else {
                    pointer.clone()
                });
                e
            })?;
            match template.as_static() {
                Some(text) => Node::Const(Value::String(text.to_string())),
                None => Node::Template(template),
            }
        }
        Value::Array(items) => {
            let mut nodes = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                push_token(pointer, &i.to_string());
                nodes.push(compile_node(item, pointer, depth + 1)?);
                pointer.truncate(len);
            }
            if nodes.iter().all(|n| matches!(n, Node::Const(_))) {
                let values = nodes.into_iter().filter_map(|n| {
                    if let Node::Const(v) = n {
                        Some(v)
                    } else {
                        None
                    }
                });
                Node::Const(Value::Array(values.collect()))
            } else {
                Node::Array(nodes.into())
            }
        }
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            for (key, item) in map {
                let len = pointer.len();
                push_token(pointer, key);
                fields.push((key.clone(), compile_node(item, pointer, depth + 1)?));
                pointer.truncate(len);
            }
            if fields.iter().all(|(_, n)| matches!(n, Node::Const(_))) {
                let entries = fields.into_iter().filter_map(|(k, n)| {
                    if let Node::Const(v) = n {
                        Some((k, v))
                    } else {
                        None
                    }
                });
                Node::Const(Value::Object(entries.collect()))
            } else {
                Node::Object(fields.into())
            }
        }
        other => Node::Const(other.clone()),
    };
    Ok(node)
}

fn render_node<R: Rng + ?Sized>(
    node: &Node,
    session: &Session,
    rng: &mut R,
) -> Result<Value, EvalError> {
    match node {
        Node::Const(v) => Ok(v.clone()),
        Node::Template(t) => t.eval_value(session, rng),
        Node::Array(items) => items
            .iter()
            .map(|n| render_node(n, session, rng))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Node::Object(fields) => {
            let mut map = Map::new();
            for (key, n) in &**fields {
                map.insert(key.clone(), render_node(n, session, rng)?);
            }
            Ok(Value::Object(map))
        }
    }
}
