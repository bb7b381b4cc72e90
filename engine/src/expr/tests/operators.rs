//! Literals, paths, operators and precedence.

use serde_json::json;

use super::{ev, eval, eval_err};
use crate::expr::EvalError;

#[test]
fn literals() {
    assert_eq!(ev("42"), json!(42));
    assert_eq!(ev("-42"), json!(-42));
    assert_eq!(ev("1.5"), json!(1.5));
    assert_eq!(ev("2e3"), json!(2000.0));
    assert_eq!(ev("1.5E-1"), json!(0.15));
    assert_eq!(ev("18446744073709551615"), json!(u64::MAX));
    assert_eq!(ev("-9223372036854775808"), json!(i64::MIN));
    assert_eq!(ev("'single'"), json!("single"));
    assert_eq!(ev("\"double\""), json!("double"));
    assert_eq!(ev(r#"'a\'b\"c\\d\n\t\r\/'"#), json!("a'b\"c\\d\n\t\r/"));
    assert_eq!(ev(r"'\u00e9\u{1F600}'"), json!("é😀"));
    assert_eq!(ev("'}'"), json!("}"));
    assert_eq!(ev("true"), json!(true));
    assert_eq!(ev("false"), json!(false));
    assert_eq!(ev("null"), json!(null));
}

#[test]
fn variables_and_paths() {
    assert_eq!(ev("name"), json!("Ada"));
    assert_eq!(ev("user.id"), json!(7));
    assert_eq!(ev("user.items[1].id"), json!("b"));
    assert_eq!(ev("user['some key']"), json!(1));
    assert_eq!(ev("list[0]"), json!(1));
    assert_eq!(ev("list[-1]"), json!(3));
    assert_eq!(ev("list[-3]"), json!(1));
    assert_eq!(ev("list[n - 2]"), json!(2));
    assert_eq!(ev("list['1']"), json!(2));
    assert_eq!(ev("user.items"), json!([{"id": "a"}, {"id": "b"}]));
    assert_eq!(ev("(list)[1]"), json!(2));
    assert_eq!(ev("nil"), json!(null));
    assert_eq!(
        eval("missing"),
        Err(EvalError::MissingVariable("missing".into()))
    );
    assert_eq!(eval_err("missing.x"), "no session variable `missing`");
    assert_eq!(eval_err("user.nope"), "`user.nope`: no field `nope`");
    assert_eq!(
        eval_err("list[3]"),
        "`list[3]`: index 3 is out of range for an array of length 3"
    );
    assert_eq!(
        eval_err("list[-4]"),
        "`list[-4]`: index -4 is out of range for an array of length 3"
    );
    assert_eq!(
        eval_err("list[0.5]"),
        "`list[0.5]`: an array index must be an integer, found number 0.5"
    );
    assert_eq!(
        eval_err("name.first"),
        "`name.first`: cannot read field `first` of string \"Ada\""
    );
    assert_eq!(eval_err("n[0]"), "`n[0]`: cannot index number 3");
}

#[test]
fn arithmetic() {
    assert_eq!(ev("1 + 2"), json!(3));
    assert_eq!(ev("n - 5"), json!(-2));
    assert_eq!(ev("n * 4"), json!(12));
    assert_eq!(ev("12 / 4"), json!(3));
    assert_eq!(ev("7 / 2"), json!(3.5));
    assert_eq!(ev("7 % 3"), json!(1));
    assert_eq!(ev("-7 % 3"), json!(-1));
    assert_eq!(ev("f * 2"), json!(3.0));
    assert_eq!(ev("5.5 % 2"), json!(1.5));
    assert_eq!(ev("-n"), json!(-3));
    assert_eq!(ev("--n"), json!(3));
    assert_eq!(ev("-f"), json!(-1.5));
    // Strings holding numbers take part in arithmetic (but `+` concatenates).
    assert_eq!(ev("num * 2"), json!(10));
    assert_eq!(ev("num - 1"), json!(4));
    assert_eq!(ev("-num"), json!(-5));
    assert_eq!(ev("big - 1"), json!(u64::MAX - 1));
    assert_eq!(eval_err("big + 1"), "integer overflow");
    assert_eq!(eval_err("1 / 0"), "division by zero");
    assert_eq!(eval_err("1 % 0"), "division by zero");
    assert_eq!(eval_err("1.5 / 0"), "division by zero");
    assert_eq!(
        eval_err("1e300 * 1e300"),
        "the result is not a finite number"
    );
    assert_eq!(
        eval_err("word * 2"),
        "cannot apply `*` to string \"abc\" and number 2"
    );
    assert_eq!(eval_err("t + 1"), "cannot add bool true and number 1");
    assert_eq!(eval_err("-word"), "cannot negate string \"abc\"");
    assert_eq!(
        eval_err("list - 1"),
        "cannot apply `-` to array and number 1"
    );
}

#[test]
fn concatenation() {
    assert_eq!(ev("'a' + 'b'"), json!("ab"));
    assert_eq!(ev("name + 1"), json!("Ada1"));
    assert_eq!(ev("1 + num"), json!("15"));
    assert_eq!(
        ev("'x' + t + nil + list + user.tags"),
        json!("xtruenull[1,2,3]{}")
    );
    assert_eq!(ev("1 + 2 + 'a'"), json!("3a"));
    assert_eq!(ev("'a' + 1 + 2"), json!("a12"));
}

#[test]
fn comparisons() {
    assert_eq!(ev("1 == 1.0"), json!(true));
    assert_eq!(ev("n == 3"), json!(true));
    assert_eq!(ev("n != 3"), json!(false));
    assert_eq!(ev("num == 5"), json!(true));
    assert_eq!(ev("5.0 == num"), json!(true));
    assert_eq!(ev("num > 4"), json!(true));
    assert_eq!(ev("num < 10"), json!(true));
    assert_eq!(ev("num >= 5"), json!(true));
    assert_eq!(ev("num <= 4.9"), json!(false));
    assert_eq!(ev("'10' < '9'"), json!(true));
    assert_eq!(ev("'abc' < 'abd'"), json!(true));
    assert_eq!(ev("name == 'Ada'"), json!(true));
    assert_eq!(ev("word == 1"), json!(false));
    assert_eq!(ev("nil == null"), json!(true));
    assert_eq!(ev("list == list"), json!(true));
    assert_eq!(ev("user.tags != nil"), json!(true));
    assert_eq!(ev("big > 1"), json!(true));
    assert_eq!(ev("-1 < big"), json!(true));
    assert_eq!(ev("f > 1"), json!(true));
    assert_eq!(
        eval_err("word < 1"),
        "cannot compare string \"abc\" with number 1 using `<`"
    );
    assert_eq!(
        eval_err("t >= false"),
        "cannot compare bool true with bool false using `>=`"
    );
}

#[test]
fn logic_short_circuits() {
    assert_eq!(ev("t && true"), json!(true));
    assert_eq!(ev("t && false"), json!(false));
    assert_eq!(ev("false || t"), json!(true));
    assert_eq!(ev("false || false"), json!(false));
    assert_eq!(ev("!t"), json!(false));
    assert_eq!(ev("!!t"), json!(true));
    assert_eq!(ev("!'false'"), json!(true));
    assert_eq!(ev("'true' && t"), json!(true));
    // The right side is not evaluated: `missing` would be an error.
    assert_eq!(ev("false && missing"), json!(false));
    assert_eq!(ev("true || missing"), json!(true));
    assert_eq!(ev("exists(missing) && missing > 1"), json!(false));
    assert_eq!(eval_err("true && missing"), "no session variable `missing`");
    assert_eq!(
        eval_err("n && true"),
        "`&&` expects booleans, found number 3"
    );
    assert_eq!(
        eval_err("false || 'yes'"),
        "`||` expects booleans, found string \"yes\""
    );
    assert_eq!(eval_err("!n"), "`!` expects a boolean, found number 3");
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(ev("1 + 2 * 3"), json!(7));
    assert_eq!(ev("(1 + 2) * 3"), json!(9));
    assert_eq!(ev("10 - 4 - 3"), json!(3));
    assert_eq!(ev("24 / 4 / 2"), json!(3));
    assert_eq!(ev("2 * 3 % 4"), json!(2));
    assert_eq!(ev("-2 * 3"), json!(-6));
    assert_eq!(ev("-(2 + 3)"), json!(-5));
    assert_eq!(ev("1 + 2 == 3"), json!(true));
    assert_eq!(ev("1 < 2 == true"), json!(true));
    assert_eq!(ev("true || false && false"), json!(true));
    assert_eq!(ev("(true || false) && false"), json!(false));
    assert_eq!(ev("!false && false"), json!(false));
    assert_eq!(ev("n > 1 && n < 5 || false"), json!(true));
    assert_eq!(ev("-list[0]"), json!(-1));
    assert_eq!(ev(" \t1\n+\n1 "), json!(2));
}
