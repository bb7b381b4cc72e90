//! Evaluates compiled expressions against a session.
//!
//! Results are `Cow`s: variables, paths into them and literals are borrowed, so reading
//! `user.items[0].id` clones nothing; only computed values are owned. Recursion follows the
//! tree, whose depth the parser bounds.

use std::borrow::Cow;

use rand::Rng;
use serde_json::Value;

use super::functions;
use super::parser::{Base, BinOp, Expr, Path, Seg};
use super::session::Session;
use super::value::{self, describe};
use super::EvalError;

/// Evaluates `expr`.
pub(crate) fn eval<'a, R: Rng + ?Sized>(
    expr: &'a Expr,
    session: &'a Session,
    rng: &mut R,
) -> Result<Cow<'a, Value>, EvalError> {
    match expr {
        Expr::Lit(v) => Ok(Cow::Borrowed(v)),
        Expr::Path(path) => resolve(path, session, rng),
        Expr::Exists(path) => Ok(Cow::Owned(Value::Bool(resolve(path, session, rng).is_ok()))),
        Expr::Secret(name) => match session.secret(name) {
            Some(value) => Ok(Cow::Owned(Value::String(value.to_owned()))),
            None => Err(EvalError::invalid(format!(
                "secret `{name}` is not set (a project's secrets are set with `broadside secrets set`)"
            ))),
        },
        Expr::Not(x) => {
            let v = eval(x, session, rng)?;
            let b = value::truth(&v).ok_or_else(|| {
                EvalError::invalid(format!("`!` expects a boolean, found {}", describe(&v)))
            })?;
            Ok(Cow::Owned(Value::Bool(!b)))
        }
        Expr::Neg(x) => value::negate(&*eval(x, session, rng)?).map(Cow::Owned),
        Expr::Binary(op @ (BinOp::And | BinOp::Or), a, b) => {
            let left = value::logical(*op, &*eval(a, session, rng)?)?;
            // `false && _` and `true || _` do not evaluate the right side.
            if left == (*op == BinOp::Or) {
                return Ok(Cow::Owned(Value::Bool(left)));
            }
            let right = value::logical(*op, &*eval(b, session, rng)?)?;
            Ok(Cow::Owned(Value::Bool(right)))
        }
        Expr::Binary(op, a, b) => {
            let left = eval(a, session, rng)?;
            let right = eval(b, session, rng)?;
            value::binary(*op, &left, &right).map(Cow::Owned)
        }
        Expr::Call(func, args) => {
            let result = match &**args {
                [] => functions::call(*func, &[], session, rng),
                [a] => {
                    let a = eval(a, session, rng)?;
                    functions::call(*func, &[&a], session, rng)
                }
                [a, b] => {
                    let a = eval(a, session, rng)?;
                    let b = eval(b, session, rng)?;
                    functions::call(*func, &[&a, &b], session, rng)
                }
                more => {
                    let values = more
                        .iter()
                        .map(|e| eval(e, session, rng))
                        .collect::<Result<Vec<_>, _>>()?;
                    let refs: Vec<&Value> = values.iter().map(|v| &**v).collect();
                    functions::call(*func, &refs, session, rng)
                }
            };
            result.map(Cow::Owned)
        }
    }
}

/// Resolves a path: borrowed from the session (or the tree) when its base is.
fn resolve<'a, R: Rng + ?Sized>(
    path: &'a Path,
    session: &'a Session,
    rng: &mut R,
) -> Result<Cow<'a, Value>, EvalError> {
    match &path.base {
        Base::Var(name) => {
            let root = session
                .get(name)
                .ok_or_else(|| EvalError::MissingVariable(name.to_string()))?;
            walk(root, path, session, rng).map(Cow::Borrowed)
        }
        Base::Expr(expr) => match eval(expr, session, rng)? {
            Cow::Borrowed(base) => walk(base, path, session, rng).map(Cow::Borrowed),
            Cow::Owned(base) => walk(&base, path, session, rng).map(|v| Cow::Owned(v.clone())),
        },
    }
}

/// Follows the segments of `path` from `base`.
fn walk<'v, 'a, R: Rng + ?Sized>(
    base: &'v Value,
    path: &'a Path,
    session: &'a Session,
    rng: &mut R,
) -> Result<&'v Value, EvalError> {
    let mut current = base;
    for seg in &*path.segs {
        current = match seg {
            Seg::Field(name) => field(current, name, path)?,
            Seg::Index(index) => {
                let index = eval(index, session, rng)?;
                match (current, &*index) {
                    (Value::Object(_), Value::String(key)) => field(current, key, path)?,
                    (Value::Object(_), other) => field(current, &value::text(other), path)?,
                    (Value::Array(items), other) => element(items, other, path)?,
                    (other, _) => {
                        return Err(EvalError::invalid(format!(
                            "`{}`: cannot index {}",
                            path.text,
                            describe(other)
                        )));
                    }
                }
            }
        };
    }
    Ok(current)
}

fn field<'v>(v: &'v Value, name: &str, path: &Path) -> Result<&'v Value, EvalError> {
    match v {
        Value::Object(map) => map
            .get(name)
            .ok_or_else(|| EvalError::invalid(format!("`{}`: no field `{name}`", path.text))),
        other => Err(EvalError::invalid(format!(
            "`{}`: cannot read field `{name}` of {}",
            path.text,
            describe(other)
        ))),
    }
}

fn element<'v>(items: &'v [Value], index: &Value, path: &Path) -> Result<&'v Value, EvalError> {
    let i = match index {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let Some(i) = i else {
        return Err(EvalError::invalid(format!(
            "`{}`: an array index must be an integer, found {}",
            path.text,
            describe(index)
        )));
    };
    let len = items.len();
    let position = if i < 0 {
        usize::try_from(i.unsigned_abs())
            .ok()
            .and_then(|back| len.checked_sub(back))
    } else {
        usize::try_from(i).ok()
    };
    position.and_then(|p| items.get(p)).ok_or_else(|| {
        EvalError::invalid(format!(
            "`{}`: index {i} is out of range for an array of length {len}",
            path.text
        ))
    })
}
