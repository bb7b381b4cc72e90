//! Value semantics: rendering as text, numbers, arithmetic and comparisons.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Number, Value};

use super::parser::BinOp;
use super::EvalError;

/// The JSON type of a value, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A short description of a value for messages: `number 3`, `string "abc"`, `array`.
pub(crate) fn describe(v: &Value) -> String {
    const MAX: usize = 40;
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > MAX => {
            let head: String = s.chars().take(MAX).collect();
            format!("string {head:?}…")
        }
        Value::String(s) => format!("string {s:?}"),
        other => type_name(other).to_string(),
    }
}

/// Appends the text of `v`: a string as it is, anything else as compact JSON.
pub(crate) fn write_text(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// The text of `v` (see [`write_text`]), borrowed when `v` is a string.
pub(crate) fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => {
            let mut out = String::new();
            write_text(&mut out, other);
            Cow::Owned(out)
        }
    }
}

/// The truth of a condition value: a bool, or the string `"true"` or `"false"`.
pub(crate) fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// A number during arithmetic: integers are exact (`i128` holds every `i64` and `u64`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

fn num_of_number(n: &Number) -> Option<Num> {
    if let Some(i) = n.as_i64() {
        Some(Num::Int(i128::from(i)))
    } else if let Some(u) = n.as_u64() {
        Some(Num::Int(i128::from(u)))
    } else {
        n.as_f64().map(Num::Float)
    }
}

/// The number in `v`, when it is a number.
fn num_of(v: &Value) -> Option<Num> {
    match v {
        Value::Number(n) => num_of_number(n),
        _ => None,
    }
}

/// The number a string holds (`"12"`, `"-1.5"`), if any; non-finite values are not numbers.
fn parse_num(s: &str) -> Option<Num> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Num::Int(i128::from(i)));
    }
    if let Ok(u) = s.parse::<u64>() {
        return Some(Num::Int(i128::from(u)));
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Num::Float)
}

/// The number in `v`, when it is a number or a string holding one.
fn coerce(v: &Value) -> Option<Num> {
    match v {
        Value::Number(n) => num_of_number(n),
        Value::String(s) => parse_num(s),
        _ => None,
    }
}

/// Back to a JSON value: integers must fit `i64` or `u64`, floats must be finite.
fn num_value(n: Num) -> Result<Value, EvalError> {
    match n {
        Num::Int(i) => {
            if let Ok(i) = i64::try_from(i) {
                Ok(Value::from(i))
            } else if let Ok(u) = u64::try_from(i) {
                Ok(Value::from(u))
            } else {
                Err(EvalError::invalid("integer overflow"))
            }
        }
        Num::Float(f) => Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| EvalError::invalid("the result is not a finite number")),
    }
}

/// `v` as an integer: integral numbers, floats (truncated), strings holding either.
pub(crate) fn to_int(v: &Value) -> Option<i64> {
    let n = match v {
        Value::String(s) => parse_num(s.trim())?,
        other => num_of(other)?,
    };
    match n {
        Num::Int(i) => i64::try_from(i).ok(),
        // `as` saturates; the bounds (-2^63 inclusive, 2^63 exclusive) make sure nothing was
        // clipped.
        Num::Float(f) if (-(i64::MAX as f64)..i64::MAX as f64).contains(&f) => {
            Some(f.trunc() as i64)
        }
        Num::Float(_) => None,
    }
}

/// `-v`.
pub(crate) fn negate(v: &Value) -> Result<Value, EvalError> {
    match coerce(v) {
        Some(Num::Int(i)) => num_value(Num::Int(-i)),
        Some(Num::Float(f)) => num_value(Num::Float(-f)),
        None => Err(EvalError::invalid(format!("cannot negate {}", describe(v)))),
    }
}

/// Applies a binary operator to evaluated operands (`&&` and `||` without short-circuit).
pub(crate) fn binary(op: BinOp, a: &Value, b: &Value) -> Result<Value, EvalError> {
    let result = match op {
        BinOp::Add => return add(a, b),
        BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => return arith(op, a, b),
        BinOp::Eq => equals(a, b),
        BinOp::Ne => !equals(a, b),
        BinOp::Lt => order(op, a, b)?.is_lt(),
        BinOp::Le => order(op, a, b)?.is_le(),
        BinOp::Gt => order(op, a, b)?.is_gt(),
        BinOp::Ge => order(op, a, b)?.is_ge(),
        BinOp::And => logical(op, a)? && logical(op, b)?,
        BinOp::Or => logical(op, a)? || logical(op, b)?,
    };
    Ok(Value::Bool(result))
}

/// The truth of an operand of `&&`, `||`.
pub(crate) fn logical(op: BinOp, v: &Value) -> Result<bool, EvalError> {
    truth(v).ok_or_else(|| {
        EvalError::invalid(format!(
            "`{}` expects booleans, found {}",
            op.symbol(),
            describe(v)
        ))
    })
}

fn add(a: &Value, b: &Value) -> Result<Value, EvalError> {
    if a.is_string() || b.is_string() {
        let mut out = String::new();
        write_text(&mut out, a);
        write_text(&mut out, b);
        return Ok(Value::String(out));
    }
    match (num_of(a), num_of(b)) {
        (Some(x), Some(y)) => num_value(num_op(BinOp::Add, x, y)?),
        _ => Err(EvalError::invalid(format!(
            "cannot add {} and {}",
            describe(a),
            describe(b)
        ))),
    }
}

fn arith(op: BinOp, a: &Value, b: &Value) -> Result<Value, EvalError> {
    match (coerce(a), coerce(b)) {
        (Some(x), Some(y)) => num_value(num_op(op, x, y)?),
        _ => Err(EvalError::invalid(format!(
            "cannot apply `{}` to {} and {}",
            op.symbol(),
            describe(a),
            describe(b)
        ))),
    }
}

fn num_op(op: BinOp, x: Num, y: Num) -> Result<Num, EvalError> {
    let division_by_zero = || EvalError::invalid("division by zero");
    if let (Num::Int(a), Num::Int(b)) = (x, y) {
        let result = match op {
            BinOp::Add => a.checked_add(b),
            BinOp::Sub => a.checked_sub(b),
            BinOp::Mul => a.checked_mul(b),
            BinOp::Div if b == 0 => return Err(division_by_zero()),
            BinOp::Div if a.checked_rem(b) == Some(0) => a.checked_div(b),
            BinOp::Div => return Ok(Num::Float(a as f64 / b as f64)),
            BinOp::Rem if b == 0 => return Err(division_by_zero()),
            BinOp::Rem => a.checked_rem(b),
            _ => None,
        };
        return result
            .map(Num::Int)
            .ok_or_else(|| EvalError::invalid("integer overflow"));
    }
    let (a, b) = (x.as_f64(), y.as_f64());
    let result = match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div | BinOp::Rem if b == 0.0 => return Err(division_by_zero()),
        BinOp::Div => a / b,
        BinOp::Rem => a % b,
        _ => {
            return Err(EvalError::invalid(format!(
                "`{}` is not arithmetic",
                op.symbol()
            )))
        }
    };
    Ok(Num::Float(result))
}

fn num_cmp(x: Num, y: Num) -> Ordering {
    match (x, y) {
        (Num::Int(a), Num::Int(b)) => a.cmp(&b),
        _ => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
    }
}

/// Both operands as numbers, when both are numbers or one is a number and the other a string
/// holding one.
fn numeric_pair(a: &Value, b: &Value) -> Option<(Num, Num)> {
    match (a, b) {
        (Value::Number(_), Value::Number(_) | Value::String(_))
        | (Value::String(_), Value::Number(_)) => Some((coerce(a)?, coerce(b)?)),
        _ => None,
    }
}

/// `a == b`.
pub(crate) fn equals(a: &Value, b: &Value) -> bool {
    match numeric_pair(a, b) {
        Some((x, y)) => num_cmp(x, y).is_eq(),
        None => a == b,
    }
}

fn order(op: BinOp, a: &Value, b: &Value) -> Result<Ordering, EvalError> {
    if let Some((x, y)) = numeric_pair(a, b) {
        return Ok(num_cmp(x, y));
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err(EvalError::invalid(format!(
            "cannot compare {} with {} using `{}`",
            describe(a),
            describe(b),
            op.symbol()
        ))),
    }
}
