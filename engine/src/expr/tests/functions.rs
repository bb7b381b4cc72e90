//! The built-in functions.

use serde_json::json;

use super::{ev, eval_err, rng, session};
use crate::expr::Template;

#[test]
fn random_int_is_inclusive_and_seeded() {
    let t = Template::compile("#{randomInt(1, 3)}").unwrap();
    let s = session();
    let mut r = rng();
    let mut seen = [false; 3];
    for _ in 0..200 {
        let v = t.eval_value(&s, &mut r).unwrap().as_i64().unwrap();
        assert!((1..=3).contains(&v));
        seen[(v - 1) as usize] = true;
    }
    assert_eq!(seen, [true; 3]);
    assert_eq!(ev("randomInt(5, 5)"), json!(5));
    assert_eq!(ev("randomInt(num, num)"), json!(5));
    assert_eq!(ev("randomInt(-2, -2)"), json!(-2));
    assert_eq!(
        eval_err("randomInt(3, 1)"),
        "randomInt: min 3 is greater than max 1"
    );
    assert_eq!(
        eval_err("randomInt('a', 1)"),
        "randomInt: expected an integer, found string \"a\""
    );
    // Same seed, same values.
    assert_eq!(ev("randomInt(0, 1000000)"), ev("randomInt(0, 1000000)"));
}

#[test]
fn random_string() {
    let v = ev("randomString(24)");
    let s = v.as_str().unwrap();
    assert_eq!(s.len(), 24);
    assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(ev("randomString(0)"), json!(""));
    assert_eq!(
        eval_err("randomString(-1)"),
        "randomString: length -1 is outside 0..=1048576"
    );
    assert_eq!(
        eval_err("randomString(2000000)"),
        "randomString: length 2000000 is outside 0..=1048576"
    );
}

#[test]
fn uuid_is_v4() {
    let v = ev("uuid()");
    let id = uuid::Uuid::parse_str(v.as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 4);
    assert_eq!(ev("uuid() == uuid()"), json!(false));
    assert_eq!(ev("size(uuid())"), json!(36));
}

#[test]
fn clocks() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let now = ev("now()").as_i64().unwrap();
    assert!(now >= before && now < before + 60_000);
    let iso = ev("nowIso()");
    let iso = iso.as_str().unwrap();
    assert!(iso.ends_with('Z') && iso.contains('T'), "{iso}");
    assert!(humantime::parse_rfc3339(iso).is_ok());
}

#[test]
fn exists() {
    assert_eq!(ev("exists(name)"), json!(true));
    assert_eq!(ev("exists(nil)"), json!(true));
    assert_eq!(ev("exists(missing)"), json!(false));
    assert_eq!(ev("exists(user.id)"), json!(true));
    assert_eq!(ev("exists(user.nope)"), json!(false));
    assert_eq!(ev("exists(user.items[1].id)"), json!(true));
    assert_eq!(ev("exists(user.items[2])"), json!(false));
    assert_eq!(ev("exists(list[missing])"), json!(false));
    assert_eq!(ev("!exists(missing)"), json!(true));
}

#[test]
fn size() {
    assert_eq!(ev("size(list)"), json!(3));
    assert_eq!(ev("size(user)"), json!(4));
    assert_eq!(ev("size('héllo')"), json!(5));
    assert_eq!(ev("size(user.tags)"), json!(0));
    assert_eq!(
        eval_err("size(n)"),
        "size: expected an array, object or string, found number 3"
    );
}

#[test]
fn conversions() {
    assert_eq!(ev("int(num)"), json!(5));
    assert_eq!(ev("int(' 12 ')"), json!(12));
    assert_eq!(ev("int(f)"), json!(1));
    assert_eq!(ev("int(-2.7)"), json!(-2));
    assert_eq!(ev("int('3.9')"), json!(3));
    assert_eq!(ev("int(num) + 1"), json!(6));
    assert_eq!(
        eval_err("int(word)"),
        "int: expected an integer, found string \"abc\""
    );
    assert_eq!(
        eval_err("int(t)"),
        "int: expected an integer, found bool true"
    );
    assert_eq!(
        eval_err("int(big)"),
        "int: expected an integer, found number 18446744073709551615"
    );
    assert_eq!(ev("str(n)"), json!("3"));
    assert_eq!(ev("str(n) + 1"), json!("31"));
    assert_eq!(ev("str(nil)"), json!("null"));
    assert_eq!(ev("str(list)"), json!("[1,2,3]"));
    assert_eq!(ev("str(name)"), json!("Ada"));
}

#[test]
fn encodings() {
    assert_eq!(ev("jsonEncode(name)"), json!("\"Ada\""));
    assert_eq!(
        ev("jsonEncode(user.items)"),
        json!(r#"[{"id":"a"},{"id":"b"}]"#)
    );
    assert_eq!(ev("jsonEncode(n)"), json!("3"));
    assert_eq!(
        ev("urlEncode('a b&c=d/é~-._')"),
        json!("a%20b%26c%3Dd%2F%C3%A9~-._")
    );
    assert_eq!(ev("urlEncode(n)"), json!("3"));
    assert_eq!(ev("base64('hello')"), json!("aGVsbG8="));
    assert_eq!(ev("base64('')"), json!(""));
    assert_eq!(ev("lower('AbÉ')"), json!("abé"));
    assert_eq!(ev("upper(name)"), json!("ADA"));
    assert_eq!(ev("userId()"), json!(42));
    assert_eq!(ev("'u' + userId()"), json!("u42"));
}

#[test]
fn secrets_are_read_by_literal_name_and_never_listed_as_variables() {
    use super::compile_err;
    use crate::secrets::Secrets;
    let secrets = Secrets::new([("api_key".to_owned(), "k-123456".to_owned())]);
    let with = session().with_secrets(secrets);
    let t = Template::compile("Bearer #{secret('api_key')}").unwrap();
    assert_eq!(t.render(&with, &mut rng()).unwrap(), "Bearer k-123456");
    assert!(t.variables().is_empty(), "{:?}", t.variables());
    let missing = t.render(&session(), &mut rng()).unwrap_err().to_string();
    assert!(missing.contains("secret `api_key` is not set"), "{missing}");
    for bad in ["#{secret(name)}", "#{secret('')}", "#{secret('a' + 'b')}"] {
        let e = compile_err(bad).to_string();
        assert!(e.contains("`secret` takes a quoted name"), "{bad}: {e}");
    }
    assert!(compile_err("#{secret()}")
        .to_string()
        .contains("takes 1 argument"));
}
