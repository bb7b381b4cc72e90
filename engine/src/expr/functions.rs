//! The built-in functions.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rand::distr::Alphanumeric;
use rand::Rng;
use serde_json::Value;

use super::session::Session;
use super::value::{describe, text, to_int};
use super::EvalError;

/// Longest string `randomString` makes.
pub(crate) const MAX_RANDOM_STRING: i64 = 1 << 20;

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    RandomInt,
    RandomString,
    Uuid,
    Now,
    NowIso,
    Exists,
    Size,
    Int,
    Str,
    JsonEncode,
    UrlEncode,
    Base64,
    Lower,
    Upper,
    UserId,
    Secret,
}

impl Func {
    const ALL: [Func; 16] = [
        Func::RandomInt,
        Func::RandomString,
        Func::Uuid,
        Func::Now,
        Func::NowIso,
        Func::Exists,
        Func::Size,
        Func::Int,
        Func::Str,
        Func::JsonEncode,
        Func::UrlEncode,
        Func::Base64,
        Func::Lower,
        Func::Upper,
        Func::UserId,
        Func::Secret,
    ];

    /// The function called `name`.
    pub(crate) fn by_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The function's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Func::RandomInt => "randomInt",
            Func::RandomString => "randomString",
            Func::Uuid => "uuid",
            Func::Now => "now",
            Func::NowIso => "nowIso",
            Func::Exists => "exists",
            Func::Size => "size",
            Func::Int => "int",
            Func::Str => "str",
            Func::JsonEncode => "jsonEncode",
            Func::UrlEncode => "urlEncode",
            Func::Base64 => "base64",
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::UserId => "userId",
            Func::Secret => "secret",
        }
    }

    /// How many arguments the function takes.
    pub(crate) fn arity(self) -> usize {
        match self {
            Func::Uuid | Func::Now | Func::NowIso | Func::UserId => 0,
            Func::RandomInt => 2,
            _ => 1,
        }
    }
}

/// Calls `func` on already evaluated `args` (as many as its arity; `exists` is evaluated by the
/// caller).
pub(crate) fn call<R: Rng + ?Sized>(
    func: Func,
    args: &[&Value],
    session: &Session,
    rng: &mut R,
) -> Result<Value, EvalError> {
    let arg = |i: usize| {
        args.get(i)
            .copied()
            .ok_or_else(|| EvalError::invalid(format!("`{}` is missing an argument", func.name())))
    };
    let value = match func {
        Func::RandomInt => {
            let min = int_arg(func, arg(0)?)?;
            let max = int_arg(func, arg(1)?)?;
            if min > max {
                return Err(EvalError::invalid(format!(
                    "randomInt: min {min} is greater than max {max}"
                )));
            }
            Value::from(rng.random_range(min..=max))
        }
        Func::RandomString => {
            let len = int_arg(func, arg(0)?)?;
            if !(0..=MAX_RANDOM_STRING).contains(&len) {
                return Err(EvalError::invalid(format!(
                    "randomString: length {len} is outside 0..={MAX_RANDOM_STRING}"
                )));
            }
            let s: String = (0..len)
                .map(|_| char::from(rng.sample(Alphanumeric)))
                .collect();
            Value::String(s)
        }
        Func::Uuid => {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            Value::String(
                uuid::Builder::from_random_bytes(bytes)
                    .into_uuid()
                    .to_string(),
            )
        }
        Func::Now => {
            let millis = match SystemTime::now().duration_since(UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
                Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |m| -m),
            };
            Value::from(millis)
        }
        Func::NowIso => {
            Value::String(humantime::format_rfc3339_millis(SystemTime::now()).to_string())
        }
        Func::Exists => return Err(EvalError::invalid("`exists` takes a variable path")),
        Func::Secret => return Err(EvalError::invalid("`secret` takes a literal name")),
        Func::Size => {
            let x = arg(0)?;
            let size = match x {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::String(s) => s.chars().count(),
                other => {
                    return Err(EvalError::invalid(format!(
                        "size: expected an array, object or string, found {}",
                        describe(other)
                    )))
                }
            };
            Value::from(size)
        }
        Func::Int => Value::from(int_arg(func, arg(0)?)?),
        Func::Str => Value::String(text(arg(0)?).into_owned()),
        Func::JsonEncode => Value::String(arg(0)?.to_string()),
        Func::UrlEncode => Value::String(url_encode(&text(arg(0)?))),
        Func::Base64 => Value::String(
            base64::engine::general_purpose::STANDARD.encode(text(arg(0)?).as_bytes()),
        ),
        Func::Lower => Value::String(text(arg(0)?).to_lowercase()),
        Func::Upper => Value::String(text(arg(0)?).to_uppercase()),
        Func::UserId => Value::from(session.user_id()),
    };
    Ok(value)
}

fn int_arg(func: Func, v: &Value) -> Result<i64, EvalError> {
    to_int(v).ok_or_else(|| {
        EvalError::invalid(format!(
            "{}: expected an integer, found {}",
            func.name(),
            describe(v)
        ))
    })
}

/// Percent-encodes the UTF-8 bytes of `s`, keeping only the RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`); what the `urlEncode` function does.
pub fn url_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}
