//! Resolution of plain (unquoted) YAML scalars with the YAML 1.2 core schema.
//!
//! `null`/`~`/empty are null, `true`/`false` (also capitalised or upper case) are booleans,
//! decimal, `0o` octal and `0x` hexadecimal integers are integers, decimal floats and
//! `.inf`/`.nan` are floats; everything else is a string.

use super::node::NodeValue;

/// The value of a plain scalar under the YAML 1.2 core schema.
pub(crate) fn resolve_plain(text: &str) -> NodeValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeValue::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeValue::Float(f64::NAN),
        _ => {}
    }
    if let Some(value) = resolve_int(text) {
        return value;
    }
    if is_float(text) {
        if let Ok(f) = text.parse::<f64>() {
            return NodeValue::Float(f);
        }
    }
    NodeValue::Str(text.to_owned())
}

/// `[-+]?[0-9]+`, `0o[0-7]+` or `0x[0-9a-fA-F]+`, as the smallest fitting variant.
fn resolve_int(text: &str) -> Option<NodeValue> {
    if let Some(digits) = text.strip_prefix("0x") {
        return radix_int(digits, 16);
    }
    if let Some(digits) = text.strip_prefix("0o") {
        return radix_int(digits, 8);
    }
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(NodeValue::Int(i));
    }
    if !negative {
        if let Ok(u) = digits.parse::<u64>() {
            return Some(NodeValue::UInt(u));
        }
    }
    // Too large for any integer type: keep the magnitude, like JSON parsers do.
    text.parse::<f64>().ok().map(NodeValue::Float)
}

/// Digits in `radix` (no sign) as an integer.
fn radix_int(digits: &str, radix: u32) -> Option<NodeValue> {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    match u64::from_str_radix(digits, radix) {
        Ok(u) => Some(match i64::try_from(u) {
            Ok(i) => NodeValue::Int(i),
            Err(_) => NodeValue::UInt(u),
        }),
        Err(_) => Some(NodeValue::Float(
            digits
                .chars()
                .filter_map(|c| c.to_digit(radix))
                .fold(0.0, |acc, d| acc * f64::from(radix) + f64::from(d)),
        )),
    }
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_float(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        frac_digits = i - frac_start;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(text: &str) -> f64 {
        match resolve_plain(text) {
            NodeValue::Float(f) => f,
            other => panic!("{text} resolved to {other:?}"),
        }
    }

    #[test]
    fn nulls_and_bools() {
        for t in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(resolve_plain(t), NodeValue::Null, "{t}");
        }
        for t in ["true", "True", "TRUE"] {
            assert_eq!(resolve_plain(t), NodeValue::Bool(true));
        }
        for t in ["false", "False", "FALSE"] {
            assert_eq!(resolve_plain(t), NodeValue::Bool(false));
        }
        for t in ["nULL", "yes", "no", "on", "tRUE"] {
            assert_eq!(resolve_plain(t), NodeValue::Str(t.into()));
        }
    }

    #[test]
    fn integers() {
        assert_eq!(resolve_plain("0"), NodeValue::Int(0));
        assert_eq!(resolve_plain("-12"), NodeValue::Int(-12));
        assert_eq!(resolve_plain("+12"), NodeValue::Int(12));
        assert_eq!(resolve_plain("007"), NodeValue::Int(7));
        assert_eq!(resolve_plain("0x1F"), NodeValue::Int(31));
        assert_eq!(resolve_plain("0o17"), NodeValue::Int(15));
        assert_eq!(
            resolve_plain("0xFFFFFFFFFFFFFFFF"),
            NodeValue::UInt(u64::MAX)
        );
        assert_eq!(
            resolve_plain("18446744073709551615"),
            NodeValue::UInt(u64::MAX)
        );
        assert_eq!(
            resolve_plain("-9223372036854775808"),
            NodeValue::Int(i64::MIN)
        );
        assert!(float("-9223372036854775809") < -9.2e18);
        assert!(float("99999999999999999999999") > 9.9e22);
        for t in ["0x", "0o8", "-0x1", "1_000", "12a", "+", "-"] {
            assert_eq!(resolve_plain(t), NodeValue::Str(t.into()), "{t}");
        }
    }

    #[test]
    fn floats() {
        assert_eq!(float("1.5"), 1.5);
        assert_eq!(float("-.5"), -0.5);
        assert_eq!(float("1."), 1.0);
        assert_eq!(float("1e3"), 1000.0);
        assert_eq!(float("+2.5E-1"), 0.25);
        assert_eq!(float(".inf"), f64::INFINITY);
        assert_eq!(float("-.Inf"), f64::NEG_INFINITY);
        assert!(float(".NaN").is_nan());
        for t in [".", "1e", "e3", "1.2.3", "inf", "nan", "infinity", "1.5x"] {
            assert_eq!(resolve_plain(t), NodeValue::Str(t.into()), "{t}");
        }
    }
}
