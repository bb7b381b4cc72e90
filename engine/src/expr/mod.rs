//! Expressions and templates: the `#{...}` language of simulation strings.
//!
//! Every string of a simulation is a [`Template`]: literal text in which `#{expr}` is replaced by
//! the value of `expr`, evaluated against the virtual user's [`Session`]. `##{` writes a literal
//! `#{`. A JSON body is a [`JsonTemplate`]: every string inside it is a template, and a string
//! that is exactly one `#{expr}` keeps the raw type of the value (`{"id": "#{id}"}` sends a
//! number when `id` holds a number).
//!
//! # The expression language
//!
//! Values are JSON values ([`serde_json::Value`]).
//!
//! - Literals: integers (`42`), floats (`1.5`, `2e3`), strings in single or double quotes with
//!   backslash escapes (`\n \t \r \0 \\ \' \" \/ \uXXXX \u{X…}`), `true`, `false`, `null`.
//! - Variables and paths: `name`, `user.name`, `items[0]`, `user.items[2].id`, `items[-1]` (from
//!   the end), `map['some key']`, `items[i]` (any expression as index). Paths also apply to
//!   parenthesized expressions and calls: `(a)[0]`.
//! - Calls: `randomInt(1, 10)`; see below.
//! - Operators, loosest first: `||`, `&&`, `== != < <= > >=`, `+ -`, `* / %`, unary `! -`.
//!   Binary operators are left-associative; `&&` and `||` short-circuit.
//!
//! Semantics:
//!
//! - `+` concatenates when either side is a string (the other side is rendered as text), and
//!   adds numbers otherwise. `- * / %` and unary `-` also accept strings holding numbers (CSV
//!   feeders give strings). Integer arithmetic is exact (overflow is an error); `/` on integers
//!   gives an integer when the division is exact and a float otherwise. Division by zero and
//!   non-finite results are errors.
//! - Comparisons: numbers numerically; a number against a string that parses as a number
//!   numerically; two strings lexicographically. `==`/`!=` on anything else is JSON equality;
//!   ordering anything else is an error.
//! - `!`, `&&`, `||` and conditions take booleans, or the strings `"true"`/`"false"`.
//!
//! Rendering a value into text: strings as they are, `null`, numbers and booleans as JSON text,
//! arrays and objects as compact JSON. A missing variable is an error, never an empty string.
//!
//! Built-in functions: `randomInt(min, max)` (inclusive), `randomString(len)` (alphanumeric),
//! `uuid()` (v4), `now()` (epoch milliseconds), `nowIso()` (RFC 3339, UTC), `exists(path)`
//! (whether a variable path resolves), `size(x)` (length of an array, object or string, in
//! characters), `int(x)`, `str(x)`, `jsonEncode(x)`, `urlEncode(x)` (RFC 3986 unreserved
//! characters kept), `base64(x)` (standard alphabet, padded), `lower(x)`, `upper(x)`,
//! `userId()`, `secret('name')` (the run's secret `name`: a project secret in a cluster; the name
//! must be a quoted literal, and the value never appears in a report). Unknown functions and
//! wrong argument counts are compile-time errors.
//!
//! Everything is compiled once; rendering a template walks a small tree, borrows session
//! values instead of cloning them, and writes straight into the output string. A template
//! without expressions renders without allocating. Nesting is limited to [`MAX_DEPTH`] so that
//! hostile input cannot overflow the stack.

mod eval;
mod functions;
mod lexer;
mod parser;
mod session;
mod template;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;

pub use functions::url_encode;
pub use session::Session;
pub use template::{JsonTemplate, Template};

/// Deepest nesting of an expression (operators, parentheses, calls, indexes) and of a JSON
/// template.
pub const MAX_DEPTH: usize = 64;

/// A template or expression that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// What is wrong.
    pub message: String,
    /// 1-based character offset of the problem inside the template text (0 when the problem
    /// has no position, e.g. a JSON template nested too deeply).
    pub column: usize,
    /// Where the template sits inside a [`JsonTemplate`], as a JSON pointer (`/user/name`).
    pub location: Option<String>,
}

impl ExprError {
    /// An error at byte offset `pos` of `text`.
    pub(crate) fn at(text: &str, pos: usize, message: impl Into<String>) -> Self {
        let column = text.get(..pos).map_or(pos, |s| s.chars().count()) + 1;
        ExprError {
            message: message.into(),
            column,
            location: None,
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if self.column > 0 {
            write!(f, " at column {}", self.column)?;
        }
        if let Some(location) = &self.location {
            write!(f, " in `{location}`")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExprError {}

/// An expression that failed while being evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The expression reads a session variable that is not set.
    #[error("no session variable `{0}`")]
    MissingVariable(String),
    /// Anything else: a type mismatch, a missing field, an index out of range, an overflow, ...
    #[error("{0}")]
    Invalid(String),
}

impl EvalError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        EvalError::Invalid(message.into())
    }
}
